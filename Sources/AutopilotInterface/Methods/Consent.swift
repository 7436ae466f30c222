import AutopilotDomain
import Varlink

extension RegistryInterface {
    /// The consent methods: links, grants, revocation requests, and the consent check.
    static let consentMethods: [any MethodDeclaration.Type] = [
        Registry.RequestResellerRelationship.self, Registry.IssueOemLink.self, Registry.RevokeLink.self,
        Registry.DescribeLink.self, Registry.AcceptLink.self, Registry.ListCustomers.self, Registry.ListGrants.self,
        Registry.ValidateSubmission.self, Registry.RemoveDelegatedAdmin.self, Registry.EndRelationship.self,
        Registry.FileRevocationRequest.self, Registry.ListRevocationRequests.self, Registry.DecideRevocationRequest.self,
        Registry.WithdrawRevocationRequest.self, Registry.WatchConsent.self,
    ]
}

/// The comment of every `account` parameter of a call that acts as an account.
let accountDoc = "The account acted as (a UPN). A caller bound to an account may omit it, which means that account; "
    + "naming another is PermissionDenied. An operator must name one."

extension Registry {
    /// `(partner: string)`: the parameters of a call about one partner.
    public struct PartnerParameters: WireRecord {
        /// The partner's id.
        public var partner = ""
        /// Empty parameters, for decoding to fill.
        public init() {}
        /// The parameters of a call.
        public init(partner: String) { self.partner = partner }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("partner", \.partner, "")]
    }

    /// `(link: string)`: the parameters of a call about one link.
    public struct LinkParameters: WireRecord {
        /// The whole URL, the bare token, or the link id.
        public var link = ""
        /// Empty parameters, for decoding to fill.
        public init() {}
        /// The parameters of a call.
        public init(link: String) { self.link = link }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("link", \.link, "")]
    }

    /// `(partner: string, account: ?string)`: a tenant-side call about one partner, made as one account.
    public struct TenantSideParameters: WireRecord {
        /// The partner's id.
        public var partner = ""
        /// The acting account's UPN; a caller bound to an account may omit it.
        public var account: String?
        /// Empty parameters, for decoding to fill.
        public init() {}
        /// The parameters of a call.
        public init(partner: String, account: String?) { self.partner = partner; self.account = account }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("partner", \.partner, ""), .init("account", \.account, accountDoc)]
    }

    /// Creates a reseller-relationship link.
    public enum RequestResellerRelationship: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "RequestResellerRelationship",
            "Creates a reseller-relationship link for a direct CSP or an indirect reseller, optionally requesting "
                + "delegated admin (DAP) with admin roles, for a number of days or until the tenant removes it. Returns "
                + "the link (with its URL, shown only here) and a ready-to-send email.",
            policy: MethodPolicy(partner: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .notAllowedForPartnerKind, .invalidInput])
        /// The partner named must be a partner caller's own.
        public static let scope = Scope<Parameters>(partner: .named(\Parameters.partner))
        /// The link and the email to send with it.
        public typealias Reply = ResellerInvitation

        /// `(partner: string, delegatedAdmin: bool, roles: ?[]string, dapDays: ?int)`.
        public struct Parameters: WireRecord {
            /// The asking partner.
            public var partner = ""
            /// Whether DAP is requested.
            public var delegatedAdmin = false
            /// The admin roles requested with DAP.
            public var roles: [String]?
            /// How many days DAP lasts once accepted.
            public var dapDays: Int?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(partner: String, delegatedAdmin: Bool, roles: [String]? = nil, dapDays: Int? = nil) {
                self.partner = partner; self.delegatedAdmin = delegatedAdmin; self.roles = roles; self.dapDays = dapDays
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("partner", \.partner, ""), .init("delegatedAdmin", \.delegatedAdmin, ""), .init("roles", \.roles, ""),
                .init("dapDays", \.dapDays,
                      "With delegatedAdmin: DAP ends by itself this many days (1 to 730) after acceptance, as GDAP "
                        + "relationships do; the consent to register devices stays. Omitted: DAP lasts until removed."),
            ]
        }
    }

    /// Issues an OEM's unique consent link.
    public enum IssueOemLink: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "IssueOemLink", "Issues an OEM's unique consent link, revoking its previous one. Operator only; the OEM must be eligible.",
            policy: .operatorOnly, kind: .change,
            errors: [.permissionDenied, .notFound, .notAllowedForPartnerKind, .oemNotEligible])
        /// The partner named, recorded with a refusal.
        public static let scope = Scope<Parameters>(partner: .named(\Parameters.partner))
        /// The parameters: the OEM.
        public typealias Parameters = PartnerParameters
        /// The new link, with its URL.
        public typealias Reply = LinkReply
    }

    /// Revokes a link.
    public enum RevokeLink: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "RevokeLink", "Revokes a link (the whole URL, the bare token, or the link id). Accepted grants stay.",
            policy: MethodPolicy(partner: .own), kind: .change, errors: [.permissionDenied, .notFound])
        /// The parameters: the link.
        public typealias Parameters = LinkParameters
        /// The revoked link.
        public typealias Reply = LinkReply
    }

    /// The consent page of a link.
    public enum DescribeLink: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "DescribeLink",
            "What the customer is shown on the consent page: the partner, the kind of request, DAP and roles. For an "
                + "indirect reseller's link, provider is the indirect provider that accepting also authorises (null "
                + "otherwise); it is an addition to the contract, so clients may ignore it.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .any), kind: .read,
            errors: [.permissionDenied, .notFound])
        /// The parameters: the link.
        public typealias Parameters = LinkParameters
        /// The link, its partner and an indirect reseller's provider.
        public typealias Reply = ConsentPage
    }

    /// A Global Administrator accepts a link.
    public enum AcceptLink: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "AcceptLink",
            "A tenant's Global Administrator accepts a link (an OEM link needs a cloud-native account). Accepting an "
                + "indirect reseller's link also grants its provider. Accepting again while the partner's grant is "
                + "active creates nothing: a link asking for more than the grant gives (DAP, roles it lacks, a longer "
                + "DAP) extends it, else the active grants are returned unchanged; a link accepted into the grant "
                + "before gives nothing again. An OEM that has lost its Direct API eligibility gets no new consent "
                + "(OemNotEligible).",
            policy: MethodPolicy(tenant: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .globalAdminRequired, .cloudNativeAccountRequired, .linkExpired,
                     .linkRevoked, .oemNotEligible])
        /// The acting account, recorded with a refusal.
        public static let scope = Scope<Parameters>(account: \Parameters.account)
        /// The grants the acceptance made (or found active).
        public typealias Reply = GrantsReply

        /// `(link: string, account: ?string)`.
        public struct Parameters: WireRecord {
            /// The whole URL or the bare token.
            public var link = ""
            /// The accepting account's UPN; a caller bound to an account may omit it.
            public var account: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(link: String, account: String?) { self.link = link; self.account = account }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("link", \.link, ""), .init("account", \.account, accountDoc)]
        }
    }

    /// A partner's customers.
    public enum ListCustomers: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListCustomers", "Tenants holding an active grant for the partner: how a partner confirms that a customer accepted.",
            policy: MethodPolicy(auditor: true, partner: .own), kind: .read, errors: [.permissionDenied, .notFound])
        /// The partner named must be a partner caller's own.
        public static let scope = Scope<Parameters>(partner: .named(\Parameters.partner))
        /// The parameters: the partner.
        public typealias Parameters = PartnerParameters

        /// `(customers: []Customer)`.
        public struct Reply: WireRecord {
            /// The customers, with their grants.
            public var customers: [Customer] = []
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `customers`.
            public init(_ customers: [Customer]) { self.customers = customers }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("customers", \.customers, "")]
        }
    }

    /// Grants, filtered.
    public enum ListGrants: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListGrants", "Grants, filtered; partners and tenants see their own.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .read,
            errors: [.permissionDenied, .notFound])
        /// Partners and tenants list their own.
        public static let scope = Scope<Parameters>(partner: .filter(\Parameters.partner), tenant: .filter(\Parameters.tenant))
        /// The grants.
        public typealias Reply = GrantsReply

        /// `(tenant: ?string, partner: ?string, status: ?(active, ended, revoked))`.
        public struct Parameters: WireRecord {
            /// Only this tenant's grants.
            public var tenant: String?
            /// Only this partner's grants.
            public var partner: String?
            /// Only grants with this status.
            public var status: GrantStatus?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(tenant: String? = nil, partner: String? = nil, status: GrantStatus? = nil) {
                self.tenant = tenant; self.partner = partner; self.status = status
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("tenant", \.tenant, ""), .init("partner", \.partner, ""), .init("status", \.status, ""),
            ]
        }
    }

    /// The consent check before an upload, and its dry run.
    public enum ValidateSubmission: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ValidateSubmission",
            "Whether the partner may register devices for the tenant, and, given devices, what each would get. Writes "
                + "nothing and never fails for lack of consent. An OEM no longer eligible for the OEM Direct API may "
                + "register nothing, whatever its grants: OemNotEligible.",
            policy: MethodPolicy(partner: .own), kind: .read,
            errors: [.permissionDenied, .notFound, .oemNotEligible, .batchTooLarge])
        /// The partner named must be a partner caller's own.
        public static let scope = Scope<Parameters>(partner: .named(\Parameters.partner))
        /// Whether consent exists, its grant, and each device's result.
        public typealias Reply = SubmissionCheck

        /// `(partner: string, tenant: string, devices: ?[]DeviceInput)`.
        public struct Parameters: WireRecord {
            /// The partner.
            public var partner = ""
            /// The tenant.
            public var tenant = ""
            /// Devices to check, at most 1,000.
            public var devices: [DeviceInput]?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(partner: String, tenant: String, devices: [DeviceInput]? = nil) {
                self.partner = partner; self.tenant = tenant; self.devices = devices
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("partner", \.partner, ""), .init("tenant", \.tenant, ""), .init("devices", \.devices, ""),
            ]
        }
    }

    /// The tenant removes a partner's delegated admin privileges.
    public enum RemoveDelegatedAdmin: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "RemoveDelegatedAdmin",
            "The tenant removes a partner's delegated admin privileges, and those an indirect provider holds through "
                + "the partner's grants (they came with the reseller's request); consent to register devices stays.",
            policy: MethodPolicy(tenant: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .globalAdminRequired])
        /// The partner named and the acting account.
        public static let scope = Scope<Parameters>(partner: .named(\Parameters.partner), account: \Parameters.account)
        /// The parameters: the partner and the acting account.
        public typealias Parameters = TenantSideParameters

        /// `(grant: Grant)`.
        public struct Reply: WireRecord {
            /// The partner's grant, without DAP.
            public var grant = Grant()
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `grant`.
            public init(_ grant: Grant) { self.grant = grant }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("grant", \.grant, "")]
        }
    }

    /// A tenant or a partner ends a relationship.
    public enum EndRelationship: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "EndRelationship",
            "Ends a relationship: the partner's active grants for one tenant, and the provider grants that came through "
                + "a reseller's. A tenant ends it as its Global Administrator (account), never an OEM's "
                + "(OemRemovalRequiresRequest); a partner ends its own, without account, naming the tenant.",
            policy: MethodPolicy(partner: .own, tenant: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .globalAdminRequired, .oemRemovalRequiresRequest, .invalidInput])
        /// The partner named, and the acting account on the tenant's side.
        public static let scope = Scope<Parameters>(partner: .named(\Parameters.partner), account: \Parameters.account,
                                                    sides: .partnerOrAccount)
        /// The grants ended.
        public typealias Reply = GrantsReply

        /// `(partner: string, account: ?string, tenant: ?string)`.
        public struct Parameters: WireRecord {
            /// The partner whose relationship ends.
            public var partner = ""
            /// The tenant's acting account (the tenant's side).
            public var account: String?
            /// The customer tenant (the partner's side).
            public var tenant: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The tenant's side: `account` ends the partner's relationship with its tenant.
            public init(partner: String, account: String?) { self.partner = partner; self.account = account }
            /// The partner's side: the partner ends its relationship with `tenant`.
            public init(partner: String, tenant: String) { self.partner = partner; self.tenant = tenant }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("partner", \.partner, ""),
                .init("account", \.account,
                      "The tenant's side: " + accountDoc + " A partner caller gives none (PermissionDenied)."),
                .init("tenant", \.tenant,
                      "The partner's side (no account): the customer whose relationship ends (InvalidInput(tenant) when "
                        + "missing there, or given on the tenant's side)."),
            ]
        }
    }

    /// The tenant asks the operator to remove a partner.
    public enum FileRevocationRequest: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "FileRevocationRequest",
            "The tenant asks the operator to remove a partner holding an active grant; one open request per partner "
                + "(AlreadyExists naming the open one).",
            policy: MethodPolicy(tenant: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .globalAdminRequired, .alreadyExists, .invalidInput])
        /// The partner named and the acting account.
        public static let scope = Scope<Parameters>(partner: .named(\Parameters.partner), account: \Parameters.account)
        /// The request filed.
        public typealias Reply = RequestReply

        /// `(partner: string, account: ?string, reason: string)`.
        public struct Parameters: WireRecord {
            /// The partner to remove.
            public var partner = ""
            /// The acting account's UPN; a caller bound to an account may omit it.
            public var account: String?
            /// Why, in the tenant's words.
            public var reason = ""
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(partner: String, account: String?, reason: String) {
                self.partner = partner; self.account = account; self.reason = reason
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("partner", \.partner, ""), .init("account", \.account, accountDoc), .init("reason", \.reason, ""),
            ]
        }
    }

    /// Revocation requests.
    public enum ListRevocationRequests: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListRevocationRequests", "Revocation requests, optionally by status; partners and tenants see their own.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .read)
        /// Partners and tenants list their own.
        public static let scope = Scope<Parameters>(partner: .own, tenant: .own)

        /// `(status: ?(open, approved, rejected, withdrawn))`.
        public struct Parameters: WireRecord {
            /// Only requests with this status.
            public var status: RevocationStatus?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(status: RevocationStatus?) { self.status = status }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("status", \.status, "")]
        }

        /// `(requests: []RevocationRequest)`.
        public struct Reply: WireRecord {
            /// The requests, oldest first.
            public var requests: [RevocationRequest] = []
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `requests`.
            public init(_ requests: [RevocationRequest]) { self.requests = requests }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("requests", \.requests, "")]
        }
    }

    /// The operator decides a revocation request.
    public enum DecideRevocationRequest: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "DecideRevocationRequest",
            "The operator approves (the partner's active grants for the tenant are revoked at once) or rejects a request.",
            policy: .operatorOnly, kind: .change,
            errors: [.permissionDenied, .notFound, .alreadyDecided, .invalidInput])
        /// The request decided.
        public typealias Reply = RequestReply

        /// `(request: string, approve: bool, note: ?string)`.
        public struct Parameters: WireRecord {
            /// The request's id.
            public var request = ""
            /// Approve (revoke the grants) or reject.
            public var approve = false
            /// The operator's note.
            public var note: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(request: String, approve: Bool, note: String? = nil) {
                self.request = request; self.approve = approve; self.note = note
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("request", \.request, ""), .init("approve", \.approve, ""), .init("note", \.note, ""),
            ]
        }
    }

    /// The tenant withdraws its open revocation request.
    public enum WithdrawRevocationRequest: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "WithdrawRevocationRequest",
            "The tenant's Global Administrator withdraws an open revocation request of its tenant (AlreadyDecided once "
                + "it was approved, rejected or withdrawn).",
            policy: MethodPolicy(tenant: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .globalAdminRequired, .alreadyDecided, .invalidInput])
        /// The acting account.
        public static let scope = Scope<Parameters>(account: \Parameters.account)
        /// The request, withdrawn.
        public typealias Reply = RequestReply

        /// `(request: string, account: ?string)`.
        public struct Parameters: WireRecord {
            /// The request's id.
            public var request = ""
            /// The acting account's UPN; a caller bound to an account may omit it.
            public var account: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(request: String, account: String?) { self.request = request; self.account = account }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("request", \.request, ""), .init("account", \.account, accountDoc),
            ]
        }
    }

    /// Grant changes, streamed as they commit.
    public enum WatchConsent: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "WatchConsent",
            "Streams one event per grant change as it commits, in seq order, DAP expiries included, for the grants the "
                + "caller may see; needs \"more\" and never ends by itself. The first reply carries no event and "
                + "confirms the subscription.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .stream,
            errors: [.permissionDenied, .notFound, .invalidInput])
        /// Partners and tenants watch their own.
        public static let scope = Scope<Parameters>(partner: .filter(\Parameters.partner), tenant: .filter(\Parameters.tenant))

        /// `(partner: ?string, tenant: ?string, after: ?int)`.
        public struct Parameters: WireRecord {
            /// Only this partner's grants.
            public var partner: String?
            /// Only this tenant's grants.
            public var tenant: String?
            /// First send the events after this seq.
            public var after: Int64?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(partner: String? = nil, tenant: String? = nil, after: Int64? = nil) {
                self.partner = partner; self.tenant = tenant; self.after = after
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("partner", \.partner, ""), .init("tenant", \.tenant, ""),
                .init("after", \.after,
                      "An addition to the contract: first send the events after this seq (the last one a watcher saw), "
                        + "then new ones, so a watcher that reconnects misses none. Omitted: new events only."),
            ]
        }

        /// `(event: ?ConsentEvent)`: one reply of the stream.
        public struct Reply: WireRecord {
            /// An event; none in the first reply.
            public var event: ConsentEvent?
            /// An empty reply.
            public init() {}
            /// The reply for `event`.
            public init(_ event: ConsentEvent?) { self.event = event }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("event", \.event, "")]
        }
    }
}
