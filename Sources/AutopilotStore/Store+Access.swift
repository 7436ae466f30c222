import AutopilotDomain
import GRDB

/// Access rules and service status.
extension RegistryStore {
    /// Binds a uid or a gid to a role (and, for partner and tenant roles, the one partner or tenant it acts for; a
    /// tenant rule may bind its caller to one account of the tenant).
    /// - Throws: `NotFound` (partner, tenant, account); `InvalidInput` (uid, gid, partner, tenant, role, account);
    ///   `AlreadyExists` when the uid or gid already has a rule.
    public func addAccessRule(_ context: OperationContext, uid: Int?, gid: Int?, role: CallerRole,
                              partner: String?, tenant: String?, account upn: String? = nil) async throws -> AccessRule {
        try await change(context) { tx in
            if let partner { _ = try tx.requirePartner(partner) }
            if let tenant { _ = try tx.requireTenant(tenant) }
            let account = try upn.map { try tx.requireAccount($0) }
            let uid = try uid.map { try Validate.unixID($0, field: "uid") }
            let gid = try gid.map { try Validate.unixID($0, field: "gid") }
            guard (uid == nil) != (gid == nil) else {
                throw RegistryError.invalidInput(field: "uid", reason: "give exactly one of uid and gid")
            }
            switch role {
            case .partner:
                guard partner != nil, tenant == nil else {
                    throw RegistryError.invalidInput(field: "partner", reason: "a partner rule names exactly one partner and no tenant")
                }
            case .tenant:
                guard tenant != nil, partner == nil else {
                    throw RegistryError.invalidInput(field: "tenant", reason: "a tenant rule names exactly one tenant and no partner")
                }
            case .operator, .auditor:
                guard partner == nil, tenant == nil else {
                    throw RegistryError.invalidInput(field: "role", reason: "an \(role.rawValue) rule names no partner or tenant")
                }
            case .none:
                throw RegistryError.invalidInput(field: "role", reason: "a rule grants operator, auditor, partner or tenant")
            }
            if let account {
                guard role == .tenant else {
                    throw RegistryError.invalidInput(field: "account", reason: "only a tenant rule binds its caller to an account")
                }
                guard account.tenant == tenant else {
                    throw RegistryError.invalidInput(field: "account", reason: "\(account.upn) is an account of tenant \(account.tenant), not of \(tenant!)")
                }
            }
            let subject = uid.map { "uid \($0)" } ?? "gid \(gid!)"
            let taken = try Bool.fetchOne(tx.db, sql: """
                SELECT EXISTS (SELECT 1 FROM access_rules WHERE removed_at IS NULL AND (uid = ? OR gid = ?))
                """, arguments: [uid.map { Int64($0) }, gid.map { Int64($0) }]) ?? false
            if taken { throw RegistryError.alreadyExists(kind: "access rule", id: subject) }
            let id = newID()
            tx.target("rule", id)
            try tx.db.execute(sql: """
                INSERT INTO access_rules (id, uid, gid, role, partner_id, tenant_id, account, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, uid.map { Int64($0) }, gid.map { Int64($0) }, role.rawValue, partner, tenant,
                                 account?.upn, tx.now.rfc3339])
            return AccessRule(id: id, uid: uid, gid: gid, role: role, partner: partner, tenant: tenant,
                              account: account?.upn, createdAt: tx.now)
        }
    }

    /// Removes an access rule from force; its row stays in the table, marked removed.
    /// - Throws: `NotFound` when no rule in force has that id.
    public func removeAccessRule(_ context: OperationContext, id: String) async throws {
        try await change(context) { tx in
            tx.target("rule", id)
            try tx.db.execute(sql: "UPDATE access_rules SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                              arguments: [tx.now.rfc3339, id])
            if tx.db.changesCount == 0 { throw RegistryError.notFound(kind: "access rule", id: id) }
        }
    }

    /// The access rules in force, oldest first.
    public func listAccessRules(_ context: OperationContext) async throws -> [AccessRule] {
        try await read(context) { tx in
            try Self.activeAccessRules(tx.db)
        }
    }

    /// The rules in force, oldest first. Used to resolve each connecting peer's role.
    public func activeAccessRules() async throws -> [AccessRule] {
        try await asyncRead { db in try Self.activeAccessRules(db) }
    }

    static func activeAccessRules(_ db: Database) throws -> [AccessRule] {
        try Row.fetchAll(db, sql: """
            SELECT id, uid, gid, role, partner_id, tenant_id, account, created_at FROM access_rules
            WHERE removed_at IS NULL ORDER BY created_at, rowid
            """).map(Fetch.accessRule)
    }

    /// Counts for `GetStatus`: tenants, partners, active grants, registered devices.
    public func counts() async throws -> RegistryCounts {
        try await asyncRead { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT (SELECT count(*) FROM tenants) AS t, (SELECT count(*) FROM partners) AS p,
                       (SELECT count(*) FROM grants WHERE status = 'active') AS g,
                       (SELECT count(*) FROM devices WHERE status = 'registered') AS d
                """)!
            return RegistryCounts(tenants: row["t"], partners: row["p"], grants: row["g"], devices: row["d"])
        }
    }
}
