import AutopilotClient
import Foundation
import Testing
import Varlink

/// Consent after day one through the real daemon and autopilotctl, as real Unix users: DAP for a number of days, a
/// richer link extending consent, the partner ending its relationship, revocation requests withdrawn, and two watchers
/// that each see exactly their own consent changes, in order, across a restart of the daemon.
@Suite(.serialized, .ownThread) struct ConsentLifecycleEndToEndTests {
    static let contosoAdmin = "admin@contoso.onmicrosoft.com", fabrikamAdmin = "admin@fabrikam.onmicrosoft.com"
    static let helpdesk = "helpdesk@contoso.onmicrosoft.com"
    static let day: TimeInterval = 86_400

    /// A daemon whose clock is the time in `clock` (AUTOPILOTD_TEST_CLOCK_FILE), so days pass without sleeping.
    struct World {
        let daemon: TestDaemon
        let directory: String
        var clock: String { directory + "/clock" }
        var time: Date

        /// Sets the daemon's clock.
        mutating func set(_ date: Date) throws {
            time = date
            let text = ISO8601DateFormatter.string(from: date, timeZone: TimeZone(identifier: "UTC")!,
                                                   formatOptions: [.withInternetDateTime, .withFractionalSeconds])
            try (text + "\n").write(toFile: clock, atomically: true, encoding: .utf8)
        }

        mutating func pass(days: Double) throws { try set(time.addingTimeInterval(days * ConsentLifecycleEndToEndTests.day)) }
    }

    static func startDaemon(directory: String) throws -> TestDaemon {
        try TestDaemon(config: ["socket_mode = 0666"], environment: ["AUTOPILOTD_TEST_CLOCK_FILE": directory + "/clock"],
                       directory: directory)
    }

    /// Contoso and Fabrikam (each with its Global Administrator), the direct CSPs Woodgrove and Adatum.
    static func world() throws -> World {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autopilotd-life-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        var world = World(daemon: try startDaemon(directory: directory), directory: directory,
                          time: Date(timeIntervalSince1970: 1_796_212_800))  // 2026-12-02T12:00:00Z
        try world.set(world.time)
        try world.daemon.addTenant("contoso")
        try world.daemon.addTenant("fabrikam")
        _ = try world.daemon.call("AddAccount", ["tenant": "contoso", "upn": .string(helpdesk), "roles": ["GlobalReader"]])
        try world.daemon.addPartner("woodgrove", kind: "directCsp")
        try world.daemon.addPartner("adatum", kind: "directCsp")
        return world
    }

    static func link(_ daemon: TestDaemon, _ partner: String, dap: [String] = [], days: Int? = nil) throws -> String {
        var arguments = ["consent", "request", "--partner", partner]
        if !dap.isEmpty { arguments += ["--dap"] + dap.flatMap { ["--role", $0] } }
        if let days { arguments += ["--dap-days", String(days)] }
        let r = try daemon.ctl(arguments)
        #expect(r.status == 0, "\(r)")
        return String(r.stdout.split(separator: "\n").first ?? "")
    }

    static func ok(_ r: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 0, "\(r)", sourceLocation: sourceLocation)
    }

    static func refused(_ r: CommandResult, _ error: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 1 && r.stderr.hasPrefix("error: \(error): "), "\(r)", sourceLocation: sourceLocation)
    }

    /// `autopilotctl consent watch` as `user`, started and subscribed.
    static func watch(_ daemon: TestDaemon, as user: TestUser, _ arguments: [String]) throws -> InteractiveProcess {
        let process = try InteractiveProcess(
            user.commandLine(productsDirectory + "/autopilotctl", ["consent", "watch"] + arguments),
            environment: ["AUTOPILOT_SOCKET": daemon.socket])
        let deadline = Date().addingTimeInterval(60)
        while !process.errorOutput.contains("Watching consent changes") {
            guard Date() < deadline, process.process.isRunning else {
                throw TestFailure("the watch did not start: \(process.errorOutput)")
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return process
    }

    /// The next event a JSON watcher prints.
    static func nextEvent(_ watcher: InteractiveProcess) throws -> JSONObject {
        let line = try watcher.waitForLine { $0.hasPrefix("{") }
        return try #require(try JSON.parse(line).objectValue)
    }

    /// `kind tenant partner` of a JSON event, and its seq.
    static func summary(_ event: JSONObject) -> String {
        let grant = event["grant"]?.objectValue ?? [:]
        return "\(event["kind"]?.stringValue ?? "?") \(grant["tenant"]?.stringValue ?? "?") \(grant["partner"]?.stringValue ?? "?")"
    }

    @Test func twoWatchersEachSeeExactlyTheirChangesInOrderAcrossARestart() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        var world = try Self.world()
        defer { world.daemon.cleanup() }
        let d = world.daemon
        let partner = try TestUser.make("ap-life-woodgrove"), tenant = try TestUser.make("ap-life-contoso")
        Self.ok(try d.ctl(["access", "add", "--user", partner.name, "--role", "partner", "--partner", "woodgrove"]))
        Self.ok(try d.ctl(["access", "add", "--user", tenant.name, "--role", "tenant", "--tenant", "contoso",
                           "--account", Self.contosoAdmin]))
        // The partner's watcher prints JSON lines, the tenant's lines for people.
        let woodgrove = try Self.watch(d, as: partner, ["--json"])
        let contoso = try Self.watch(d, as: tenant, [])
        defer { woodgrove.terminate(); contoso.terminate() }

        // What each watcher must see, as "kind tenant partner", in this order.
        var expectedWoodgrove: [String] = [], expectedContoso: [String] = []
        func happened(_ summary: String) {
            let parts = summary.split(separator: " ")
            if parts[2] == "woodgrove" { expectedWoodgrove.append(summary) }
            if parts[1] == "contoso" { expectedContoso.append(summary) }
        }

        // Contoso accepts Woodgrove with DAP for 30 days, then Adatum; Fabrikam accepts Woodgrove.
        Self.ok(try d.ctl(as: tenant, ["consent", "accept", "--yes", try Self.link(d, "woodgrove", dap: ["GlobalReader"], days: 30)]))
        happened("granted contoso woodgrove")
        Self.ok(try d.ctl(as: tenant, ["consent", "accept", "--yes", try Self.link(d, "adatum")]))
        happened("granted contoso adatum")
        Self.ok(try d.ctl(["consent", "accept", "--yes", try Self.link(d, "woodgrove"), "--as", Self.fabrikamAdmin]))
        happened("granted fabrikam woodgrove")
        // A richer link extends Contoso's grant; the same link again changes nothing and tells nobody.
        let richer = try Self.link(d, "woodgrove", dap: ["GlobalReader", "IntuneAdministrator"], days: 60)
        Self.ok(try d.ctl(as: tenant, ["consent", "accept", "--yes", richer]))
        happened("extended contoso woodgrove")
        Self.ok(try d.ctl(as: tenant, ["consent", "accept", "--yes", richer]))
        // Contoso removes DAP, then gives it again for 10 days, which then pass.
        Self.ok(try d.ctl(as: tenant, ["consent", "remove-dap", "--partner", "woodgrove"]))
        happened("dapRemoved contoso woodgrove")
        Self.ok(try d.ctl(as: tenant, ["consent", "accept", "--yes", try Self.link(d, "woodgrove", dap: ["GlobalReader"], days: 10)]))
        happened("extended contoso woodgrove")
        try world.pass(days: 11)
        happened("dapExpired contoso woodgrove")
        let expired = try Self.nextEvent(woodgrove)
        // The watchers may be a little behind; the expiry comes in its place in the order whatever their pace.
        var seenWoodgrove = [expired]
        while Self.summary(seenWoodgrove.last!) != "dapExpired contoso woodgrove" {
            seenWoodgrove.append(try Self.nextEvent(woodgrove))
        }
        let grants = try JSON.parse(try d.ctl(["grants", "--tenant", "contoso", "--partner", "woodgrove", "--json"]).stdout)
        let grant = grants.objectValue?["grants"]?.arrayValue?.first?.objectValue
        #expect(grant?["delegatedAdmin"] == false && grant?["status"] == "active", "\(String(describing: grant))")

        // Woodgrove ends its relationship with Fabrikam from its side; Contoso ends Adatum's; the operator revokes
        // Woodgrove's at Contoso's request.
        let ended = try d.ctl(as: partner, ["consent", "end", "--partner", "woodgrove", "--tenant", "fabrikam"])
        #expect(ended.status == 0 && ended.stdout.contains("no longer registers devices for Fabrikam"), "\(ended)")
        happened("ended fabrikam woodgrove")
        Self.ok(try d.ctl(as: tenant, ["consent", "end", "--partner", "adatum"]))
        happened("ended contoso adatum")
        let filed = try JSON.parse(try d.ctl(as: tenant, ["revocation", "file", "--partner", "woodgrove", "--reason", "done", "--json"]).stdout)
        let request = filed.objectValue?["request"]?.objectValue?["id"]?.stringValue ?? ""
        Self.ok(try d.ctl(["revocation", "approve", request]))
        happened("revoked contoso woodgrove")

        while seenWoodgrove.count < expectedWoodgrove.count { seenWoodgrove.append(try Self.nextEvent(woodgrove)) }
        #expect(seenWoodgrove.map(Self.summary) == expectedWoodgrove)
        var seenContoso: [String] = []
        while seenContoso.count < expectedContoso.count {
            seenContoso.append(try contoso.waitForLine { $0.first?.isNumber == true })
        }
        let contosoSummaries = seenContoso.map { line -> String in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let tenantField = fields.first { $0.hasPrefix("tenant=") }?.dropFirst(7) ?? "?"
            let partnerField = fields.first { $0.hasPrefix("partner=") }?.dropFirst(8) ?? "?"
            return "\(fields[2]) \(tenantField) \(partnerField)"
        }
        #expect(contosoSummaries == expectedContoso)

        // Sequence numbers rise for each watcher, and are the registry's: every event the database keeps.
        let woodgroveSeqs = seenWoodgrove.compactMap { $0["seq"]?.intValue }
        let contosoSeqs = seenContoso.compactMap { Int($0.split(separator: " ").first ?? "") }
        #expect(woodgroveSeqs == woodgroveSeqs.sorted() && Set(woodgroveSeqs).count == woodgroveSeqs.count)
        #expect(contosoSeqs == contosoSeqs.sorted() && Set(contosoSeqs).count == contosoSeqs.count)
        let stored = try d.sql("SELECT count(*) || ' ' || max(seq) FROM consent_events")
        #expect(stored == "10 10", "\(stored)")
        #expect(Set(woodgroveSeqs + contosoSeqs).count == 10)
        let expiredEvent = try #require(seenWoodgrove.first { Self.summary($0) == "dapExpired contoso woodgrove" })
        #expect(expiredEvent["actor"] == "autopilotd")
        // The expiry happened at its instant: ten days after the second extension, while the clock jumped eleven.
        #expect(try d.sql("SELECT at = (SELECT dap_expires_at FROM grants WHERE partner_id = 'woodgrove' AND tenant_id = 'contoso') FROM consent_events WHERE kind = 'dapExpired'") == "1")
        // Every event but the expiry is matched by the audit event of the call that made it.
        #expect(try d.sql("""
            SELECT group_concat(method, ',') FROM
                (SELECT a.method FROM consent_events e JOIN audit_events a ON a.seq = e.audit_seq ORDER BY e.seq)
            """) == "AcceptLink,AcceptLink,AcceptLink,AcceptLink,RemoveDelegatedAdmin,AcceptLink,EndRelationship,EndRelationship,DecideRevocationRequest")

        // The daemon restarts: the watchers are told how to resume, and seq goes on from where it was.
        world.daemon.stop()
        #expect(woodgrove.finish() == 69)
        #expect(woodgrove.errorOutput.contains("consent watch --after \(woodgroveSeqs.last ?? 0)"), "\(woodgrove.errorOutput)")
        #expect(contoso.finish() == 69)
        let restarted = try Self.startDaemon(directory: world.directory)
        defer { restarted.stop() }
        let resumed = try Self.watch(restarted, as: partner, ["--json", "--after", String(woodgroveSeqs.last ?? 0)])
        defer { resumed.terminate() }
        Self.ok(try restarted.ctl(["consent", "accept", "--yes", try Self.link(restarted, "woodgrove"), "--as", Self.fabrikamAdmin]))
        let next = try Self.nextEvent(resumed)
        #expect(Self.summary(next) == "granted fabrikam woodgrove" && next["seq"]?.intValue == 11, "\(next)")

        // Ctrl-C ends a watch cleanly.
        kill(resumed.process.processIdentifier, SIGINT)
        #expect(resumed.finish() == 0, "\(resumed.errorOutput)")
    }

    @Test func dapDaysExtensionAndTheConsentPageThroughTheCommandLine() throws {
        var world = try Self.world()
        defer { world.daemon.cleanup() }
        let d = world.daemon
        // --dap-days needs --dap, and 1 to 730 days.
        let without = try d.ctl(["consent", "request", "--partner", "woodgrove", "--dap-days", "30"])
        #expect(without.status == 64 && without.stderr.contains("--dap"), "\(without)")
        for days in ["0", "731"] {
            Self.refused(try d.ctl(["consent", "request", "--partner", "woodgrove", "--dap", "--role", "GlobalReader",
                                    "--dap-days", days]), "InvalidInput")
        }
        let raw = try d.callError("RequestResellerRelationship", ["partner": "woodgrove", "delegatedAdmin": false, "dapDays": 5])
        #expect(raw?.name == "io.autopilotd.registry.InvalidInput" && raw?.parameters["field"] == "dapDays")

        // The customer is shown the consent page, with the DAP duration, and must type yes.
        let url = try Self.link(d, "woodgrove", dap: ["GlobalReader"], days: 30)
        for answer in ["no\n", "", "y\n"] {
            let declined = try d.ctl(["consent", "accept", url, "--as", Self.contosoAdmin], stdin: answer)
            #expect(declined.status == 1 && declined.stderr.contains("not accepted"), "\(declined)")
            #expect(declined.stderr.contains("for 30 days after you accept; they then end by themselves"), "\(declined)")
        }
        #expect(try d.sql("SELECT count(*) FROM grants") == "0")
        let accepted = try d.ctl(["consent", "accept", url, "--as", Self.contosoAdmin], stdin: " YES \n")
        #expect(accepted.status == 0 && accepted.stdout.contains("GlobalReader"), "\(accepted)")
        let shown = try d.ctl(["grants", "--tenant", "contoso"])
        #expect(shown.stdout.contains("DAP ENDS") && shown.stdout.contains("2027-01-01T12:00:00.000Z"), "\(shown)")

        // A link without DAP over it changes nothing; one asking for more roles extends it in place.
        let same = try JSON.parse(try d.ctl(["consent", "accept", "--yes", try Self.link(d, "woodgrove"), "--as", Self.contosoAdmin,
                                             "--json"]).stdout)
        #expect(same.objectValue?["grants"]?.arrayValue?.first?.objectValue?["roles"] == ["GlobalReader"])
        let more = try JSON.parse(try d.ctl(["consent", "accept", "--yes",
                                             try Self.link(d, "woodgrove", dap: ["CloudDeviceAdministrator"], days: 5),
                                             "--as", Self.contosoAdmin, "--json"]).stdout)
        let grant = more.objectValue?["grants"]?.arrayValue?.first?.objectValue
        #expect(grant?["roles"] == ["GlobalReader", "CloudDeviceAdministrator"])
        #expect(grant?["dapExpiresAt"] == "2027-01-01T12:00:00.000Z", "the earlier end of a shorter link does not shorten DAP")
        #expect(try d.sql("SELECT group_concat(kind) FROM (SELECT kind FROM consent_events ORDER BY seq)") == "granted,extended")
        #expect(try d.sql("SELECT count(*) FROM grants") == "1")

        // Thirty days later, DAP has ended in every answer and in the auditors' view of consent.
        try world.pass(days: 30)
        let check = try JSON.parse(try d.ctl(["consent", "verify", "--partner", "woodgrove", "--tenant", "contoso", "--json"]).stdout)
        #expect(check.objectValue?["consented"] == true)
        #expect(check.objectValue?["grant"]?.objectValue?["delegatedAdmin"] == false, "\(check)")
        #expect(try d.sql("SELECT dap_expires_at FROM consent_history") == "2027-01-01T12:00:00.000Z")
    }

    @Test func aPartnerEndsItsOwnRelationshipAndNothingElse() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let world = try Self.world()
        defer { world.daemon.cleanup() }
        let d = world.daemon
        let woodgrove = try TestUser.make("ap-life-woodgrove")
        Self.ok(try d.ctl(["access", "add", "--user", woodgrove.name, "--role", "partner", "--partner", "woodgrove"]))
        for partner in ["woodgrove", "adatum"] {
            Self.ok(try d.ctl(["consent", "accept", "--yes", try Self.link(d, partner), "--as", Self.contosoAdmin]))
        }
        Self.refused(try d.ctl(as: woodgrove, ["consent", "end", "--partner", "adatum", "--tenant", "contoso"]), "PermissionDenied")
        Self.refused(try d.ctl(as: woodgrove, ["consent", "end", "--partner", "woodgrove", "--as", Self.contosoAdmin]),
                     "PermissionDenied")
        let both = try d.ctl(as: woodgrove, ["consent", "end", "--partner", "woodgrove", "--tenant", "contoso", "--as", Self.contosoAdmin])
        #expect(both.status == 64, "\(both)")
        Self.refused(try d.ctl(as: woodgrove, ["consent", "end", "--partner", "woodgrove", "--tenant", "fabrikam"]), "NotFound")
        let raw = try d.callError("EndRelationship", ["partner": "woodgrove"])
        #expect(raw?.name == "io.autopilotd.registry.InvalidInput" && raw?.parameters["field"] == "tenant", "\(String(describing: raw))")

        Self.ok(try d.ctl(as: woodgrove, ["consent", "end", "--partner", "woodgrove", "--tenant", "contoso"]))
        #expect(try d.sql("SELECT partner_id || ' ' || status || ' ' || ifnull(end_reason, '-') || ' ' || ifnull(ended_by, '-') FROM grants ORDER BY partner_id")
                == "adatum active - -\nwoodgrove ended endedByPartner partner:woodgrove")
        let devices = try d.callError("CreateDeviceBatch", ["partner": "woodgrove", "tenant": "contoso", "name": "after", "channel": "api"])
        #expect(devices?.name == "io.autopilotd.registry.ConsentRequired")
        #expect(try d.sql("SELECT outcome FROM audit_events WHERE method = 'EndRelationship' ORDER BY seq")
                == "PermissionDenied\nPermissionDenied\nNotFound\nInvalidInput\nok")
    }

    @Test func aTenantWithdrawsItsOneOpenRequest() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        var world = try Self.world()
        defer { world.daemon.cleanup() }
        let d = world.daemon
        let admin = try TestUser.make("ap-life-contoso"), desk = try TestUser.make("ap-life-desk")
        let fabrikam = try TestUser.make("ap-life-fabrikam")
        Self.ok(try d.ctl(["access", "add", "--user", admin.name, "--role", "tenant", "--tenant", "contoso", "--account", Self.contosoAdmin]))
        Self.ok(try d.ctl(["access", "add", "--user", desk.name, "--role", "tenant", "--tenant", "contoso", "--account", Self.helpdesk]))
        Self.ok(try d.ctl(["access", "add", "--user", fabrikam.name, "--role", "tenant", "--tenant", "fabrikam", "--account", Self.fabrikamAdmin]))
        Self.ok(try d.ctl(["consent", "accept", "--yes", try Self.link(d, "woodgrove"), "--as", Self.contosoAdmin]))

        let filed = try JSON.parse(try d.ctl(as: admin, ["revocation", "file", "--partner", "woodgrove", "--reason", "ended", "--json"]).stdout)
        let id = filed.objectValue?["request"]?.objectValue?["id"]?.stringValue ?? ""
        let twice = try d.ctl(as: admin, ["revocation", "file", "--partner", "woodgrove", "--reason", "again"])
        #expect(twice.status == 1 && twice.stderr.contains("AlreadyExists") && twice.stderr.contains(id), "\(twice)")
        Self.refused(try d.ctl(as: desk, ["revocation", "withdraw", id]), "GlobalAdminRequired")
        Self.refused(try d.ctl(as: fabrikam, ["revocation", "withdraw", id]), "PermissionDenied")
        let withdrawn = try d.ctl(as: admin, ["revocation", "withdraw", id])
        #expect(withdrawn.status == 0 && withdrawn.stdout.contains("Withdrawn") && withdrawn.stdout.contains("withdrawn"), "\(withdrawn)")
        Self.refused(try d.ctl(as: admin, ["revocation", "withdraw", id]), "AlreadyDecided")
        Self.refused(try d.ctl(["revocation", "approve", id]), "AlreadyDecided")
        let listed = try d.ctl(["revocation", "list", "--status", "withdrawn"])
        #expect(listed.stdout.contains(id), "\(listed)")
        // Consent stands, and the tenant may ask again.
        #expect(try d.sql("SELECT status FROM grants") == "active")
        try world.pass(days: 1)
        Self.ok(try d.ctl(as: admin, ["revocation", "file", "--partner", "woodgrove", "--reason", "now really"]))
        #expect(try d.sql("SELECT group_concat(status) FROM (SELECT status FROM revocation_history ORDER BY requested_at)")
                == "withdrawn,open")
    }
}
