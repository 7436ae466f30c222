import AutopilotDomain
import Varlink

extension RegistryInterface {
    /// The access-rule methods.
    static let accessMethods: [any MethodDeclaration.Type] = [
        Registry.AddAccessRule.self, Registry.RemoveAccessRule.self, Registry.ListAccessRules.self,
    ]

    /// The audit and service methods.
    static let serviceMethods: [any MethodDeclaration.Type] = [
        Registry.ListAuditEvents.self, Registry.VerifyAudit.self, Registry.GetAuditHead.self, Registry.Backup.self,
        Registry.GetStatus.self, Registry.WhoAmI.self,
    ]
}

extension Registry {
    /// Adds an access rule.
    public enum AddAccessRule: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "AddAccessRule",
            "Adds an access rule for exactly one of uid or gid. A tenant rule binds its caller to one account of the "
                + "tenant (account), or covers the whole tenant for reads only. Operator only.",
            policy: .operatorOnly, kind: .change, errors: [.permissionDenied, .notFound, .invalidInput])

        /// `(uid: ?int, gid: ?int, role: (operator, auditor, partner, tenant), partner: ?string, tenant: ?string,
        /// account: ?string)`.
        public struct Parameters: WireRecord {
            /// The Unix user id.
            public var uid: Int?
            /// The Unix group id.
            public var gid: Int?
            /// The role granted; never `none`.
            public var role = CallerRole.operator
            /// For a partner rule, its partner.
            public var partner: String?
            /// For a tenant rule, its tenant.
            public var tenant: String?
            /// For a tenant rule, the account (UPN) of that tenant its caller is.
            public var account: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(uid: Int? = nil, gid: Int? = nil, role: CallerRole, partner: String? = nil, tenant: String? = nil,
                        account: String? = nil) {
                self.uid = uid; self.gid = gid; self.role = role; self.partner = partner; self.tenant = tenant
                self.account = account
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("uid", \.uid, ""), .init("gid", \.gid, ""),
                .init("role", \.role, "", type: .enumeration(CallerRole.grantable.map(\.rawValue))),
                .init("partner", \.partner, ""), .init("tenant", \.tenant, ""),
                .init("account", \.account,
                      "For a tenant rule: the account of that tenant (a UPN) its caller is and acts as; without it the "
                        + "rule covers the whole tenant for reads only. The account must exist (NotFound)."),
            ]
            /// `none` is no role a rule can grant.
            public func validate() throws(VarlinkError) {
                if role == .none { throw .invalidParameter("role") }
            }
        }

        /// `(rule: AccessRule)`.
        public struct Reply: WireRecord {
            /// The new rule.
            public var rule = AccessRule()
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `rule`.
            public init(_ rule: AccessRule) { self.rule = rule }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("rule", \.rule, "")]
        }
    }

    /// Removes an access rule.
    public enum RemoveAccessRule: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "RemoveAccessRule", "Removes an access rule (kept in the database as removed). Operator only.",
            policy: .operatorOnly, kind: .change, errors: [.permissionDenied, .notFound])
        /// Nothing.
        public typealias Reply = Empty

        /// `(rule: string)`.
        public struct Parameters: WireRecord {
            /// The rule's id.
            public var rule = ""
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(rule: String) { self.rule = rule }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("rule", \.rule, "")]
        }
    }

    /// The access rules in force.
    public enum ListAccessRules: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListAccessRules", "The access rules in force.", policy: MethodPolicy(auditor: true), kind: .read,
            errors: [.permissionDenied])
        /// No parameters.
        public typealias Parameters = Empty

        /// `(rules: []AccessRule)`.
        public struct Reply: WireRecord {
            /// The rules, oldest first.
            public var rules: [AccessRule] = []
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `rules`.
            public init(_ rules: [AccessRule]) { self.rules = rules }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("rules", \.rules, "")]
        }
    }

    /// The audit log, streamed.
    public enum ListAuditEvents: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListAuditEvents",
            "Audit events after a sequence number, one reply each; needs \"more\". Without limit, everything after `after`.",
            policy: MethodPolicy(auditor: true), kind: .stream, errors: [.permissionDenied, .invalidInput])

        /// `(after: ?int, limit: ?int)`.
        public struct Parameters: WireRecord {
            /// The events after this sequence number (default 0: all).
            public var after: Int?
            /// At most this many.
            public var limit: Int?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(after: Int? = nil, limit: Int? = nil) { self.after = after; self.limit = limit }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("after", \.after, ""), .init("limit", \.limit, "")]
        }

        /// `(event: ?AuditEvent)`: one reply of the stream.
        public struct Reply: WireRecord {
            /// An event; none in the one reply of a stream that found nothing.
            public var event: AuditEvent?
            /// An empty reply.
            public init() {}
            /// The reply for `event`.
            public init(_ event: AuditEvent?) { self.event = event }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("event", \.event, "")]
        }
    }

    /// Recomputes the audit chain.
    public enum VerifyAudit: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "VerifyAudit",
            "Recomputes the audit chain; firstBroken is the seq of the first event that does not verify. The chain "
                + "shows a changed event, not events removed from the end: given a head recorded earlier (GetAuditHead), "
                + "it also checks that event is still there.",
            policy: MethodPolicy(auditor: true), kind: .read, errors: [.permissionDenied, .invalidInput])
        /// Whether the chain verifies, how many events, the first broken one, and whether the head is missing.
        public typealias Reply = AuditVerification

        /// `(head: ?string)`.
        public struct Parameters: WireRecord {
            /// `SEQ:HASH` of an event recorded earlier.
            public var head: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(head: String? = nil) { self.head = head }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("head", \.head,
                      "SEQ:HASH of an event recorded earlier, outside this machine (InvalidInput(head) when not of that "
                        + "form): the log must still hold it, or headMissing is true."),
            ]
        }
    }

    /// The last event of the audit log.
    public enum GetAuditHead: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "GetAuditHead",
            "The seq and hash of the audit log's last event (0 and 64 zeros before the first): record it outside the "
                + "machine, and later VerifyAudit with it shows whether events were removed from the end.",
            policy: MethodPolicy(auditor: true), kind: .read, errors: [.permissionDenied])
        /// No parameters.
        public typealias Parameters = Empty

        /// `(seq: int, hash: string)`.
        public struct Reply: WireRecord {
            /// The last event's seq.
            public var seq: Int64 = 0
            /// Its hash.
            public var hash = ""
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `head`.
            public init(_ head: AuditHead) { seq = head.seq; hash = head.hash }
            /// The head as `SEQ:HASH`.
            public var head: AuditHead { AuditHead(seq: seq, hash: hash) }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("seq", \.seq, ""), .init("hash", \.hash, "")]
        }
    }

    /// A consistent copy of the live database.
    public enum Backup: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "Backup", "Writes a consistent copy of the live database to an absolute path the daemon can write. Operator only.",
            policy: .operatorOnly, kind: .change, errors: [.permissionDenied, .invalidInput, .storageFull])
        /// Where the copy went and its size.
        public typealias Reply = BackupResult

        /// `(path: string)`.
        public struct Parameters: WireRecord {
            /// An absolute path the daemon can write.
            public var path = ""
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(path: String) { self.path = path }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("path", \.path, "")]
        }
    }

    /// The daemon's version, schema and counts.
    public enum GetStatus: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "GetStatus", "The daemon's version, schema version, database and counts.", policy: .everyone, kind: .read)
        /// No parameters.
        public typealias Parameters = Empty

        /// `(version, schemaVersion, database, startedAt, tenants, partners, grants, devices)`.
        public struct Reply: WireRecord {
            /// The daemon's version.
            public var version = ""
            /// The schema version it writes: the number of migrations it knows.
            public var schemaVersion = 0
            /// The database's path.
            public var database = ""
            /// When the daemon started.
            public var startedAt = ""
            /// What the registry holds.
            public var counts = RegistryCounts(tenants: 0, partners: 0, grants: 0, devices: 0)
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The daemon's status.
            public init(version: String, schemaVersion: Int, database: String, startedAt: Timestamp, counts: RegistryCounts) {
                self.version = version; self.schemaVersion = schemaVersion; self.database = database
                self.startedAt = startedAt.rfc3339; self.counts = counts
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("version", \.version, ""), .init("schemaVersion", \.schemaVersion, ""),
                .init("database", \.database, ""), .init("startedAt", \.startedAt, ""),
                .init("tenants", \.counts.tenants, ""), .init("partners", \.counts.partners, ""),
                .init("grants", \.counts.grants, ""), .init("devices", \.counts.devices, ""),
            ]
        }
    }

    /// What the daemon sees of the caller.
    public enum WhoAmI: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts("WhoAmI", "What the daemon sees of the caller.", policy: .everyone, kind: .read)
        /// No parameters.
        public typealias Parameters = Empty

        /// `(uid: int, role: (…), partner: ?string, tenant: ?string)`.
        public struct Reply: WireRecord {
            /// The caller's uid.
            public var uid = 0
            /// The role its access rule gives it.
            public var role = CallerRole.none
            /// The partner a partner caller acts for.
            public var partner: String?
            /// The tenant a tenant caller acts for.
            public var tenant: String?
            /// The account a tenant caller is, when its rule binds one.
            public var account: String?
            /// An empty reply, for decoding to fill.
            public init() {}
            /// What the daemon sees of `caller`.
            public init(_ caller: Caller) {
                uid = Int(caller.uid); role = caller.role; partner = caller.partner; tenant = caller.tenant
                account = caller.account
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("uid", \.uid, ""), .init("role", \.role, ""), .init("partner", \.partner, ""),
                .init("tenant", \.tenant, ""),
                .init("account", \.account,
                      "The account a tenant caller is and acts as; null for a tenant-wide rule, which only reads."),
            ]
        }
    }
}
