import AutopilotClient
import AutopilotTestSupport
import Foundation
import Testing
import Varlink

/// Crashes, signals, a full disk, bad database files and concurrent load, against the real daemon: nothing that was
/// acknowledged is lost, nothing is half written, the database stays sound, and the audit chain verifies.
@Suite(.serialized, .ownThread) struct FaultTests {
    /// Rows of the crash test's CSV: more than 20 AddDevices calls of 1,000.
    static let importRows = 20_500
    static let callSize = 1_000
    /// Rows with an invalid hash, so every import reports some failures (802) as it goes.
    static func invalidRow(_ row: Int) -> Bool { row % 997 == 13 }

    @Test func killDuringImportKeepsEveryAcknowledgedCallWholeAndNoCallInPart() throws {
        let first = try TestDaemon()
        defer { try? FileManager.default.removeItem(atPath: first.directory) }
        try first.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let csv = first.directory + "/devices.csv"
        try DeviceCSVFixture.write(rows: Self.importRows, to: csv, invalid: Self.invalidRow)
        let importArguments = ["devices", "import", csv, "--partner", "woodgrove", "--tenant", "contoso"]

        let importer = LockedBox<Result<CommandResult, any Error>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let result = Result { try first.ctl(importArguments) }
            importer.mutate { $0 = result }
            finished.signal()
        }
        // Kill once several calls are in, while the next one is being written.
        var submitted = 0
        let deadline = Date().addingTimeInterval(180)
        while submitted < 5 * Self.callSize && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
            submitted = try Self.batches(first).first?["submitted"]?.intValue ?? 0
        }
        first.kill9()
        finished.wait()
        try #require(submitted >= 5 * Self.callSize && submitted < Self.importRows,
                     "the import stalled or finished before the kill (\(submitted) devices)")
        let interrupted = try #require(importer.value).get()

        // What autopilotctl saw acknowledged: it reports its counts when the connection drops.
        #expect(interrupted.status == 76, "\(interrupted)")
        let progress = try Regex(#"registered (\d+), failed (\d+) so far \(batch ([0-9a-f-]+)\)"#)
        let match = try #require(interrupted.stderr.firstMatch(of: progress), "\(interrupted)")
        let acknowledged = Int(match.output[1].substring!)! + Int(match.output[2].substring!)!
        let batch = String(match.output[3].substring!)
        #expect(acknowledged > 0 && acknowledged % Self.callSize == 0, "\(interrupted)")

        let daemon = try TestDaemon(directory: first.directory)
        defer { daemon.stop() }
        #expect(try daemon.sql("PRAGMA integrity_check") == "ok")
        #expect(try daemon.sql("PRAGMA foreign_key_check") == "")

        // Whole calls only: the batch holds the acknowledged calls, plus at most the one in flight if it committed.
        let counters = try daemon.sql("SELECT submitted, registered, failed FROM batches WHERE id = '\(batch)'")
            .split(separator: "|").compactMap { Int($0) }
        try #require(counters.count == 3, "no batch \(batch)")
        let stored = counters[0]
        #expect(stored == acknowledged || stored == acknowledged + Self.callSize, "\(stored) vs \(acknowledged)")
        let expectedSerials = Set((0..<stored).filter { !Self.invalidRow($0) }.map(DeviceCSVFixture.serial))
        #expect(counters[1] == expectedSerials.count && counters[2] == stored - expectedSerials.count)
        let results = try daemon.sql("""
            SELECT count(*), ifnull(max(idx), -1), sum(status = 'registered') FROM device_results WHERE batch_id = '\(batch)'
            """)
        #expect(results == "\(stored)|\(stored - 1)|\(expectedSerials.count)")
        let serials = try daemon.sql("SELECT serial_number FROM devices WHERE batch_id = '\(batch)'")
            .split(separator: "\n").map(String.init)
        #expect(serials.count == expectedSerials.count && Set(serials) == expectedSerials,
                "the devices stored are not exactly the first \(stored) rows' valid ones")
        #expect(try daemon.sql("SELECT count(*) FROM hardware_hashes") == "\(expectedSerials.count)")
        #expect(try daemon.sql("""
            SELECT count(*) FROM audit_events WHERE method = 'UploadDeviceCsv' AND outcome = 'ok'
            """) == "\(stored / Self.callSize)")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)

        // Importing the file again into the same batch, as autopilotctl suggested, completes it: rows already in come
        // back as 806, the rest are registered.
        #expect(interrupted.stderr.contains("run the same import again with --batch \(batch)"), "\(interrupted)")
        let again = try daemon.ctl(["devices", "import", csv, "--batch", batch])
        #expect(again.status == 2, "\(again)")
        let lines = again.stdout.split(separator: "\n")
        let invalidTotal = (0..<Self.importRows).filter(Self.invalidRow).count
        #expect(lines.filter { $0.contains("ZtdDeviceAlreadyAssigned (806)") }.count == expectedSerials.count)
        #expect(lines.filter { $0.contains("InvalidZtdHardwareHash (802)") }.count == invalidTotal)
        let validTotal = Self.importRows - invalidTotal
        #expect(lines.last?.hasPrefix("registered \(validTotal - expectedSerials.count), "
                                      + "failed \(expectedSerials.count + invalidTotal) ") == true, "\(again)")
        #expect(try daemon.sql("SELECT count(*) FROM devices WHERE status = 'registered'") == "\(validTotal)")
        #expect(try daemon.sql("SELECT count(*) FROM batches") == "1")
        #expect(try daemon.sql("SELECT submitted, registered FROM batches WHERE id = '\(batch)'")
                == "\(stored + Self.importRows)|\(validTotal)")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
    }

    @Test func sigtermUnderLoadAnswersOrClosesEveryCallAndLosesNothingAcknowledged() throws {
        let daemon = try TestDaemon()
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let clients = 8, devicesPerCall = 100
        let batches = try (0..<clients).map { client in
            try daemon.call("CreateDeviceBatch", ["partner": "woodgrove", "tenant": "contoso",
                                                  "name": .string("load-\(client)"), "channel": "api"])["batch"]?
                .objectValue?["id"]?.stringValue ?? ""
        }
        let acknowledgedCalls = LockedBox(0)
        let path = daemon.socket

        // Each client alternates AddDevices into its own batch and CreateTenant until the daemon goes away.
        let work = LockedBox<[Result<SigtermClientLog, any Error>]?>(nil)
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let logs = (try? onThreads(clients) { client in
                Result { try Self.loadUntilClosed(path: path, client: client, batch: batches[client],
                                                  devicesPerCall: devicesPerCall, acknowledged: acknowledgedCalls) }
            }) ?? []
            work.mutate { $0 = logs }
            finished.signal()
        }
        let deadline = Date().addingTimeInterval(60)
        while acknowledgedCalls.value < 40 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        try #require(acknowledgedCalls.value >= 40, "the clients made no progress")
        kill(daemon.pid, SIGTERM)
        daemon.process.waitUntilExit()
        finished.wait()
        #expect(daemon.process.terminationStatus == 0, "\(daemon.log)")
        #expect(daemon.log.contains("stopped"))
        #expect(!daemon.log.contains("InternalError") && !daemon.log.contains("call failed"), "\(daemon.log)")
        let logs = try #require(work.value).map { try $0.get() }
        #expect(logs.count == clients)
        for log in logs { #expect(log.unclean.isEmpty, "client \(log.client): \(log.unclean)") }

        let restarted = try TestDaemon(directory: daemon.directory)
        defer { restarted.stop() }
        #expect(try restarted.sql("PRAGMA integrity_check") == "ok")
        for log in logs {
            let counters = try restarted.sql("SELECT submitted, registered FROM batches WHERE id = '\(batches[log.client])'")
            let calls = log.deviceCalls.count
            #expect(counters == "\(calls * devicesPerCall)|\(calls * devicesPerCall)"
                    || counters == "\((calls + 1) * devicesPerCall)|\((calls + 1) * devicesPerCall)",
                    "client \(log.client): \(counters) after \(calls) acknowledged calls")
            let serials = Set(try restarted.sql("SELECT serial_number FROM devices WHERE batch_id = '\(batches[log.client])'")
                .split(separator: "\n").map(String.init))
            #expect(log.deviceCalls.allSatisfy { $0.isSubset(of: serials) }, "client \(log.client) lost devices")
            for tenant in log.tenants {
                #expect(try restarted.callError("GetTenant", ["tenant": .string(tenant)]) == nil, "lost tenant \(tenant)")
            }
        }
        #expect(try restarted.call("VerifyAudit")["ok"] == true)
    }

    /// What one client of the SIGTERM test had acknowledged, and anything that did not end cleanly.
    struct SigtermClientLog: Sendable {
        var client: Int
        var deviceCalls: [Set<String>] = []
        var tenants: [String] = []
        var unclean: [String] = []
    }

    /// Makes calls on one connection until the daemon closes it or refuses a new one; any other failure is unclean.
    static func loadUntilClosed(path: String, client: Int, batch: String, devicesPerCall: Int,
                                acknowledged: LockedBox<Int>) throws -> SigtermClientLog {
        var log = SigtermClientLog(client: client)
        var connection: VarlinkConnection
        do { connection = try VarlinkConnection(path: path) } catch { return log }
        for round in 0..<10_000 {
            let serials = (0..<devicesPerCall).map { "L\(client)-\(round)-\($0)" }
            let tenant = "load-\(client)-\(round)"
            let (method, parameters): (String, JSONObject) = round % 2 == 0
                ? ("AddDevices", ["batch": .string(batch), "devices": .array(serials.map {
                    .object(["serialNumber": .string($0), "manufacturer": "Contoso", "model": "M1"]) })])
                : ("CreateTenant", ["name": .string(tenant), "domain": .string("\(tenant).onmicrosoft.com"),
                                    "id": .string(tenant)])
            do {
                _ = try connection.call("io.autopilotd.registry." + method, parameters)
                if round % 2 == 0 { log.deviceCalls.append(Set(serials)) } else { log.tenants.append(tenant) }
                acknowledged.mutate { $0 += 1 }
            } catch VarlinkClientError.connectionClosed {
                // The daemon stopped; a new connection must be refused, or closed without an answer.
                do {
                    connection = try VarlinkConnection(path: path)
                    _ = try connection.call("io.autopilotd.registry.GetStatus")
                    log.unclean.append("a new connection was served after the daemon closed one")
                } catch VarlinkClientError.cannotConnect, VarlinkClientError.connectionClosed {
                } catch {
                    log.unclean.append("reconnecting: \(error)")
                }
                return log
            } catch {
                log.unclean.append("\(method): \(error)")
                return log
            }
        }
        log.unclean.append("the daemon never stopped")
        return log
    }

    @Test func fullDiskRefusesWritesWithStorageFullKeepsReadsAndRecoversWhenSpaceReturns() throws {
        let mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent("autopilotd-full-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let mounted = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=6m,mode=0755", "tmpfs", mountPoint])
        try #require(mounted.status == 0, "the suite must run as root and may mount a tmpfs: \(mounted)")
        defer { _ = try? runProgram("/bin/umount", ["-l", mountPoint]) }

        let daemon = try TestDaemon(config: ["socket_mode = 0666"], directory: mountPoint)
        defer { daemon.stop() }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let script = try CallScript.install(in: mountPoint)
        let stranger = try TestUser.make("ap-full-stranger")
        let batch = try #require(try daemon.call("CreateDeviceBatch", [
            "partner": "woodgrove", "tenant": "contoso", "name": "full", "channel": "api",
        ])["batch"]?.objectValue?["id"]?.stringValue)
        var random = SplitMix64(seed: 7)
        var nextSerial = 0
        func devices(_ count: Int) -> JSONValue {
            .array((0..<count).map { _ in
                nextSerial += 1
                let hash = SyntheticHardwareHash(seed: random.next(), serialNumber: "F\(nextSerial)").text()
                return .object(["serialNumber": .string("F\(nextSerial)"), "hardwareHash": .string(hash)])
            })
        }

        var acknowledgedDevices = 50
        #expect(try daemon.callError("AddDevices", ["batch": .string(batch), "devices": devices(50)]) == nil)

        // Fill the file system: the database files keep what they have, nothing more fits.
        let filler = mountPoint + "/filler"
        let fill = try runProgram("/bin/dd", ["if=/dev/zero", "of=" + filler, "bs=65536"])
        #expect(fill.status != 0 && fill.stderr.contains("No space left"), "\(fill)")

        var refusals = 0
        for _ in 0..<60 where refusals < 3 {
            let error = try daemon.callError("AddDevices", ["batch": .string(batch), "devices": devices(50)])
            if let error {
                #expect(error.name == "io.autopilotd.registry.StorageFull", "\(error)")
                refusals += 1
            } else {
                acknowledgedDevices += 50
            }
            let tenantError = try daemon.callError("CreateTenant", [
                "name": "Full", "domain": .string("full\(nextSerial).onmicrosoft.com")])
            #expect(tenantError == nil || tenantError?.name == "io.autopilotd.registry.StorageFull", "\(String(describing: tenantError))")
        }
        #expect(refusals == 3, "no write was refused on a full disk")

        // Reads keep working while the disk is full.
        #expect(try daemon.call("GetStatus")["devices"] == .int(acknowledgedDevices))
        #expect(try daemon.call("GetBatch", ["batch": .string(batch)])["batch"]?.objectValue?["submitted"] == .int(acknowledgedDevices))
        let streamed = try daemon.stream("ListDevices", ["batch": .string(batch)]).filter { $0["device"] != nil }
        #expect(streamed.count == acknowledgedDevices)
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
        // A caller without a role is still refused as such, though the refusal cannot be recorded.
        let refused = try CallScript.run([.init(method: "io.autopilotd.registry.CreateTenant",
                                                parameters: ["name": "X", "domain": "x.onmicrosoft.com"])],
                                         as: stranger, socket: daemon.socket, script: script)
        #expect(refused.first?.error == "io.autopilotd.registry.PermissionDenied", "\(refused.map(\.text))")

        // Space returns: the same daemon writes again.
        try FileManager.default.removeItem(atPath: filler)
        #expect(try daemon.callError("AddDevices", ["batch": .string(batch), "devices": devices(50)]) == nil)
        acknowledgedDevices += 50
        #expect(try daemon.callError("CreateTenant", ["name": "Back", "domain": "back.onmicrosoft.com"]) == nil)
        #expect(daemon.process.isRunning)
        #expect(try daemon.sql("PRAGMA integrity_check") == "ok")
        #expect(try daemon.sql("SELECT submitted, registered FROM batches WHERE id = '\(batch)'")
                == "\(acknowledgedDevices)|\(acknowledgedDevices)")
        #expect(try daemon.sql("SELECT count(*) FROM device_results WHERE batch_id = '\(batch)'") == "\(acknowledgedDevices)")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
    }

    /// How a bad database file is made, and what the daemon must say about it.
    struct BadDatabase: Sendable, CustomTestStringConvertible {
        var name: String
        var reason: String
        var make: @Sendable (_ path: String, _ registry: Data) throws -> Void
        var testDescription: String { name }
    }

    static let badDatabases: [BadDatabase] = [
        BadDatabase(name: "random bytes", reason: "file is not a database") { path, _ in
            var random = SplitMix64(seed: 3)
            try Data((0..<65_536).map { _ in UInt8.random(in: 0...255, using: &random) }).write(to: URL(fileURLWithPath: path))
        },
        BadDatabase(name: "a text file", reason: "file is not a database") { path, _ in
            try Data("device,serial\n1,2\n".utf8).write(to: URL(fileURLWithPath: path))
        },
        BadDatabase(name: "a registry with a damaged header", reason: "file is not a database") { path, registry in
            var bytes = registry
            bytes.replaceSubrange(0..<16, with: Data(repeating: 0x58, count: 16))
            try bytes.write(to: URL(fileURLWithPath: path))
        },
        BadDatabase(name: "a registry with damaged pages", reason: "database disk image is malformed") { path, registry in
            var bytes = registry
            var random = SplitMix64(seed: 4)
            bytes.replaceSubrange(4096..<bytes.count, with: (4096..<bytes.count).map { _ in UInt8.random(in: 0...255, using: &random) })
            try bytes.write(to: URL(fileURLWithPath: path))
        },
        BadDatabase(name: "a truncated registry", reason: "database disk image is malformed") { path, registry in
            try registry.prefix(8192).write(to: URL(fileURLWithPath: path))
        },
        BadDatabase(name: "another application's database", reason: "is an SQLite database but not an autopilotd registry") { path, _ in
            _ = try sqlite(path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('mine');")
        },
        BadDatabase(name: "a registry from a newer autopilotd", reason: "was written by a newer autopilotd (unknown migrations: 9999_from_the_future)") { path, registry in
            try registry.write(to: URL(fileURLWithPath: path))
            _ = try sqlite(path, "INSERT INTO grdb_migrations (identifier) VALUES ('9999_from_the_future')")
        },
    ]

    /// A small, cleanly stopped registry, as bytes.
    static let registryFile: Result<Data, any Error> = Result {
        let daemon = try TestDaemon()
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        guard daemon.stop() == 0 else { throw TestFailure("the daemon did not stop cleanly: \(daemon.log)") }
        return try Data(contentsOf: URL(fileURLWithPath: daemon.database))
    }

    @Test(arguments: badDatabases)
    func badDatabaseStopsTheDaemonWithOneLineAndIsLeftUntouched(_ bad: BadDatabase) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autopilotd-bad-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/registry.sqlite"
        try bad.make(database, try Self.registryFile.get())
        let before = try Data(contentsOf: URL(fileURLWithPath: database))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory)

        let result = try runProgram(productsDirectory + "/autopilotd",
                                    ["--socket", directory + "/io.autopilotd.registry", "--database", database], timeout: 60)
        #expect(result.status == 1, "\(result)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines.first?.hasPrefix("autopilotd: \(database) ") == true, "\(result)")
        #expect(result.stderr.contains(bad.reason), "\(result)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: database)) == before, "the file was changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == files.sorted(),
                "files were created or removed next to the database")
    }

    @Test func sixteenClientsMixingReadsAndWritesGetNoErrorAndExactCounts() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let clients = 16, rounds = 12, devicesPerCall = 20
        let batches = try (0..<clients).map { client in
            try daemon.call("CreateDeviceBatch", ["partner": "woodgrove", "tenant": "contoso",
                                                  "name": .string("mix-\(client)"), "channel": "api"])["batch"]?
                .objectValue?["id"]?.stringValue ?? ""
        }
        let eventsBefore = try #require(try daemon.call("VerifyAudit")["events"]?.intValue)
        let path = daemon.socket, directory = daemon.directory

        // An auditor reads the database with sqlite3 the whole time.
        let stopReading = LockedBox(false)
        let auditorReads = LockedBox<[String]>([])
        let auditor = Thread {
            while !stopReading.value {
                let out = (try? runProgram("/usr/bin/sqlite3", [daemon.database, "SELECT count(*) FROM devices"]))
                auditorReads.mutate { $0.append(out.map { $0.status == 0 ? "ok" : $0.stderr } ?? "failed to run") }
            }
        }
        auditor.start()
        defer { stopReading.mutate { $0 = true } }

        // Each round: 3 writes and 5 reads; even clients keep one connection, odd ones connect for every call.
        let errors = try onThreads(clients) { client -> [String] in
            var errors: [String] = []
            var shared: VarlinkConnection?
            func connection() throws -> VarlinkConnection {
                if client % 2 == 0, let shared { return shared }
                let made = try VarlinkConnection(path: path)
                if client % 2 == 0 { shared = made }
                return made
            }
            func call(_ method: String, _ parameters: JSONObject = [:]) {
                do { _ = try connection().call("io.autopilotd.registry." + method, parameters) } catch {
                    errors.append("\(method): \(error)")
                }
            }
            let batch = batches[client]
            for round in 0..<rounds {
                let id = "c\(client)-r\(round)"
                call("CreateTenant", ["name": .string(id), "domain": .string("\(id).onmicrosoft.com"), "id": .string(id)])
                call("ListTenants")
                call("AddDevices", ["batch": .string(batch), "devices": .array((0..<devicesPerCall).map {
                    .object(["serialNumber": .string("\(id)-\($0)"), "manufacturer": "Contoso", "model": "M2"]) })])
                call("GetBatch", ["batch": .string(batch)])
                do {
                    try connection().callMore("io.autopilotd.registry.ListDevices", ["batch": .string(batch)]) { _ in }
                } catch { errors.append("ListDevices: \(error)") }
                call("RequestResellerRelationship", ["partner": "woodgrove", "delegatedAdmin": false])
                call("GetStatus")
                if client < 2 && round % 3 == 0 {
                    call("Backup", ["path": .string("\(directory)/backup-\(id).sqlite")])
                } else {
                    call("VerifyAudit")
                }
            }
            return errors
        }
        stopReading.mutate { $0 = true }
        while auditor.isExecuting { Thread.sleep(forTimeInterval: 0.01) }

        #expect(errors.flatMap { $0 }.isEmpty, "\(errors.flatMap { $0 })")
        #expect(!daemon.log.contains("locked") && !daemon.log.contains("busy") && !daemon.log.contains("InternalError"),
                "\(daemon.log)")
        #expect(auditorReads.value.allSatisfy { $0 == "ok" }, "\(Set(auditorReads.value))")
        let status = try daemon.call("GetStatus")
        #expect(status["tenants"] == .int(1 + clients * rounds))
        #expect(status["devices"] == .int(clients * rounds * devicesPerCall))
        let backups = 2 * 4
        #expect(try daemon.call("VerifyAudit")["events"] == .int(eventsBefore + clients * rounds * 3 + backups))
        #expect(try daemon.sql("SELECT count(*) FROM batches WHERE submitted = \(rounds * devicesPerCall)") == "\(clients)")
        #expect(try daemon.sql("SELECT count(*) FROM links") == "\(1 + clients * rounds)")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
    }

    static func batches(_ daemon: TestDaemon) throws -> [JSONObject] {
        try daemon.call("ListBatches")["batches"]?.arrayValue?.compactMap(\.objectValue) ?? []
    }
}
