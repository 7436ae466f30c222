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

    /// `trim` skips the walk by `Character` when both ends are printable ASCII; whatever the ends are, it must trim
    /// exactly what that walk trims (Unicode whitespace, whole grapheme clusters at the ends).
    @Test(arguments: [
        "", " ", "\t\r\n", "Contoso", " Contoso", "Contoso ", "\u{3000}Contoso\u{3000}", "\u{A0}5CG1234XYZ",
        "5CG1234XYZ\u{A0}", "\u{85}x", "x\u{2028}", "x\r\n", "\r\nx", "e\u{301}", "\u{301}e", "\u{600}1",
        "1\u{600}", "\u{1C}x\u{1F}", "a b", "~", "!\u{7F}", "\u{7F}!", "\u{1F600}x", "x\u{FE0F}", "#\u{FE0F}\u{20E3}",
    ])
    func trimRemovesWhitespaceCharactersAtBothEnds(value: String) {
        func reference(_ value: String) -> String {
            var s = Substring(value)
            while let f = s.first, f.isWhitespace { s = s.dropFirst() }
            while let l = s.last, l.isWhitespace { s = s.dropLast() }
            return String(s)
        }
        for padded in [value, " " + value + "\u{3000}", "x" + value + "x"] {
            #expect(Validate.trim(padded) == reference(padded), "\(padded.unicodeScalars.map { $0.value })")
        }
    }

    /// Two lowercase digits per byte, in order, for any sequence of bytes.
    @Test func hexIsTwoLowercaseDigitsPerByte() {
        #expect(Hex.lowercase([UInt8]()) == "")
        #expect(Hex.lowercase([0x00, 0x09, 0x0A, 0x0F, 0x10, 0x9F, 0xA0, 0xFF]) == "00090a0f109fa0ff")
        #expect(Hex.lowercase((0...255).map { UInt8($0) }.lazy.filter { $0 % 17 == 0 })
            == "00112233445566778899aabbccddeeff")
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
