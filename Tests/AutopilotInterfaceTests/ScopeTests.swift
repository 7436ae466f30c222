import AutopilotDomain
import AutopilotInterface
import Testing

/// `Scope.apply`: the one place where a call's partner, tenant and acting account are decided from the caller.
@Suite struct ScopeTests {
    /// A method with a partner's side and an account's side, as `DeregisterDevice` has.
    struct Both: WireRecord {
        var partner: String?
        var account: String?
        init() {}
        init(partner: String?, account: String?) { self.partner = partner; self.account = account }
        static let fields: [WireField<Self>] = [.init("partner", \.partner, ""), .init("account", \.account, "")]
    }

    static let method = MethodInfo(name: "Both", policy: MethodPolicy(partner: .own, tenant: .own),
                                   changesState: true, streams: false)
    static let both = Scope<Both>(partner: .filter(\Both.partner), account: \Both.account, sides: .partnerOrAccount)
    static let accountOnly = Scope<Both>(account: \Both.account)

    let woodgrove = Caller(uid: 1001, gid: 1001, pid: 1, role: .partner, partner: "woodgrove")
    let admin = Caller(uid: 1002, gid: 1002, pid: 1, role: .tenant, tenant: "contoso", account: "admin@contoso.onmicrosoft.com")
    let wide = Caller(uid: 1003, gid: 1003, pid: 1, role: .tenant, tenant: "contoso")
    let root = Caller(uid: 0, gid: 0, pid: 1, role: .operator)

    func refused(_ scope: Scope<Both>, _ p: Both, _ caller: Caller) -> Bool {
        do { _ = try scope.apply(p, caller: caller, method: Self.method); return false } catch { return error is Refusal }
    }

    @Test func aPartnerActsAsItselfAndMayNameNoAccount() throws {
        let own = try Self.both.apply(Both(partner: nil, account: nil), caller: woodgrove, method: Self.method)
        #expect(own.partner == "woodgrove" && own.account == nil)
        #expect(refused(Self.both, Both(partner: nil, account: "admin@contoso.onmicrosoft.com"), woodgrove))
        #expect(refused(Self.both, Both(partner: "fabrikam", account: nil), woodgrove))
    }

    @Test func aTenantActsAsItsBoundAccountAndATenantWideRuleActsAsNone() throws {
        let bound = try Self.both.apply(Both(partner: nil, account: nil), caller: admin, method: Self.method)
        #expect(bound.account == "admin@contoso.onmicrosoft.com")
        #expect(refused(Self.both, Both(partner: nil, account: "helpdesk@contoso.onmicrosoft.com"), admin))
        #expect(refused(Self.both, Both(partner: nil, account: nil), wide))
    }

    @Test func anOperatorTakesTheAccountSideOnlyWhenItNamesAnAccount() throws {
        let partnerSide = try Self.both.apply(Both(partner: "woodgrove", account: nil), caller: root, method: Self.method)
        #expect(partnerSide.account == nil && partnerSide.partner == "woodgrove")
        let accountSide = try Self.both.apply(Both(partner: nil, account: "admin@contoso.onmicrosoft.com"), caller: root,
                                              method: Self.method)
        #expect(accountSide.account == "admin@contoso.onmicrosoft.com")
        // A method with no partner's side still needs the operator to say whom it acts as.
        #expect(throws: (any Error).self) { try Self.accountOnly.apply(Both(), caller: root, method: Self.method) }
    }

    /// A listing that names a tenant and filters by partner, its members after others (at nonzero offsets), and the
    /// same members again as computed properties, which have no offset to read at.
    struct Listing: WireRecord {
        var limit: Int = 0
        var labels: [String] = []
        var tenant: String = ""
        var partner: String?
        var tenantComputed: String { get { tenant } set { tenant = newValue } }
        var partnerComputed: String? { get { partner } set { partner = newValue } }
        init() {}
        init(tenant: String, partner: String?) { self.tenant = tenant; self.partner = partner }
        static let fields: [WireField<Self>] = [.init("tenant", \.tenant, ""), .init("partner", \.partner, "")]
    }

    static let listing = MethodInfo(name: "Listing", policy: MethodPolicy(partner: .own, tenant: .own),
                                    changesState: false, streams: false)

    /// Stored members are read and narrowed at their offsets, computed ones through their key paths; both must
    /// decide the same: the filter written back into the parameters, and a refusal naming what the call named.
    @Test(arguments: [
        Scope<Listing>(partner: .filter(\Listing.partner), tenant: .named(\Listing.tenant)),
        Scope<Listing>(partner: .filter(\Listing.partnerComputed), tenant: .named(\Listing.tenantComputed)),
    ])
    func storedAndComputedMembersAreReadAndNarrowedAlike(scope: Scope<Listing>) throws {
        let narrowed = try scope.apply(Listing(tenant: "contoso", partner: nil), caller: woodgrove, method: Self.listing)
        #expect(narrowed.partner == "woodgrove" && narrowed.parameters.partner == "woodgrove")
        #expect(narrowed.tenant == "contoso" && narrowed.parameters.tenant == "contoso")
        let asked = try scope.apply(Listing(tenant: "contoso", partner: "fabrikam"), caller: admin, method: Self.listing)
        #expect(asked.partner == "fabrikam" && asked.parameters.partner == "fabrikam" && asked.tenant == "contoso")
        do {
            _ = try scope.apply(Listing(tenant: "fabrikam-tenant", partner: "fabrikam"), caller: admin,
                                method: Self.listing)
            Issue.record("a tenant caller named another tenant")
        } catch let refusal as Refusal {
            #expect(refusal.targets == ["partner:fabrikam", "tenant:fabrikam-tenant"])
        }
    }
}
