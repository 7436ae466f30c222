import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Varlink

/// Consent methods. Each decodes its parameters, passes the permission table, then calls the store, which checks
/// ownership of links and tenant accounts in the same transaction as the change.
extension Dispatcher {
    func requestResellerRelationship(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.string("partner"), dap = try p.bool("delegatedAdmin")
        let roles = try p.optionalStringArray("roles") ?? []
        try await r.authorize(partner: partner)
        let invitation = try await store.requestResellerRelationship(r.context, partner: partner, delegatedAdmin: dap,
                                                                     roles: roles)
        return .reply(["link": .object(invitation.link.wire), "email": .string(invitation.email)])
    }

    func issueOemLink(_ r: Request) async throws -> HandlerResult {
        let partner = try r.parameters.string("partner")
        try await r.authorize(partner: partner)
        return .reply(["link": .object(try await store.issueOemLink(r.context, partner: partner).wire)])
    }

    func revokeLink(_ r: Request) async throws -> HandlerResult {
        let link = try r.parameters.string("link")
        try await r.authorize()
        return .reply(["link": .object(try await store.revokeLink(r.context, link: link).wire)])
    }

    func describeLink(_ r: Request) async throws -> HandlerResult {
        let link = try r.parameters.string("link")
        try await r.authorize()
        let page = try await store.describeLink(r.context, link: link)
        return .reply(["link": .object(page.link.wire), "partner": .object(page.partner.wire),
                       "provider": page.provider.map { .object($0.wire) } ?? .null])
    }

    func acceptLink(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let link = try p.string("link"), account = try p.string("account")
        try await r.authorize(account: account)
        return .reply(["grants": try await store.acceptLink(r.context, link: link, account: account).wire])
    }

    func listCustomers(_ r: Request) async throws -> HandlerResult {
        let partner = try r.parameters.string("partner")
        try await r.authorize(partner: partner)
        return .reply(["customers": try await store.listCustomers(r.context, partner: partner).wire])
    }

    func listGrants(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let tenant = try p.optionalString("tenant"), partner = try p.optionalString("partner")
        let status: GrantStatus? = try p.optionalEnumeration("status")
        let filters = try await r.authorizeFilters(partner: partner, tenant: tenant)
        let grants = try await store.listGrants(r.context, tenant: filters.tenant, partner: filters.partner,
                                                status: status)
        return .reply(["grants": grants.wire])
    }


    func removeDelegatedAdmin(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.string("partner"), account = try p.string("account")
        try await r.authorize(partner: partner, account: account)
        let grant = try await store.removeDelegatedAdmin(r.context, partner: partner, account: account)
        return .reply(["grant": .object(grant.wire)])
    }

    func endRelationship(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.string("partner"), account = try p.string("account")
        try await r.authorize(partner: partner, account: account)
        return .reply(["grants": try await store.endRelationship(r.context, partner: partner, account: account).wire])
    }

    func fileRevocationRequest(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.string("partner"), account = try p.string("account"), reason = try p.string("reason")
        try await r.authorize(partner: partner, account: account)
        let request = try await store.fileRevocationRequest(r.context, partner: partner, account: account,
                                                            reason: reason)
        return .reply(["request": .object(request.wire)])
    }

    func listRevocationRequests(_ r: Request) async throws -> HandlerResult {
        let status: RevocationStatus? = try r.parameters.optionalEnumeration("status")
        let filters = try await r.authorizeFilters(partner: nil, tenant: nil)
        let requests = try await store.listRevocationRequests(r.context, tenant: filters.tenant,
                                                              partner: filters.partner, status: status)
        return .reply(["requests": requests.wire])
    }

    func decideRevocationRequest(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let request = try p.string("request"), approve = try p.bool("approve"), note = try p.optionalString("note")
        try await r.authorize()
        let decided = try await store.decideRevocationRequest(r.context, request: request, approve: approve, note: note)
        return .reply(["request": .object(decided.wire)])
    }
}
