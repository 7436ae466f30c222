import AutopilotDomain
import Testing

@Suite struct ValidationTests {
    func field(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch {
            if case let .invalidInput(field, _)? = error as? RegistryError { return field }
            return "unexpected \(error)"
        }
    }

    @Test func initialDomainMustBeOneLabelUnderOnmicrosoft() throws {
        #expect(try Validate.initialDomain("Contoso.OnMicrosoft.com") == "contoso.onmicrosoft.com")
        for bad in ["contoso.com", "a.b.onmicrosoft.com", "onmicrosoft.com", ".onmicrosoft.com", "-x.onmicrosoft.com",
                    "con toso.onmicrosoft.com", ""] {
            #expect(field { _ = try Validate.initialDomain(bad) } == "domain", "accepted \(bad)")
        }
    }

    @Test func customDomainIsADNSNameOutsideOnmicrosoft() throws {
        #expect(try Validate.customDomain("Contoso.COM") == "contoso.com")
        #expect(try Validate.customDomain("mail.eu.contoso.co.uk") == "mail.eu.contoso.co.uk")
        for bad in ["contoso", "contoso.onmicrosoft.com", "contoso..com", "contoso.123", "con_toso.com",
                    String(repeating: "a", count: 64) + ".com"] {
            #expect(field { _ = try Validate.customDomain(bad) } == "domain", "accepted \(bad)")
        }
    }

    @Test func upnIsLowercasedAndSplit() throws {
        let (upn, domain) = try Validate.upn("Alice.Smith@Contoso.OnMicrosoft.com")
        #expect(upn == "alice.smith@contoso.onmicrosoft.com")
        #expect(domain == "contoso.onmicrosoft.com")
        for bad in ["alice", "@contoso.com", "alice@", "a@b@contoso.com", "al ice@contoso.com", ".a@contoso.com"] {
            #expect(field { _ = try Validate.upn(bad) } == "upn", "accepted \(bad)")
        }
    }

    @Test func rolesComeFromTheFixedListAndAreNormalised() throws {
        #expect(try Validate.roles(["IntuneAdministrator", "GlobalAdministrator", "IntuneAdministrator"])
                == [.globalAdministrator, .intuneAdministrator])
        #expect(field { _ = try Validate.roles(["GlobalAdmin"]) } == "roles")
        #expect(AccountRole.allCases.count == 8)
    }

    @Test func idsAreLowercaseSlugs() throws {
        #expect(try Validate.id("woodgrove-1.eu_2") == "woodgrove-1.eu_2")
        for bad in ["", "Woodgrove", "-x", "a/b", String(repeating: "a", count: 65)] {
            #expect(field { _ = try Validate.id(bad) } == "id", "accepted \(bad)")
        }
    }

    @Test func namesAreTrimmedAndBounded() throws {
        #expect(try Validate.name("  Contoso Ltd ") == "Contoso Ltd")
        #expect(field { _ = try Validate.name("   ") } == "name")
        #expect(field { _ = try Validate.name("a\u{7}b") } == "name")
        #expect(field { _ = try Validate.name(String(repeating: "x", count: 201)) } == "name")
    }

    @Test func resellerNeedsAnIndirectProviderAndOnlyOemsAreEligible() throws {
        let now = Timestamp(millisecondsSinceEpoch: 0)
        let provider = Partner(id: "p", name: "P", kind: .indirectProvider, provider: nil, oemDirectApi: false, createdAt: now)
        let csp = Partner(id: "c", name: "C", kind: .directCsp, provider: nil, oemDirectApi: false, createdAt: now)
        try PartnerRules.checkRegistration(kind: .indirectReseller, providerID: "p", provider: provider, oemDirectApi: false)
        #expect(field { try PartnerRules.checkRegistration(kind: .indirectReseller, providerID: nil, provider: nil, oemDirectApi: false) } == "provider")
        #expect(field { try PartnerRules.checkRegistration(kind: .indirectReseller, providerID: "c", provider: csp, oemDirectApi: false) } == "provider")
        #expect(field { try PartnerRules.checkRegistration(kind: .directCsp, providerID: "p", provider: provider, oemDirectApi: false) } == "provider")
        #expect(field { try PartnerRules.checkRegistration(kind: .directCsp, providerID: nil, provider: nil, oemDirectApi: true) } == "oemDirectApi")
        try PartnerRules.checkRegistration(kind: .oem, providerID: nil, provider: nil, oemDirectApi: true)
        #expect(throws: RegistryError.notFound(kind: "partner", id: "ghost")) {
            try PartnerRules.checkRegistration(kind: .indirectReseller, providerID: "ghost", provider: nil, oemDirectApi: false)
        }
    }
}
