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
}
