import AutopilotDomain
import GRDB

/// Consent methods: links, acceptance, grants, and revocation requests (domain.md, "CSP authorisation flow" and
/// "OEM authorisation flow"). Each state change is one transaction; nothing is ever deleted.
extension RegistryStore {
    /// Creates a reseller-relationship link for a direct CSP or an indirect reseller, optionally with DAP that ends
    /// `dapDays` after acceptance.
    /// - Throws: `NotFound(partner)`; `NotAllowedForPartnerKind`; `InvalidInput(roles)`, `InvalidInput(dapDays)`.
    public func requestResellerRelationship(_ context: OperationContext, partner: String, delegatedAdmin: Bool,
                                            roles: [String], dapDays: Int? = nil) async throws -> ResellerInvitation {
        let lifetime = configuration.resellerLinkLifetimeSeconds
        let base = configuration.linkBaseURL
        return try await change(context) { tx in
            let p = try tx.requirePartner(partner)
            let roles = try ConsentRules.checkResellerRequest(partner: p, delegatedAdmin: delegatedAdmin, roles: roles,
                                                              dapDays: dapDays)
            let expires = ConsentRules.resellerLinkExpiry(now: tx.now, lifetimeSeconds: lifetime)
            let link = try Self.insertLink(tx, partner: p.id, kind: .resellerRelationship, delegatedAdmin: delegatedAdmin,
                                           roles: roles, expiresAt: expires, base: base, dapDays: dapDays)
            let provider = try p.provider.flatMap { try Fetch.partner(tx.db, $0) }
            let email = ConsentRules.invitationEmail(partner: p, provider: provider, url: link.url ?? "",
                                                     delegatedAdmin: delegatedAdmin, roles: roles, dapDays: dapDays)
            return ResellerInvitation(link: link, email: email)
        }
    }

    /// Issues an eligible OEM's consent link, revoking its previous active one in the same transaction.
    /// - Throws: `NotFound(partner)`; `NotAllowedForPartnerKind` for a non-OEM; `OemNotEligible`.
    public func issueOemLink(_ context: OperationContext, partner: String) async throws -> Link {
        let base = configuration.linkBaseURL
        return try await change(context) { tx in
            let p = try tx.requirePartner(partner)
            try ConsentRules.checkOemLink(partner: p)
            if let previous = try String.fetchOne(tx.db, sql: """
                SELECT id FROM links WHERE partner_id = ? AND kind = 'oemConsent' AND revoked_at IS NULL
                """, arguments: [p.id]) {
                tx.target("revoked-link", previous)
                try tx.db.execute(sql: "UPDATE links SET revoked_at = ? WHERE id = ?", arguments: [tx.now.rfc3339, previous])
            }
            return try Self.insertLink(tx, partner: p.id, kind: .oemConsent, delegatedAdmin: false, roles: [],
                                       expiresAt: nil, base: base)
        }
    }

    /// Revokes a link named by URL, token or id. Revoking a revoked link returns it unchanged; grants stay.
    /// - Throws: `InvalidInput(link)`; `NotFound(link)`; `PermissionDenied` for another partner's link.
    public func revokeLink(_ context: OperationContext, link: String) async throws -> Link {
        try await change(context) { tx in
            var found = try Self.requireLink(tx, try ConsentRules.reference(fromLink: link, allowID: true))
            try tx.caller.requirePartner(found.partner, tx.method)
            if found.revokedAt == nil {
                try tx.db.execute(sql: "UPDATE links SET revoked_at = ? WHERE id = ?",
                                  arguments: [tx.now.rfc3339, found.id])
                found = try Self.requireLink(tx, .id(found.id))
            }
            return found
        }
    }

    /// The consent page: the link (without URL), the partner asking and, for an indirect reseller, its provider.
    /// Partner callers see only their own links.
    /// - Throws: `InvalidInput(link)`; `NotFound(link)`; `PermissionDenied`.
    public func describeLink(_ context: OperationContext, link: String) async throws -> ConsentPage {
        try await read(context) { tx in
            let found = try Self.requireLink(tx, try ConsentRules.reference(fromLink: link, allowID: true))
            try tx.caller.requirePartner(found.partner, tx.method)
            guard let partner = try Fetch.partner(tx.db, found.partner) else {
                throw RegistryError.notFound(kind: "partner", id: found.partner)
            }
            let provider = try partner.provider.flatMap { try Fetch.partner(tx.db, $0) }
            return ConsentPage(link: found, partner: partner, provider: provider)
        }
    }

    /// A tenant account accepts a link (URL or token only). Creates the partner's grant and, for an indirect
    /// reseller, its provider's. Accepting while the partner's grant is active creates nothing: a link asking for more
    /// than the grant gives (DAP, roles it lacks, a longer DAP) extends it (`extended`), else it is returned as it is.
    /// - Throws, in this order: `PermissionDenied` (account of another tenant); `InvalidInput(link)`;
    ///   `NotFound(link)`, `NotFound(account)`; `GlobalAdminRequired`, `CloudNativeAccountRequired`;
    ///   `LinkRevoked`, `LinkExpired`; `OemNotEligible` (an OEM that lost Direct API eligibility).
    public func acceptLink(_ context: OperationContext, link: String, account: String) async throws -> [Grant] {
        try await change(context) { tx in
            let acting = try Self.actingAccount(tx, account)
            let found = try Self.requireLink(tx, try ConsentRules.reference(fromLink: link, allowID: false))
            let account = try Self.existing(acting, account)
            guard let partner = try Fetch.partner(tx.db, found.partner) else {
                throw RegistryError.notFound(kind: "partner", id: found.partner)
            }
            tx.target("partner", partner.id)
            try ConsentRules.checkAcceptance(link: found, partner: partner, account: account)
            let plans = ConsentRules.grantsOnAcceptance(link: found, partner: partner)
            let existing = try Self.ownActiveGrants(tx, partner: partner.id, tenant: account.tenant)
            if !existing.isEmpty {
                let held = try existing + Self.activeGrants(tx, via: existing.map(\.id))
                var result: [Grant] = []
                for grant in held {
                    // The plan for this grant: the partner's own, or (through the reseller's) the provider's.
                    guard let plan = plans.first(where: { ($0.basis == .viaReseller) == (grant.basis == .viaReseller) }),
                          let extension_ = ConsentRules.extensionOnAcceptance(
                            grant: grant, plan: plan, dapDays: found.dapDays, now: tx.now,
                            linkAcceptedBefore: try Self.linkAccepted(tx, found.id, into: grant))
                    else {
                        result.append(grant)
                        continue
                    }
                    try Self.extend(tx, grant: grant.id, extension_)
                    tx.target("grant", grant.id)
                    try Self.recordConsentEvent(tx, .extended, grant: grant.id, actor: account.upn, link: found.id)
                    result.append(try Self.requireGrant(tx, grant.id))
                }
                return result
            }
            var created: [Grant] = []
            let dapEnds = ConsentRules.dapExpiry(acceptedAt: tx.now, days: found.dapDays)
            for plan in plans {
                let id = newID()
                let via = plan.basis == .viaReseller ? created.first?.id : nil
                try tx.db.execute(sql: """
                    INSERT INTO grants (id, tenant_id, partner_id, basis, via_grant_id, link_id, delegated_admin,
                                        granted_by, granted_at, dap_expires_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [id, account.tenant, plan.partner, plan.basis.rawValue, via, found.id,
                                     plan.delegatedAdmin, account.upn, tx.now.rfc3339,
                                     plan.delegatedAdmin ? dapEnds?.rfc3339 : nil])
                for role in plan.roles {
                    try tx.db.execute(sql: "INSERT INTO grant_roles (grant_id, role) VALUES (?, ?)",
                                      arguments: [id, role.rawValue])
                }
                tx.target("grant", id)
                try Self.recordConsentEvent(tx, .granted, grant: id, actor: account.upn, link: found.id)
                created.append(try Self.requireGrant(tx, id))
            }
            return created
        }
    }

    /// Tenants holding an active grant for the partner, one entry per tenant with its earliest active grant.
    /// - Throws: `NotFound(partner)`.
    public func listCustomers(_ context: OperationContext, partner: String) async throws -> [Customer] {
        try await read(context) { tx in
            _ = try tx.requirePartner(partner)
            var seen = Set<String>()
            var customers: [Customer] = []
            let rows = try Row.fetchAll(tx.db, sql: """
                SELECT \(Fetch.grantColumns) FROM grants g
                WHERE g.partner_id = ? AND g.status = 'active' ORDER BY g.granted_at, g.rowid
                """, arguments: [partner])
            for row in rows {
                let grant = try Fetch.grant(tx.db, row, now: tx.now)
                guard seen.insert(grant.tenant).inserted, let tenant = try Fetch.tenant(tx.db, grant.tenant) else { continue }
                customers.append(Customer(tenant: tenant, grant: grant))
            }
            return customers
        }
    }

    /// Grants matching the filters (already narrowed to the caller's own by the service), oldest first.
    /// - Throws: `NotFound(tenant)` / `NotFound(partner)` for a filter naming nothing.
    public func listGrants(_ context: OperationContext, tenant: String?, partner: String?,
                           status: GrantStatus?) async throws -> [Grant] {
        try await read(context) { tx in
            if let tenant { _ = try tx.requireTenant(tenant) }
            if let partner { _ = try tx.requirePartner(partner) }
            return try Row.fetchAll(tx.db, sql: """
                SELECT \(Fetch.grantColumns) FROM grants g
                WHERE (?1 IS NULL OR g.tenant_id = ?1) AND (?2 IS NULL OR g.partner_id = ?2)
                  AND (?3 IS NULL OR g.status = ?3)
                ORDER BY g.granted_at, g.rowid
                """, arguments: [tenant, partner, status?.rawValue]).map { try Fetch.grant(tx.db, $0, now: tx.now) }
        }
    }

    /// The tenant removes a partner's delegated admin privileges; consent stays active. The privileges an indirect
    /// provider holds through a reseller's grant came with that reseller's request, so removing the reseller's
    /// removes them too (as ending it ends them). Returns the partner's earliest active grant (a provider may hold
    /// several, one per reseller; DAP is cleared on all).
    /// - Throws: `PermissionDenied`; `NotFound(partner/account)`; `GlobalAdminRequired`; `NotFound(grant)`.
    public func removeDelegatedAdmin(_ context: OperationContext, partner: String, account: String) async throws -> Grant {
        try await change(context) { tx in
            let (p, account) = try Self.tenantSideCall(tx, partner: partner, account: account)
            let grants = try Fetch.activeGrants(tx.db, partner: p.id, tenant: account.tenant, now: tx.now)
            guard let first = grants.first else {
                throw RegistryError.noActiveGrant(partner: p.id, tenant: account.tenant)
            }
            // DAP in force only: DAP that ended by itself has nothing left to remove.
            for g in try grants + Self.activeGrants(tx, via: grants.map(\.id)) where g.delegatedAdmin {
                try tx.db.execute(sql: """
                    UPDATE grants SET delegated_admin = 0, dap_expires_at = NULL, dap_removed_at = ?, dap_removed_by = ?
                    WHERE id = ?
                    """, arguments: [tx.now.rfc3339, account.upn, g.id])
                tx.target("grant", g.id)
                try Self.recordConsentEvent(tx, .dapRemoved, grant: g.id, actor: account.upn)
            }
            for g in grants { tx.target("grant", g.id) }
            return try Self.requireGrant(tx, first.id)
        }
    }

    /// Ends a relationship: all of the partner's active grants for one tenant, and the provider grants that came
    /// through them. With `account`, the tenant ends it (`endedByTenant`; never an OEM's, which needs a request);
    /// without, the partner does (`endedByPartner`), naming the `tenant`. Returns every grant ended.
    /// - Throws: `PermissionDenied`; `InvalidInput(tenant)` (tenant missing on the partner's side, or given on the
    ///   tenant's); `NotFound(partner/account/tenant)`; `GlobalAdminRequired`; `OemRemovalRequiresRequest`;
    ///   `NotFound(grant)`.
    public func endRelationship(_ context: OperationContext, partner: String, account: String?,
                                tenant: String? = nil) async throws -> [Grant] {
        try await change(context) { tx in
            let p: Partner, tenantID: String, actor: String, reason: GrantEndReason
            if let account {
                if tenant != nil {
                    throw RegistryError.invalidInput(field: "tenant", reason: "a tenant ending a relationship as an account does not name a tenant: the account's is meant")
                }
                let (found, acting) = try Self.tenantSideCall(tx, partner: partner, account: account)
                try ConsentRules.checkEnd(partner: found)
                (p, tenantID, actor, reason) = (found, acting.tenant, acting.upn, .endedByTenant)
            } else {
                guard let tenant else {
                    throw RegistryError.invalidInput(field: "tenant", reason: "a partner ending a relationship names the customer tenant it ends")
                }
                p = try tx.requirePartner(partner)
                tenantID = try tx.requireTenant(tenant).id
                (actor, reason) = (tx.caller.role == .partner ? "partner:\(p.id)" : ConsentRules.decider(tx.caller),
                                   .endedByPartner)
            }
            let grants = try Fetch.activeGrants(tx.db, partner: p.id, tenant: tenantID, now: tx.now)
            guard !grants.isEmpty else { throw RegistryError.noActiveGrant(partner: p.id, tenant: tenantID) }
            let ended = try Self.endGrants(tx, grants.map(\.id), status: .ended, reason: reason, by: actor,
                                           request: nil)
            return try ended.map { try Self.requireGrant(tx, $0) }
        }
    }

    /// The tenant asks the operator to remove a partner holding an active grant; it may have one open request per
    /// partner.
    /// - Throws: `PermissionDenied`; `NotFound(partner/account)`; `GlobalAdminRequired`; `NotFound(grant)`;
    ///   `AlreadyExists(request)` naming the open one; `InvalidInput(reason)`.
    public func fileRevocationRequest(_ context: OperationContext, partner: String, account: String,
                                      reason: String) async throws -> RevocationRequest {
        try await change(context) { tx in
            let (p, account) = try Self.tenantSideCall(tx, partner: partner, account: account)
            guard try Fetch.hasActiveGrant(tx.db, partner: p.id, tenant: account.tenant) else {
                throw RegistryError.noActiveGrant(partner: p.id, tenant: account.tenant)
            }
            if let open = try String.fetchOne(tx.db, sql: """
                SELECT id FROM revocation_requests WHERE tenant_id = ? AND partner_id = ? AND status = 'open'
                """, arguments: [account.tenant, p.id]) {
                tx.target("request", open)
                throw RegistryError.alreadyExists(kind: "request", id: open)
            }
            let reason = try ConsentRules.revocationReason(reason)
            let id = newID()
            tx.target("request", id)
            try tx.db.execute(sql: """
                INSERT INTO revocation_requests (id, tenant_id, partner_id, requested_by, reason, created_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [id, account.tenant, p.id, account.upn, reason, tx.now.rfc3339])
            return try Self.requireRequest(tx.db, id)
        }
    }

    /// Revocation requests matching the filters (already narrowed to the caller's own by the service), oldest first.
    public func listRevocationRequests(_ context: OperationContext, tenant: String?, partner: String?,
                                       status: RevocationStatus?) async throws -> [RevocationRequest] {
        try await read(context) { tx in
            try Row.fetchAll(tx.db, sql: """
                SELECT \(Self.requestColumns) FROM revocation_requests
                WHERE (?1 IS NULL OR tenant_id = ?1) AND (?2 IS NULL OR partner_id = ?2) AND (?3 IS NULL OR status = ?3)
                ORDER BY created_at, rowid
                """, arguments: [tenant, partner, status?.rawValue]).map(Self.request)
        }
    }

    /// The operator decides a request. Approving revokes the partner's active grants for the tenant at once, and
    /// ends the provider grants that came through them.
    /// - Throws: `NotFound(request)`; `AlreadyDecided`; `InvalidInput(note)`.
    public func decideRevocationRequest(_ context: OperationContext, request: String, approve: Bool,
                                        note: String?) async throws -> RevocationRequest {
        try await change(context) { tx in
            tx.target("request", request)
            let found = try Self.requireRequest(tx.db, request)
            tx.target("tenant", found.tenant)
            tx.target("partner", found.partner)
            try ConsentRules.checkDecision(found)
            let note = try ConsentRules.decisionNote(note)
            let decider = ConsentRules.decider(tx.caller)
            try tx.db.execute(sql: """
                UPDATE revocation_requests SET status = ?, decided_by = ?, decided_at = ?, note = ? WHERE id = ?
                """, arguments: [(approve ? RevocationStatus.approved : .rejected).rawValue, decider, tx.now.rfc3339,
                                 note, found.id])
            if approve {
                let grants = try Fetch.activeGrants(tx.db, partner: found.partner, tenant: found.tenant, now: tx.now)
                _ = try Self.endGrants(tx, grants.map(\.id), status: .revoked, reason: .revokedByRequest, by: decider,
                                       request: found.id)
            }
            return try Self.requireRequest(tx.db, found.id)
        }
    }

    /// The tenant's Global Administrator withdraws an open revocation request of its tenant.
    /// - Throws, in this order: `PermissionDenied` (an account or request of another tenant); `NotFound(request)`,
    ///   `NotFound(account)`; `GlobalAdminRequired`; `AlreadyDecided`.
    public func withdrawRevocationRequest(_ context: OperationContext, request: String,
                                          account upn: String) async throws -> RevocationRequest {
        try await change(context) { tx in
            let acting = try Self.actingAccount(tx, upn)
            tx.target("request", request)
            let found = try? Self.requireRequest(tx.db, request)
            if let found {
                tx.target("tenant", found.tenant)
                tx.target("partner", found.partner)
                // A tenant caller reaches only its own tenant's requests; another's is refused as not its own.
                if tx.caller.role == .tenant && found.tenant != tx.caller.tenant { throw tx.caller.refusal(tx.method) }
            }
            guard let found else { throw RegistryError.notFound(kind: "request", id: request) }
            let account = try Self.existing(acting, upn)
            if account.tenant != found.tenant {
                throw RegistryError.invalidInput(field: "account", reason: "\(account.upn) is not an account of tenant \(found.tenant), which filed the request")
            }
            try ConsentRules.checkTenantAdmin(account)
            try ConsentRules.checkDecision(found)
            try tx.db.execute(sql: """
                UPDATE revocation_requests SET status = 'withdrawn', decided_by = ?, decided_at = ? WHERE id = ?
                """, arguments: [account.upn, tx.now.rfc3339, found.id])
            return try Self.requireRequest(tx.db, found.id)
        }
    }
}

// MARK: - Helpers

extension RegistryStore {
    static let linkColumns = "id, partner_id, kind, delegated_admin, created_at, expires_at, revoked_at, dap_days"
    static let requestColumns = """
        id, tenant_id, partner_id, requested_by, reason, status, created_at, decided_by, decided_at, note
        """

    /// Generates a token (32 bytes from the system's CSPRNG, base64url), stores its SHA-256 and the link, and
    /// returns the link with its URL: the only time the token leaves the daemon.
    static func insertLink(_ tx: Transaction, partner: String, kind: LinkKind, delegatedAdmin: Bool, roles: [AccountRole],
                           expiresAt: Timestamp?, base: String, dapDays: Int? = nil) throws -> Link {
        var rng = SystemRandomNumberGenerator()
        let token = ConsentRules.newLinkToken {
            (0..<ConsentRules.tokenByteCount).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
        }
        let id = newID()
        tx.target("link", id)
        try tx.db.execute(sql: """
            INSERT INTO links (id, token_sha256, partner_id, kind, delegated_admin, created_at, expires_at, dap_days)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [id, hexSHA256(Array(token.utf8)), partner, kind.rawValue, delegatedAdmin, tx.now.rfc3339,
                             expiresAt?.rfc3339, dapDays])
        for role in roles {
            try tx.db.execute(sql: "INSERT INTO link_roles (link_id, role) VALUES (?, ?)", arguments: [id, role.rawValue])
        }
        var link = try requireLink(tx, .id(id))
        link.url = ConsentRules.linkURL(base: base, token: token)
        return link
    }

    /// The link a reference names, with its status at `tx.now`; url is always nil here.
    /// - Throws: `NotFound(link)` naming the id, or `sha256:<8 hex>` for a token (never the token itself).
    static func requireLink(_ tx: Transaction, _ reference: LinkReference) throws -> Link {
        let row: Row?
        let shownID: String
        switch reference {
        case let .id(id):
            shownID = id
            row = try Row.fetchOne(tx.db, sql: "SELECT \(linkColumns) FROM links WHERE id = ?", arguments: [id])
        case let .token(token):
            let digest = hexSHA256(Array(token.utf8))
            shownID = ConsentRules.tokenReference(digest: digest)
            row = try Row.fetchOne(tx.db, sql: "SELECT \(linkColumns) FROM links WHERE token_sha256 = ?",
                                   arguments: [digest])
        }
        guard let row else {
            tx.target("link", shownID)
            throw RegistryError.notFound(kind: "link", id: shownID)
        }
        let id: String = row["id"]
        tx.target("link", id)
        let roles = try String.fetchAll(tx.db, sql: "SELECT role FROM link_roles WHERE link_id = ?", arguments: [id])
            .compactMap(AccountRole.init(rawValue:)).sorted()
        let expires = (row["expires_at"] as String?).timestamp
        let revoked = (row["revoked_at"] as String?).timestamp
        return Link(id: id, partner: row["partner_id"], kind: LinkKind(rawValue: row["kind"]) ?? .resellerRelationship,
                    delegatedAdmin: row["delegated_admin"], roles: roles,
                    status: ConsentRules.status(revokedAt: revoked, expiresAt: expires, now: tx.now),
                    createdAt: Timestamp(column: row["created_at"]), expiresAt: expires, revokedAt: revoked,
                    dapDays: row["dap_days"])
    }

    /// The acting account of a tenant-side call, after checking a tenant caller acts with an account of its own
    /// tenant. Records the account in the audit event. Returns nil for an unknown UPN (its NotFound comes later,
    /// in the documented order); an unknown UPN is judged by the tenant that owns its domain.
    /// - Throws: `PermissionDenied`.
    static func actingAccount(_ tx: Transaction, _ upn: String) throws -> Account? {
        let key = Validate.accountKey(upn)
        tx.account = key
        let account = try Fetch.account(tx.db, key)
        if let account { tx.target("account", account.upn) }
        if tx.caller.role == .tenant {
            let domain = key.split(separator: "@", omittingEmptySubsequences: false).last.map(String.init) ?? ""
            let owner = try account?.tenant ?? Fetch.tenantID(owningDomain: domain, tx.db)
            guard let owner, owner == tx.caller.tenant else {
                throw tx.caller.refusal(tx.method)
            }
        }
        return account
    }

    /// The account, or `NotFound(account)` naming the UPN as given.
    static func existing(_ account: Account?, _ upn: String) throws -> Account {
        guard let account else { throw RegistryError.notFound(kind: "account", id: upn) }
        return account
    }

    /// The common start of RemoveDelegatedAdmin, EndRelationship and FileRevocationRequest: the caller may act with
    /// the account, the partner and the account exist, and the account is a Global Administrator.
    static func tenantSideCall(_ tx: Transaction, partner: String, account upn: String) throws -> (Partner, Account) {
        let acting = try actingAccount(tx, upn)
        let p = try tx.requirePartner(partner)
        let account = try existing(acting, upn)
        tx.target("tenant", account.tenant)
        try ConsentRules.checkTenantAdmin(account)
        return (p, account)
    }

    /// Whether `link` was accepted into `grant` before: the grant came from it, or it extended the grant (the
    /// grant's consent events name the link of each acceptance).
    static func linkAccepted(_ tx: Transaction, _ link: String, into grant: Grant) throws -> Bool {
        if grant.link == link { return true }
        return try Bool.fetchOne(tx.db, sql: """
            SELECT EXISTS (SELECT 1 FROM consent_events WHERE grant_id = ? AND link_id = ?)
            """, arguments: [grant.id, link]) ?? false
    }

    /// The partner's active grants from its own links (direct or oem) for the tenant.
    static func ownActiveGrants(_ tx: Transaction, partner: String, tenant: String) throws -> [Grant] {
        try Fetch.activeGrants(tx.db, partner: partner, tenant: tenant, now: tx.now).filter { $0.basis != .viaReseller }
    }

    /// Active grants that came through any of the given grants.
    static func activeGrants(_ tx: Transaction, via ids: [String]) throws -> [Grant] {
        var out: [Grant] = []
        for id in ids {
            out += try Row.fetchAll(tx.db, sql: """
                SELECT \(Fetch.grantColumns) FROM grants g
                WHERE g.via_grant_id = ? AND g.status = 'active' ORDER BY g.granted_at, g.rowid
                """, arguments: [id]).map { try Fetch.grant(tx.db, $0, now: tx.now) }
        }
        return out
    }

    /// Gives an active grant the DAP an extension describes: a new DAP period (roles afresh, any removal undone) when
    /// DAP was not in force, else the roles it lacked and the later end. The grant's row is always written with its
    /// roles, which keeps the consent cache (which sees grants, not grant_roles) right.
    static func extend(_ tx: Transaction, grant id: String, _ ext: GrantExtension) throws {
        let now = tx.now.rfc3339
        if ext.newDapPeriod {
            try tx.db.execute(sql: """
                UPDATE grants SET delegated_admin = 1, dap_since = ?, dap_expires_at = ?, dap_removed_at = NULL,
                                  dap_removed_by = NULL, dap_expiry_event = NULL
                WHERE id = ?
                """, arguments: [now, ext.dapExpiresAt?.rfc3339, id])
        } else {
            try tx.db.execute(sql: "UPDATE grants SET dap_expires_at = ?, dap_expiry_event = NULL WHERE id = ?",
                              arguments: [ext.dapExpiresAt?.rfc3339, id])
        }
        // A role given again in a new period counts from now; roles of the current period keep their time.
        for role in ext.roles {
            try tx.db.execute(sql: """
                INSERT INTO grant_roles (grant_id, role, since) VALUES (?, ?, ?)
                ON CONFLICT (grant_id, role) DO UPDATE SET since = excluded.since WHERE ?
                """, arguments: [id, role.rawValue, now, ext.newDapPeriod])
        }
    }

    /// Ends the given active grants with `status` and `reason`, then the active provider grants that came through
    /// them (`endedWithReseller`). Returns the ids of every grant ended, the given ones first.
    static func endGrants(_ tx: Transaction, _ ids: [String], status: GrantStatus, reason: GrantEndReason, by: String,
                          request: String?) throws -> [String] {
        var ended: [String] = []
        for id in ids {
            try tx.db.execute(sql: """
                UPDATE grants SET status = ?, ended_at = ?, ended_by = ?, end_reason = ?, revocation_request_id = ?
                WHERE id = ? AND status = 'active'
                """, arguments: [status.rawValue, tx.now.rfc3339, by, reason.rawValue, request, id])
            tx.target("grant", id)
            try recordConsentEvent(tx, status == .revoked ? .revoked : .ended, grant: id, actor: by)
            ended.append(id)
        }
        for provider in try activeGrants(tx, via: ids) {
            try tx.db.execute(sql: """
                UPDATE grants SET status = 'ended', ended_at = ?, ended_by = ?, end_reason = ? WHERE id = ?
                """, arguments: [tx.now.rfc3339, by, GrantEndReason.endedWithReseller.rawValue, provider.id])
            tx.target("grant", provider.id)
            try recordConsentEvent(tx, .ended, grant: provider.id, actor: by)
            ended.append(provider.id)
        }
        return ended
    }

    /// The grant as it is at the transaction's time, or `NotFound(grant)`.
    static func requireGrant(_ tx: Transaction, _ id: String) throws -> Grant {
        guard let g = try Fetch.grant(tx.db, id: id, now: tx.now) else { throw RegistryError.notFound(kind: "grant", id: id) }
        return g
    }

    static func requireRequest(_ db: Database, _ id: String) throws -> RevocationRequest {
        guard let row = try Row.fetchOne(db, sql: "SELECT \(requestColumns) FROM revocation_requests WHERE id = ?",
                                         arguments: [id])
        else { throw RegistryError.notFound(kind: "request", id: id) }
        return request(row)
    }

    static func request(_ row: Row) -> RevocationRequest {
        RevocationRequest(id: row["id"], tenant: row["tenant_id"], partner: row["partner_id"],
                          requestedBy: row["requested_by"], reason: row["reason"],
                          status: RevocationStatus(rawValue: row["status"]) ?? .open,
                          createdAt: Timestamp(column: row["created_at"]), decidedBy: row["decided_by"],
                          decidedAt: (row["decided_at"] as String?).timestamp, note: row["note"])
    }
}
