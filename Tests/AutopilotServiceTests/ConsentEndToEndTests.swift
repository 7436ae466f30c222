import AutopilotClient
import Foundation
import Testing
import Varlink

/// The CSP and OEM authorisation flows through the real daemon and the real autopilotctl: plain-words output, --json,
/// exit codes, every refusal, and callers under other Unix uids bound to partners and a tenant.
@Suite(.serialized, .ownThread) struct ConsentEndToEndTests {
    static let admin = "admin@contoso.onmicrosoft.com"
    static let customDomainAdmin = "bob@contoso.com"
    static let helpdesk = "helpdesk@contoso.onmicrosoft.com"
    static let fabrikamAdmin = "admin@fabrikam.onmicrosoft.com"

    /// The operator's directory: tenants Contoso (with contoso.com) and Fabrikam, their accounts, and the partners
    /// Fourth Coffee (direct CSP), Tailspin (indirect provider) with its reseller Woodgrove, Litware (eligible OEM)
    /// and Proseware (OEM not eligible for the Direct API).
    static func directory(_ daemon: TestDaemon) throws {
        for arguments in [
            ["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"],
            ["tenant", "add-domain", "contoso", "contoso.com"],
            ["tenant", "create", "Fabrikam", "--domain", "fabrikam.onmicrosoft.com", "--id", "fabrikam"],
            ["account", "add", admin, "--tenant", "contoso", "--role", "GlobalAdministrator"],
            ["account", "add", customDomainAdmin, "--tenant", "contoso", "--role", "GlobalAdministrator"],
            ["account", "add", helpdesk, "--tenant", "contoso", "--role", "HelpdeskAdministrator"],
            ["account", "add", fabrikamAdmin, "--tenant", "fabrikam", "--role", "GlobalAdministrator"],
            ["partner", "register", "Fourth Coffee", "--kind", "directCsp", "--id", "fourthcoffee"],
            ["partner", "register", "Tailspin", "--kind", "indirectProvider", "--id", "tailspin"],
            ["partner", "register", "Woodgrove", "--kind", "indirectReseller", "--provider", "tailspin", "--id", "woodgrove"],
            ["partner", "register", "Litware", "--kind", "oem", "--oem-direct-api", "--id", "litware"],
            ["partner", "register", "Proseware", "--kind", "oem", "--id", "proseware"],
        ] {
            let r = try daemon.ctl(arguments)
            guard r.status == 0 else { throw TestFailure("\(arguments): \(r)") }
        }
    }

    /// Expects success with nothing on stderr; returns stdout.
    @discardableResult
    static func ok(_ r: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r)", sourceLocation: sourceLocation)
        return r.stdout
    }

    /// Expects the daemon's refusal `error`: exit 1, nothing on stdout, one `error: <Name>: …` line on stderr.
    static func refused(_ r: CommandResult, _ error: String, saying words: String? = nil,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1 && r.stdout.isEmpty, "\(r)", sourceLocation: sourceLocation)
        // One error line, and for some errors one indented line of what to do (`ExitStatus.hint`).
        let lines = r.stderr.split(separator: "\n")
        #expect(r.stderr.hasPrefix("error: \(error): ") && (lines.count == 1 || lines.count == 2 && lines[1].hasPrefix("  ")),
                "\(r)", sourceLocation: sourceLocation)
        if let words { #expect(r.stderr.contains(words), "\(r)", sourceLocation: sourceLocation) }
    }

    /// The reply parameters printed by --json.
    static func json(_ r: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONObject {
        #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
        return try #require(try JSON.parse(r.stdout).objectValue, "\(r)", sourceLocation: sourceLocation)
    }

    static func strings(_ value: JSONValue?, _ key: String) -> [String] {
        (value?.arrayValue ?? []).compactMap { $0.objectValue?[key]?.stringValue }
    }

    /// The URL on the first line of `consent request` / `consent oem-link`.
    static func url(_ r: CommandResult) -> String {
        String(r.stdout.split(separator: "\n").first ?? "")
    }

    @Test func cspFlowDirectAndThroughAnIndirectReseller() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }
        try Self.directory(daemon)

        // A direct CSP asks without DAP: the URL first, then the email to send.
        let request = try daemon.ctl(["consent", "request", "--partner", "fourthcoffee"])
        let plain = Self.ok(request)
        let link = Self.url(request)
        #expect(link.hasPrefix("https://autopilot.invalid/consent/") && link.count > 34 + 22, "\(request)")
        #expect(plain.contains("Subject: Fourth Coffee requests a reseller relationship"))
        #expect(plain.contains("    \(link)\n") && plain.contains("does not ask for delegated administrator privileges"))

        // The customer opens the link, then accepts it; the partner confirms with its customer list.
        let page = Self.ok(try daemon.ctl(["consent", "show", link]))
        #expect(page.hasPrefix("Fourth Coffee (fourthcoffee) is a direct CSP partner. It asks your organisation to accept a reseller relationship"))
        #expect(page.contains("It does not ask for delegated admin privileges.") && page.contains("This link is active until "))
        Self.refused(try daemon.ctl(["consent", "accept", "--yes", link, "--as", Self.helpdesk]), "GlobalAdminRequired",
                     saying: "\(Self.helpdesk) is not a Global Administrator")
        #expect(Self.ok(try daemon.ctl(["customers", "--partner", "fourthcoffee"])).split(separator: "\n").count == 1,
                "only the header: no customer yet")
        let accepted = Self.ok(try daemon.ctl(["consent", "accept", "--yes", link, "--as", Self.customDomainAdmin]))
        #expect(accepted.hasPrefix("Contoso now authorises Fourth Coffee to register devices.\n"), "\(accepted)")
        let customers = try Self.json(try daemon.ctl(["customers", "--partner", "fourthcoffee", "--json"]))
        #expect(customers["customers"]?.arrayValue?.compactMap { $0.objectValue?["tenant"]?.objectValue?["id"]?.stringValue } == ["contoso"])
        #expect(Self.ok(try daemon.ctl(["customers", "--partner", "fourthcoffee"])).contains("Contoso"))

        // The same partner asks another customer with DAP.
        let dapReply = try Self.json(try daemon.ctl(["consent", "request", "--partner", "fourthcoffee", "--dap",
                                                     "--role", "IntuneAdministrator", "--role", "GlobalReader", "--json"]))
        let dapLink = try #require(dapReply["link"]?.objectValue)
        #expect(dapLink["delegatedAdmin"] == true && dapLink["roles"] == ["GlobalReader", "IntuneAdministrator"])
        let dapURL = try #require(dapLink["url"]?.stringValue)
        let email = try #require(dapReply["email"]?.stringValue)
        #expect(email.contains("    - GlobalReader\n") && email.contains("without delegated administration"))
        #expect(Self.ok(try daemon.ctl(["consent", "show", dapURL]))
            .contains("It also asks for delegated admin privileges with these roles: GlobalReader, IntuneAdministrator, until you remove them."))
        let dapAccepted = Self.ok(try daemon.ctl(["consent", "accept", "--yes", Self.token(dapURL), "--as", Self.fabrikamAdmin]))
        #expect(dapAccepted.hasPrefix("Fabrikam now authorises Fourth Coffee to register devices. Fourth Coffee also holds delegated admin privileges with these roles: GlobalReader, IntuneAdministrator.\n"),
                "\(dapAccepted)")

        // The customer removes DAP: consent stays.
        let removed = Self.ok(try daemon.ctl(["consent", "remove-dap", "--partner", "fourthcoffee", "--as", Self.fabrikamAdmin]))
        #expect(removed.hasPrefix("Fourth Coffee no longer holds delegated admin privileges from Fabrikam; it may still register devices.\n"),
                "\(removed)")
        #expect(Self.ok(try daemon.ctl(["consent", "verify", "--partner", "fourthcoffee", "--tenant", "fabrikam", "--require"]))
            .hasPrefix("Yes: Fourth Coffee may register devices for Fabrikam."))

        // An indirect reseller: the email, the consent page and the acceptance all name its provider.
        let resellerRequest = try daemon.ctl(["consent", "request", "--partner", "woodgrove"])
        #expect(Self.ok(resellerRequest).contains("accepting also authorises its indirect provider, Tailspin, to register your devices"))
        let resellerURL = Self.url(resellerRequest)
        #expect(Self.ok(try daemon.ctl(["consent", "show", resellerURL]))
            .contains("Accepting also authorises its indirect provider, Tailspin (tailspin), to register devices."))
        let indirect = Self.ok(try daemon.ctl(["consent", "accept", "--yes", resellerURL, "--as", Self.admin]))
        #expect(indirect.hasPrefix("Contoso now authorises Woodgrove and, through it, Tailspin to register devices.\n"), "\(indirect)")
        let providerCustomers = try Self.json(try daemon.ctl(["customers", "--partner", "tailspin", "--json"]))
        let providerGrant = try #require(providerCustomers["customers"]?.arrayValue?.first?.objectValue?["grant"]?.objectValue)
        let resellerGrants = try Self.json(try daemon.ctl(["grants", "--partner", "woodgrove", "--json"]))
        let resellerGrantID = try #require(Self.strings(resellerGrants["grants"], "id").first)
        #expect(providerGrant["basis"] == "viaReseller" && providerGrant["via"] == .string(resellerGrantID))
        #expect(Self.ok(try daemon.ctl(["consent", "verify", "--partner", "tailspin", "--tenant", "contoso"]))
            .hasPrefix("Yes: Tailspin may register devices for Contoso, implicitly, through one of its indirect resellers."))

        // Accepting again changes nothing.
        let before = Self.strings(try Self.json(try daemon.ctl(["grants", "--json"]))["grants"], "id")
        let again = try Self.json(try daemon.ctl(["consent", "accept", "--yes", resellerURL, "--as", Self.customDomainAdmin, "--json"]))
        #expect(Self.strings(again["grants"], "partner") == ["woodgrove", "tailspin"])
        #expect(Self.strings(try Self.json(try daemon.ctl(["grants", "--json"]))["grants"], "id") == before)

        // Removing a reseller's DAP also removes what its provider holds through it.
        let resellerDap = Self.ok(try daemon.ctl(["consent", "remove-dap", "--partner", "woodgrove", "--as", Self.admin]))
        #expect(resellerDap.hasPrefix("Woodgrove no longer holds delegated admin privileges from Contoso, nor does Tailspin through it; both may still register devices.\n"),
                "\(resellerDap)")

        // Ending the reseller's relationship ends the provider's consent that came with it.
        let ended = Self.ok(try daemon.ctl(["consent", "end", "--partner", "woodgrove", "--as", Self.admin]))
        #expect(ended.hasPrefix("Contoso no longer authorises Woodgrove and, through it, Tailspin to register devices.\n"), "\(ended)")
        let noConsent = try daemon.ctl(["consent", "verify", "--partner", "tailspin", "--tenant", "contoso", "--require"])
        #expect(noConsent.status == 3 && noConsent.stdout.hasPrefix("No: partner tailspin holds no active consent from tenant contoso"),
                "\(noConsent)")
        #expect(Self.strings(try Self.json(try daemon.ctl(["customers", "--partner", "tailspin", "--json"]))["customers"], "grant").isEmpty)
        let history = try Self.json(try daemon.ctl(["grants", "--status", "ended", "--json"]))
        #expect(Self.strings(history["grants"], "partner") == ["woodgrove", "tailspin"])
        #expect(Self.strings(history["grants"], "endedAt").count == 2)
        Self.refused(try daemon.ctl(["consent", "end", "--partner", "woodgrove", "--as", Self.admin]), "NotFound",
                     saying: "partner woodgrove holds no active consent from tenant contoso")

        // A revoked link can no longer be accepted; the consent it gave stays.
        let revoked = Self.ok(try daemon.ctl(["consent", "revoke", link]))
        #expect(revoked.contains("status:          revoked"), "\(revoked)")
        Self.refused(try daemon.ctl(["consent", "accept", "--yes", link, "--as", Self.fabrikamAdmin]), "LinkRevoked",
                     saying: "ask the partner for a new one")
        #expect(Self.ok(try daemon.ctl(["customers", "--partner", "fourthcoffee"])).contains("Contoso"))

        // The daemon's log never holds a link's token.
        for url in [link, dapURL, resellerURL] { #expect(!daemon.log.contains(Self.token(url))) }
    }

    static func token(_ url: String) -> String { String(url.split(separator: "/").last ?? "") }

    @Test func oemFlowWithItsRefusalsAndARevocationRequest() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }
        try Self.directory(daemon)

        Self.refused(try daemon.ctl(["consent", "oem-link", "--partner", "proseware"]), "OemNotEligible",
                     saying: "OEM proseware is not eligible for the OEM Direct API\n  the consent its customers gave stays")
        Self.refused(try daemon.ctl(["consent", "oem-link", "--partner", "fourthcoffee"]), "NotAllowedForPartnerKind")
        Self.refused(try daemon.ctl(["consent", "request", "--partner", "litware"]), "NotAllowedForPartnerKind",
                     saying: "a partner of kind oem may not request a reseller relationship")

        let first = try daemon.ctl(["consent", "oem-link", "--partner", "litware"])
        #expect(Self.ok(first).contains("This is Litware's only consent link: any earlier one no longer works."))
        let second = try Self.json(try daemon.ctl(["consent", "oem-link", "--partner", "litware", "--json"]))
        let link = try #require(second["link"]?.objectValue)
        #expect(link["kind"] == "oemConsent" && link["delegatedAdmin"] == false && link["expiresAt"] == .null)
        let url = try #require(link["url"]?.stringValue)
        Self.refused(try daemon.ctl(["consent", "accept", "--yes", Self.url(first), "--as", Self.admin]), "LinkRevoked")

        let page = Self.ok(try daemon.ctl(["consent", "show", url]))
        #expect(page.hasPrefix("Litware (litware) is an OEM."), "\(page)")
        #expect(page.contains("No delegated admin privileges are ever granted to an OEM.") && page.contains("This link is active."))
        Self.refused(try daemon.ctl(["consent", "accept", "--yes", url, "--as", Self.helpdesk]), "GlobalAdminRequired")
        Self.refused(try daemon.ctl(["consent", "accept", "--yes", url, "--as", Self.customDomainAdmin]), "CloudNativeAccountRequired",
                     saying: "\(Self.customDomainAdmin) is not a cloud-native account")
        #expect(Self.strings(try Self.json(try daemon.ctl(["grants", "--json"]))["grants"], "id").isEmpty)

        let accepted = try daemon.ctl(["consent", "accept", "--yes", url, "--as", Self.admin])
        #expect(Self.ok(accepted).hasPrefix("Contoso now authorises Litware to register devices.\n"), "\(accepted)")
        #expect(!accepted.stdout.contains("delegated admin"))
        let grants = try Self.json(try daemon.ctl(["grants", "--partner", "litware", "--json"]))
        #expect(Self.strings(grants["grants"], "basis") == ["oem"])
        #expect(grants["grants"]?.arrayValue?.first?.objectValue?["delegatedAdmin"] == false)

        // The customer cannot end an OEM's consent; it asks the operator, who rejects, then approves a second request.
        Self.refused(try daemon.ctl(["consent", "end", "--partner", "litware", "--as", Self.admin]), "OemRemovalRequiresRequest",
                     saying: "file a revocation request")
        let filed = try daemon.ctl(["revocation", "file", "--partner", "litware", "--as", Self.admin,
                                    "--reason", "We no longer buy Litware devices"])
        #expect(Self.ok(filed).hasPrefix("Contoso asked the operator to remove Litware's consent."), "\(filed)")
        let open = try Self.json(try daemon.ctl(["revocation", "list", "--status", "open", "--json"]))
        let firstRequest = try #require(Self.strings(open["requests"], "id").first)
        let rejected = Self.ok(try daemon.ctl(["revocation", "reject", firstRequest, "--note", "Devices still under contract"]))
        #expect(rejected.hasPrefix("Rejected: Litware keeps its consent from Contoso.\n") && rejected.contains("status:       rejected"),
                "\(rejected)")
        Self.ok(try daemon.ctl(["consent", "verify", "--partner", "litware", "--tenant", "contoso", "--require"]))
        Self.refused(try daemon.ctl(["revocation", "approve", firstRequest]), "AlreadyDecided")

        let second2 = try Self.json(try daemon.ctl(["revocation", "file", "--partner", "litware", "--as", Self.admin,
                                                    "--reason", "Contract ended", "--json"]))
        let secondRequest = try #require(second2["request"]?.objectValue?["id"]?.stringValue)
        let approved = Self.ok(try daemon.ctl(["revocation", "approve", secondRequest, "--note", "Confirmed by phone"]))
        #expect(approved.hasPrefix("Approved: Contoso no longer authorises Litware to register devices; its consent is revoked.\n"),
                "\(approved)")
        #expect(approved.contains("decided by:   uid=0") && approved.contains("note:         Confirmed by phone"))
        let gone = try daemon.ctl(["consent", "verify", "--partner", "litware", "--tenant", "contoso", "--require"])
        #expect(gone.status == 3, "\(gone)")
        let revoked = try Self.json(try daemon.ctl(["grants", "--partner", "litware", "--status", "revoked", "--json"]))
        #expect(Self.strings(revoked["grants"], "status") == ["revoked"])
        Self.refused(try daemon.ctl(["revocation", "reject", secondRequest]), "AlreadyDecided")
        Self.refused(try daemon.ctl(["revocation", "file", "--partner", "litware", "--as", Self.admin, "--reason", "again"]),
                     "NotFound", saying: "partner litware holds no active consent from tenant contoso")
        // Both decided requests stay on record.
        let all = try Self.json(try daemon.ctl(["revocation", "list", "--json"]))
        #expect(Self.strings(all["requests"], "status") == ["rejected", "approved"])
    }

    @Test func consentRefusalsReachTheUserByNameOnOneLine() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }
        try Self.directory(daemon)
        let cases: [([String], String)] = [
            (["consent", "request", "--partner", "tailspin"], "NotAllowedForPartnerKind"),
            (["consent", "request", "--partner", "ghost"], "NotFound"),
            (["consent", "request", "--partner", "fourthcoffee", "--dap"], "InvalidInput"),
            (["consent", "request", "--partner", "fourthcoffee", "--dap", "--role", "Overlord"], "InvalidInput"),
            (["consent", "show", "not-a-link"], "InvalidInput"),
            (["consent", "show", "https://autopilot.invalid/consent/" + String(repeating: "A", count: 43)], "NotFound"),
            (["consent", "accept", "--yes", "00000000-0000-0000-0000-000000000000", "--as", Self.admin], "InvalidInput"),
            (["consent", "verify", "--partner", "ghost", "--tenant", "contoso"], "NotFound"),
            (["consent", "remove-dap", "--partner", "fourthcoffee", "--as", Self.admin], "NotFound"),
            (["consent", "remove-dap", "--partner", "fourthcoffee", "--as", Self.helpdesk], "GlobalAdminRequired"),
            (["consent", "end", "--partner", "fourthcoffee", "--as", "nobody@contoso.onmicrosoft.com"], "NotFound"),
            (["revocation", "file", "--partner", "fourthcoffee", "--as", Self.admin, "--reason", "x"], "NotFound"),
            (["revocation", "approve", "ghost"], "NotFound"),
        ]
        for (arguments, error) in cases {
            let result = try daemon.ctl(arguments)
            Self.refused(result, error)
            #expect(!result.stderr.contains("Fatal error"), "\(arguments): \(result)")
        }
        // Caught locally, before calling the daemon: roles without --dap.
        let local = try daemon.ctl(["consent", "request", "--partner", "fourthcoffee", "--role", "GlobalReader"])
        #expect(local.status == 64 && local.stderr.contains("needs --dap"), "\(local)")
        #expect(try daemon.call("GetStatus")["grants"] == 0)
    }

    @Test func partnersAndTenantsBoundToUnixUsersSeeAndChangeOnlyTheirOwn() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let daemon = try TestDaemon(config: ["socket_mode = 0666"])
        defer { daemon.cleanup() }
        try Self.directory(daemon)
        let coffee = try TestUser.make("ap-consent-p1")
        let woodgrove = try TestUser.make("ap-consent-p2")
        let contoso = try TestUser.make("ap-consent-t1")
        for arguments in [["access", "add", "--user", coffee.name, "--role", "partner", "--partner", "fourthcoffee"],
                          ["access", "add", "--user", woodgrove.name, "--role", "partner", "--partner", "woodgrove"],
                          ["access", "add", "--user", contoso.name, "--role", "tenant", "--tenant", "contoso",
                           "--account", Self.admin]] {
            Self.ok(try daemon.ctl(arguments))
        }

        // Each partner asks for consent for itself only.
        let coffeeLink = Self.url(try daemon.ctl(as: coffee, ["consent", "request", "--partner", "fourthcoffee"]))
        let woodgroveLink = Self.url(try daemon.ctl(as: woodgrove, ["consent", "request", "--partner", "woodgrove"]))
        #expect(coffeeLink.contains("/consent/") && woodgroveLink.contains("/consent/"))
        Self.refused(try daemon.ctl(as: coffee, ["consent", "request", "--partner", "woodgrove"]), "PermissionDenied")
        Self.refused(try daemon.ctl(as: woodgrove, ["consent", "show", coffeeLink]), "PermissionDenied")
        Self.refused(try daemon.ctl(as: woodgrove, ["consent", "revoke", coffeeLink]), "PermissionDenied")
        Self.refused(try daemon.ctl(as: coffee, ["consent", "accept", "--yes", coffeeLink, "--as", Self.admin]), "PermissionDenied")
        // On the wire: a malformed call is InvalidParameter before the caller's role is judged. (The varlink module
        // lives in root's home, so the call is one raw NUL-framed message sent by the system's python3.)
        func call(_ user: TestUser, _ method: String, _ parameters: String) throws -> String {
            let script = """
                import socket, sys
                s = socket.socket(socket.AF_UNIX)
                s.connect(sys.argv[1])
                s.sendall(sys.argv[2].encode() + b"\\0")
                reply = b""
                while not reply.endswith(b"\\0"):
                    reply += s.recv(65536)
                print(reply[:-1].decode())
                """
            let message = #"{"method": "io.autopilotd.registry.\#(method)", "parameters": \#(parameters)}"#
            return try runProgram("/usr/bin/setpriv", ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups",
                                                       "--", "/usr/bin/python3", "-c", script, daemon.socket, message]).stdout
        }
        let malformed = try call(coffee, "AcceptLink", #"{"link": "\#(coffeeLink)", "account": 5}"#)
        #expect(malformed.contains(#""error":"org.varlink.service.InvalidParameter""#) && malformed.contains("account"), "\(malformed)")
        let denied = try call(coffee, "AcceptLink", #"{"link": "\#(coffeeLink)", "account": "\#(Self.admin)"}"#)
        #expect(denied.contains(#""error":"io.autopilotd.registry.PermissionDenied""#), "\(denied)")

        // The tenant user accepts with its own tenant's account only.
        #expect(Self.ok(try daemon.ctl(as: contoso, ["consent", "show", coffeeLink])).contains("This link is active"))
        let accepted = Self.ok(try daemon.ctl(as: contoso, ["consent", "accept", "--yes", coffeeLink, "--as", Self.admin]))
        #expect(accepted.hasPrefix("Contoso now authorises Fourth Coffee to register devices.\n"), "\(accepted)")
        Self.refused(try daemon.ctl(as: contoso, ["consent", "accept", "--yes", woodgroveLink, "--as", Self.fabrikamAdmin]), "PermissionDenied")
        Self.ok(try daemon.ctl(["consent", "accept", "--yes", woodgroveLink, "--as", Self.fabrikamAdmin]))

        // Each partner sees its own customers, grants and links, never the other's.
        let coffeeCustomers = try Self.json(try daemon.ctl(as: coffee, ["customers", "--partner", "fourthcoffee", "--json"]))
        #expect(coffeeCustomers["customers"]?.arrayValue?.compactMap { $0.objectValue?["tenant"]?.objectValue?["id"]?.stringValue } == ["contoso"])
        let woodgroveCustomers = try Self.json(try daemon.ctl(as: woodgrove, ["customers", "--partner", "woodgrove", "--json"]))
        #expect(woodgroveCustomers["customers"]?.arrayValue?.compactMap { $0.objectValue?["tenant"]?.objectValue?["id"]?.stringValue } == ["fabrikam"])
        Self.refused(try daemon.ctl(as: coffee, ["customers", "--partner", "woodgrove"]), "PermissionDenied")
        Self.refused(try daemon.ctl(as: woodgrove, ["customers", "--partner", "fourthcoffee"]), "PermissionDenied")
        #expect(Self.strings(try Self.json(try daemon.ctl(as: coffee, ["grants", "--json"]))["grants"], "partner") == ["fourthcoffee"])
        #expect(Self.strings(try Self.json(try daemon.ctl(as: woodgrove, ["grants", "--json"]))["grants"], "partner") == ["woodgrove"])
        Self.refused(try daemon.ctl(as: coffee, ["grants", "--partner", "woodgrove"]), "PermissionDenied")
        Self.refused(try daemon.ctl(as: coffee, ["consent", "verify", "--partner", "woodgrove", "--tenant", "fabrikam"]), "PermissionDenied")
        #expect(Self.strings(try Self.json(try daemon.ctl(as: coffee, ["tenant", "list", "--json"]))["tenants"], "id") == ["contoso"])
        #expect(Self.strings(try Self.json(try daemon.ctl(as: woodgrove, ["tenant", "list", "--json"]))["tenants"], "id") == ["fabrikam"])
        Self.refused(try daemon.ctl(as: woodgrove, ["tenant", "show", "contoso"]), "PermissionDenied")
        #expect(Self.ok(try daemon.ctl(as: coffee, ["consent", "verify", "--partner", "fourthcoffee", "--tenant", "contoso"]))
            .hasPrefix("Yes: Fourth Coffee may register devices for Contoso."))

        // The tenant user sees its own grants and cannot act with Fabrikam's account.
        #expect(Self.strings(try Self.json(try daemon.ctl(as: contoso, ["grants", "--json"]))["grants"], "tenant") == ["contoso"])
        Self.refused(try daemon.ctl(as: contoso, ["grants", "--tenant", "fabrikam"]), "PermissionDenied")
        for arguments in [["consent", "remove-dap", "--partner", "woodgrove", "--as", Self.fabrikamAdmin],
                          ["consent", "end", "--partner", "woodgrove", "--as", Self.fabrikamAdmin],
                          ["revocation", "file", "--partner", "woodgrove", "--as", Self.fabrikamAdmin, "--reason", "not mine"]] {
            Self.refused(try daemon.ctl(as: contoso, arguments), "PermissionDenied")
        }
        #expect(Self.strings(try Self.json(try daemon.ctl(["grants", "--tenant", "fabrikam", "--status", "active", "--json"]))["grants"], "partner")
                == ["woodgrove", "tailspin"])
        #expect(Self.strings(try Self.json(try daemon.ctl(["revocation", "list", "--json"]))["requests"], "id").isEmpty)

        // Ending its own relationship names the partner it no longer sees afterwards.
        let ended = Self.ok(try daemon.ctl(as: contoso, ["consent", "end", "--partner", "fourthcoffee", "--as", Self.admin]))
        #expect(ended.hasPrefix("Contoso no longer authorises Fourth Coffee to register devices.\n"), "\(ended)")
        #expect(Self.strings(try Self.json(try daemon.ctl(as: coffee, ["customers", "--partner", "fourthcoffee", "--json"]))["customers"], "grant").isEmpty)

        // Every refusal is in the audit log under the uid the daemon saw, and naming partners and tenants in the
        // output never caused one.
        let log = try daemon.ctl(["audit", "log", "--json"])
        let events = try #require(try JSON.parse(log.stdout).arrayValue, "\(log)").compactMap { $0.objectValue?["event"]?.objectValue }
        func refusals(_ user: TestUser) -> [String] {
            events.filter { $0["outcome"] == "PermissionDenied" && $0["actor"]?.stringValue?.hasPrefix("uid=\(user.uid) ") == true }
                .compactMap { $0["method"]?.stringValue }
        }
        #expect(refusals(coffee) == ["RequestResellerRelationship", "AcceptLink", "AcceptLink", "ListCustomers", "ListGrants",
                                     "ValidateSubmission"])
        #expect(refusals(woodgrove) == ["DescribeLink", "RevokeLink", "ListCustomers", "GetTenant"])
        #expect(refusals(contoso) == ["AcceptLink", "ListGrants", "RemoveDelegatedAdmin", "EndRelationship", "FileRevocationRequest"])
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
    }
}
