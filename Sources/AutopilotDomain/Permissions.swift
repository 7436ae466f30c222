/// What the permission table, the store and the audit log need to know of a method of `io.autopilotd.registry`.
/// Each method's declaration (in AutopilotInterface) gives its own; nothing here lists the methods.
public struct MethodInfo: Sendable, Hashable {
    /// The method's name, as the audit log records it: `AcceptLink`.
    public let name: String
    /// Its row of "Who may call what".
    public let policy: MethodPolicy
    /// Whether a successful call changes state (and so is recorded in the audit log even when it succeeds).
    public let changesState: Bool
    /// Whether it is answered with a stream of replies (and so requires `"more": true`).
    public let streams: Bool

    /// The facts of one method.
    public init(name: String, policy: MethodPolicy, changesState: Bool, streams: Bool) {
        self.name = name; self.policy = policy; self.changesState = changesState; self.streams = streams
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
    /// Whether an auditor may call it (auditors only ever read).
    public var auditor: Bool
    /// How far a partner caller reaches with it.
    public var partner: Reach
    /// How far a tenant caller reaches with it.
    public var tenant: Reach
    /// Whether a caller no access rule matches may call it.
    public var none: Bool

    /// A row; the defaults allow nobody but the operator.
    public init(auditor: Bool = false, partner: Reach = .no, tenant: Reach = .no, none: Bool = false) {
        self.auditor = auditor; self.partner = partner; self.tenant = tenant; self.none = none
    }

    /// The row of a method only the operator may call.
    public static let operatorOnly = MethodPolicy()
    /// The row of a method any caller may make (`GetStatus`, `WhoAmI`).
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
    /// The peer's Unix user id (SO_PEERCRED).
    public var uid: UInt32
    /// The peer's primary Unix group id.
    public var gid: UInt32
    /// The peer's process id, as SO_PEERCRED gave it when the connection was accepted.
    public var pid: Int32
    /// The role the access rules give it (root and the daemon's own uid are operators).
    public var role: CallerRole
    /// The partner a `partner` caller acts for.
    public var partner: String?
    /// The tenant a `tenant` caller acts for.
    public var tenant: String?
    /// The account a `tenant` caller is, when its rule binds one; nil for a tenant-wide rule, which reads only.
    public var account: String?

    /// A caller as its rule describes it.
    public init(uid: UInt32, gid: UInt32, pid: Int32, role: CallerRole, partner: String? = nil, tenant: String? = nil,
                account: String? = nil) {
        self.uid = uid; self.gid = gid; self.pid = pid; self.role = role; self.partner = partner; self.tenant = tenant
        self.account = account
    }

    /// Decides a caller's role from its uid, its groups (primary first) and the access rules.
    ///
    /// root and the daemon's own uid are always operators. A rule naming the uid wins over rules naming a group;
    /// among group rules the caller's primary group wins, then the earliest rule. A tenant rule that binds an account
    /// wins over a tenant-wide one the same caller matches: the person acts as itself.
    public static func resolve(uid: UInt32, gid: UInt32, groups: [UInt32], pid: Int32, daemonUID: UInt32,
                               rules: [AccessRule]) -> Caller {
        if uid == 0 || uid == daemonUID {
            return Caller(uid: uid, gid: gid, pid: pid, role: .operator)
        }
        let ordered = rules.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        let matching = ordered.filter { $0.uid == uid } + ordered.filter { $0.gid == gid }
            + ordered.filter { rule in rule.gid != gid && (rule.gid.map { groups.contains($0) } ?? false) }
        guard var rule = matching.first else { return Caller(uid: uid, gid: gid, pid: pid, role: .none) }
        if rule.role == .tenant && rule.account == nil, let bound = matching.first(where: { $0.account != nil }) {
            rule = bound
        }
        return Caller(uid: uid, gid: gid, pid: pid, role: rule.role, partner: rule.partner, tenant: rule.tenant,
                      account: rule.account)
    }

    /// The account a call acts as, given the account it names (nil when it names none): the one point where "people
    /// act as themselves" is decided. A tenant caller bound to an account acts as that account and may name no other;
    /// a tenant-wide caller acts as no account at all; an operator acts as the account it names and must name one.
    /// - Throws: `PermissionDenied` for a tenant caller naming another account or bound to none;
    ///   `missingAccount` when an operator names none.
    public func actingAccount(named: String?, _ method: MethodInfo) throws(ActingAccountError) -> String {
        switch role {
        case .tenant:
            guard let bound = account else { throw .refused(refusal(method)) }
            if let named, Validate.accountKey(named) != Validate.accountKey(bound) { throw .refused(refusal(method)) }
            return bound
        default:
            guard let named else { throw .missingAccount }
            return named
        }
    }

    /// A refusal of `method` for this caller's role.
    public func refusal(_ method: MethodInfo) -> RegistryError { .permissionDenied(method: method.name, role: role) }

    /// Refuses the call when the role may not make it at all.
    public func authorize(_ method: MethodInfo) throws(RegistryError) {
        if method.policy.reach(for: role) == .no { throw .permissionDenied(method: method.name, role: role) }
    }

    /// Refuses a partner caller acting for a partner other than its own. Other roles pass.
    public func requirePartner(_ partner: String, _ method: MethodInfo) throws(RegistryError) {
        if role == .partner && method.policy.partner == .own && partner != self.partner {
            throw .permissionDenied(method: method.name, role: role)
        }
    }

    /// Refuses a tenant caller acting for a tenant other than its own. Other roles pass.
    public func requireTenant(_ tenant: String, _ method: MethodInfo) throws(RegistryError) {
        if role == .tenant && method.policy.tenant == .own && tenant != self.tenant {
            throw .permissionDenied(method: method.name, role: role)
        }
    }

    /// For list filters: a partner caller that omits the partner gets its own; naming another is refused.
    public func partnerFilter(_ requested: String?, _ method: MethodInfo) throws(RegistryError) -> String? {
        guard role == .partner else { return requested }
        if let requested { try requirePartner(requested, method) }
        return self.partner
    }

    /// For list filters: a tenant caller that omits the tenant gets its own; naming another is refused.
    public func tenantFilter(_ requested: String?, _ method: MethodInfo) throws(RegistryError) -> String? {
        guard role == .tenant else { return requested }
        if let requested { try requireTenant(requested, method) }
        return self.tenant
    }
}

/// A refused call (`PermissionDenied`) with the ids it named, as `kind:id`, and the tenant account it acted as: what
/// its audit event records.
public struct Refusal: Error, Sendable {
    /// The refusal itself.
    public var error: RegistryError
    /// `kind:id` of what the call named (its partner and tenant, or the records its ids reached).
    public var targets: [String]
    /// The tenant account the call named, as given.
    public var account: String?

    /// A refusal of a call that named `targets` and `account`.
    public init(_ error: RegistryError, targets: [String] = [], account: String? = nil) {
        self.error = error
        self.targets = targets
        self.account = account
    }
}

/// Why a call has no account to act as.
public enum ActingAccountError: Error, Sendable, Hashable {
    /// The caller may not act as the account it named, or as any (`PermissionDenied`).
    case refused(RegistryError)
    /// An operator named no account (`InvalidParameter(account)`).
    case missingAccount
}
