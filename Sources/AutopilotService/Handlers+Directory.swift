import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Varlink

/// Directory, access-rule and service methods.
extension Dispatcher {
    func createTenant(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let name = try p.string("name"), domain = try p.string("domain"), id = try p.optionalString("id")
        try await r.authorize()
        let tenant = try await store.createTenant(r.context, name: name, domain: domain, id: id)
        return .reply(["tenant": .object(tenant.wire)])
    }

    func addTenantDomain(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let tenant = try p.string("tenant"), domain = try p.string("domain")
        try await r.authorize()
        return .reply(["tenant": .object(try await store.addTenantDomain(r.context, tenant: tenant, domain: domain).wire)])
    }

    func addAccount(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let tenant = try p.string("tenant"), upn = try p.string("upn"), roles = try p.stringArray("roles")
        try await r.authorize()
        let account = try await store.addAccount(r.context, tenant: tenant, upn: upn, roles: roles)
        return .reply(["account": .object(account.wire)])
    }

    func setAccountRoles(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let upn = try p.string("upn"), roles = try p.stringArray("roles")
        try await r.authorize()
        return .reply(["account": .object(try await store.setAccountRoles(r.context, upn: upn, roles: roles).wire)])
    }

    func getTenant(_ r: Request) async throws -> HandlerResult {
        let tenant = try r.parameters.string("tenant")
        try await r.authorize()
        return .reply(["tenant": .object(try await store.getTenant(r.context, id: tenant).wire)])
    }

    func listTenants(_ r: Request) async throws -> HandlerResult {
        try await r.authorize()
        return .reply(["tenants": try await store.listTenants(r.context).wire])
    }

    func registerPartner(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let name = try p.string("name")
        let kind: PartnerKind = try p.enumeration("kind")
        let provider = try p.optionalString("provider"), oem = try p.optionalBool("oemDirectApi") ?? false
        let id = try p.optionalString("id")
        try await r.authorize()
        let partner = try await store.registerPartner(r.context, name: name, kind: kind, provider: provider,
                                                      oemDirectApi: oem, id: id)
        return .reply(["partner": .object(partner.wire)])
    }

    func setOemEligibility(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.string("partner"), eligible = try p.bool("eligible")
        try await r.authorize()
        let result = try await store.setOemEligibility(r.context, partner: partner, eligible: eligible)
        return .reply(["partner": .object(result.wire)])
    }

    func getPartner(_ r: Request) async throws -> HandlerResult {
        let partner = try r.parameters.string("partner")
        try await r.authorize()
        return .reply(["partner": .object(try await store.getPartner(r.context, id: partner).wire)])
    }

    func listPartners(_ r: Request) async throws -> HandlerResult {
        try await r.authorize()
        return .reply(["partners": try await store.listPartners(r.context).wire])
    }

    func addAccessRule(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let uid = try p.optionalInt("uid"), gid = try p.optionalInt("gid")
        let role: CallerRole = try p.enumeration("role")
        guard role != .none else { throw VarlinkError.invalidParameter("role") }
        let partner = try p.optionalString("partner"), tenant = try p.optionalString("tenant")
        try await r.authorize()
        let rule = try await store.addAccessRule(r.context, uid: uid, gid: gid, role: role, partner: partner,
                                                 tenant: tenant)
        identity.rulesChanged()
        return .reply(["rule": .object(rule.wire)])
    }

    func removeAccessRule(_ r: Request) async throws -> HandlerResult {
        let rule = try r.parameters.string("rule")
        try await r.authorize()
        try await store.removeAccessRule(r.context, id: rule)
        identity.rulesChanged()
        return .reply([:])
    }

    func listAccessRules(_ r: Request) async throws -> HandlerResult {
        try await r.authorize()
        return .reply(["rules": try await store.listAccessRules(r.context).wire])
    }

    func getStatus(_ r: Request) async throws -> HandlerResult {
        try await r.authorize()
        let counts = try await store.counts()
        return .reply([
            "version": .string(AutopilotVersion.current), "schemaVersion": .int(RegistryStore.schemaVersion),
            "database": .string(store.databasePath), "startedAt": .string(startedAt.rfc3339),
            "tenants": .int(counts.tenants), "partners": .int(counts.partners), "grants": .int(counts.grants),
            "devices": .int(counts.devices),
        ])
    }

    func whoAmI(_ r: Request) async throws -> HandlerResult {
        try await r.authorize()
        let c = r.caller
        return .reply(["uid": .int(Int(c.uid)), "role": .string(c.role.rawValue), "partner": c.partner.map(JSONValue.string) ?? .null,
                       "tenant": c.tenant.map(JSONValue.string) ?? .null])
    }
}
