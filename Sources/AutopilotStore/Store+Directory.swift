import AutopilotDomain
import GRDB

/// Directory methods: tenants, domains, accounts, partners.
extension RegistryStore {
    /// Creates a tenant with its initial onmicrosoft.com domain, under a new UUID unless the operator chose an id.
    /// - Throws: `InvalidInput` (id, name, domain), `AlreadyExists` (tenant, domain).
    public func createTenant(_ context: OperationContext, name: String, domain: String, id: String?) async throws -> Tenant {
        try await change(context) { tx in
            let id = try id.map { try Validate.id($0) } ?? newID()
            tx.target("tenant", id)
            let name = try Validate.name(name)
            let domain = try Validate.initialDomain(domain)
            if try Fetch.tenant(tx.db, id) != nil { throw RegistryError.alreadyExists(kind: "tenant", id: id) }
            if try Fetch.tenantID(owningDomain: domain, tx.db) != nil {
                throw RegistryError.alreadyExists(kind: "domain", id: domain)
            }
            try tx.db.execute(sql: "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
                              arguments: [id, name, tx.now.rfc3339])
            try tx.db.execute(
                sql: "INSERT INTO tenant_domains (domain, tenant_id, is_initial, added_at) VALUES (?, ?, 1, ?)",
                arguments: [domain, id, tx.now.rfc3339])
            return try tx.requireTenant(id)
        }
    }

    /// Adds a custom domain to a tenant; a domain belongs to one tenant at most.
    /// - Throws: `NotFound(tenant)`, `InvalidInput(domain)`, `AlreadyExists(domain)`.
    public func addTenantDomain(_ context: OperationContext, tenant: String, domain: String) async throws -> Tenant {
        try await change(context) { tx in
            _ = try tx.requireTenant(tenant)
            let domain = try Validate.customDomain(domain)
            tx.target("domain", domain)
            if try Fetch.tenantID(owningDomain: domain, tx.db) != nil {
                throw RegistryError.alreadyExists(kind: "domain", id: domain)
            }
            try tx.db.execute(
                sql: "INSERT INTO tenant_domains (domain, tenant_id, is_initial, added_at) VALUES (?, ?, 0, ?)",
                arguments: [domain, tenant, tx.now.rfc3339])
            return try tx.requireTenant(tenant)
        }
    }

    /// Adds an account, with its roles, whose UPN is in a domain of the tenant; a removed account's UPN may be reused.
    /// - Throws: `NotFound(tenant)`, `InvalidInput` (upn, roles), `AlreadyExists(account)`.
    public func addAccount(_ context: OperationContext, tenant: String, upn: String, roles: [String]) async throws -> Account {
        try await change(context) { tx in
            _ = try tx.requireTenant(tenant)
            let (upn, domain) = try Validate.upn(upn)
            tx.target("account", upn)
            guard try Fetch.tenantID(owningDomain: domain, tx.db) == tenant else {
                throw RegistryError.invalidInput(field: "upn", reason: "\(domain) is not a domain of tenant \(tenant)")
            }
            let roles = try Validate.roles(roles)
            if try Fetch.account(tx.db, upn) != nil { throw RegistryError.alreadyExists(kind: "account", id: upn) }
            // A UPN whose account was removed may be given to someone again: the row (which history refers to) is
            // taken up anew, with its new tenant and roles.
            try tx.db.execute(sql: """
                INSERT INTO accounts (upn, tenant_id, domain, created_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (upn) DO UPDATE SET tenant_id = excluded.tenant_id, domain = excluded.domain,
                                               created_at = excluded.created_at, removed_at = NULL
                """, arguments: [upn, tenant, domain, tx.now.rfc3339])
            try tx.db.execute(sql: "DELETE FROM account_roles WHERE upn = ?", arguments: [upn])
            try Self.writeRoles(tx.db, upn: upn, roles: roles)
            return try tx.requireAccount(upn)
        }
    }

    /// Removes an account (its person left) and the access rules bound to it, in one transaction. The row stays,
    /// marked removed, because grants, revocation requests and audit events refer to its UPN; nothing finds it any
    /// more, so every call naming it is `NotFound(account)` and a caller bound to it acts as nobody.
    /// - Throws: `NotFound(account)`.
    public func removeAccount(_ context: OperationContext, upn: String) async throws {
        try await change(context) { tx in
            let account = try tx.requireAccount(upn)
            tx.target("tenant", account.tenant)
            try tx.db.execute(sql: "UPDATE accounts SET removed_at = ? WHERE upn = ?", arguments: [tx.now.rfc3339, account.upn])
            try tx.db.execute(sql: "UPDATE access_rules SET removed_at = ? WHERE account = ? AND removed_at IS NULL",
                              arguments: [tx.now.rfc3339, account.upn])
        }
    }

    /// Replaces an account's directory roles with `roles`.
    /// - Throws: `NotFound(account)`, `InvalidInput(roles)`.
    public func setAccountRoles(_ context: OperationContext, upn: String, roles: [String]) async throws -> Account {
        try await change(context) { tx in
            let account = try tx.requireAccount(upn)
            let roles = try Validate.roles(roles)
            try tx.db.execute(sql: "DELETE FROM account_roles WHERE upn = ?", arguments: [account.upn])
            try Self.writeRoles(tx.db, upn: account.upn, roles: roles)
            return try tx.requireAccount(account.upn)
        }
    }

    static func writeRoles(_ db: Database, upn: String, roles: [AccountRole]) throws {
        for role in roles {
            try db.execute(sql: "INSERT INTO account_roles (upn, role) VALUES (?, ?)", arguments: [upn, role.rawValue])
        }
    }

    /// A tenant, if the caller may see it: partners see their customers, tenants themselves.
    public func getTenant(_ context: OperationContext, id: String) async throws -> Tenant {
        try await read(context) { tx in
            try Self.requireVisibleTenant(tx, id)
            return try tx.requireTenant(id)
        }
    }

    /// The tenants the caller may see: all for operators and auditors, a partner's customers, a tenant itself.
    public func listTenants(_ context: OperationContext) async throws -> [Tenant] {
        try await read(context) { tx in
            let caller = tx.caller
            let rows: [Row]
            switch caller.role {
            case .partner:
                rows = try Row.fetchAll(tx.db, sql: """
                    SELECT id, name, created_at FROM tenants WHERE id IN
                        (SELECT tenant_id FROM grants WHERE partner_id = ? AND status = 'active')
                    ORDER BY created_at, rowid
                    """, arguments: [caller.partner])
            case .tenant:
                rows = try Row.fetchAll(tx.db, sql: "SELECT id, name, created_at FROM tenants WHERE id = ?",
                                        arguments: [caller.tenant])
            default:
                rows = try Row.fetchAll(tx.db, sql: "SELECT id, name, created_at FROM tenants ORDER BY created_at, rowid")
            }
            return try rows.map { try Fetch.tenant(tx.db, $0) }
        }
    }

    /// Refuses a partner caller asking about a tenant that is not its customer, and a tenant caller asking about
    /// another tenant.
    static func requireVisibleTenant(_ tx: Transaction, _ id: String) throws {
        tx.target("tenant", id)
        let caller = tx.caller
        switch caller.role {
        case .partner:
            let customer = try Bool.fetchOne(tx.db, sql: """
                SELECT EXISTS (SELECT 1 FROM grants WHERE tenant_id = ? AND partner_id = ? AND status = 'active')
                """, arguments: [id, caller.partner]) ?? false
            if !customer { throw caller.refusal(tx.method) }
        case .tenant:
            try caller.requireTenant(id, tx.method)
        default:
            break
        }
    }

    /// Registers a partner: an indirect reseller with its indirect provider, an OEM eligible for its Direct API or not.
    /// - Throws: `InvalidInput` (id, name, provider, oemDirectApi), `NotFound(partner)` for the provider,
    ///   `AlreadyExists` (id, name).
    public func registerPartner(_ context: OperationContext, name: String, kind: PartnerKind, provider: String?,
                                oemDirectApi: Bool, id: String?) async throws -> Partner {
        try await change(context) { tx in
            let id = try id.map { try Validate.id($0) } ?? newID()
            tx.target("partner", id)
            let providerRecord = try provider.flatMap { try Fetch.partner(tx.db, $0) }
            if let provider { tx.target("provider", provider) }
            let name = try Validate.name(name)
            try PartnerRules.checkRegistration(kind: kind, providerID: provider, provider: providerRecord,
                                               oemDirectApi: oemDirectApi)
            if try Fetch.partner(tx.db, id) != nil { throw RegistryError.alreadyExists(kind: "partner", id: id) }
            if try Bool.fetchOne(tx.db, sql: "SELECT EXISTS (SELECT 1 FROM partners WHERE name = ? COLLATE NOCASE)",
                                 arguments: [name]) == true {
                throw RegistryError.alreadyExists(kind: "partner name", id: name)
            }
            try tx.db.execute(sql: """
                INSERT INTO partners (id, name, kind, provider_id, oem_direct_api, created_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [id, name, kind.rawValue, provider, oemDirectApi, tx.now.rfc3339])
            return try tx.requirePartner(id)
        }
    }

    /// Marks an OEM eligible, or not, for the OEM Direct API.
    /// - Throws: `NotFound(partner)`, `InvalidInput(oemDirectApi)` for a partner that is not an OEM.
    public func setOemEligibility(_ context: OperationContext, partner: String, eligible: Bool) async throws -> Partner {
        try await change(context) { tx in
            let p = try tx.requirePartner(partner)
            try PartnerRules.checkOemEligibility(kind: p.kind, eligible: eligible)
            try tx.db.execute(sql: "UPDATE partners SET oem_direct_api = ? WHERE id = ?", arguments: [eligible, partner])
            return try tx.requirePartner(partner)
        }
    }

    /// A partner, if the caller may see it: partners see themselves, tenants the partners holding their consent.
    public func getPartner(_ context: OperationContext, id: String) async throws -> Partner {
        try await read(context) { tx in
            try Self.requireVisiblePartner(tx, id)
            return try tx.requirePartner(id)
        }
    }

    /// The partners the caller may see: all for operators and auditors, a partner itself, a tenant's consented ones.
    public func listPartners(_ context: OperationContext) async throws -> [Partner] {
        try await read(context) { tx in
            let caller = tx.caller
            let cols = Fetch.partnerColumns
            switch caller.role {
            case .partner:
                return try Row.fetchAll(tx.db, sql: "SELECT \(cols) FROM partners WHERE id = ?",
                                        arguments: [caller.partner]).map(Fetch.partner)
            case .tenant:
                return try Row.fetchAll(tx.db, sql: """
                    SELECT \(cols) FROM partners WHERE id IN
                        (SELECT partner_id FROM grants WHERE tenant_id = ? AND status = 'active')
                    ORDER BY created_at, rowid
                    """, arguments: [caller.tenant]).map(Fetch.partner)
            default:
                return try Row.fetchAll(tx.db, sql: "SELECT \(cols) FROM partners ORDER BY created_at, rowid")
                    .map(Fetch.partner)
            }
        }
    }

    /// Partners see themselves; tenants see partners holding an active grant from them.
    static func requireVisiblePartner(_ tx: Transaction, _ id: String) throws {
        tx.target("partner", id)
        let caller = tx.caller
        switch caller.role {
        case .partner:
            try caller.requirePartner(id, tx.method)
        case .tenant:
            let visible = try Bool.fetchOne(tx.db, sql: """
                SELECT EXISTS (SELECT 1 FROM grants WHERE tenant_id = ? AND partner_id = ? AND status = 'active')
                """, arguments: [caller.tenant, id]) ?? false
            if !visible { throw caller.refusal(tx.method) }
        default:
            break
        }
    }
}
