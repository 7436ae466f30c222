/// Every method of `io.autopilotd.registry`, by its wire name.
public enum RegistryMethod: String, Sendable, CaseIterable {
    // directory
    case createTenant = "CreateTenant", addTenantDomain = "AddTenantDomain", addAccount = "AddAccount"
    case setAccountRoles = "SetAccountRoles", getTenant = "GetTenant", listTenants = "ListTenants"
    case registerPartner = "RegisterPartner", setOemEligibility = "SetOemEligibility"
    case getPartner = "GetPartner", listPartners = "ListPartners"
    // consent
    case requestResellerRelationship = "RequestResellerRelationship", issueOemLink = "IssueOemLink"
    case revokeLink = "RevokeLink", describeLink = "DescribeLink", acceptLink = "AcceptLink"
    case listCustomers = "ListCustomers", listGrants = "ListGrants", validateSubmission = "ValidateSubmission"
    case removeDelegatedAdmin = "RemoveDelegatedAdmin", endRelationship = "EndRelationship"
    case fileRevocationRequest = "FileRevocationRequest", listRevocationRequests = "ListRevocationRequests"
    case decideRevocationRequest = "DecideRevocationRequest"
    // devices
    case createDeviceBatch = "CreateDeviceBatch", addDevices = "AddDevices", uploadDeviceCsv = "UploadDeviceCsv"
    case getBatch = "GetBatch"
    case listBatches = "ListBatches", listDevices = "ListDevices", deregisterDevice = "DeregisterDevice"
    // access
    case addAccessRule = "AddAccessRule", removeAccessRule = "RemoveAccessRule", listAccessRules = "ListAccessRules"
    // audit and service
    case listAuditEvents = "ListAuditEvents", verifyAudit = "VerifyAudit", backup = "Backup"
    case getStatus = "GetStatus", whoAmI = "WhoAmI"

    /// The method with this wire name, or nil; one hash lookup, where `init(rawValue:)` compares the name with
    /// every case in turn.
    public init?(wireName: Substring) {
        guard let method = Self.byWireName[wireName] else { return nil }
        self = method
    }

    private static let byWireName: [Substring: RegistryMethod] =
        Dictionary(uniqueKeysWithValues: allCases.map { (Substring($0.rawValue), $0) })

    /// Whether a successful call changes state (and so is recorded in the audit log even when it succeeds).
    public var changesState: Bool {
        switch self {
        case .createTenant, .addTenantDomain, .addAccount, .setAccountRoles, .registerPartner, .setOemEligibility,
             .requestResellerRelationship, .issueOemLink, .revokeLink, .acceptLink, .removeDelegatedAdmin,
             .endRelationship, .fileRevocationRequest, .decideRevocationRequest, .createDeviceBatch, .addDevices,
             .uploadDeviceCsv, .deregisterDevice, .addAccessRule, .removeAccessRule, .backup:
            true
        default:
            false
        }
    }

    /// Methods answered as a stream of replies; they require `"more": true`.
    public var streams: Bool { self == .listDevices || self == .listAuditEvents }

    /// Who may call this method (the table "Who may call what" of interface.md).
    public var policy: MethodPolicy {
        switch self {
        case .createTenant, .addTenantDomain, .addAccount, .setAccountRoles, .registerPartner, .setOemEligibility,
             .addAccessRule, .removeAccessRule, .issueOemLink, .decideRevocationRequest:
            .operatorOnly
        case .getTenant, .listTenants, .getPartner, .listPartners:
            MethodPolicy(auditor: true, partner: .own, tenant: .own)
        case .listAccessRules:
            MethodPolicy(auditor: true)
        case .backup:
            .operatorOnly
        case .requestResellerRelationship, .revokeLink:
            MethodPolicy(partner: .own)
        case .describeLink:
            MethodPolicy(auditor: true, partner: .own, tenant: .any)
        case .acceptLink, .removeDelegatedAdmin, .endRelationship, .fileRevocationRequest:
            MethodPolicy(tenant: .own)
        case .listCustomers:
            MethodPolicy(auditor: true, partner: .own)
        case .validateSubmission:
            MethodPolicy(partner: .own)
        case .listGrants, .listRevocationRequests:
            MethodPolicy(auditor: true, partner: .own, tenant: .own)
        case .createDeviceBatch, .addDevices, .uploadDeviceCsv, .deregisterDevice:
            MethodPolicy(partner: .own)
        case .getBatch, .listBatches, .listDevices:
            MethodPolicy(auditor: true, partner: .own, tenant: .own)
        case .listAuditEvents, .verifyAudit:
            MethodPolicy(auditor: true)
        case .getStatus, .whoAmI:
            .everyone
        }
    }
}

/// How far a partner or tenant caller may reach with a method.
public enum Reach: Sendable, Hashable {
    /// Not at all.
    case no
    /// Only records of the partner or tenant its access rule names.
    case own
    /// Any record (the consent page, which every customer may open).
    case any
}

/// One row of the permission table. The operator may call everything.
public struct MethodPolicy: Sendable, Hashable {
    public var auditor: Bool
    public var partner: Reach
    public var tenant: Reach
    public var none: Bool

    public init(auditor: Bool = false, partner: Reach = .no, tenant: Reach = .no, none: Bool = false) {
        self.auditor = auditor; self.partner = partner; self.tenant = tenant; self.none = none
    }

    public static let operatorOnly = MethodPolicy()
    public static let everyone = MethodPolicy(auditor: true, partner: .any, tenant: .any, none: true)

    /// How far a caller with this role reaches; `.no` means the call is refused outright.
    public func reach(for role: CallerRole) -> Reach {
        switch role {
        case .operator: .any
        case .auditor: auditor ? .any : .no
        case .partner: partner
        case .tenant: tenant
        case .none: none ? .any : .no
        }
    }
}

/// Who is calling, as the daemon sees it: peer credentials and the role the access rules give them.
public struct Caller: Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public var role: CallerRole
    /// The partner a `partner` caller acts for.
    public var partner: String?
    /// The tenant a `tenant` caller acts for.
    public var tenant: String?

    public init(uid: UInt32, gid: UInt32, pid: Int32, role: CallerRole, partner: String? = nil, tenant: String? = nil) {
        self.uid = uid; self.gid = gid; self.pid = pid; self.role = role; self.partner = partner; self.tenant = tenant
    }

    /// Decides a caller's role from its uid, its groups (primary first) and the access rules.
    ///
    /// root and the daemon's own uid are always operators. A rule naming the uid wins over rules naming a group;
    /// among group rules the caller's primary group wins, then the earliest rule.
    public static func resolve(uid: UInt32, gid: UInt32, groups: [UInt32], pid: Int32, daemonUID: UInt32,
                               rules: [AccessRule]) -> Caller {
        if uid == 0 || uid == daemonUID {
            return Caller(uid: uid, gid: gid, pid: pid, role: .operator)
        }
        let ordered = rules.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        let match = ordered.first(where: { $0.uid == uid })
            ?? ordered.first(where: { $0.gid == gid })
            ?? ordered.first(where: { rule in rule.gid.map { groups.contains($0) } ?? false })
        guard let rule = match else { return Caller(uid: uid, gid: gid, pid: pid, role: .none) }
        return Caller(uid: uid, gid: gid, pid: pid, role: rule.role, partner: rule.partner, tenant: rule.tenant)
    }

    /// Refuses the call when the role may not make it at all.
    public func authorize(_ method: RegistryMethod) throws(RegistryError) {
        if method.policy.reach(for: role) == .no { throw .permissionDenied(method: method.rawValue, role: role) }
    }

    /// Refuses a partner caller acting for a partner other than its own. Other roles pass.
    public func requirePartner(_ partner: String, _ method: RegistryMethod) throws(RegistryError) {
        if role == .partner && method.policy.partner == .own && partner != self.partner {
            throw .permissionDenied(method: method.rawValue, role: role)
        }
    }

    /// Refuses a tenant caller acting for a tenant other than its own. Other roles pass.
    public func requireTenant(_ tenant: String, _ method: RegistryMethod) throws(RegistryError) {
        if role == .tenant && method.policy.tenant == .own && tenant != self.tenant {
            throw .permissionDenied(method: method.rawValue, role: role)
        }
    }

    /// For list filters: a partner caller that omits the partner gets its own; naming another is refused.
    public func partnerFilter(_ requested: String?, _ method: RegistryMethod) throws(RegistryError) -> String? {
        guard role == .partner else { return requested }
        if let requested { try requirePartner(requested, method) }
        return self.partner
    }

    /// For list filters: a tenant caller that omits the tenant gets its own; naming another is refused.
    public func tenantFilter(_ requested: String?, _ method: RegistryMethod) throws(RegistryError) -> String? {
        guard role == .tenant else { return requested }
        if let requested { try requireTenant(requested, method) }
        return self.tenant
    }
}
