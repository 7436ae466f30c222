import AutopilotDomain
import Testing

@Suite struct ConsentRulesTests {
    static let t0 = Timestamp(millisecondsSinceEpoch: 1_800_000_000_000)

    static func partner(_ id: String, _ kind: PartnerKind, provider: String? = nil, eligible: Bool = false) -> Partner {
        Partner(id: id, name: id.prefix(1).uppercased() + id.dropFirst(), kind: kind, provider: provider, oemDirectApi: eligible, createdAt: t0)
    }

    static let woodgrove = partner("woodgrove", .directCsp)
    static let tailspin = partner("tailspin", .indirectProvider)
    static let fabrikam = partner("fabrikam", .indirectReseller, provider: "tailspin")
    static let contosoOem = partner("oem1", .oem, eligible: true)
    static let ineligibleOem = partner("oem2", .oem)

    static func link(_ kind: LinkKind = .resellerRelationship, dap: Bool = false, roles: [AccountRole] = [],
                     status: LinkStatus = .active) -> Link {
        Link(id: "l1", partner: "woodgrove", kind: kind, delegatedAdmin: dap, roles: roles, status: status,
             createdAt: t0, expiresAt: nil)
    }

    static func account(_ upn: String, _ roles: [AccountRole], cloudNative: Bool) -> Account {
        Account(tenant: "contoso", upn: upn, roles: roles, cloudNative: cloudNative)
    }

    struct ResellerCase: Sendable, CustomTestStringConvertible {
        var name: String
        var partner: Partner
        var dap: Bool
        var roles: [String]
        var expected: Result<[AccountRole], RegistryError>
        var testDescription: String { name }
    }

    static let resellerCases: [ResellerCase] = [
        .init(name: "direct CSP without DAP", partner: woodgrove, dap: false, roles: [], expected: .success([])),
        .init(name: "reseller with DAP, roles normalised", partner: fabrikam, dap: true,
              roles: ["IntuneAdministrator", "GlobalReader", "GlobalReader"],
              expected: .success([.globalReader, .intuneAdministrator])),
        .init(name: "indirect provider refused", partner: tailspin, dap: false, roles: [],
              expected: .failure(.notAllowedForPartnerKind(kind: .indirectProvider, action: "request a reseller relationship"))),
        .init(name: "OEM refused", partner: contosoOem, dap: false, roles: [],
              expected: .failure(.notAllowedForPartnerKind(kind: .oem, action: "request a reseller relationship"))),
        .init(name: "roles without DAP", partner: woodgrove, dap: false, roles: ["GlobalReader"],
              expected: .failure(.invalidInput(field: "roles", reason: "admin roles can only be requested together with delegatedAdmin"))),
        .init(name: "DAP without roles", partner: woodgrove, dap: true, roles: [],
              expected: .failure(.invalidInput(field: "roles", reason: "a delegated admin request must name at least one admin role"))),
    ]

    @Test(arguments: resellerCases)
    func resellerRequestRules(_ c: ResellerCase) {
        let result = Result { () throws(RegistryError) in
            try ConsentRules.checkResellerRequest(partner: c.partner, delegatedAdmin: c.dap, roles: c.roles)
        }
        #expect(result == c.expected)
    }

    @Test func unknownRoleInResellerRequestNamesTheRolesField() {
        #expect {
            try ConsentRules.checkResellerRequest(partner: Self.woodgrove, delegatedAdmin: true, roles: ["Overlord"])
        } throws: { error in
            guard case let .invalidInput(field, reason) = error as? RegistryError else { return false }
            return field == "roles" && reason.contains("Overlord")
        }
    }

    @Test(arguments: [
        (contosoOem, nil as RegistryError?),
        (ineligibleOem, .oemNotEligible(partner: "oem2")),
        (woodgrove, .notAllowedForPartnerKind(kind: .directCsp, action: "receive an OEM consent link")),
        (tailspin, .notAllowedForPartnerKind(kind: .indirectProvider, action: "receive an OEM consent link")),
    ])
    func oemLinkNeedsAnEligibleOem(_ partner: Partner, _ expected: RegistryError?) {
        let result = Result { () throws(RegistryError) in try ConsentRules.checkOemLink(partner: partner) }
        if let expected {
            #expect(throws: expected) { try result.get() }
        } else {
            #expect(throws: Never.self) { try result.get() }
        }
    }

    @Test func linkTokensNeverStartWithADashSoACommandLineTakesThemAsArguments() {
        // 0xF8 encodes as "-" first; the generator must draw again and keep the second draw whole.
        var draws: [[UInt8]] = [[0xF8] + Array(repeating: 1, count: 31), Array(repeating: 7, count: 32)]
        let token = ConsentRules.newLinkToken { draws.removeFirst() }
        #expect(token == Base64.encodeURL(Array(repeating: 7, count: 32)) && draws.isEmpty)
        // With real random bytes, one token in 64 would start with "-": 2,000 tokens, none does, all 43 characters.
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let token = ConsentRules.newLinkToken {
                (0..<ConsentRules.tokenByteCount).map { _ in UInt8.random(in: .min ... .max, using: &random) }
            }
            #expect(!token.hasPrefix("-") && token.utf8.count == 43, "\(token)")
        }
    }

    @Test func linkStatusRevokedWinsThenExpiry() {
        let later = Self.t0.adding(seconds: 10)
        #expect(ConsentRules.status(revokedAt: nil, expiresAt: nil, now: later) == .active)
        #expect(ConsentRules.status(revokedAt: nil, expiresAt: later, now: Self.t0) == .active)
        #expect(ConsentRules.status(revokedAt: nil, expiresAt: later, now: later) == .expired)
        #expect(ConsentRules.status(revokedAt: Self.t0, expiresAt: Self.t0, now: later) == .revoked)
    }

    @Test func resellerLinksExpireAfterTheConfiguredLifetime() {
        #expect(ConsentRules.defaultResellerLinkLifetimeSeconds == 90 * 86_400)
        #expect(ConsentRules.resellerLinkExpiry(now: Self.t0, lifetimeSeconds: 3600) == Self.t0.adding(seconds: 3600))
    }

    struct AcceptanceCase: Sendable, CustomTestStringConvertible {
        var name: String
        var link: Link
        var partner: Partner = woodgrove
        var account: Account
        var expected: RegistryError?
        var testDescription: String { name }
    }

    static let ga = account("admin@contoso.onmicrosoft.com", [.globalAdministrator], cloudNative: true)
    static let customGA = account("admin@contoso.com", [.globalAdministrator], cloudNative: false)
    static let reader = account("reader@contoso.onmicrosoft.com", [.globalReader, .intuneAdministrator], cloudNative: true)

    static let acceptanceCases: [AcceptanceCase] = [
        .init(name: "GA accepts a reseller link", link: link(), account: ga, expected: nil),
        .init(name: "custom-domain GA accepts a reseller link", link: link(), account: customGA, expected: nil),
        .init(name: "cloud-native GA accepts an OEM link", link: link(.oemConsent), partner: contosoOem, account: ga,
              expected: nil),
        .init(name: "an OEM that lost eligibility gets no new consent", link: link(.oemConsent), partner: ineligibleOem,
              account: ga, expected: .oemNotEligible(partner: "oem2")),
        .init(name: "a revoked link is reported before eligibility", link: link(.oemConsent, status: .revoked),
              partner: ineligibleOem, account: ga, expected: .linkRevoked(link: "l1")),
        .init(name: "the account is checked before eligibility", link: link(.oemConsent), partner: ineligibleOem,
              account: customGA, expected: .cloudNativeAccountRequired(account: "admin@contoso.com")),
        .init(name: "non-GA refused", link: link(), account: reader,
              expected: .globalAdminRequired(account: "reader@contoso.onmicrosoft.com")),
        .init(name: "non-GA refused before link state", link: link(status: .revoked), account: reader,
              expected: .globalAdminRequired(account: "reader@contoso.onmicrosoft.com")),
        .init(name: "OEM link needs a cloud-native account", link: link(.oemConsent), account: customGA,
              expected: .cloudNativeAccountRequired(account: "admin@contoso.com")),
        .init(name: "cloud-native checked before link state", link: link(.oemConsent, status: .revoked),
              account: customGA, expected: .cloudNativeAccountRequired(account: "admin@contoso.com")),
        .init(name: "revoked link", link: link(status: .revoked), account: ga, expected: .linkRevoked(link: "l1")),
        .init(name: "expired link", link: link(status: .expired), account: ga, expected: .linkExpired(link: "l1")),
    ]

    @Test(arguments: acceptanceCases)
    func acceptanceChecksAccountThenLink(_ c: AcceptanceCase) {
        let result = Result { () throws(RegistryError) in try ConsentRules.checkAcceptance(link: c.link, partner: c.partner, account: c.account) }
        switch (result, c.expected) {
        case (.success, nil): break
        case let (.failure(error), expected?): #expect(error == expected)
        default: Issue.record("got \(result), expected \(String(describing: c.expected))")
        }
    }

    @Test func tenantSideCallsNeedAGlobalAdministrator() throws {
        try ConsentRules.checkTenantAdmin(Self.ga)
        #expect(throws: RegistryError.globalAdminRequired(account: Self.reader.upn)) {
            try ConsentRules.checkTenantAdmin(Self.reader)
        }
    }

    @Test func indirectResellerAcceptanceAlsoGrantsItsProviderWithTheSameDap() {
        let plans = ConsentRules.grantsOnAcceptance(link: Self.link(dap: true, roles: [.globalReader]), partner: Self.fabrikam)
        #expect(plans == [
            GrantPlan(partner: "fabrikam", basis: .direct, delegatedAdmin: true, roles: [.globalReader]),
            GrantPlan(partner: "tailspin", basis: .viaReseller, delegatedAdmin: true, roles: [.globalReader]),
        ])
    }

    @Test func directCspGrantRecordsDapAsRequested() {
        #expect(ConsentRules.grantsOnAcceptance(link: Self.link(dap: true, roles: [.helpdeskAdministrator]), partner: Self.woodgrove)
            == [GrantPlan(partner: "woodgrove", basis: .direct, delegatedAdmin: true, roles: [.helpdeskAdministrator])])
        #expect(ConsentRules.grantsOnAcceptance(link: Self.link(), partner: Self.woodgrove)
            == [GrantPlan(partner: "woodgrove", basis: .direct, delegatedAdmin: false, roles: [])])
    }

    @Test func oemGrantNeverCarriesDap() {
        // Even a malformed OEM link claiming DAP yields a grant without it.
        let plans = ConsentRules.grantsOnAcceptance(link: Self.link(.oemConsent, dap: true, roles: [.globalReader]),
                                                    partner: Self.contosoOem)
        #expect(plans == [GrantPlan(partner: "oem1", basis: .oem, delegatedAdmin: false, roles: [])])
    }

    @Test func tenantCannotEndAnOemButCanEndCsps() throws {
        #expect(throws: RegistryError.oemRemovalRequiresRequest(partner: "oem1")) {
            try ConsentRules.checkEnd(partner: Self.contosoOem)
        }
        for p in [Self.woodgrove, Self.tailspin, Self.fabrikam] { try ConsentRules.checkEnd(partner: p) }
    }

    @Test(arguments: [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        (String(repeating: "x", count: 2001), "must be at most 2000 characters"),
        ("line\nbreak", "must not contain control characters"),
    ])
    func revocationReasonIsOneTo2000Characters(_ value: String, _ reason: String) {
        #expect(throws: RegistryError.invalidInput(field: "reason", reason: reason)) {
            try ConsentRules.revocationReason(value)
        }
    }

    @Test func revocationReasonAtTheLimitIsKeptTrimmed() throws {
        let max = String(repeating: "é", count: 2000)
        #expect(try ConsentRules.revocationReason(" \(max) ") == max)
    }

    @Test func decisionNoteIsOptionalAndBounded() throws {
        #expect(try ConsentRules.decisionNote(nil) == nil)
        #expect(try ConsentRules.decisionNote("  ") == nil)
        #expect(try ConsentRules.decisionNote(" ok ") == "ok")
        #expect(throws: RegistryError.invalidInput(field: "note", reason: "must be at most 2000 characters")) {
            try ConsentRules.decisionNote(String(repeating: "n", count: 2001))
        }
    }

    @Test(arguments: [RevocationStatus.approved, .rejected])
    func decidingTwiceIsAlreadyDecided(_ status: RevocationStatus) throws {
        var request = RevocationRequest(id: "r1", tenant: "contoso", partner: "oem1", requestedBy: "a@b.c", reason: "x",
                                        status: .open, createdAt: Self.t0, decidedBy: nil, decidedAt: nil, note: nil)
        try ConsentRules.checkDecision(request)
        request.status = status
        #expect(throws: RegistryError.alreadyDecided(request: "r1")) { try ConsentRules.checkDecision(request) }
    }

    @Test func deciderIsTheUnixIdentity() {
        #expect(ConsentRules.decider(Caller(uid: 0, gid: 0, pid: 1, role: .operator)) == "uid=0")
    }

    static let token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdE"
    static let linkID = "0f8fad5b-d9cb-469f-a165-70867728950e"

    @Test(arguments: [
        (token, true, LinkReference.token(token)),
        ("https://autopilot.example/consent/\(token)", false, .token(token)),
        ("https://autopilot.example/consent/\(token)/", true, .token(token)),
        ("  \(token)\n", false, .token(token)),
        (linkID, true, .id(linkID)),
    ])
    func linkParameterAcceptsUrlTokenOrId(_ value: String, _ allowID: Bool, _ expected: LinkReference) throws {
        #expect(try ConsentRules.reference(fromLink: value, allowID: allowID) == expected)
    }

    @Test func acceptingByLinkIdIsRefused() {
        #expect {
            try ConsentRules.reference(fromLink: Self.linkID, allowID: false)
        } throws: { error in
            guard case let .invalidInput(field, _) = error as? RegistryError else { return false }
            return field == "link"
        }
    }

    @Test(arguments: [
        "",
        "short",
        "https://autopilot.example/other/\(token)",
        "https://autopilot.example/consent/",
        "tok+en/with=bad+characters-and-long-enough-to-pass",
        String(repeating: "A", count: 129),
    ])
    func malformedLinkIsInvalidInput(_ value: String) {
        #expect {
            try ConsentRules.reference(fromLink: value, allowID: true)
        } throws: { error in
            guard case let .invalidInput(field, _) = error as? RegistryError else { return false }
            return field == "link"
        }
    }

    @Test func linkIdShape() {
        #expect(ConsentRules.isLinkID(Self.linkID))
        #expect(!ConsentRules.isLinkID(Self.linkID.uppercased()))
        #expect(!ConsentRules.isLinkID(Self.token))
        #expect(!ConsentRules.isLinkID("0f8fad5b-d9cb-469f-a165-70867728950"))
        #expect(!ConsentRules.isLinkID("0f8fad5bxd9cb-469f-a165-70867728950e"))
    }

    @Test func unknownTokenIsNamedByADigestPrefixNeverTheToken() {
        let digest = String(repeating: "ab", count: 32)
        #expect(ConsentRules.tokenReference(digest: digest) == "sha256:abababab")
    }

    @Test func linkUrlJoinsBaseAndToken() {
        #expect(ConsentRules.linkURL(base: "https://a.example", token: "T") == "https://a.example/consent/T")
        #expect(ConsentRules.linkURL(base: "https://a.example//", token: "T") == "https://a.example/consent/T")
    }

    @Test func invitationEmailNamesPartnerRolesAndRecommendsTheDapFreeRequest() {
        let withDap = ConsentRules.invitationEmail(partner: Self.woodgrove, url: "https://x/consent/T", delegatedAdmin: true,
                                                   roles: [.globalReader, .intuneAdministrator])
        #expect(withDap.contains("Woodgrove"))
        #expect(withDap.contains("https://x/consent/T"))
        #expect(withDap.contains("GlobalReader") && withDap.contains("IntuneAdministrator"))
        #expect(withDap.contains("without delegated administration"))
        let without = ConsentRules.invitationEmail(partner: Self.woodgrove, url: "https://x/consent/T", delegatedAdmin: false,
                                                   roles: [])
        #expect(without.contains("does not ask for delegated administrator privileges"))
        #expect(!without.contains("GlobalReader"))
    }
}

/// People act as themselves: which rule a caller matches, and which account it acts as.
@Suite struct ActingAccountTests {
    static let t0 = Timestamp(millisecondsSinceEpoch: 0)
    static let method = MethodInfo(name: "AcceptLink", policy: MethodPolicy(tenant: .own), changesState: true, streams: false)

    @Test func aRuleBoundToAnAccountWinsOverATenantWideOneTheCallerAlsoMatches() {
        let wide = AccessRule(id: "w", uid: 1001, gid: nil, role: .tenant, partner: nil, tenant: "contoso", createdAt: Self.t0)
        let bound = AccessRule(id: "b", uid: nil, gid: 50, role: .tenant, partner: nil, tenant: "contoso",
                               account: "admin@contoso.onmicrosoft.com", createdAt: Self.t0)
        let caller = Caller.resolve(uid: 1001, gid: 50, groups: [50], pid: 1, daemonUID: 999, rules: [wide, bound])
        #expect(caller.role == .tenant && caller.account == "admin@contoso.onmicrosoft.com")
        let onlyWide = Caller.resolve(uid: 1001, gid: 7, groups: [7], pid: 1, daemonUID: 999, rules: [wide, bound])
        #expect(onlyWide.role == .tenant && onlyWide.account == nil)
    }

    @Test func aBoundCallerActsAsItsAccountAndNoOther() throws {
        let caller = Caller(uid: 1001, gid: 1001, pid: 1, role: .tenant, tenant: "contoso", account: "admin@contoso.onmicrosoft.com")
        #expect(try caller.actingAccount(named: nil, Self.method) == "admin@contoso.onmicrosoft.com")
        #expect(try caller.actingAccount(named: " Admin@Contoso.OnMicrosoft.com ", Self.method) == "admin@contoso.onmicrosoft.com")
        #expect(throws: ActingAccountError.refused(.permissionDenied(method: "AcceptLink", role: .tenant))) {
            try caller.actingAccount(named: "helpdesk@contoso.onmicrosoft.com", Self.method)
        }
    }

    @Test func aTenantWideCallerActsAsNobodyAndAnOperatorMustNameTheAccount() throws {
        let wide = Caller(uid: 1001, gid: 1001, pid: 1, role: .tenant, tenant: "contoso")
        for named in [nil, "admin@contoso.onmicrosoft.com"] {
            #expect(throws: ActingAccountError.refused(.permissionDenied(method: "AcceptLink", role: .tenant))) {
                try wide.actingAccount(named: named, Self.method)
            }
        }
        let root = Caller(uid: 0, gid: 0, pid: 1, role: .operator)
        #expect(try root.actingAccount(named: "admin@contoso.onmicrosoft.com", Self.method) == "admin@contoso.onmicrosoft.com")
        #expect(throws: ActingAccountError.missingAccount) { try root.actingAccount(named: nil, Self.method) }
    }
}

/// DAP over time: how long a link may give it, when it is in force, and when accepting a link extends a grant.
@Suite struct DapOverTimeTests {
    static let now = Timestamp(millisecondsSinceEpoch: 1_795_603_560_000)
    static let day: Int64 = 86_400

    func grant(dap: Bool, roles: [AccountRole], expires: Timestamp? = nil) -> Grant {
        Grant(id: "g", tenant: "contoso", partner: "woodgrove", basis: .direct, via: nil, link: "l", delegatedAdmin: dap,
              roles: roles, grantedBy: "admin@contoso.onmicrosoft.com", grantedAt: Self.now, status: .active, endedAt: nil,
              dapExpiresAt: expires)
    }

    func plan(_ roles: [AccountRole], dap: Bool = true) -> GrantPlan {
        GrantPlan(partner: "woodgrove", basis: .direct, delegatedAdmin: dap, roles: roles)
    }

    @Test func dapDaysAreOneToSevenHundredThirtyAndOnlyWithDap() throws {
        try ConsentRules.checkDapDays(nil, delegatedAdmin: false)
        try ConsentRules.checkDapDays(1, delegatedAdmin: true)
        try ConsentRules.checkDapDays(730, delegatedAdmin: true)
        for (days, dap) in [(0, true), (731, true), (-5, true), (30, false)] {
            #expect(throws: RegistryError.self) { try ConsentRules.checkDapDays(days, delegatedAdmin: dap) }
        }
        #expect(ConsentRules.dapExpiry(acceptedAt: Self.now, days: 2) == Self.now.adding(seconds: 2 * Self.day))
        #expect(ConsentRules.dapExpiry(acceptedAt: Self.now, days: nil) == nil)
    }

    @Test func dapIsInForceUntilTheMillisecondItEnds() {
        let end = Self.now.adding(seconds: Self.day)
        #expect(ConsentRules.dapInForce(given: true, expiresAt: end, now: Timestamp(millisecondsSinceEpoch: end.millisecondsSinceEpoch - 1)))
        #expect(!ConsentRules.dapInForce(given: true, expiresAt: end, now: end))
        #expect(ConsentRules.dapInForce(given: true, expiresAt: nil, now: end))
        #expect(!ConsentRules.dapInForce(given: false, expiresAt: nil, now: Self.now))
    }

    @Test func aLinkExtendsAGrantOnlyWhenItAsksForMore() {
        let later = Self.now.adding(seconds: 30 * Self.day)
        func extending(_ grant: Grant, _ plan: GrantPlan, days: Int?, acceptedBefore: Bool = false) -> GrantExtension? {
            ConsentRules.extensionOnAcceptance(grant: grant, plan: plan, dapDays: days, now: Self.now,
                                               linkAcceptedBefore: acceptedBefore)
        }
        // DAP where there is none: a new period with the link's roles and end.
        #expect(extending(grant(dap: false, roles: []), plan([.globalReader]), days: 30)
                == GrantExtension(roles: [.globalReader], dapExpiresAt: later, newDapPeriod: true))
        // No DAP asked: nothing.
        #expect(extending(grant(dap: false, roles: []), plan([], dap: false), days: nil) == nil)
        // The same roles for less time: nothing; for longer or for ever: the later end.
        let held = grant(dap: true, roles: [.globalReader], expires: later)
        #expect(extending(held, plan([.globalReader]), days: 10) == nil)
        #expect(extending(held, plan([.globalReader]), days: 31)?.dapExpiresAt == Self.now.adding(seconds: 31 * Self.day))
        #expect(extending(held, plan([.globalReader]), days: nil)
                == GrantExtension(roles: [.globalReader], dapExpiresAt: nil, newDapPeriod: false))
        // A role it lacks: the roles together, the end unchanged when the link's is earlier.
        #expect(extending(held, plan([.intuneAdministrator]), days: 1)
                == GrantExtension(roles: [.globalReader, .intuneAdministrator], dapExpiresAt: later, newDapPeriod: false))
        // A link accepted into the grant before gives nothing again: not a later end, a role, or DAP once removed.
        #expect(extending(held, plan([.intuneAdministrator]), days: 31, acceptedBefore: true) == nil)
        #expect(extending(grant(dap: false, roles: []), plan([.globalReader]), days: 30, acceptedBefore: true) == nil)
        // DAP without end is never made to end by a link with one.
        let forever = grant(dap: true, roles: [.globalReader])
        #expect(extending(forever, plan([.globalReader]), days: 700) == nil)
    }
}

/// The audit log's head, `SEQ:HASH`, as auditors record it and the daemon's log witnesses it.
@Suite struct AuditHeadTests {
    static let hash = "5b0c6f7e9a1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b"

    @Test func aHeadIsReadFromSeqColonHash() throws {
        #expect(try AuditHead(parsing: " 412:\(Self.hash.uppercased()) ") == AuditHead(seq: 412, hash: Self.hash))
        #expect(AuditHead(seq: 412, hash: Self.hash).description == "412:\(Self.hash)")
        for bad in ["", "412", "412:", ":\(Self.hash)", "-1:\(Self.hash)", "x:\(Self.hash)", "412:\(Self.hash.dropLast())",
                    "412:\(Self.hash)0", "412:\(Self.hash.dropLast())g", "1:2:\(Self.hash)"] {
            #expect(throws: RegistryError.self, "\(bad)") { try AuditHead(parsing: bad) }
        }
    }

    @Test func everyHeadTheDaemonLoggedIsFoundOnceInOrderInItsOwnLinesOrTheJournals() {
        let log = """
            2026-12-05T11:33:27.563Z notice autopilotd: listening database=/var/lib/autopilotd/registry.sqlite
            2026-12-05T11:33:27.563Z notice autopilotd: audit log head head=0:\(String(repeating: "0", count: 64)) when=at start
            Dec 05 11:34:27 host autopilotd[812]: audit log head head=6:\(Self.hash) when=changed
            Dec 05 11:34:27 host autopilotd[812]: call method=GetStatus head=7:\(Self.hash) outcome=ok
            Dec 05 11:35:27 host autopilotd[812]: audit log head head=6:\(Self.hash) when=at stop
            Dec 05 11:36:00 host autopilotd[901]: audit log head head=3:\(Self.hash.uppercased()) when=at start
            audit log head head=garbage when=at start
            """
        #expect(AuditHead.all(inLog: Substring(log)) == [
            AuditHead(seq: 0, hash: String(repeating: "0", count: 64)), AuditHead(seq: 6, hash: Self.hash),
            AuditHead(seq: 3, hash: Self.hash),
        ])
        #expect(AuditHead.all(inLog: "no heads here\n").isEmpty)
    }
}
