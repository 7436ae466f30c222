import AutopilotClient
import AutopilotTestSupport
import Foundation
import Testing
import Varlink

/// Device registration through the real daemon and the real autopilotctl: CSV import of both forms, header and row
/// errors by line, 10,000 devices in one batch, re-runs, consent ending between imports, listing, deregistration,
/// export, batches, --json, and the progress bar.
@Suite(.serialized, .ownThread) struct DeviceEndToEndTests {
    static let contoso = "contoso", fabrikam = "fabrikam"
    static let csp = "woodgrove", oem = "litware", provider = "tailspin", reseller = "adatum"

    /// A daemon with tenants contoso and fabrikam, a direct CSP (woodgrove), an indirect provider and its reseller
    /// (tailspin, adatum) and an eligible OEM (litware); woodgrove holds consent from contoso.
    func startDaemon(config: [String] = []) throws -> TestDaemon {
        let daemon = try TestDaemon(config: config)
        try daemon.addTenant(Self.contoso)
        try daemon.addTenant(Self.fabrikam)
        try daemon.addPartner(Self.csp, kind: "directCsp")
        try daemon.addPartner(Self.provider, kind: "indirectProvider")
        try daemon.addPartner(Self.reseller, kind: "indirectReseller", provider: Self.provider)
        try daemon.addPartner(Self.oem, kind: "oem")
        try daemon.giveConsent(partner: Self.csp, tenant: Self.contoso)
        return daemon
    }

    func importing(_ daemon: TestDaemon, _ file: String, partner: String = csp, tenant: String = contoso,
                   _ extra: [String] = []) throws -> CommandResult {
        try daemon.ctl(["devices", "import", file, "--partner", partner, "--tenant", tenant] + extra)
    }

    /// The batch id at the end of an import's summary line.
    func batchID(_ result: CommandResult) -> String? {
        guard let summary = result.stdout.split(separator: "\n").last, let start = summary.range(of: "(batch ") else {
            return nil
        }
        return String(summary[start.upperBound...].dropLast())
    }

    func deviceCount(_ daemon: TestDaemon) throws -> Int? { try daemon.call("GetStatus")["devices"]?.intValue }

    func json(_ result: CommandResult) throws -> JSONValue { try JSON.parse(result.stdout) }

    // MARK: importing

    @Test func bothCSVFormsImportIntoBatchesThatCanBeListedAndShown() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let intune = try importing(daemon, serviceFixture("intune-good.csv"))
        #expect(intune.status == 0, "\(intune)")
        #expect(intune.stdout.hasPrefix("registered 5, failed 0 (batch "), "\(intune)")
        #expect(intune.stdout.split(separator: "\n").count == 1 && intune.stderr.isEmpty, "\(intune)")
        let partnerCenter = try importing(daemon, serviceFixture("partner-center-good.csv"), ["--name", "HP and Lenovo"])
        #expect(partnerCenter.status == 0, "\(partnerCenter)")
        #expect(partnerCenter.stdout.hasPrefix("registered 6, failed 0 (batch "), "\(partnerCenter)")
        #expect(try deviceCount(daemon) == 11)

        let batches = try daemon.ctl(["batch", "list", "--partner", Self.csp])
        #expect(batches.status == 0, "\(batches)")
        let rows = batches.stdout.split(separator: "\n")
        #expect(rows.count == 3 && rows[0].hasPrefix("ID") && rows[0].contains("SUBMITTED"), "\(batches)")
        #expect(rows[1].contains("intune-good.csv") && rows[1].contains("finished") && rows[1].contains("upload"))
        #expect(rows[2].contains("HP and Lenovo"))
        let listed = try json(try daemon.ctl(["batch", "list", "--json"])).objectValue?["batches"]?.arrayValue ?? []
        #expect(listed.compactMap { $0.objectValue?["submitted"]?.intValue } == [5, 6])
        #expect(listed.compactMap { $0.objectValue?["status"]?.stringValue } == ["finished", "finished"])

        let id = try #require(batchID(intune))
        let show = try daemon.ctl(["batch", "show", id])
        #expect(show.status == 0 && show.stdout.contains("status:     finished"), "\(show)")
        #expect(show.stdout.contains("INDEX  LINE") && show.stdout.contains("    4     6  registered"), "\(show)")
        let shown = try json(try daemon.ctl(["batch", "show", id, "--json"])).objectValue
        #expect(shown?["batch"]?.objectValue?["registered"] == 5)
        let results = shown?["results"]?.arrayValue ?? []
        #expect(results.compactMap { $0.objectValue?["index"]?.intValue } == [0, 1, 2, 3, 4])

        let devices = try daemon.ctl(["devices", "list", "--tenant", Self.contoso])
        #expect(devices.status == 0 && devices.stdout.split(separator: "\n").count == 12, "\(devices)")
        #expect(devices.stdout.contains("PF3K0001X") && devices.stdout.contains("20XW003GUS"))
        let lenovo = try json(try daemon.ctl(["devices", "list", "--serial", "R90XK4L2", "--json"])).arrayValue ?? []
        let device = try #require(lenovo.first?.objectValue?["device"]?.objectValue)
        #expect(lenovo.count == 1 && device["manufacturer"] == "LENOVO" && device["productKey"] == "00330-80000-0000-AA123")
        let deviceID = try #require(device["id"]?.stringValue)
        let block = try daemon.ctl(["devices", "show", deviceID])
        #expect(block.status == 0 && block.stdout.contains("model:") && block.stdout.contains("20XW003GUS"), "\(block)")
        #expect(try json(try daemon.ctl(["devices", "show", deviceID, "--json"])).objectValue?["device"]?.objectValue?["id"]
            == .string(deviceID))
        let missing = try daemon.ctl(["devices", "show", "no-such-device"])
        #expect(missing.status == 1 && missing.stderr.contains("no device 'no-such-device'"), "\(missing)")

        // Hashes go in; only their SHA-256 ever comes out.
        let hash = try String(contentsOfFile: serviceFixture("intune-good.csv"), encoding: .utf8)
            .split(whereSeparator: \.isNewline)[1].split(separator: ",").last!
        let everything = try daemon.ctl(["devices", "list", "--json"]).stdout
        #expect(!everything.contains(String(hash.prefix(40))))
        #expect(everything.components(separatedBy: "\"hardwareHashSha256\": \"").count == 5)
    }

    @Test func aHeaderSpelledInOtherCapitalsIsTheSameHeader() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let result = try importing(daemon, serviceFixture("miscapitalised-header.csv"))
        #expect(result.status == 0 && result.stdout.hasPrefix("registered 1, failed 0"), "\(result)")
    }

    @Test(arguments: [
        ("bad-header-extra-column.csv", "an extra column 'Notes'"),
        ("bad-header-semicolons.csv", "unknown column 'Device Serial Number;Windows Product ID;Hardware Hash'"),
    ])
    func aWrongHeaderIsRefusedBeforeAnythingIsSent(file: String, reason: String) throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let result = try importing(daemon, serviceFixture(file))
        #expect(result.status == 65, "\(result)")
        #expect(result.stdout.isEmpty, "\(result)")
        #expect(result.stderr.contains("\(file), line 1: ") && result.stderr.contains(reason), "\(result)")
        #expect(result.stderr.contains("expected one of these header lines"), "\(result)")
        #expect(result.stderr.contains("  Device Serial Number,Windows Product ID,Hardware Hash\n"), "\(result)")
        #expect(result.stderr.contains("  Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model"),
                "\(result)")
        // Not even a batch was opened.
        #expect(try daemon.call("ListBatches")["batches"] == [])
        let methods = try daemon.stream("ListAuditEvents").compactMap { $0["event"]?.objectValue?["method"]?.stringValue }
        #expect(!methods.contains("CreateDeviceBatch"))
    }

    @Test func badRowsAreReportedByLineThenFixedAndReRun() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let file = serviceFixture("intune-bad-rows.csv")
        let result = try importing(daemon, file)
        #expect(result.status == 2, "\(result)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let expected: [(String, String)] = [
            ("line 3: InvalidZtdHardwareHash (802): ", "is not base64 text"),
            ("line 5: MissingZtdSerialNumberAndProductKey (803): ", "no usable identifier"),
            ("line 6: InvalidZtdRequestBody (801): ", "has 4 columns, expected 5"),
            ("line 7: ZtdDeviceDuplicated: ", "appears earlier in this upload"),
            ("line 8: InvalidZtdRequestBody (801): ", "eve@fabrikam.onmicrosoft.com is not in a domain of the tenant"),
            ("line 9: InvalidZtdRequestBody (801): ", "quote"),
            ("line 11: InvalidZtdHardwareHash (802): ", "decodes to 600 bytes; a hardware hash decodes to 1024 to 16384 bytes"),
        ]
        #expect(lines.count == expected.count + 1, "\(result)")
        for (line, (prefix, explanation)) in zip(lines, expected) {
            #expect(line.hasPrefix(prefix) && line.contains(explanation), "\(line)")
        }
        #expect(lines.last?.hasPrefix("registered 2, failed 7 (batch ") == true, "\(result)")
        #expect(try deviceCount(daemon) == 2)

        // --json gives every sent row its line, and the rows that were never sent.
        let dry = try daemon.ctl(["devices", "validate", file, "--partner", Self.csp, "--tenant", Self.contoso, "--json"])
        #expect(dry.status == 2, "\(dry)")
        let report = try json(dry).objectValue
        let results = report?["results"]?.arrayValue?.compactMap(\.objectValue) ?? []
        #expect(results.compactMap { $0["line"]?.intValue } == [2, 3, 5, 7, 8, 10, 11])
        #expect(results.compactMap { $0["errorCode"]?.intValue } == [806, 802, 803, 801, 806, 802])
        #expect(results[3]["errorName"] == "ZtdDeviceDuplicated" && results[3]["errorCode"] == .null)
        let local = report?["localErrors"]?.arrayValue?.compactMap(\.objectValue) ?? []
        #expect(local.compactMap { $0["line"]?.intValue } == [6, 9])
        #expect(local.allSatisfy { $0["errorName"] == "InvalidCsvRow" })
        #expect(report?["consented"] == true)
        #expect(try deviceCount(daemon) == 2)

        // import --json: the batch as it ended, and every result with its line. An upload sends every row, the
        // unreadable ones too: the daemon keeps their results, by line, with the batch.
        let again = try importing(daemon, file, ["--json"])
        #expect(again.status == 2, "\(again)")
        let imported = try json(again).objectValue
        let batch = imported?["batch"]?.objectValue
        #expect(batch?["submitted"] == 9 && batch?["registered"] == 0 && batch?["failed"] == 9
            && batch?["status"] == "finishedWithErrors")
        let rows = imported?["results"]?.arrayValue?.compactMap(\.objectValue) ?? []
        #expect(rows.compactMap { $0["line"]?.intValue } == [2, 3, 5, 6, 7, 8, 9, 10, 11])
        #expect(rows.compactMap { $0["index"]?.intValue } == Array(0..<9))
        #expect(rows.compactMap { $0["errorName"]?.stringValue }.first == "ZtdDeviceAlreadyAssigned")
        #expect(imported?["localErrors"]?.arrayValue?.count == 0)
        let stored = try daemon.call("GetBatch", ["batch": batch?["id"] ?? .null])["results"]?.arrayValue ?? []
        #expect(stored.compactMap { $0.objectValue?["line"]?.intValue } == [2, 3, 5, 6, 7, 8, 9, 10, 11])

        // The partner fixes the lines reported and imports the whole file again.
        var text = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        let freshHash = SyntheticHardwareHash(seed: 2, serialNumber: "PF3L0002X").text()
        text[2] = "PF3L0002X,,\(freshHash),Sales,"
        text[4] = "PF3L0003X,00329-00000-0003-AB003,,Sales,"
        text[5] += ","
        text[6] = "PF3L0005X,00329-00000-0003-AB005,,Sales,"
        text[7] = text[7].replacingOccurrences(of: "eve@fabrikam.onmicrosoft.com", with: "eve@contoso.onmicrosoft.com")
        text[8] = text[8].replacingOccurrences(of: "\"", with: "")
        text[10] = "PF3L0009X,00329-00000-0003-AB009,,Sales,"
        let fixed = daemon.directory + "/intune-fixed.csv"
        try text.joined(separator: "\n").write(toFile: fixed, atomically: true, encoding: .utf8)
        let rerun = try importing(daemon, fixed)
        #expect(rerun.status == 2, "\(rerun)")
        let rerunLines = rerun.stdout.split(separator: "\n")
        #expect(rerunLines.count == 3, "\(rerun)")
        #expect(rerunLines[0].hasPrefix("line 2: ZtdDeviceAlreadyAssigned (806): "), "\(rerun)")
        #expect(rerunLines[1].hasPrefix("line 10: ZtdDeviceAlreadyAssigned (806): "), "\(rerun)")
        #expect(rerunLines[2].hasPrefix("registered 7, failed 2 (batch "), "\(rerun)")
        #expect(try deviceCount(daemon) == 9)
    }

    @Test func tenThousandDevicesGoInCallsOfAThousandIntoOneBatchAndReRunningDoublesNothing() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let count = 10_000
        let path = daemon.directory + "/ten-thousand.csv"
        var text = "Device Serial Number,Windows Product ID,Hardware Hash\n"
        text.reserveCapacity(count * 4020)
        for i in 0..<count {
            let serial = "PF\(String(format: "%08d", i))"
            text += "\(serial),,\(SyntheticHardwareHash(seed: UInt64(i), serialNumber: serial).text())\n"
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        #expect(text.split(separator: "\n")[1].split(separator: ",").last!.count == 4000)

        let first = try importing(daemon, path)
        #expect(first.status == 0, "\(first.status) \(first.stderr)")
        #expect(first.stdout.hasPrefix("registered 10000, failed 0 (batch "), "\(first.stdout.prefix(500))")
        // Piped output: no progress bar, nothing on stderr at all.
        #expect(first.stderr.isEmpty, "\(first.stderr)")
        let id = try #require(batchID(first))
        let events = try daemon.stream("ListAuditEvents").compactMap { $0["event"]?.objectValue }
        #expect(events.filter { $0["method"] == "CreateDeviceBatch" }.count == 1)
        #expect(events.filter { $0["method"] == "UploadDeviceCsv" && $0["outcome"] == "ok" }.count == count / 1000)
        let batch = try daemon.call("GetBatch", ["batch": .string(id)])
        #expect(batch["batch"]?.objectValue?["submitted"] == .int(count))
        let indexes = batch["results"]?.arrayValue?.compactMap { $0.objectValue?["index"]?.intValue } ?? []
        #expect(indexes == Array(0..<count))
        #expect(try deviceCount(daemon) == count)
        // batch show reads the results in pages, and prints them all.
        let shown = try json(try daemon.ctl(["batch", "show", id, "--json"])).objectValue
        #expect(shown?["batch"] == batch["batch"])
        #expect(shown?["results"]?.arrayValue?.compactMap { $0.objectValue?["index"]?.intValue } == Array(0..<count))
        let table = try daemon.ctl(["batch", "show", id])
        #expect(table.status == 0 && table.stdout.split(separator: "\n").filter { $0.contains(" registered ") }.count == count)

        let again = try importing(daemon, path)
        #expect(again.status == 2, "\(again.status) \(again.stderr)")
        let lines = again.stdout.split(separator: "\n")
        #expect(lines.count == count + 1)
        #expect(lines.dropLast().allSatisfy { $0.contains(": ZtdDeviceAlreadyAssigned (806): ") })
        #expect(lines.first?.hasPrefix("line 2: ") == true && lines[count - 1].hasPrefix("line \(count + 1): "))
        #expect(lines.last?.hasPrefix("registered 0, failed 10000 (batch ") == true)
        #expect(try deviceCount(daemon) == count)
        #expect(try daemon.stream("ListDevices", ["batch": .string(id)]).count == count)
    }

    @Test func theProgressBarShowsOnATerminalOnly() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        try daemon.giveConsent(partner: Self.csp, tenant: Self.fabrikam)
        func file(_ name: String, prefix: String) throws -> String {
            let path = daemon.directory + "/" + name
            let rows = (0..<2500).map { "\(prefix)\($0),00329-\(prefix)-\(String(format: "%05d", $0))," }
            try (["Device Serial Number,Windows Product ID,Hardware Hash"] + rows).joined(separator: "\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let piped = try importing(daemon, try file("piped.csv", prefix: "P"))
        #expect(piped.status == 0 && piped.stderr.isEmpty, "\(piped)")
        #expect(!piped.stdout.contains("\r") && !piped.stdout.contains("%"), "\(piped)")

        let command = [productsDirectory + "/autopilotctl", "devices", "import", try file("tty.csv", prefix: "T"),
                       "--partner", Self.csp, "--tenant", Self.fabrikam].joined(separator: " ")
        let terminal = try runProgram("/usr/bin/script", ["-qec", command, "/dev/null"],
                                      environment: ["AUTOPILOT_SOCKET": daemon.socket])
        #expect(terminal.status == 0, "\(terminal)")
        #expect(terminal.stdout.contains("line 1001  registered 1000  failed 0"), "\(terminal)")
        #expect(terminal.stdout.contains("line 2001  registered 2000  failed 0"), "\(terminal)")
        #expect(terminal.stdout.contains("%") && terminal.stdout.contains("[#"), "\(terminal)")
        #expect(terminal.stdout.contains("registered 2500, failed 0 (batch "), "\(terminal)")
    }

    @Test func aMachineNamedAgainInALaterPartIsARepeatInValidationAndImportAlike() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let real = try realDataRow(machineFile: "churlbap_ponise__")
        // 1,500 rows of the Intune form with group tags: a real machine by its hash on line 2, then product keys.
        var rows = ["\(real.serial),,\(real.hash),Lobby,"]
        rows += (3...1501).map { "R\($0),00329-R-\(String(format: "%05d", $0)),,Sales," }
        // In the second part of 1,000 rows: line 1201 repeats line 13's product key, and line 1402 is the real
        // machine captured again after an update (other bytes, the same machine inside): both with another tag.
        rows[1201 - 2] = "X1201,00329-R-00013,,Other,"
        rows[1402 - 2] = ",,\(try recapture(real.hash, revision: 2)),Other,"
        let path = daemon.directory + "/far-repeats.csv"
        try (["Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User"] + rows)
            .joined(separator: "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        let expected = ["line 1201: ZtdDeviceDuplicated: the same device appears earlier in this file, on line 13; the row was not sent",
                        "line 1402: ZtdDeviceDuplicated: the same device appears earlier in this file, on line 2; the row was not sent"]
        func failures(_ result: CommandResult) -> [String] {
            result.stdout.split(separator: "\n").map(String.init).filter { $0.hasPrefix("line ") }
        }

        // The dry run answers what the import then does.
        let dry = try daemon.ctl(["devices", "validate", path, "--partner", Self.csp, "--tenant", Self.contoso])
        #expect(dry.status == 2 && failures(dry) == expected, "\(dry)")
        #expect(dry.stdout.contains("valid 1498, failed 2 (nothing was written)"), "\(dry)")
        let imported = try importing(daemon, path)
        #expect(imported.status == 2 && failures(imported) == expected, "\(imported)")
        #expect(imported.stdout.contains("registered 1498, failed 2 (batch "), "\(imported)")
        // Re-tagging with the same file: each machine takes the tag of its first row, never the repeat's.
        let again = try importing(daemon, path, ["--update-existing"])
        #expect(again.status == 2 && failures(again) == expected, "\(again)")
        #expect(again.stdout.contains("registered 0, updated 1498, failed 2 (batch "), "\(again)")
        #expect(try daemon.sql("SELECT group_tag, count(*) FROM devices GROUP BY group_tag ORDER BY group_tag")
                == "Lobby|1\nSales|1497")
        // The daemon numbered the results by the file's lines: the repeats were sent as blank lines.
        let batch = try #require(batchID(again))
        #expect(try daemon.sql("SELECT min(line), max(line), count(*) FROM device_results WHERE batch_id = '\(batch)'")
                == "2|1501|1498")
    }

    // MARK: consent and channels

    @Test func importWithBatchAddsToThatBatchAndRefusesAMismatchBeforeSending() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let first = try importing(daemon, serviceFixture("intune-good.csv"))
        #expect(first.status == 0, "\(first)")
        let batch = try #require(batchID(first))

        // The same file into the same batch: every row is 806, the batch now holds both submissions.
        let again = try daemon.ctl(["devices", "import", serviceFixture("intune-good.csv"), "--batch", batch])
        #expect(again.status == 2, "\(again)")
        #expect(again.stdout.hasSuffix("registered 0, failed 5 (batch \(batch))\n"), "\(again)")
        let shown = try daemon.call("GetBatch", ["batch": .string(batch)])
        #expect(shown["batch"]?.objectValue?["submitted"] == 10 && shown["batch"]?.objectValue?["registered"] == 5)
        #expect(shown["results"]?.arrayValue?.last?.objectValue?["index"] == 9)
        #expect(try daemon.call("ListBatches")["batches"]?.arrayValue?.count == 1)

        // Checked before anything is sent.
        let before = try daemon.call("GetStatus")
        let wrongPartner = try daemon.ctl(["devices", "import", serviceFixture("partner-center-good.csv"),
                                           "--batch", batch, "--partner", Self.oem])
        #expect(wrongPartner.status == 65, "\(wrongPartner)")
        #expect(wrongPartner.stderr.contains("belongs to partner \(Self.csp), not \(Self.oem); nothing was sent"))
        let wrongTenant = try daemon.ctl(["devices", "import", serviceFixture("partner-center-good.csv"),
                                          "--batch", batch, "--tenant", Self.fabrikam])
        #expect(wrongTenant.status == 65 && wrongTenant.stderr.contains("not \(Self.fabrikam)"), "\(wrongTenant)")
        let unknown = try daemon.ctl(["devices", "import", serviceFixture("partner-center-good.csv"), "--batch", "ghost"])
        #expect(unknown.status == 1 && unknown.stderr.contains("NotFound"), "\(unknown)")
        let renamed = try daemon.ctl(["devices", "import", serviceFixture("partner-center-good.csv"), "--batch", batch,
                                      "--name", "x"])
        #expect(renamed.status == 64 && renamed.stderr.contains("--batch continues an existing one"), "\(renamed)")
        let neither = try daemon.ctl(["devices", "import", serviceFixture("partner-center-good.csv")])
        #expect(neither.status == 64 && neither.stderr.contains("--partner and --tenant are required"), "\(neither)")
        #expect(try daemon.call("GetStatus")["devices"] == before["devices"])
        #expect(try daemon.call("GetBatch", ["batch": .string(batch)])["batch"]?.objectValue?["submitted"] == 10)
    }

    @Test func endingConsentStopsTheNextImportAndTheNextCall() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        #expect(try importing(daemon, serviceFixture("intune-good.csv")).status == 0)
        let opened = try daemon.call("CreateDeviceBatch", ["partner": .string(Self.csp), "tenant": .string(Self.contoso),
                                                          "name": "still open", "channel": "api"])
        let batch = try #require(opened["batch"]?.objectValue?["id"])

        let ended = try daemon.ctl(["consent", "end", "--partner", Self.csp, "--as", TestDaemon.admin(Self.contoso)])
        #expect(ended.status == 0, "\(ended)")
        let refused = try importing(daemon, serviceFixture("partner-center-good.csv"))
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("ConsentRequired") && refused.stderr.contains("woodgrove"), "\(refused)")
        #expect(refused.stdout.isEmpty, "\(refused)")
        // A batch opened before the end is closed to new devices too.
        let connection = try daemon.connect()
        defer { connection.close() }
        let error = remoteError {
            _ = try connection.call("io.autopilotd.registry.AddDevices",
                                    ["batch": batch, "devices": [["productKey": "00329-00000-0003-AZ001"]]])
        }
        #expect(error == VarlinkError(name: "io.autopilotd.registry.ConsentRequired",
                                      parameters: ["partner": .string(Self.csp), "tenant": .string(Self.contoso)]))
        #expect(try deviceCount(daemon) == 5)
        let batches = try daemon.call("ListBatches")["batches"]?.arrayValue ?? []
        #expect(batches.count == 2)

        // An OEM's consent ends through a revocation request the operator approves.
        try daemon.giveConsent(partner: Self.oem, kind: "oem", tenant: Self.fabrikam)
        let api = ["--channel", "api"]
        #expect(try importing(daemon, serviceFixture("partner-center-good.csv"), partner: Self.oem,
                              tenant: Self.fabrikam, api).status == 0)
        let filed = try json(try daemon.ctl(["revocation", "file", "--partner", Self.oem, "--as",
                                             TestDaemon.admin(Self.fabrikam), "--reason", "contract ended", "--json"]))
        let request = try #require(filed.objectValue?["request"]?.objectValue?["id"]?.stringValue)
        #expect(try daemon.ctl(["revocation", "approve", request]).status == 0)
        let oemRefused = try importing(daemon, serviceFixture("partner-center-good.csv"), partner: Self.oem,
                                       tenant: Self.fabrikam, api)
        #expect(oemRefused.status == 1 && oemRefused.stderr.contains("ConsentRequired"), "\(oemRefused)")
    }

    @Test func channelsAndIdentifiersFollowThePartnerKind() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        try daemon.giveConsent(partner: Self.reseller, kind: "indirectReseller", tenant: Self.contoso)
        try daemon.giveConsent(partner: Self.oem, kind: "oem", tenant: Self.contoso)
        let resellerAPI = try importing(daemon, serviceFixture("partner-center-good.csv"), partner: Self.reseller,
                                        ["--channel", "api"])
        #expect(resellerAPI.status == 1 && resellerAPI.stderr.contains("ChannelNotAllowed"), "\(resellerAPI)")
        let oemUpload = try importing(daemon, serviceFixture("partner-center-good.csv"), partner: Self.oem,
                                      ["--channel", "upload"])
        #expect(oemUpload.status == 1 && oemUpload.stderr.contains("ChannelNotAllowed"), "\(oemUpload)")
        #expect(try daemon.call("ListBatches")["batches"] == [])
        // The OEM Direct API takes no hardware hashes: those rows fail, the product key row registers.
        let oemHashes = try importing(daemon, serviceFixture("intune-good.csv"), partner: Self.oem, ["--channel", "api"])
        #expect(oemHashes.status == 2, "\(oemHashes)")
        let lines = oemHashes.stdout.split(separator: "\n")
        #expect(lines.count == 5, "\(oemHashes)")
        for (line, number) in zip(lines, 2...5) {
            #expect(line.hasPrefix("line \(number): InvalidZtdRequestBody (801): an OEM registers devices by product key"),
                    "\(line)")
        }
        #expect(lines.last?.hasPrefix("registered 1, failed 4") == true, "\(oemHashes)")
        // The provider registers through its reseller's acceptance; the same devices are then 806 for it.
        let provider = try importing(daemon, serviceFixture("partner-center-good.csv"), partner: Self.provider)
        #expect(provider.status == 0, "\(provider)")
        let reseller = try importing(daemon, serviceFixture("partner-center-good.csv"), partner: Self.reseller)
        #expect(reseller.stdout.split(separator: "\n").dropLast().allSatisfy { $0.contains("(806)") }, "\(reseller)")
    }

    // MARK: deregistration and export

    @Test func deregisterThenExportAFileThatImportsAgain() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        #expect(try importing(daemon, serviceFixture("intune-good.csv")).status == 0)
        #expect(try importing(daemon, serviceFixture("partner-center-good.csv")).status == 0)
        // A virtual machine whose firmware left its serial number as a placeholder: only its hash names it.
        #expect(try importing(daemon, try realDataFile(containing: "AutopilotHWID@a5f2af5")).status == 0)

        let export = daemon.directory + "/export.csv"
        let exported = try daemon.ctl(["devices", "export", "--tenant", Self.contoso, "--output", export])
        // The devices registered by hash are written with the manufacturer, model and serial number their hash
        // names; the one known only by its hash cannot be written as an uploadable row: said, and exit 2.
        #expect(exported.status == 2, "\(exported)")
        #expect(exported.stderr.components(separatedBy: "skipped: it is identified only by its hardware hash").count == 2,
                "\(exported)")
        #expect(exported.stderr.contains("exported 11 devices to \(export), skipped 1"), "\(exported)")
        let csv = try String(contentsOfFile: export, encoding: .utf8)
        let rows = csv.split(separator: "\n")
        #expect(rows.first == "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model")
        #expect(rows.count == 12 && rows.contains("PF3K0005X,00329-00000-0003-AA606,,,")
            && rows.contains("R90XK4L1,,,LENOVO,20XW003GUS"), "\(csv)")
        #expect(!csv.contains("QEMU"), "\(csv)")
        let summary = try json(try daemon.ctl(["devices", "export", "--tenant", Self.contoso, "--output", export, "--json"]))
        #expect(summary.objectValue?["exported"] == 11 && summary.objectValue?["skipped"]?.arrayValue?.count == 1)
        let stdout = try daemon.ctl(["devices", "export", "--tenant", Self.contoso, "--partner", Self.csp])
        #expect(stdout.stdout == csv, "\(stdout)")
        // The machines read from hashes export as their tuples: importing the file again finds each of them.
        let intuneRow = try #require(rows.first { $0.hasPrefix("PF3K0001X,") })
        #expect(intuneRow.split(separator: ",", omittingEmptySubsequences: false).count == 5
            && !intuneRow.hasSuffix(",,"), "\(intuneRow)")

        // Deregister three ways; the row stays, with its time.
        let lenovo = try json(try daemon.ctl(["devices", "list", "--serial", "R90XK4L1", "--json"])).arrayValue?.first?
            .objectValue?["device"]?.objectValue
        let id = try #require(lenovo?["id"]?.stringValue)
        let byID = try daemon.ctl(["devices", "deregister", "--partner", Self.csp, "--device", id])
        #expect(byID.status == 0 && byID.stdout.hasPrefix("deregistered device \(id)\n"), "\(byID)")
        #expect(byID.stdout.contains("status:               deregistered") && byID.stdout.contains("deregistered: "))
        let byTuple = try daemon.ctl(["devices", "deregister", "--partner", Self.csp, "--serial", "5CG000101",
                                      "--manufacturer", "HP", "--model", "HP EliteBook 840 G8", "--tenant", Self.contoso])
        #expect(byTuple.status == 0, "\(byTuple)")
        let byKey = try json(try daemon.ctl(["devices", "deregister", "--partner", Self.csp, "--product-key",
                                             "00329-00000-0003-AA606", "--json"]))
        #expect(byKey.objectValue?["device"]?.objectValue?["status"] == "deregistered")
        #expect(byKey.objectValue?["device"]?.objectValue?["deregisteredAt"]?.stringValue?.hasSuffix("Z") == true)

        let shown = try daemon.ctl(["devices", "show", id])
        #expect(shown.status == 0 && shown.stdout.contains("status:               deregistered"), "\(shown)")
        let twice = try daemon.ctl(["devices", "deregister", "--partner", Self.csp, "--device", id])
        #expect(twice.status == 1 && twice.stderr.contains("DeviceError") && twice.stderr.contains("807"), "\(twice)")
        let unknown = try daemon.ctl(["devices", "deregister", "--partner", Self.csp, "--device", "nope"])
        #expect(unknown.status == 1 && unknown.stderr.contains("NotFound") && unknown.stderr.contains("nope"), "\(unknown)")
        let otherTenant = try daemon.ctl(["devices", "deregister", "--partner", Self.csp, "--serial", "CZC2B9",
                                          "--manufacturer", "Microsoft Corporation", "--model", "Surface Laptop 5",
                                          "--tenant", Self.fabrikam])
        #expect(otherTenant.status == 1 && otherTenant.stderr.contains("807"), "\(otherTenant)")
        let notOwn = try daemon.ctl(["devices", "deregister", "--partner", Self.oem, "--product-key", "00330-80000-0000-AA123"])
        #expect(notOwn.status == 1 && notOwn.stderr.contains("811"), "\(notOwn)")
        let halfTuple = try daemon.ctl(["devices", "deregister", "--partner", Self.csp, "--serial", "CZC2B9"])
        #expect(halfTuple.status == 64 && halfTuple.stderr.contains("--manufacturer and --model go together"), "\(halfTuple)")

        #expect(try daemon.ctl(["devices", "list"]).stdout.split(separator: "\n").count == 10)
        let all = try daemon.ctl(["devices", "list", "--all"])
        #expect(all.stdout.split(separator: "\n").count == 13 && all.stdout.contains("deregistered"), "\(all)")

        // The exported file imports again: rows still registered are 806, the deregistered ones register anew.
        let reimport = try importing(daemon, export)
        #expect(reimport.status == 2, "\(reimport)")
        let lines = reimport.stdout.split(separator: "\n")
        #expect(lines.dropLast().count == 8 && lines.dropLast().allSatisfy { $0.contains("(806)") }, "\(reimport)")
        #expect(lines.last?.hasPrefix("registered 3, failed 8 (batch ") == true, "\(reimport)")
        #expect(try deviceCount(daemon) == 12)
    }

    // MARK: the socket

    @Test func listDevicesStreamsWithMoreAndRefusesAPlainCall() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        #expect(try importing(daemon, serviceFixture("intune-good.csv")).status == 0)
        let connection = try daemon.connect()
        defer { connection.close() }
        #expect(remoteError { _ = try connection.call("io.autopilotd.registry.ListDevices", [:]) } == .expectedMore)
        var replies: [JSONObject] = []
        try connection.callMore("io.autopilotd.registry.ListDevices", ["tenant": .string(Self.contoso)]) { replies.append($0) }
        #expect(replies.count == 5 && replies.allSatisfy { $0.keys == ["device"] })
        let device = try #require(replies.first?["device"]?.objectValue)
        #expect(device.keys.sorted() == ["assignedUser", "batch", "deregisteredAt", "displayName", "groupTag",
                                         "hardwareHashSha256", "id", "manufacturer", "model", "partner", "productKey",
                                         "purchaseOrder", "registeredAt", "serialNumber", "status", "tenant"])
        var none: [JSONObject] = []
        try connection.callMore("io.autopilotd.registry.ListDevices", ["serialNumber": "nothing"]) { none.append($0) }
        #expect(none.count == 1 && none[0]["device"] == nil)
        // The connection still serves calls after the streams.
        #expect(try connection.call("io.autopilotd.registry.GetStatus", [:])["devices"] == 5)
    }

    @Test func aPartnerUserImportsForItselfAndSeesOnlyItsOwn() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let daemon = try startDaemon(config: ["socket_mode = 0666"])
        defer { daemon.cleanup() }
        let user = try TestUser.make("ap-test-devices")
        #expect(try daemon.ctl(["access", "add", "--user", user.name, "--role", "partner", "--partner", Self.csp]).status == 0)
        try daemon.giveConsent(partner: Self.oem, kind: "oem", tenant: Self.fabrikam)
        #expect(try importing(daemon, serviceFixture("partner-center-good.csv"), partner: Self.oem, tenant: Self.fabrikam,
                              ["--channel", "api"]).status == 0)
        let file = daemon.directory + "/mine.csv"
        try FileManager.default.copyItem(atPath: serviceFixture("intune-good.csv"), toPath: file)
        chmod(file, 0o644)
        let imported = try daemon.ctl(as: user, ["devices", "import", file, "--partner", Self.csp, "--tenant", Self.contoso])
        #expect(imported.status == 0 && imported.stdout.hasPrefix("registered 5, failed 0"), "\(imported)")
        let other = try daemon.ctl(as: user, ["devices", "import", file, "--partner", Self.oem, "--tenant", Self.fabrikam,
                                              "--channel", "api"])
        #expect(other.status == 1 && other.stderr.contains("PermissionDenied"), "\(other)")
        let listed = try daemon.ctl(as: user, ["devices", "list", "--json"])
        let devices = try json(listed).arrayValue ?? []
        #expect(devices.count == 5 && devices.allSatisfy { $0.objectValue?["device"]?.objectValue?["partner"] == "woodgrove" })
        let batches = try json(try daemon.ctl(as: user, ["batch", "list", "--json"])).objectValue?["batches"]?.arrayValue
        #expect(batches?.count == 1)
        // The OEM's device is in a tenant that gave Woodgrove no consent.
        let notOwn = try daemon.ctl(as: user, ["devices", "deregister", "--partner", Self.csp, "--serial", "CZC2B9",
                                               "--manufacturer", "Microsoft Corporation", "--model", "Surface Laptop 5"])
        #expect(notOwn.status == 1 && notOwn.stderr.contains("811"), "\(notOwn)")
        let own = try daemon.ctl(as: user, ["devices", "deregister", "--partner", Self.csp, "--product-key",
                                            "00329-00000-0003-AA606"])
        #expect(own.status == 0, "\(own)")
    }
}
