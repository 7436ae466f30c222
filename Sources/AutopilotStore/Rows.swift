import AutopilotDomain
import GRDB

/// Reading domain records from rows. One place per record type; every query selects the columns it needs.
///
/// Queries on the path of frequent calls (ValidateSubmission, AddDevices) go through the connection's statement cache
/// (`cachedStatement`): their SQL is fixed, and compiling it on every call (with GRDB's authorizer recording what each
/// statement reads) was over half of a ValidateSubmission's instructions (docs/performance.md).
extension Timestamp {
    init(column value: String?) {
        self = value.flatMap(Timestamp.init(rfc3339:)) ?? Timestamp(millisecondsSinceEpoch: 0)
    }
}

extension Optional where Wrapped == String {
    var timestamp: Timestamp? { self.flatMap(Timestamp.init(rfc3339:)) }
}

enum Fetch {
    static func tenant(_ db: Database, _ id: String) throws -> Tenant? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, name, created_at FROM tenants WHERE id = ?"),
                                         arguments: [id])
        else { return nil }
        return try tenant(db, row)
    }

    static func tenant(_ db: Database, _ row: Row) throws -> Tenant {
        let id: String = row["id"]
        let domains = try String.fetchAll(
            db.cachedStatement(sql: "SELECT domain FROM tenant_domains WHERE tenant_id = ? ORDER BY is_initial DESC, added_at, domain"),
            arguments: [id])
        return Tenant(id: id, name: row["name"], domain: domains.first ?? "", domains: domains,
                      createdAt: Timestamp(column: row["created_at"]))
    }

    /// The tenant owning a domain, if any.
    static func tenantID(owningDomain domain: String, _ db: Database) throws -> String? {
        try String.fetchOne(db, sql: "SELECT tenant_id FROM tenant_domains WHERE domain = ?", arguments: [domain])
    }

    static func account(_ db: Database, _ upn: String) throws -> Account? {
        guard let row = try Row.fetchOne(db, sql: """
            SELECT upn, tenant_id, domain FROM accounts WHERE upn = ? AND removed_at IS NULL
            """, arguments: [upn])
        else { return nil }
        let roles = try String.fetchAll(db, sql: "SELECT role FROM account_roles WHERE upn = ?", arguments: [upn])
            .compactMap(AccountRole.init(rawValue:)).sorted()
        let domain: String = row["domain"]
        let initial = try Bool.fetchOne(db, sql: "SELECT is_initial FROM tenant_domains WHERE domain = ?",
                                        arguments: [domain]) ?? false
        return Account(tenant: row["tenant_id"], upn: upn, roles: roles, cloudNative: initial)
    }

    static let partnerColumns = "id, name, kind, provider_id, oem_direct_api, created_at"
    private static let partnerByID = "SELECT \(partnerColumns) FROM partners WHERE id = ?"

    static func partner(_ db: Database, _ id: String) throws -> Partner? {
        try db.rawSelectOne(partnerByID, id, row: partner)
    }

    /// A partner from a row that starts with `partnerColumns`, read by position: a lookup by name lowercases every
    /// column name of a fetched row, which showed in ValidateSubmission's profile.
    static func partner(_ row: some ColumnReader) -> Partner {
        Partner(id: row.string(0), name: row.string(1), kind: PartnerKind(rawValue: row.string(2)) ?? .directCsp,
                provider: row.optionalString(3), oemDirectApi: row.bool(4),
                createdAt: Timestamp(column: row.string(5)))
    }

    /// Whether a tenant with this id exists (one indexed lookup, without reading its domains).
    static func tenantExists(_ db: Database, _ id: String) throws -> Bool {
        try db.rawSelectOne("SELECT 1 FROM tenants WHERE id = ?", id) { _ in true } ?? false
    }

    static func accessRule(_ row: Row) -> AccessRule {
        AccessRule(id: row["id"], uid: (row["uid"] as Int64?).map { UInt32($0) },
                   gid: (row["gid"] as Int64?).map { UInt32($0) },
                   role: CallerRole(rawValue: row["role"]) ?? .none, partner: row["partner_id"],
                   tenant: row["tenant_id"], account: row["account"], createdAt: Timestamp(column: row["created_at"]))
    }
}

extension Transaction {
    /// The tenant with this id, or `NotFound(tenant)`; either way the audit event names it.
    public func requireTenant(_ id: String) throws -> Tenant {
        target("tenant", id)
        guard let t = try Fetch.tenant(db, id) else { throw RegistryError.notFound(kind: "tenant", id: id) }
        return t
    }

    /// The partner with this id, or `NotFound(partner)`; either way the audit event names it.
    public func requirePartner(_ id: String) throws -> Partner {
        target("partner", id)
        guard let p = try Fetch.partner(db, id) else { throw RegistryError.notFound(kind: "partner", id: id) }
        return p
    }

    /// The account with this UPN (any case), or `NotFound(account)`; either way the audit event names it.
    public func requireAccount(_ upn: String) throws -> Account {
        let key = upn.lowercased()
        target("account", key)
        guard let a = try Fetch.account(db, key) else { throw RegistryError.notFound(kind: "account", id: upn) }
        return a
    }
}

extension Fetch {
    static let grantColumns = """
        g.id, g.tenant_id, g.partner_id, g.basis, g.via_grant_id, g.link_id, g.delegated_admin, g.granted_by,
        g.granted_at, g.status, g.ended_at, g.dap_expires_at, g.dap_since
        """

    /// A grant from a row that starts with `grantColumns`, read by position (as `partner(_:)`), as it is at `now`:
    /// DAP in force only while given and not past its end (`ConsentRules.dapInForce`), and `roles` the DAP roles held
    /// now (those given since the current DAP began; none without DAP).
    static func grant(_ db: Database, _ row: some ColumnReader, now: Timestamp) throws -> Grant {
        let id = row.string(0)
        let grantedAt = row.string(8)
        let expires = row.optionalString(11).timestamp
        let status = GrantStatus(rawValue: row.string(9)) ?? .active
        // An ended or revoked grant holds no privileges, whatever DAP it had when it ended.
        let dap = status == .active && ConsentRules.dapInForce(given: row.bool(6), expiresAt: expires, now: now)
        let roles = dap
            ? try db.rawSelect(rolesInForce, id, row.optionalString(12) ?? grantedAt, grantedAt) { $0.string(0) }
                .compactMap(AccountRole.init(rawValue:)).sorted()
            : []
        return Grant(id: id, tenant: row.string(1), partner: row.string(2),
                     basis: GrantBasis(rawValue: row.string(3)) ?? .direct, via: row.optionalString(4),
                     link: row.string(5), delegatedAdmin: dap, roles: roles, grantedBy: row.string(7),
                     grantedAt: Timestamp(column: grantedAt),
                     status: status, endedAt: row.optionalString(10).timestamp, dapExpiresAt: expires)
    }

    /// The roles of the current DAP period: given at or after it began (`?2`); `?3` is the grant's time, which a
    /// role without its own `since` (given with the grant) counts as.
    private static let rolesInForce = "SELECT role FROM grant_roles WHERE grant_id = ?1 AND ifnull(since, ?3) >= ?2"

    static func grant(_ db: Database, id: String, now: Timestamp) throws -> Grant? {
        try Row.fetchOne(db, sql: "SELECT \(grantColumns) FROM grants g WHERE g.id = ?", arguments: [id])
            .map { try grant(db, $0, now: now) }
    }

    /// Served by the partial index grants_active_by_pair, in its order: grant time, then creation order.
    static let activeGrantsOfPair = """
        SELECT \(grantColumns) FROM grants g
        WHERE g.partner_id = ? AND g.tenant_id = ? AND g.status = 'active' ORDER BY g.granted_at, g.rowid
        """

    static let hasActiveGrantOfPair = "SELECT 1 FROM grants WHERE partner_id = ? AND tenant_id = ? AND status = 'active'"

    /// The active grants of a partner for a tenant, oldest first (a provider may hold several, one per reseller).
    static func activeGrants(_ db: Database, partner: String, tenant: String, now: Timestamp) throws -> [Grant] {
        try db.rawSelect(activeGrantsOfPair, partner, tenant) { try grant(db, $0, now: now) }
    }

    /// Whether the partner holds an active grant for the tenant: the consent gate for devices.
    static func hasActiveGrant(_ db: Database, partner: String, tenant: String) throws -> Bool {
        try db.rawSelectOne(hasActiveGrantOfPair, partner, tenant) { _ in true } ?? false
    }
}
