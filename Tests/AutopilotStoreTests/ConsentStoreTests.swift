import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Crypto
import Foundation
import GRDB
import Testing

/// The consent rules of issue 3 on a fresh in-memory store: one table-driven test per rule, every error included.
@Suite struct ConsentStoreTests {
    typealias W = ConsentWorld

    /// The token at the end of a consent URL.
    static func token(_ url: String) -> String { String(url.split(separator: "/").last ?? "") }

    // MARK: links

    struct RequestCase: Sendable, CustomTestStringConvertible {
        var name: String
        var partner: String
        var dap: Bool
        var roles: [String]
        /// The normalised roles on success, or the error.
        var expected: Result<[AccountRole], RegistryError>
        var testDescription: String { name }
    }

    static let requestCases: [RequestCase] = [
        .init(name: "direct CSP without DAP", partner: "fourthcoffee", dap: false, roles: [], expected: .success([])),
        .init(name: "direct CSP with DAP", partner: "fourthcoffee", dap: true,
              roles: ["IntuneAdministrator", "GlobalReader"], expected: .success([.globalReader, .intuneAdministrator])),
        .init(name: "indirect reseller without DAP", partner: "woodgrove", dap: false, roles: [], expected: .success([])),
        .init(name: "indirect reseller with DAP", partner: "woodgrove", dap: true, roles: ["CloudDeviceAdministrator"],
              expected: .success([.cloudDeviceAdministrator])),
        .init(name: "indirect provider", partner: "tailspin", dap: false, roles: [],
              expected: .failure(.notAllowedForPartnerKind(kind: .indirectProvider, action: "request a reseller relationship"))),
        .init(name: "OEM", partner: "litware", dap: false, roles: [],
              expected: .failure(.notAllowedForPartnerKind(kind: .oem, action: "request a reseller relationship"))),
        .init(name: "partner kind is checked before the roles", partner: "tailspin", dap: false, roles: ["Overlord"],
              expected: .failure(.notAllowedForPartnerKind(kind: .indirectProvider, action: "request a reseller relationship"))),
        .init(name: "roles without DAP", partner: "fourthcoffee", dap: false, roles: ["GlobalReader"],
              expected: .failure(.invalidInput(field: "roles", reason: "admin roles can only be requested together with delegatedAdmin"))),
        .init(name: "DAP without roles", partner: "fourthcoffee", dap: true, roles: [],
              expected: .failure(.invalidInput(field: "roles", reason: "a delegated admin request must name at least one admin role"))),
        .init(name: "unknown role", partner: "fourthcoffee", dap: true, roles: ["GlobalReader", "Overlord"],
              expected: .failure(.invalidInput(field: "roles", reason: "unknown role 'Overlord'; valid roles: \(AccountRole.namesList)"))),
        .init(name: "unknown partner", partner: "ghost", dap: false, roles: [],
              expected: .failure(.notFound(kind: "partner", id: "ghost"))),
    ]

    @Test(arguments: requestCases)
    func resellerRequestRules(_ c: RequestCase) async throws {
        let w = try await W()
        let result: Result<ResellerInvitation, RegistryError>
        do {
            result = .success(try await w.store.requestResellerRelationship(
                asOperator(Registry.RequestResellerRelationship.info), partner: c.partner, delegatedAdmin: c.dap, roles: c.roles))
        } catch let error as RegistryError {
            result = .failure(error)
        }
        let links = try await w.store.queryForTesting { try Int.fetchOne($0, sql: "SELECT count(*) FROM links") }
        switch (c.expected, result) {
        case let (.success(roles), .success(invitation)):
            let link = invitation.link
            #expect(link.partner == c.partner && link.kind == .resellerRelationship && link.status == .active)
            #expect(link.delegatedAdmin == c.dap && link.roles == roles)
            #expect(link.createdAt == w.clock.now)
            #expect(link.expiresAt == w.clock.now.adding(seconds: 90 * 86_400))
            let url = try #require(link.url)
            #expect(url.hasPrefix("https://consent.example/consent/"))
            let token = Self.token(url)
            #expect(token.utf8.count >= 22 && token.utf8.allSatisfy { Base64.urlAlphabet.contains($0) })
            // The email names the partner, the link, and with DAP the roles and the DAP-free recommendation.
            let name = c.partner == "woodgrove" ? "Woodgrove" : "Fourth Coffee"
            #expect(invitation.email.contains(name) && invitation.email.contains(url))
            for role in roles { #expect(invitation.email.contains(role.rawValue)) }
            #expect(invitation.email.contains("without delegated administration") == c.dap)
            #expect(links == 1)
        case let (.failure(expected), .failure(got)):
            #expect(got == expected)
            #expect(links == 0, "a refused request writes no link")
        default:
            Issue.record("expected \(c.expected), got \(result)")
        }
    }

    @Test func anIndirectResellersEmailNamesItsProvider() async throws {
        let w = try await W()
        let invitation = try await w.store.requestResellerRelationship(
            asOperator(Registry.RequestResellerRelationship.info), partner: "woodgrove", delegatedAdmin: true, roles: ["GlobalReader"])
        #expect(invitation.email.contains("Tailspin"), "\(invitation.email)")
        let direct = try await w.store.requestResellerRelationship(
            asOperator(Registry.RequestResellerRelationship.info), partner: "fourthcoffee", delegatedAdmin: false, roles: [])
        #expect(!direct.email.contains("Tailspin") && direct.email.contains("least-privilege"))
    }

    @Test func theConsentGateReadsOnlyThePairsActiveGrantsWithoutSorting() async throws {
        let w = try await W()
        let plans = try await w.store.consentGateQueryPlansForTesting()
        // The grants and their order come from grants_active_by_pair; the yes-or-no check may use either index that
        // holds only active grants by pair (grants_one_active is one too), never one that reads a partner's others.
        #expect(plans[0] == ["SEARCH g USING INDEX grants_active_by_pair (partner_id=? AND tenant_id=?)"])
        #expect(plans[1] == ["SEARCH grants USING INDEX grants_active_by_pair (partner_id=? AND tenant_id=?)"]
                    || plans[1] == ["SEARCH grants USING INDEX grants_one_active (tenant_id=? AND partner_id=?)"], "\(plans)")
    }

    @Test func theTokenIsStoredOnlyAsItsSHA256() async throws {
        let w = try await W()
        let reseller = try await w.resellerLink("fourthcoffee", dap: true, roles: ["GlobalReader"])
        let oem = try await w.oemLink()
        for url in [reseller, oem] {
            let token = Self.token(url)
            let bytes = Base64.decode(String(token.map { $0 == "-" ? "+" : $0 == "_" ? "/" : $0 }))
            #expect(bytes?.count == ConsentRules.tokenByteCount && ConsentRules.tokenByteCount * 8 >= 128)
            let digest = SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
            let stored = try await w.store.queryForTesting { db in
                try String.fetchAll(db, sql: "SELECT token_sha256 FROM links")
            }
            #expect(stored.contains(digest))
            // No column of any consent table, and no audit event, holds the token.
            let leaks = try await w.store.queryForTesting { db in
                var found: [String] = []
                for table in ["links", "link_roles", "grants", "audit_events"] {
                    for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table)") {
                        for column in row.columnNames
                        where String.fromDatabaseValue(row[column] as DatabaseValue)?.contains(token) == true {
                            found.append("\(table).\(column)")
                        }
                    }
                }
                return found
            }
            #expect(leaks.isEmpty)
            // The link is found by its token and given back without it.
            let page = try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: token)
            #expect(page.link.url == nil)
        }
        #expect(Self.token(reseller) != Self.token(oem))
    }

    struct LifetimeCase: Sendable, CustomTestStringConvertible {
        var configured: Int64?
        var expectedSeconds: Int64
        var testDescription: String { configured.map { "configured \($0)s" } ?? "default" }
    }

    @Test(arguments: [LifetimeCase(configured: nil, expectedSeconds: 90 * 86_400),
                      LifetimeCase(configured: 7 * 86_400, expectedSeconds: 7 * 86_400)])
    func resellerLinksExpireAfterTheConfiguredLifetime(_ c: LifetimeCase) async throws {
        let w = try await W(resellerLinkLifetimeSeconds: c.configured)
        let created = w.clock.now
        let url = try await w.resellerLink("fourthcoffee")
        let page = try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: url)
        #expect(page.link.expiresAt == created.adding(seconds: c.expectedSeconds))

        // One millisecond before expiry the link is still good.
        w.clock.advance(milliseconds: c.expectedSeconds * 1000 - 1)
        #expect(try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: url).link.status == .active)
        try await w.accept(url)
        // From the expiry instant on, it cannot be accepted; the grant already given stays.
        w.clock.advance(milliseconds: 1)
        let expired = try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: url).link
        #expect(expired.status == .expired)
        await expectError(.linkExpired(link: expired.id)) { try await w.accept(url, as: W.fabrikamAdmin) }
        #expect(try await w.activeGrants("fourthcoffee").count == 1)
        #expect(try await w.activeGrants("fourthcoffee", "fabrikam").isEmpty)
    }

    @Test func oemLinksNeverExpire() async throws {
        let w = try await W()
        let url = try await w.oemLink()
        #expect(try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: url).link.expiresAt == nil)
        w.clock.advance(days: 3650)
        #expect(try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: url).link.status == .active)
        #expect(try await w.accept(url).map(\.basis) == [.oem])
    }

    struct OemLinkCase: Sendable, CustomTestStringConvertible {
        var partner: String
        var expected: RegistryError?
        var testDescription: String { partner }
    }

    @Test(arguments: [
        OemLinkCase(partner: "litware", expected: nil),
        OemLinkCase(partner: "proseware", expected: .oemNotEligible(partner: "proseware")),
        OemLinkCase(partner: "fourthcoffee",
                    expected: .notAllowedForPartnerKind(kind: .directCsp, action: "receive an OEM consent link")),
        OemLinkCase(partner: "woodgrove",
                    expected: .notAllowedForPartnerKind(kind: .indirectReseller, action: "receive an OEM consent link")),
        OemLinkCase(partner: "ghost", expected: .notFound(kind: "partner", id: "ghost")),
    ])
    func oemLinksAreOnlyForEligibleOems(_ c: OemLinkCase) async throws {
        let w = try await W()
        if let expected = c.expected {
            await expectError(expected) { _ = try await w.oemLink(c.partner) }
            let links = try await w.store.queryForTesting { try Int.fetchOne($0, sql: "SELECT count(*) FROM links") }
            #expect(links == 0)
        } else {
            let link = try await w.store.issueOemLink(asOperator(Registry.IssueOemLink.info), partner: c.partner)
            #expect(link.kind == .oemConsent && !link.delegatedAdmin && link.roles.isEmpty && link.expiresAt == nil)
            #expect(link.status == .active && link.url != nil)
        }
    }

    @Test func issuingAnOemLinkAgainRevokesThePreviousOne() async throws {
        let w = try await W()
        let first = try await w.oemLink()
        w.clock.advance(milliseconds: 5000)
        let second = try await w.oemLink()
        let old = try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: first).link
        #expect(old.status == .revoked && old.revokedAt == w.clock.now)
        await expectError(.linkRevoked(link: old.id)) { try await w.accept(first) }
        #expect(try await w.accept(second).count == 1)
        // Both links stay on record; the schema allows only one unrevoked OEM link.
        let revokedAt = try await w.store.queryForTesting { db in
            try Row.fetchAll(db, sql: "SELECT revoked_at FROM links WHERE partner_id = 'litware' ORDER BY created_at")
                .map { $0["revoked_at"] as String? }
        }
        #expect(revokedAt == [w.clock.now.rfc3339, nil])
        try await w.store.withDatabaseForTesting { db in
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "UPDATE links SET revoked_at = NULL WHERE partner_id = 'litware'")
            }
        }
    }

    struct ReferenceCase: Sendable, CustomTestStringConvertible {
        var name: String
        var form: @Sendable (_ url: String, _ id: String) -> String
        var testDescription: String { name }
    }

    @Test(arguments: [
        ReferenceCase(name: "whole URL") { url, _ in url },
        ReferenceCase(name: "bare token") { url, _ in ConsentStoreTests.token(url) },
        ReferenceCase(name: "link id") { _, id in id },
    ])
    func revokedLinksCannotBeAcceptedButConsentStays(_ c: ReferenceCase) async throws {
        let w = try await W()
        let url = try await w.resellerLink("woodgrove")
        let granted = try await w.accept(url)
        let id = try #require(granted.first?.link)
        w.clock.advance(milliseconds: 1000)
        let revoked = try await w.store.revokeLink(asOperator(Registry.RevokeLink.info), link: c.form(url, id))
        #expect(revoked.id == id && revoked.status == .revoked && revoked.revokedAt == w.clock.now)
        await expectError(.linkRevoked(link: id)) { try await w.accept(url, as: W.fabrikamAdmin) }
        #expect(try await w.activeGrants("woodgrove").map(\.id) == [granted[0].id])
        #expect(try await w.activeGrants("tailspin").count == 1)
        // Revoking again changes nothing.
        w.clock.advance(milliseconds: 1000)
        let again = try await w.store.revokeLink(asOperator(Registry.RevokeLink.info), link: c.form(url, id))
        #expect(again.revokedAt == revoked.revokedAt)
    }

    @Test func aPartnerRevokesAndDescribesOnlyItsOwnLinks() async throws {
        let w = try await W()
        let url = try await w.resellerLink("woodgrove")
        await expectError(.permissionDenied(method: "DescribeLink", role: .partner)) {
            _ = try await w.store.describeLink(asPartner("fourthcoffee", Registry.DescribeLink.info), link: url)
        }
        await expectError(.permissionDenied(method: "RevokeLink", role: .partner)) {
            _ = try await w.store.revokeLink(asPartner("fourthcoffee", Registry.RevokeLink.info), link: url)
        }
        #expect(try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: url).link.status == .active)
        #expect(try await w.store.describeLink(asPartner("woodgrove", Registry.DescribeLink.info), link: url).partner.id == "woodgrove")
        #expect(try await w.store.revokeLink(asPartner("woodgrove", Registry.RevokeLink.info), link: url).status == .revoked)
        // Any customer may open a consent page.
        #expect(try await w.store.describeLink(asTenant("fabrikam", Registry.DescribeLink.info), link: url).link.status == .revoked)
    }

    @Test func theConsentPageShowsPartnerKindDapAndRoles() async throws {
        let w = try await W()
        let dap = try await w.resellerLink("woodgrove", dap: true, roles: ["IntuneAdministrator", "GlobalReader"])
        let page = try await w.store.describeLink(asTenant("contoso", Registry.DescribeLink.info), link: dap)
        #expect(page.partner.name == "Woodgrove" && page.partner.kind == .indirectReseller)
        #expect(page.link.kind == .resellerRelationship && page.link.delegatedAdmin)
        #expect(page.link.roles == [.globalReader, .intuneAdministrator] && page.link.url == nil)
        #expect(page.provider?.name == "Tailspin", "the provider the customer also authorises is shown")
        let oem = try await w.store.describeLink(asTenant("contoso", Registry.DescribeLink.info), link: try await w.oemLink())
        #expect(oem.partner.id == "litware" && oem.link.kind == .oemConsent && !oem.link.delegatedAdmin)
        #expect(oem.provider == nil)
        await expectInvalid("link") { _ = try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: "not a link") }
        await expectError(.notFound(kind: "link", id: "sha256:" + String(SHA256.hash(data: Data(String(repeating: "A", count: 43).utf8))
            .map { String(format: "%02x", $0) }.joined().prefix(8)))) {
            _ = try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: String(repeating: "A", count: 43))
        }
    }

    // MARK: acceptance

    struct AcceptCase: Sendable, CustomTestStringConvertible {
        var name: String
        /// Prepares the link to accept: returns the string given as `link`.
        var link: @Sendable (ConsentWorld) async throws -> String
        var account: String
        var context: OperationContext = asOperator(Registry.AcceptLink.info)
        /// The expected error; the link id in it is filled in by `expectedError`.
        var expected: @Sendable (_ linkID: String) -> RegistryError
        var testDescription: String { name }
    }

    static let reseller: @Sendable (ConsentWorld) async throws -> String = { try await $0.resellerLink("fourthcoffee") }
    static let oem: @Sendable (ConsentWorld) async throws -> String = { try await $0.oemLink() }
    static let revokedReseller: @Sendable (ConsentWorld) async throws -> String = { w in
        let url = try await w.resellerLink("fourthcoffee")
        _ = try await w.store.revokeLink(asOperator(Registry.RevokeLink.info), link: url)
        return url
    }
    static let revokedOem: @Sendable (ConsentWorld) async throws -> String = { w in
        let url = try await w.oemLink()
        _ = try await w.oemLink()
        return url
    }
    static let expiredReseller: @Sendable (ConsentWorld) async throws -> String = { w in
        let url = try await w.resellerLink("fourthcoffee")
        w.clock.advance(days: 91)
        return url
    }
    static let unknownToken: @Sendable (ConsentWorld) async throws -> String = { _ in
        "https://consent.example/consent/" + String(repeating: "x", count: 43)
    }
    static let unknownTokenID = "sha256:" + String(
        SHA256.hash(data: Data(String(repeating: "x", count: 43).utf8)).map { String(format: "%02x", $0) }.joined().prefix(8))

    static let acceptCases: [AcceptCase] = [
        .init(name: "not a Global Administrator", link: reseller, account: W.helpdesk,
              expected: { _ in .globalAdminRequired(account: W.helpdesk) }),
        .init(name: "OEM link with a custom-domain account", link: oem, account: W.customDomainAdmin,
              expected: { _ in .cloudNativeAccountRequired(account: W.customDomainAdmin) }),
        .init(name: "OEM link by a non-admin: Global Administrator is checked first", link: oem, account: W.helpdesk,
              expected: { _ in .globalAdminRequired(account: W.helpdesk) }),
        .init(name: "revoked link", link: revokedReseller, account: W.admin, expected: { .linkRevoked(link: $0) }),
        .init(name: "revoked OEM link", link: revokedOem, account: W.admin, expected: { .linkRevoked(link: $0) }),
        .init(name: "expired link", link: expiredReseller, account: W.admin, expected: { .linkExpired(link: $0) }),
        .init(name: "the account is checked before the link's state", link: revokedReseller, account: W.helpdesk,
              expected: { _ in .globalAdminRequired(account: W.helpdesk) }),
        .init(name: "cloud-native is checked before the link's state", link: revokedOem, account: W.customDomainAdmin,
              expected: { _ in .cloudNativeAccountRequired(account: W.customDomainAdmin) }),
        .init(name: "an OEM that lost its Direct API eligibility", link: { w in
                  let url = try await w.oemLink()
                  _ = try await w.store.setOemEligibility(asOperator(Registry.SetOemEligibility.info), partner: "litware", eligible: false)
                  return url
              }, account: W.admin, expected: { _ in .oemNotEligible(partner: "litware") }),
        .init(name: "unknown account", link: reseller, account: "ghost@contoso.onmicrosoft.com",
              expected: { _ in .notFound(kind: "account", id: "ghost@contoso.onmicrosoft.com") }),
        .init(name: "unknown link", link: unknownToken, account: W.admin,
              expected: { _ in .notFound(kind: "link", id: unknownTokenID) }),
        .init(name: "unknown link is NotFound before the account is judged", link: unknownToken, account: W.helpdesk,
              expected: { _ in .notFound(kind: "link", id: unknownTokenID) }),
        .init(name: "a link id is not a secret and cannot accept", link: { w in
                  let url = try await w.resellerLink("fourthcoffee")
                  return try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: url).link.id
              }, account: W.admin,
              expected: { _ in .invalidInput(field: "link", reason: "a link id cannot be used to accept consent; open the consent URL the partner sent, or give its token") }),
        .init(name: "another tenant's account", link: reseller, account: W.admin,
              context: asTenant("fabrikam", Registry.AcceptLink.info),
              expected: { _ in .permissionDenied(method: "AcceptLink", role: .tenant) }),
        .init(name: "permission is checked before the link", link: unknownToken, account: W.helpdesk,
              context: asTenant("fabrikam", Registry.AcceptLink.info),
              expected: { _ in .permissionDenied(method: "AcceptLink", role: .tenant) }),
        .init(name: "an unknown account of a domain another tenant owns", link: reseller,
              account: "ghost@contoso.com", context: asTenant("fabrikam", Registry.AcceptLink.info),
              expected: { _ in .permissionDenied(method: "AcceptLink", role: .tenant) }),
    ]

    @Test(arguments: acceptCases)
    func refusedAcceptanceGrantsNothing(_ c: AcceptCase) async throws {
        let w = try await W()
        let link = try await c.link(w)
        let linkID = try await w.store.queryForTesting { db in
            try String.fetchOne(db, sql: "SELECT id FROM links ORDER BY created_at, rowid LIMIT 1") ?? ""
        }
        await expectError(c.expected(linkID)) {
            _ = try await w.store.acceptLink(c.context, link: link, account: c.account)
        }
        #expect(try await w.allGrants().isEmpty)
        let outcome = try await w.store.auditEventsForTesting().last
        #expect(outcome?.method == "AcceptLink" && outcome?.outcome == c.expected(linkID).name)
    }

    @Test func aCspLinkNeedsNoCloudNativeAccount() async throws {
        let w = try await W()
        let grants = try await w.accept(try await w.resellerLink("fourthcoffee"), as: W.customDomainAdmin)
        #expect(grants.map(\.grantedBy) == [W.customDomainAdmin])
    }

    @Test func aTenantCallerAcceptsWithItsOwnAccount() async throws {
        let w = try await W()
        let url = try await w.resellerLink("fourthcoffee")
        let grants = try await w.store.acceptLink(asTenant("contoso", Registry.AcceptLink.info), link: url, account: "Admin@Contoso.onmicrosoft.com")
        #expect(grants.map(\.tenant) == ["contoso"] && grants.map(\.grantedBy) == [W.admin])
    }

    struct GrantShapeCase: Sendable, CustomTestStringConvertible {
        var name: String
        var link: @Sendable (ConsentWorld) async throws -> String
        /// (partner, basis, DAP, roles) for each grant, in reply order.
        var grants: [(String, GrantBasis, Bool, [AccountRole])]
        var testDescription: String { name }
    }

    @Test(arguments: [
        GrantShapeCase(name: "direct CSP without DAP", link: { try await $0.resellerLink("fourthcoffee") },
                       grants: [("fourthcoffee", .direct, false, [])]),
        GrantShapeCase(name: "direct CSP with DAP records it as requested",
                       link: { try await $0.resellerLink("fourthcoffee", dap: true, roles: ["UserAdministrator", "GlobalReader"]) },
                       grants: [("fourthcoffee", .direct, true, [.globalReader, .userAdministrator])]),
        GrantShapeCase(name: "indirect reseller grants its provider through it",
                       link: { try await $0.resellerLink("woodgrove") },
                       grants: [("woodgrove", .direct, false, []), ("tailspin", .viaReseller, false, [])]),
        GrantShapeCase(name: "indirect reseller with DAP", link: { try await $0.resellerLink("woodgrove", dap: true, roles: ["IntuneAdministrator"]) },
                       grants: [("woodgrove", .direct, true, [.intuneAdministrator]),
                                ("tailspin", .viaReseller, true, [.intuneAdministrator])]),
        GrantShapeCase(name: "OEM grant never carries DAP", link: { try await $0.oemLink() },
                       grants: [("litware", .oem, false, [])]),
    ])
    func acceptanceCreatesTheGrantsTheLinkAsksFor(_ c: GrantShapeCase) async throws {
        let w = try await W()
        let url = try await c.link(w)
        let linkID = try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: url).link.id
        let grants = try await w.accept(url)
        #expect(grants.count == c.grants.count)
        for (grant, shape) in zip(grants, c.grants) {
            #expect(grant.partner == shape.0 && grant.basis == shape.1 && grant.delegatedAdmin == shape.2 && grant.roles == shape.3,
                    "\(grant)")
            #expect(grant.tenant == "contoso" && grant.grantedBy == W.admin && grant.grantedAt == w.clock.now)
            #expect(grant.status == .active && grant.endedAt == nil && grant.link == linkID)
            #expect(grant.via == (grant.basis == .viaReseller ? grants.first?.id : nil))
        }
        #expect(try await w.allGrants() == grants)
        // The whole acceptance is one audited change naming every grant it created.
        let event = try #require(try await w.store.auditEventsForTesting().last)
        #expect(event.method == "AcceptLink" && event.outcome == "ok")
        for g in grants { #expect(event.target?.contains("grant:\(g.id)") == true) }
    }

    @Test func acceptingAgainReturnsTheActiveGrantsAndCreatesNothing() async throws {
        let w = try await W()
        let url = try await w.resellerLink("woodgrove", dap: true, roles: ["GlobalReader"])
        let first = try await w.accept(url)
        w.clock.advance(milliseconds: 60_000)
        let again = try await w.accept(url, as: W.customDomainAdmin)
        #expect(again == first)
        #expect(try await w.allGrants().count == 2)
        // Any number of tenants may accept the same reseller link, each getting its own grants.
        let other = try await w.accept(url, as: W.fabrikamAdmin)
        #expect(other.map(\.tenant) == ["fabrikam", "fabrikam"] && Set(other.map(\.id)).isDisjoint(with: first.map(\.id)))
        // Once ended, accepting again creates new grants.
        _ = try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "woodgrove", account: W.admin)
        let renewed = try await w.accept(url)
        #expect(renewed.count == 2 && Set(renewed.map(\.id)).isDisjoint(with: first.map(\.id)))
    }

    @Test func indirectAcceptanceIsOneTransaction() async throws {
        // Make the provider's grant fail to insert: the reseller's grant must not be left behind.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("consent-\(UUID().uuidString).sqlite").path
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let store = try RegistryStore(configuration: StoreConfiguration(path: path))
        defer { try? store.close() }
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Contoso", domain: "contoso.onmicrosoft.com", id: "contoso")
        _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: W.admin, roles: ["GlobalAdministrator"])
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Tailspin", kind: .indirectProvider, provider: nil, oemDirectApi: false, id: "tailspin")
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Woodgrove", kind: .indirectReseller, provider: "tailspin", oemDirectApi: false, id: "woodgrove")
        let url = try await store.requestResellerRelationship(asOperator(Registry.RequestResellerRelationship.info), partner: "woodgrove",
                                                              delegatedAdmin: false, roles: []).link.url ?? ""
        let side = try DatabaseQueue(path: path)
        try await side.write { db in
            try db.execute(sql: """
                CREATE TRIGGER test_fail_provider BEFORE INSERT ON grants WHEN NEW.basis = 'viaReseller'
                BEGIN SELECT RAISE(ABORT, 'provider grant refused by the test'); END
                """)
        }
        await #expect(throws: (any Error).self) {
            _ = try await store.acceptLink(asOperator(Registry.AcceptLink.info), link: url, account: W.admin)
        }
        let grants = try await store.listGrants(asOperator(Registry.ListGrants.info), tenant: nil, partner: nil, status: nil)
        #expect(grants.isEmpty)
        try await side.write { try $0.execute(sql: "DROP TRIGGER test_fail_provider") }
        try side.close()
        #expect(try await store.acceptLink(asOperator(Registry.AcceptLink.info), link: url, account: W.admin).count == 2)
    }

    // MARK: verification

    @Test func customersAndValidationShowActiveConsentOnly() async throws {
        let w = try await W()
        let ctx = asOperator(Registry.ValidateSubmission.info)
        let before = try await w.store.validateSubmission(ctx, partner: "tailspin", tenant: "contoso", devices: [])
        #expect(!before.consented && before.grant == nil && before.results.isEmpty)
        #expect(try await w.store.listCustomers(asOperator(Registry.ListCustomers.info), partner: "tailspin").isEmpty)

        // Two resellers of the same provider: the provider lists the customer once.
        let viaWoodgrove = try await w.accept(try await w.resellerLink("woodgrove"))
        w.clock.advance(milliseconds: 10)
        _ = try await w.accept(try await w.resellerLink("adatum"))
        _ = try await w.accept(try await w.resellerLink("fourthcoffee"), as: W.fabrikamAdmin)
        let customers = try await w.store.listCustomers(asOperator(Registry.ListCustomers.info), partner: "tailspin")
        #expect(customers.map(\.tenant.id) == ["contoso"] && customers.first?.grant.id == viaWoodgrove[1].id)
        #expect(customers.first?.tenant.name == "Contoso")
        #expect(try await w.store.listCustomers(asOperator(Registry.ListCustomers.info), partner: "fourthcoffee").map(\.tenant.id) == ["fabrikam"])
        let check = try await w.store.validateSubmission(ctx, partner: "tailspin", tenant: "contoso", devices: [])
        #expect(check.consented && check.grant?.basis == .viaReseller)

        _ = try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "fourthcoffee", account: W.fabrikamAdmin)
        #expect(try await w.store.listCustomers(asOperator(Registry.ListCustomers.info), partner: "fourthcoffee").isEmpty)
        #expect(try await !w.store.validateSubmission(ctx, partner: "fourthcoffee", tenant: "fabrikam", devices: []).consented)
        await expectError(.notFound(kind: "partner", id: "ghost")) {
            _ = try await w.store.listCustomers(asOperator(Registry.ListCustomers.info), partner: "ghost")
        }
    }

    // MARK: after consent

    @Test func removingDapKeepsConsent() async throws {
        let w = try await W()
        let granted = try await w.accept(try await w.resellerLink("fourthcoffee", dap: true, roles: ["GlobalReader", "IntuneAdministrator"]))
        w.clock.advance(milliseconds: 1000)
        let grant = try await w.store.removeDelegatedAdmin(asTenant("contoso", Registry.RemoveDelegatedAdmin.info), partner: "fourthcoffee",
                                                           account: W.customDomainAdmin)
        #expect(grant.id == granted[0].id && !grant.delegatedAdmin && grant.roles.isEmpty && grant.status == .active)
        #expect(try await w.store.validateSubmission(asOperator(Registry.ValidateSubmission.info), partner: "fourthcoffee",
                                                     tenant: "contoso", devices: []).consented)
        // Who removed DAP and when is on record, and the roles once granted stay for history.
        let row = try await w.store.queryForTesting { db in
            try Row.fetchOne(db, sql: """
                SELECT dap_removed_at, dap_removed_by, (SELECT count(*) FROM grant_roles WHERE grant_id = grants.id) AS roles
                FROM grants WHERE id = ?
                """, arguments: [grant.id]).map { [$0["dap_removed_at"] as String, $0["dap_removed_by"], String($0["roles"] as Int)] }
        }
        #expect(row == [w.clock.now.rfc3339, W.customDomainAdmin, "2"])
        // Removing it again is harmless.
        #expect(try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info), partner: "fourthcoffee", account: W.admin) == grant)
    }

    @Test func removingAResellersDapAlsoRemovesItsProvidersThroughIt() async throws {
        let w = try await W()
        let woodgrove = try await w.accept(try await w.resellerLink("woodgrove", dap: true, roles: ["GlobalReader"]))
        let adatum = try await w.accept(try await w.resellerLink("adatum", dap: true, roles: ["UserAdministrator"]))
        let grant = try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info), partner: "woodgrove", account: W.admin)
        #expect(grant.id == woodgrove[0].id && !grant.delegatedAdmin)
        // The provider's privileges that came with Woodgrove's request go too; those through Adatum stay.
        let provider = try await w.activeGrants("tailspin")
        #expect(provider.map(\.id) == [woodgrove[1].id, adatum[1].id])
        #expect(provider.map(\.delegatedAdmin) == [false, true] && provider[1].roles == [.userAdministrator])
        #expect(try await w.activeGrants("adatum").first?.delegatedAdmin == true)
        // Removing the provider's own clears every grant it holds.
        _ = try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info), partner: "tailspin", account: W.admin)
        #expect(try await w.activeGrants("tailspin").allSatisfy { !$0.delegatedAdmin && $0.status == .active })
    }

    @Test func endingAResellerEndsTheProviderGrantsThroughIt() async throws {
        let w = try await W()
        let woodgrove = try await w.accept(try await w.resellerLink("woodgrove"))
        let adatum = try await w.accept(try await w.resellerLink("adatum"))
        let direct = try await w.accept(try await w.resellerLink("fourthcoffee"))
        w.clock.advance(milliseconds: 1000)
        let ended = try await w.store.endRelationship(asTenant("contoso", Registry.EndRelationship.info), partner: "woodgrove", account: W.admin)
        #expect(ended.map(\.id) == woodgrove.map(\.id))
        #expect(ended.allSatisfy { $0.status == .ended && $0.endedAt == w.clock.now })
        let reasons = try await w.store.queryForTesting { db in
            try Row.fetchAll(db, sql: "SELECT id, end_reason, ended_by FROM grants WHERE status = 'ended' ORDER BY granted_at, rowid")
                .map { [$0["id"] as String, $0["end_reason"] as String, $0["ended_by"] as String] }
        }
        #expect(reasons == [[woodgrove[0].id, "endedByTenant", W.admin], [woodgrove[1].id, "endedWithReseller", W.admin]])
        // The provider keeps the consent that came through the other reseller; the direct CSP is untouched.
        #expect(try await w.activeGrants("tailspin").map(\.id) == [adatum[1].id])
        #expect(try await w.activeGrants("fourthcoffee").map(\.id) == direct.map(\.id))
        #expect(try await w.store.listCustomers(asOperator(Registry.ListCustomers.info), partner: "tailspin").count == 1)
        // Ending a direct CSP ends only its grant.
        #expect(try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "fourthcoffee", account: W.admin).map(\.id)
                == direct.map(\.id))
        #expect(try await w.activeGrants("adatum").count == 1)
    }

    @Test func anOemCanOnlyBeRemovedThroughARevocationRequest() async throws {
        let w = try await W()
        let grant = try await w.accept(try await w.oemLink())
        await expectError(.oemRemovalRequiresRequest(partner: "litware")) {
            _ = try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "litware", account: W.admin)
        }
        #expect(try await w.activeGrants("litware") == grant)
        let request = try await w.store.fileRevocationRequest(asTenant("contoso", Registry.FileRevocationRequest.info), partner: "litware",
                                                              account: W.admin, reason: "  We no longer buy Litware devices ")
        #expect(request.status == .open && request.reason == "We no longer buy Litware devices")
        #expect(request.tenant == "contoso" && request.partner == "litware" && request.requestedBy == W.admin)
        #expect(request.decidedAt == nil && request.decidedBy == nil && request.note == nil)
        #expect(try await w.activeGrants("litware") == grant, "filing changes nothing until the operator decides")
    }

    struct DecisionCase: Sendable, CustomTestStringConvertible {
        var partner: String
        var approve: Bool
        var note: String?
        var testDescription: String { "\(approve ? "approve" : "reject") \(partner)" }
    }

    @Test(arguments: [
        DecisionCase(partner: "litware", approve: true, note: "Confirmed with Contoso by phone"),
        DecisionCase(partner: "litware", approve: false, note: "Devices still under contract"),
        DecisionCase(partner: "woodgrove", approve: true, note: nil),
        DecisionCase(partner: "fourthcoffee", approve: false, note: "   "),
    ])
    func revocationRequestsAreDecidedOnce(_ c: DecisionCase) async throws {
        let w = try await W()
        let link = c.partner == "litware" ? try await w.oemLink() : try await w.resellerLink(c.partner)
        let granted = try await w.accept(link)
        let request = try await w.store.fileRevocationRequest(asOperator(Registry.FileRevocationRequest.info), partner: c.partner,
                                                              account: W.admin, reason: "please remove")
        w.clock.advance(milliseconds: 3_600_000)
        let decided = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: request.id,
                                                                approve: c.approve, note: c.note)
        #expect(decided.status == (c.approve ? .approved : .rejected))
        #expect(decided.decidedBy == "uid=0" && decided.decidedAt == w.clock.now)
        #expect(decided.note == c.note.flatMap { Validate.trim($0).isEmpty ? nil : $0 })
        let after = try await w.allGrants()
        if c.approve {
            #expect(after.first?.status == .revoked && after.first?.endedAt == w.clock.now)
            // A reseller's revocation also ends the provider grant that came through it.
            #expect(after.dropFirst().allSatisfy { $0.status == .ended })
            let linked = try await w.store.queryForTesting { db in
                try String.fetchOne(db, sql: "SELECT revocation_request_id FROM grants WHERE id = ?", arguments: [granted[0].id])
            }
            #expect(linked == request.id)
            #expect(try await !w.store.validateSubmission(asOperator(Registry.ValidateSubmission.info), partner: c.partner,
                                                          tenant: "contoso", devices: []).consented)
        } else {
            #expect(after == granted, "rejecting leaves consent as it was")
        }
        for approve in [true, false] {
            await expectError(.alreadyDecided(request: request.id)) {
                _ = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: request.id,
                                                              approve: approve, note: String(repeating: "n", count: 5000))
            }
        }
        #expect(try await w.store.listRevocationRequests(asOperator(Registry.ListRevocationRequests.info), tenant: nil, partner: nil,
                                                         status: nil) == [decided])
    }

    @Test func decisionErrors() async throws {
        let w = try await W()
        await expectError(.notFound(kind: "request", id: "ghost")) {
            _ = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: "ghost", approve: true, note: nil)
        }
        _ = try await w.accept(try await w.oemLink())
        let request = try await w.store.fileRevocationRequest(asOperator(Registry.FileRevocationRequest.info), partner: "litware",
                                                              account: W.admin, reason: "remove")
        await expectInvalid("note") {
            _ = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: request.id,
                                                          approve: true, note: String(repeating: "n", count: 2001))
        }
        let still = try await w.store.listRevocationRequests(asOperator(Registry.ListRevocationRequests.info), tenant: nil, partner: nil, status: .open)
        #expect(still.map(\.id) == [request.id])
        #expect(try await w.activeGrants("litware").count == 1)
    }

    // MARK: tenant-side calls

    enum TenantCall: String, Sendable, CaseIterable {
        case removeDelegatedAdmin, endRelationship, fileRevocationRequest

        var method: MethodInfo {
            switch self {
            case .removeDelegatedAdmin: Registry.RemoveDelegatedAdmin.info
            case .endRelationship: Registry.EndRelationship.info
            case .fileRevocationRequest: Registry.FileRevocationRequest.info
            }
        }

        func run(_ w: ConsentWorld, _ context: OperationContext? = nil, partner: String, account: String,
                 reason: String = "remove them") async throws {
            let ctx = context ?? asOperator(method)
            switch self {
            case .removeDelegatedAdmin: _ = try await w.store.removeDelegatedAdmin(ctx, partner: partner, account: account)
            case .endRelationship: _ = try await w.store.endRelationship(ctx, partner: partner, account: account)
            case .fileRevocationRequest:
                _ = try await w.store.fileRevocationRequest(ctx, partner: partner, account: account, reason: reason)
            }
        }
    }

    enum GrantState: String, Sendable, CaseIterable { case neverGranted, ended, revoked }

    @Test(arguments: TenantCall.allCases, GrantState.allCases)
    func tenantSideCallsOnAGrantThatIsNotActiveAreNotFound(_ call: TenantCall, _ state: GrantState) async throws {
        let w = try await W()
        if state != .neverGranted {
            _ = try await w.accept(try await w.resellerLink("fourthcoffee", dap: true, roles: ["GlobalReader"]))
            if state == .ended {
                _ = try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "fourthcoffee", account: W.admin)
            } else {
                let r = try await w.store.fileRevocationRequest(asOperator(Registry.FileRevocationRequest.info), partner: "fourthcoffee",
                                                                account: W.admin, reason: "remove")
                _ = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: r.id, approve: true, note: nil)
            }
        }
        let before = try await w.allGrants()
        await expectError(.notFound(kind: "grant", id: "fourthcoffee/contoso")) {
            try await call.run(w, partner: "fourthcoffee", account: W.admin)
        }
        #expect(try await w.allGrants() == before)
    }

    struct OrderCase: Sendable, CustomTestStringConvertible {
        var name: String
        var call: TenantCall
        var context: OperationContext?
        var partner: String
        var account: String
        var reason: String = "remove them"
        var expected: RegistryError
        var testDescription: String { "\(call.rawValue): \(name)" }
    }

    /// interface.md, "Which error wins": permission → NotFound → the acting account → state → value rules.
    static let orderCases: [OrderCase] = TenantCall.allCases.flatMap { call -> [OrderCase] in
        let denied = RegistryError.permissionDenied(method: call.method.name, role: .tenant)
        return [
            .init(name: "another tenant's account, unknown partner", call: call, context: asTenant("fabrikam", call.method),
                  partner: "ghost", account: W.helpdesk, reason: "", expected: denied),
            .init(name: "an unknown account of another tenant's domain", call: call, context: asTenant("fabrikam", call.method),
                  partner: "litware", account: "nobody@contoso.onmicrosoft.com", expected: denied),
            .init(name: "an account of a domain nobody owns", call: call, context: asTenant("fabrikam", call.method),
                  partner: "litware", account: "nobody@elsewhere.example", expected: denied),
            .init(name: "unknown partner before the account", call: call, partner: "ghost", account: W.helpdesk, reason: "",
                  expected: .notFound(kind: "partner", id: "ghost")),
            .init(name: "unknown account", call: call, partner: "litware", account: "nobody@contoso.onmicrosoft.com",
                  reason: "", expected: .notFound(kind: "account", id: "nobody@contoso.onmicrosoft.com")),
            .init(name: "the account before the grant", call: call, partner: "fourthcoffee", account: W.helpdesk, reason: "",
                  expected: .globalAdminRequired(account: W.helpdesk)),
            .init(name: "the account before the OEM rule", call: call, partner: "litware", account: W.helpdesk, reason: "",
                  expected: .globalAdminRequired(account: W.helpdesk)),
        ]
    } + [
        .init(name: "the OEM rule before a missing grant", call: .endRelationship, partner: "proseware", account: W.admin,
              expected: .oemRemovalRequiresRequest(partner: "proseware")),
        .init(name: "a missing grant before the reason", call: .fileRevocationRequest, partner: "fourthcoffee",
              account: W.admin, reason: " ", expected: .notFound(kind: "grant", id: "fourthcoffee/contoso")),
        .init(name: "an empty reason", call: .fileRevocationRequest, partner: "litware", account: W.admin, reason: " ",
              expected: .invalidInput(field: "reason", reason: "must not be empty")),
        .init(name: "a reason too long", call: .fileRevocationRequest, partner: "litware", account: W.admin,
              reason: String(repeating: "r", count: 2001),
              expected: .invalidInput(field: "reason", reason: "must be at most 2000 characters")),
    ]

    @Test(arguments: orderCases)
    func whichErrorWinsInTenantSideCalls(_ c: OrderCase) async throws {
        let w = try await W()
        _ = try await w.accept(try await w.oemLink())  // Litware holds an active grant from Contoso.
        let grants = try await w.allGrants()
        await expectError(c.expected) {
            try await c.call.run(w, c.context, partner: c.partner, account: c.account, reason: c.reason)
        }
        #expect(try await w.allGrants() == grants)
        #expect(try await w.store.listRevocationRequests(asOperator(Registry.ListRevocationRequests.info), tenant: nil, partner: nil, status: nil).isEmpty)
        #expect(try await w.store.auditEventsForTesting().last?.outcome == c.expected.name)
    }

    @Test func aTenantCallerActsOnlyWithItsOwnAccounts() async throws {
        let w = try await W()
        _ = try await w.accept(try await w.resellerLink("fourthcoffee", dap: true, roles: ["GlobalReader"]))
        for call in TenantCall.allCases {
            await expectError(.permissionDenied(method: call.method.name, role: .tenant)) {
                try await call.run(w, asTenant("fabrikam", call.method), partner: "fourthcoffee", account: W.admin)
            }
        }
        #expect(try await w.activeGrants("fourthcoffee").first?.delegatedAdmin == true)
        // Filing needs the grant that ending removes, so file first.
        for call in [TenantCall.removeDelegatedAdmin, .fileRevocationRequest, .endRelationship] {
            try await call.run(w, asTenant("contoso", call.method), partner: "fourthcoffee", account: W.admin)
        }
        #expect(try await w.activeGrants("fourthcoffee").isEmpty)
    }

    // MARK: history

    @Test func historyIsKept() async throws {
        let w = try await W()
        let reseller = try await w.accept(try await w.resellerLink("woodgrove", dap: true, roles: ["GlobalReader"]))
        let tBefore = w.clock.now
        w.clock.advance(milliseconds: 1000)
        _ = try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info), partner: "woodgrove", account: W.admin)
        _ = try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "woodgrove", account: W.admin)
        let oem = try await w.accept(try await w.oemLink())
        let request = try await w.store.fileRevocationRequest(asOperator(Registry.FileRevocationRequest.info), partner: "litware",
                                                              account: W.admin, reason: "remove")
        w.clock.advance(milliseconds: 1000)
        _ = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: request.id, approve: true, note: nil)
        _ = try await w.oemLink()

        let grants = try await w.allGrants()
        #expect(grants.map(\.id) == reseller.map(\.id) + oem.map(\.id))
        #expect(grants.map(\.status) == [.ended, .ended, .revoked])
        #expect(grants.allSatisfy { $0.endedAt != nil })
        // The state at a past moment can be read back: at tBefore both reseller grants were active.
        #expect(grants.filter { $0.grantedAt <= tBefore && ($0.endedAt.map { $0 > tBefore } ?? true) }.map(\.id) == reseller.map(\.id))
        let counts = try await w.store.queryForTesting { db in
            try ["links", "grants", "grant_roles", "revocation_requests"].map {
                try Int.fetchOne(db, sql: "SELECT count(*) FROM \($0)") ?? 0
            }
        }
        #expect(counts == [3, 3, 2, 1])
        try await w.store.withDatabaseForTesting { db in
            for sql in ["DELETE FROM grants", "DELETE FROM links", "DELETE FROM grant_roles", "DELETE FROM revocation_requests",
                        "UPDATE grants SET status = 'active', ended_at = NULL, ended_by = NULL, end_reason = NULL, revocation_request_id = NULL",
                        "UPDATE revocation_requests SET status = 'open', decided_at = NULL, decided_by = NULL"] {
                #expect(throws: DatabaseError.self, "\(sql)") { try db.execute(sql: sql) }
            }
        }
    }

    @Test func theSchemaRefusesDapOnAnOemGrant() async throws {
        let w = try await W()
        let grant = try #require(try await w.accept(try await w.oemLink()).first)
        try await w.store.withDatabaseForTesting { db in
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "UPDATE grants SET delegated_admin = 1 WHERE id = ?", arguments: [grant.id])
            }
        }
    }
}

/// People act as themselves: tenant rules bound to accounts, and accounts removed when people leave.
@Suite struct BoundAccountStoreTests {
    typealias W = ConsentWorld

    @Test func aTenantRuleBindsOneExistingAccountOfItsOwnTenant() async throws {
        let w = try await ConsentWorld()
        let op = asOperator(Registry.AddAccessRule.info)
        let rule = try await w.store.addAccessRule(op, uid: 2001, gid: nil, role: .tenant, partner: nil, tenant: "contoso",
                                                   account: W.admin)
        #expect(rule.account == W.admin)
        #expect(try await w.store.activeAccessRules().first { $0.id == rule.id }?.account == W.admin)
        await expectError(.notFound(kind: "account", id: "ghost@contoso.onmicrosoft.com")) {
            _ = try await w.store.addAccessRule(op, uid: 2002, gid: nil, role: .tenant, partner: nil, tenant: "contoso",
                                                account: "ghost@contoso.onmicrosoft.com")
        }
        await expectError(.invalidInput(field: "account", reason: "\(W.fabrikamAdmin) is an account of tenant fabrikam, not of contoso")) {
            _ = try await w.store.addAccessRule(op, uid: 2003, gid: nil, role: .tenant, partner: nil, tenant: "contoso",
                                                account: W.fabrikamAdmin)
        }
        await expectError(.invalidInput(field: "account", reason: "only a tenant rule binds its caller to an account")) {
            _ = try await w.store.addAccessRule(op, uid: 2004, gid: nil, role: .partner, partner: "woodgrove", tenant: nil,
                                                account: W.admin)
        }
    }

    @Test func removingAnAccountRemovesItsRulesAndKeepsTheHistoryThatNamesIt() async throws {
        let w = try await ConsentWorld()
        let link = try await w.store.requestResellerRelationship(asOperator(Registry.RequestResellerRelationship.info),
                                                                 partner: "woodgrove", delegatedAdmin: false, roles: [])
        let grants = try await w.store.acceptLink(asOperator(Registry.AcceptLink.info), link: link.link.url!, account: W.admin)
        let rule = try await w.store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: 2001, gid: nil, role: .tenant,
                                                   partner: nil, tenant: "contoso", account: W.admin)
        try await w.store.removeAccount(asOperator(Registry.RemoveAccount.info), upn: W.admin)
        #expect(try await w.store.activeAccessRules().contains { $0.id == rule.id } == false)
        // Nothing finds the account any more; what it did still names it.
        await expectError(.notFound(kind: "account", id: W.admin)) {
            _ = try await w.store.setAccountRoles(asOperator(Registry.SetAccountRoles.info), upn: W.admin, roles: [])
        }
        await expectError(.notFound(kind: "account", id: W.admin)) {
            try await w.store.removeAccount(asOperator(Registry.RemoveAccount.info), upn: W.admin)
        }
        let listed = try await w.store.listGrants(asOperator(Registry.ListGrants.info), tenant: "contoso", partner: nil, status: nil)
        #expect(listed.first { $0.id == grants.first?.id }?.grantedBy == W.admin)
        // The UPN may be given to someone again, with its own roles.
        let again = try await w.store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: W.admin,
                                                 roles: ["GlobalReader"])
        #expect(again.roles == [.globalReader])
    }
}
