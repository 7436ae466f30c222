import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import AutopilotTestSupport
import Synchronization

/// A caller context for a method: a partner or tenant caller bound by an access rule.
func asPartner(_ partner: String, _ method: MethodInfo) -> OperationContext {
    OperationContext(caller: Caller(uid: 2001, gid: 2001, pid: 1, role: .partner, partner: partner), method: method)
}

func asTenant(_ tenant: String, _ method: MethodInfo) -> OperationContext {
    OperationContext(caller: Caller(uid: 3001, gid: 3001, pid: 1, role: .tenant, tenant: tenant), method: method)
}

/// The consent cast on a fresh in-memory store:
/// - tenants Contoso (`contoso.onmicrosoft.com` and the custom domain `contoso.com`) and Fabrikam;
/// - accounts: Contoso's cloud-native Global Administrator, a Global Administrator on the custom domain, a helpdesk
///   administrator (not Global Administrator), and Fabrikam's Global Administrator;
/// - partners: Fourth Coffee (direct CSP), Tailspin (indirect provider) with its resellers Woodgrove and Adatum,
///   Litware (OEM eligible for the Direct API) and Proseware (OEM, not eligible).
struct ConsentWorld: Sendable {
    static let start: Int64 = 1_795_603_560_000  // 2026-11-25T10:46:00.000Z
    static let admin = "admin@contoso.onmicrosoft.com"
    static let customDomainAdmin = "bob@contoso.com"
    static let helpdesk = "helpdesk@contoso.onmicrosoft.com"
    static let fabrikamAdmin = "admin@fabrikam.onmicrosoft.com"

    let store: RegistryStore
    let clock: TestClock

    /// - Parameter path: a database file (reads then run on the store's own read connections), or nil for memory.
    init(resellerLinkLifetimeSeconds: Int64? = nil, path: String? = nil) async throws {
        let clock = TestClock(Self.start)
        self.clock = clock
        store = try RegistryStore(configuration: StoreConfiguration(
            path: path, clock: { clock.now },
            resellerLinkLifetimeSeconds: resellerLinkLifetimeSeconds ?? ConsentRules.defaultResellerLinkLifetimeSeconds,
            linkBaseURL: "https://consent.example/"))
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Contoso", domain: "contoso.onmicrosoft.com", id: "contoso")
        _ = try await store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: "contoso", domain: "contoso.com")
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Fabrikam", domain: "fabrikam.onmicrosoft.com", id: "fabrikam")
        for (tenant, upn, roles) in [("contoso", Self.admin, ["GlobalAdministrator"]),
                                     ("contoso", Self.customDomainAdmin, ["GlobalAdministrator"]),
                                     ("contoso", Self.helpdesk, ["HelpdeskAdministrator", "GlobalReader"]),
                                     ("fabrikam", Self.fabrikamAdmin, ["GlobalAdministrator"])] {
            _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: tenant, upn: upn, roles: roles)
        }
        for (name, kind, provider, eligible) in [("Fourth Coffee", PartnerKind.directCsp, nil as String?, false),
                                                 ("Tailspin", .indirectProvider, nil, false),
                                                 ("Woodgrove", .indirectReseller, "tailspin", false),
                                                 ("Adatum", .indirectReseller, "tailspin", false),
                                                 ("Litware", .oem, nil, true),
                                                 ("Proseware", .oem, nil, false)] {
            let id = name.lowercased().filter { $0 != " " }
            _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: name, kind: kind, provider: provider,
                                                oemDirectApi: eligible, id: id)
        }
    }

    /// A reseller-relationship link's URL, requested by the operator for `partner`.
    func resellerLink(_ partner: String, dap: Bool = false, roles: [String] = []) async throws -> String {
        try await store.requestResellerRelationship(asOperator(Registry.RequestResellerRelationship.info), partner: partner,
                                                    delegatedAdmin: dap, roles: roles).link.url ?? ""
    }

    /// A new OEM consent link's URL.
    func oemLink(_ partner: String = "litware") async throws -> String {
        try await store.issueOemLink(asOperator(Registry.IssueOemLink.info), partner: partner).url ?? ""
    }

    /// Accepts a link as an operator would on the tenant's behalf (no tenant-binding check).
    @discardableResult
    func accept(_ link: String, as account: String = admin) async throws -> [Grant] {
        try await store.acceptLink(asOperator(Registry.AcceptLink.info), link: link, account: account)
    }

    /// Every grant, in creation order.
    func allGrants() async throws -> [Grant] {
        try await store.listGrants(asOperator(Registry.ListGrants.info), tenant: nil, partner: nil, status: nil)
    }

    /// The active grants of a partner for a tenant.
    func activeGrants(_ partner: String, _ tenant: String = "contoso") async throws -> [Grant] {
        try await store.listGrants(asOperator(Registry.ListGrants.info), tenant: tenant, partner: partner, status: .active)
    }
}
