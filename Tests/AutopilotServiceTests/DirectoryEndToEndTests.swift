import AutopilotClient
import Foundation
import Testing
import Varlink

/// The foundation through the real daemon and the real autopilotctl: successes, every directory error, --json,
/// the reference varlink client, and a caller under another Unix uid.
@Suite(.serialized, .ownThread) struct DirectoryEndToEndTests {
    @Test func operatorBuildsTheDirectoryWithAutopilotctl() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }

        let tenant = try daemon.ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"])
        #expect(tenant.status == 0, "\(tenant)")
        #expect(tenant.stdout.contains("contoso.onmicrosoft.com"))
        #expect(try daemon.ctl(["tenant", "add-domain", "contoso", "contoso.com"]).status == 0)
        let account = try daemon.ctl(["account", "add", "admin@contoso.onmicrosoft.com", "--tenant", "contoso",
                                      "--role", "GlobalAdministrator"])
        #expect(account.status == 0, "\(account)")
        #expect(try daemon.ctl(["partner", "register", "Tailspin", "--kind", "indirectProvider", "--id", "tailspin"]).status == 0)
        let reseller = try daemon.ctl(["partner", "register", "Woodgrove", "--kind", "indirectReseller",
                                       "--provider", "tailspin", "--id", "woodgrove"])
        #expect(reseller.status == 0, "\(reseller)")

        let json = try daemon.ctl(["tenant", "show", "contoso", "--json"])
        #expect(json.status == 0)
        let reply = try JSON.parse(json.stdout).objectValue
        let t = try #require(reply?["tenant"]?.objectValue)
        #expect(t["id"] == "contoso")
        #expect(t["domains"] == ["contoso.onmicrosoft.com", "contoso.com"])

        let partners = try JSON.parse(try daemon.ctl(["partner", "list", "--json"]).stdout).objectValue
        let list = try #require(partners?["partners"]?.arrayValue)
        #expect(list.compactMap { $0.objectValue?["id"]?.stringValue } == ["tailspin", "woodgrove"])
        #expect(list.last?.objectValue?["provider"] == "tailspin")

        let table = try daemon.ctl(["partner", "list"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("Woodgrove") && table.stdout.contains("indirectReseller"))

        let status = try JSON.parse(try daemon.ctl(["status", "--json"]).stdout).objectValue
        #expect(status?["tenants"] == 1 && status?["partners"] == 2 && status?["schemaVersion"]?.intValue ?? 0 >= 4)
        let who = try JSON.parse(try daemon.ctl(["whoami", "--json"]).stdout).objectValue
        #expect(who?["role"] == "operator" && who?["uid"] == .int(Int(getuid())))

        // The options every command takes may come before the command too, with the environment pointing elsewhere.
        let elsewhere = ["AUTOPILOT_SOCKET": daemon.directory + "/nothing-here"]
        for arguments in [["--socket", daemon.socket, "--json", "whoami"], ["--json", "--socket=" + daemon.socket, "whoami"],
                          ["--socket", daemon.socket, "tenant", "show", "contoso", "--json"]] {
            let early = try daemon.ctl(arguments, environment: elsewhere)
            #expect(early.status == 0, "\(arguments): \(early)")
            #expect((try? JSON.parse(early.stdout))?.objectValue != nil, "\(arguments): \(early.stdout)")
        }
        #expect(try daemon.ctl(["whoami"], environment: elsewhere).status == 69)
    }

    @Test func everyDirectoryErrorReachesTheUserByName() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }
        #expect(try daemon.ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"]).status == 0)
        #expect(try daemon.ctl(["partner", "register", "Woodgrove", "--kind", "directCsp", "--id", "woodgrove"]).status == 0)

        let cases: [([String], String)] = [
            (["tenant", "create", "X", "--domain", "contoso.com"], "InvalidInput"),
            (["tenant", "create", "X", "--domain", "contoso.onmicrosoft.com"], "AlreadyExists"),
            (["tenant", "create", "X", "--domain", "x.onmicrosoft.com", "--id", "contoso"], "AlreadyExists"),
            (["tenant", "show", "ghost"], "NotFound"),
            (["tenant", "add-domain", "ghost", "ghost.com"], "NotFound"),
            (["account", "add", "eve@fabrikam.com", "--tenant", "contoso"], "InvalidInput"),
            (["account", "add", "bob@contoso.onmicrosoft.com", "--tenant", "contoso", "--role", "Superuser"], "InvalidInput"),
            (["account", "set-roles", "nobody@contoso.onmicrosoft.com", "--role", "GlobalReader"], "NotFound"),
            (["partner", "register", "Bad", "--kind", "indirectReseller"], "InvalidInput"),
            (["partner", "register", "Bad", "--kind", "indirectReseller", "--provider", "woodgrove"], "InvalidInput"),
            (["partner", "register", "woodgrove", "--kind", "directCsp"], "AlreadyExists"),
            (["partner", "register", "Bad", "--kind", "directCsp", "--oem-direct-api"], "InvalidInput"),
            (["partner", "set-oem-eligibility", "woodgrove", "--eligible", "true"], "InvalidInput"),
            (["partner", "show", "ghost"], "NotFound"),
            (["access", "remove", "no-such-rule"], "NotFound"),
            (["access", "add", "--user", "0", "--role", "partner"], "InvalidInput"),
        ]
        for (arguments, error) in cases {
            let result = try daemon.ctl(arguments)
            #expect(result.status == 1, "\(arguments): \(result)")
            #expect(result.stderr.contains(error), "\(arguments): \(result)")
            #expect(result.stdout.isEmpty, "\(arguments): \(result)")
            #expect(!result.stderr.contains("Fatal error") && result.stderr.split(separator: "\n").count <= 2,
                    "\(arguments): \(result)")
        }
        // Refused calls change nothing.
        let status = try JSON.parse(try daemon.ctl(["status", "--json"]).stdout).objectValue
        #expect(status?["tenants"] == 1 && status?["partners"] == 1)
    }

    @Test func aStoppedDaemonGivesAOneLineHint() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("no-daemon-\(UUID().uuidString)").path
        let result = try runProgram(productsDirectory + "/autopilotctl", ["status"],
                                    environment: ["AUTOPILOT_SOCKET": directory + "/io.autopilotd.registry"])
        #expect(result.status == 69)
        #expect(result.stderr.contains("is the daemon running?"))
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result)")
    }

    @Test func protocolErrorsFollowTheContract() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }
        let connection = try daemon.connect()
        defer { connection.close() }
        func error(_ method: String, _ parameters: JSONObject) -> VarlinkError? {
            do {
                _ = try connection.call(method, parameters)
                return nil
            } catch let VarlinkClientError.remote(e) {
                return e
            } catch {
                return VarlinkError(name: "unexpected \(error)")
            }
        }
        #expect(error("io.autopilotd.registry.CreateTenant", ["name": "X"]) == .invalidParameter("domain"))
        #expect(error("io.autopilotd.registry.CreateTenant", ["name": 5, "domain": "x.onmicrosoft.com"]) == .invalidParameter("name"))
        #expect(error("io.autopilotd.registry.RegisterPartner", ["name": "X", "kind": "reseller"]) == .invalidParameter("kind"))
        #expect(error("io.autopilotd.registry.Nope", [:]) == .methodNotFound("io.autopilotd.registry.Nope"))
        #expect(error("io.autopilotd.registry.ListDevices", [:]) == .expectedMore)
        #expect(error("io.autopilotd.registry.AddAccessRule", ["role": "none", "uid": 5]) == .invalidParameter("role"))
        // InvalidParameter is checked before the caller's permissions; a good call then succeeds on the same connection.
        #expect(try connection.call("io.autopilotd.registry.WhoAmI", [:])["role"] == "operator")
    }

    @Test func referenceClientIntrospectsAndCallsTheDaemon() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }
        let address = "unix:" + daemon.socket
        let info = try runProgram("/usr/bin/env", ["python3", "-m", "varlink.cli", "info", address])
        #expect(info.status == 0 && info.stderr.isEmpty, "\(info)")
        #expect(info.stdout.contains("io.autopilotd.registry") && info.stdout.contains("org.varlink.service"))
        let help = try runProgram("/usr/bin/env", ["python3", "-m", "varlink.cli", "help", address + "/io.autopilotd.registry"])
        #expect(help.status == 0 && help.stderr.isEmpty, "\(help)")
        #expect(help.stdout.contains("method AcceptLink(") && help.stdout.contains("error StorageFull"))

        func call(_ method: String, _ parameters: String) throws -> CommandResult {
            try runProgram("/usr/bin/env", ["python3", "-m", "varlink.cli", "call",
                                            address + "/io.autopilotd.registry." + method, parameters])
        }
        // One method of each group, then an error, which the reference client reports on stderr.
        for (method, parameters) in [
            ("CreateTenant", #"{"name": "Contoso", "domain": "contoso.onmicrosoft.com", "id": "contoso"}"#),
            ("RegisterPartner", #"{"name": "Woodgrove", "kind": "directCsp", "id": "woodgrove"}"#),
            ("ListCustomers", #"{"partner": "woodgrove"}"#),
            ("ListBatches", #"{}"#),
            ("ListAccessRules", #"{}"#),
            ("VerifyAudit", #"{}"#),
            ("GetStatus", #"{}"#),
        ] {
            let result = try call(method, parameters)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(method): \(result)")
            #expect(result.stdout.hasPrefix("{"), "\(method): \(result)")
        }
        let refused = try call("GetTenant", #"{"tenant": "ghost"}"#)
        #expect(refused.stderr.contains("io.autopilotd.registry.NotFound"), "\(refused)")
    }

    @Test func anotherUnixUserIsRefusedUntilARuleGivesItARole() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let daemon = try TestDaemon(config: ["socket_mode = 0666"])
        defer { daemon.cleanup() }
        let user = try TestUser.make("ap-test-plain")
        #expect(try daemon.ctl(["partner", "register", "Woodgrove", "--kind", "directCsp", "--id", "woodgrove"]).status == 0)

        let who = try daemon.ctl(as: user, ["whoami", "--json"])
        #expect(who.status == 0, "\(who)")
        let before = try JSON.parse(who.stdout).objectValue
        #expect(before?["role"] == "none" && before?["uid"] == .int(Int(user.uid)))
        let refused = try daemon.ctl(as: user, ["tenant", "create", "X", "--domain", "x.onmicrosoft.com"])
        #expect(refused.status == 1 && refused.stderr.contains("PermissionDenied"), "\(refused)")
        let list = try daemon.ctl(as: user, ["partner", "list"])
        #expect(list.status == 1 && list.stderr.contains("PermissionDenied"), "\(list)")

        let added = try daemon.ctl(["access", "add", "--user", user.name, "--role", "partner", "--partner", "woodgrove"])
        #expect(added.status == 0, "\(added)")
        let after = try JSON.parse(try daemon.ctl(as: user, ["whoami", "--json"]).stdout).objectValue
        #expect(after?["role"] == "partner" && after?["partner"] == "woodgrove")
        let own = try daemon.ctl(as: user, ["partner", "show", "woodgrove"])
        #expect(own.status == 0, "\(own)")
        let operatorOnly = try daemon.ctl(as: user, ["partner", "register", "Evil", "--kind", "directCsp"])
        #expect(operatorOnly.status == 1 && operatorOnly.stderr.contains("PermissionDenied"), "\(operatorOnly)")

        // Both refusals of the uid are in the audit log with the uid and role the daemon saw.
        let events = try daemon.call("VerifyAudit")
        #expect(events["ok"] == true)
    }

    @Test func socketIsCreatedOwnerAndGroupOnlyAndStaleFilesAreReplaced() throws {
        let daemon = try TestDaemon()
        var st = stat()
        #expect(stat(daemon.socket, &st) == 0 && st.st_mode & 0o777 == 0o660)
        #expect(daemon.stop() == 0)
        // A crashed daemon leaves its socket file behind; the next start replaces it after a failed connect.
        _ = try? FileManager.default.removeItem(atPath: daemon.socket)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(daemon.socket.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        #expect(bound == 0)
        let restarted = try TestDaemon(directory: daemon.directory)
        defer { restarted.cleanup() }
        #expect(try restarted.call("GetStatus")["tenants"] == 0)
        // A live daemon's socket is never taken over.
        let second = Process()
        second.executableURL = URL(fileURLWithPath: productsDirectory + "/autopilotd")
        second.arguments = ["--socket", restarted.socket, "--database", restarted.directory + "/other.sqlite"]
        let err = Pipe()
        second.standardError = err
        try second.run()
        second.waitUntilExit()
        #expect(second.terminationStatus != 0)
        #expect(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).contains("already"))
        #expect(try restarted.call("GetStatus")["tenants"] == 0)
    }

    @Test func sigtermStopsCleanlyAndDataSurvivesARestart() throws {
        let daemon = try TestDaemon()
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        #expect(try daemon.ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com"]).status == 0)
        #expect(daemon.stop() == 0)
        #expect(daemon.log.contains("stopped"))
        #expect(!FileManager.default.fileExists(atPath: daemon.socket))
        let again = try TestDaemon(directory: daemon.directory)
        defer { again.stop() }
        #expect(try again.call("GetStatus")["tenants"] == 1)
    }
}
