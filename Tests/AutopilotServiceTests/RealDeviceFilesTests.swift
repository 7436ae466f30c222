import AutopilotClient
import AutopilotDomain
import AutopilotTestSupport
import Foundation
import Testing
import Varlink

/// The device files people really have (../shared/realdata, written by Microsoft's Get-WindowsAutopilotInfo) through
/// the real daemon and autopilotctl, as committed; and the registry's knowledge of which machine a hash is: a
/// re-capture of a registered machine, a machine registered by tuple then by hash, placeholder serial numbers, rows
/// that contradict their own hash, and concurrent submissions of one machine.
@Suite(.serialized, .ownThread) struct RealDeviceFilesTests {
    static let contoso = "contoso", fabrikam = "fabrikam"
    static let csp = "woodgrove", oem = "litware", provider = "tailspin", reseller = "adatum"

    /// What the hash inside each real import file says (realdata/README.md), by file name prefix.
    static let machines: [(file: String, manufacturer: String, model: String, serial: String)] = [
        ("ChinwikeOnyia26_", "LENOVO", "21R3001BUK", "PF5MT6SC"),
        ("HexDK_SGRE_BG__", "VMware, Inc.", "VMware20,1", "F98059756E444D56"),
        ("M3sterKw0n_class13__", "VMware, Inc.", "VMware20,1", "VMware-56 4d 8d 37 93 fe f5 0e-88 0c 3d 23 2b a1 5a 41"),
        ("Novosad-Hayes-Associates_", "VMware, Inc.", "VMware7,1", "VMware-42 28 6c 53 13 80 4c 13-16 e2 d5 99 a1 ec 7a 15"),
        ("Pmedley26_PowerShell__AutopilotHWID@6cc4304", "LENOVO", "21G2001VUS", "PF5NRH33"),
        ("Pmedley26_PowerShell__AutopilotHWID@8ec586a", "QEMU", "Standard PC (Q35 + ICH9, 2009)", "SMBIOS_STRING_INDEX_0"),
        ("Pmedley26_PowerShell__AutopilotHWID@a5f2af5", "QEMU", "Standard PC (Q35 + ICH9, 2009)", "SMBIOS_STRING_INDEX_0"),
        ("Pmedley26_PowerShell__AutopilotHWID@dd069fa", "HP", "HP EliteBook 840 G8 Notebook PC", "5CG1457YL8"),
        ("brtfem001_Intune__", "Microsoft Corporation", "Virtual Machine", "4895-7167-4584-3623-0974-4308-48"),
        ("churlbap_ponise__", "HP", "HP EliteBook 650 15.6 inch G10 Notebook PC", "5CD349G8VJ"),
        ("tklawun_PowerShell__", "LENOVO", "20K5S0B700", "PC0NVWSH"),
    ]

    /// A daemon with tenants contoso and fabrikam; woodgrove (direct CSP) holds consent from both, litware (OEM)
    /// from fabrikam, adatum (indirect reseller of tailspin) from contoso.
    func startDaemon() throws -> TestDaemon {
        let daemon = try TestDaemon()
        try daemon.addTenant(Self.contoso)
        try daemon.addTenant(Self.fabrikam)
        try daemon.addPartner(Self.csp, kind: "directCsp")
        try daemon.addPartner(Self.provider, kind: "indirectProvider")
        try daemon.addPartner(Self.reseller, kind: "indirectReseller", provider: Self.provider)
        try daemon.addPartner(Self.oem, kind: "oem")
        try daemon.giveConsent(partner: Self.csp, tenant: Self.contoso)
        try daemon.giveConsent(partner: Self.csp, tenant: Self.fabrikam)
        try daemon.giveConsent(partner: Self.oem, kind: "oem", tenant: Self.fabrikam)
        try daemon.giveConsent(partner: Self.reseller, kind: "indirectReseller", tenant: Self.contoso)
        return daemon
    }

    func importing(_ daemon: TestDaemon, _ file: String, partner: String = csp, tenant: String = contoso,
                   _ extra: [String] = []) throws -> CommandResult {
        try daemon.ctl(["devices", "import", file, "--partner", partner, "--tenant", tenant] + extra)
    }

    func listedDevices(_ daemon: TestDaemon, tenant: String? = nil) throws -> [JSONObject] {
        let list = try daemon.ctl(["devices", "list", "--json"] + (tenant.map { ["--tenant", $0] } ?? []))
        guard list.status == 0 else { throw TestFailure("devices list: \(list)") }
        return try JSON.parse(list.stdout).arrayValue?.compactMap { $0.objectValue?["device"]?.objectValue } ?? []
    }

    // MARK: the real files

    @Test func everyRealImportFileRegistersUnchangedAndListsItsMachine() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let files = realDataImportFiles()
        #expect(files.count == 11, "\(files)")
        for file in files {
            let result = try importing(daemon, file)
            #expect(result.status == 0, "\(file): \(result)")
            #expect(result.stdout.hasPrefix("registered 1, failed 0 (batch "), "\(file): \(result)")
        }
        let devices = try listedDevices(daemon)
        #expect(devices.count == 11)
        for machine in Self.machines {
            let matching = devices.filter {
                $0["serialNumber"]?.stringValue == machine.serial && $0["model"]?.stringValue == machine.model
            }
            let expected = machine.manufacturer == "QEMU" ? 2 : 1
            #expect(matching.count == expected, "\(machine.file): \(devices)")
            #expect(matching.allSatisfy { $0["manufacturer"]?.stringValue == machine.manufacturer }, "\(machine.file)")
            #expect(matching.allSatisfy { $0["hardwareHashSha256"]?.stringValue?.count == 64 }, "\(machine.file)")
        }
        // The group tag of the four-column file travels with its device; the hash's product key ID becomes the PKID.
        #expect(devices.first { $0["serialNumber"]?.stringValue == "F98059756E444D56" }?["groupTag"]?.stringValue
                == "SP001_STD01")
        #expect(devices.first { $0["serialNumber"]?.stringValue == "5CD349G8VJ" }?["productKey"]?.stringValue
                == "3556129472828")

        let table = try daemon.ctl(["devices", "list", "--tenant", Self.contoso])
        #expect(table.status == 0, "\(table)")
        for machine in Self.machines {
            let row = table.stdout.split(separator: "\n").first { $0.contains(machine.serial) && $0.contains(machine.model) }
            #expect(row?.contains(machine.manufacturer) == true, "\(machine.file): \(table.stdout)")
        }
        // Importing every file again registers nothing twice: each comes back as 806.
        for file in files {
            let again = try importing(daemon, file)
            #expect(again.status == 2, "\(file): \(again)")
            #expect(again.stdout.contains("ZtdDeviceAlreadyAssigned (806)"), "\(file): \(again)")
        }
        #expect(try daemon.call("GetStatus")["devices"]?.intValue == 11)
    }

    @Test func aGraphExportIsRefusedBeforeAnythingIsSent() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let export = try realDataFile(containing: "GRAPH-EXPORT")
        let result = try importing(daemon, export)
        #expect(result.status == 65, "\(result)")
        #expect(result.stderr.contains("export"), "\(result)")
        #expect(result.stderr.contains(DeviceCSV.Format.partnerCenter.header), "\(result)")
        #expect(try daemon.call("ListBatches")["batches"]?.arrayValue?.isEmpty == true)
    }

    @Test func uploadBatchesStoreEachResultWithItsFileLine() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let real = try realDataRow(machineFile: "churlbap_ponise__")
        let path = daemon.directory + "/lines.csv"
        // Line 1 header, 2 blank, 3 a good row, 4 a row with too few columns, 5 blank, 6 a quoted row.
        let text = "Device Serial Number,Windows Product ID,Hardware Hash\r\n\r\n\(real.serial),,\(real.hash)\r\n"
            + "ONLY-TWO,\r\n\r\n\"QUOTED\",,\(real.hash)\r\n"
        try writeUTF16LE(text, to: path)
        let result = try importing(daemon, path, partner: Self.reseller)
        #expect(result.status == 2, "\(result)")
        #expect(result.stdout.contains("line 4: InvalidZtdRequestBody (801)"), "\(result)")
        #expect(result.stdout.contains("line 6: InvalidZtdRequestBody (801)"), "\(result)")
        guard let batch = try daemon.call("ListBatches")["batches"]?.arrayValue?.first?.objectValue,
              let id = batch["id"]?.stringValue
        else { throw TestFailure("no batch") }
        #expect(batch["channel"]?.stringValue == "upload")
        // Anyone who looks later, an auditor included, sees the lines.
        let stored = try daemon.call("GetBatch", ["batch": .string(id)])["results"]?.arrayValue ?? []
        #expect(stored.map { $0.objectValue?["line"]?.intValue } == [3, 4, 6], "\(stored)")
        #expect(stored.map { $0.objectValue?["status"]?.stringValue } == ["registered", "failed", "failed"])
        let lines = try daemon.sql("SELECT group_concat(line) FROM (SELECT line FROM device_results ORDER BY idx)")
        #expect(lines == "3,4,6")
    }

    @Test func eachChannelTakesDevicesOnlyThroughItsOwnMethod() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let real = try realDataRow(machineFile: "churlbap_ponise__")
        let upload = try daemon.call("CreateDeviceBatch", ["partner": .string(Self.csp), "tenant": .string(Self.contoso),
                                                           "name": "upload", "channel": "upload"])
        let api = try daemon.call("CreateDeviceBatch", ["partner": .string(Self.csp), "tenant": .string(Self.contoso),
                                                        "name": "api", "channel": "api"])
        let uploadID = upload["batch"]?.objectValue?["id"] ?? .null, apiID = api["batch"]?.objectValue?["id"] ?? .null
        let device: JSONValue = .object(["serialNumber": .string(real.serial), "hardwareHash": .string(real.hash)])
        let csv = "Device Serial Number,Windows Product ID,Hardware Hash\n\(real.serial),,\(real.hash)\n"

        let viaAPI = try daemon.callError("AddDevices", ["batch": uploadID, "devices": [device]])
        #expect(viaAPI?.name == "io.autopilotd.registry.ChannelNotAllowed", "\(String(describing: viaAPI))")
        #expect(viaAPI?.parameters["channel"]?.stringValue == "api")
        let viaUpload = try daemon.callError("UploadDeviceCsv", ["batch": apiID, "csv": .string(csv)])
        #expect(viaUpload?.name == "io.autopilotd.registry.ChannelNotAllowed", "\(String(describing: viaUpload))")
        #expect(viaUpload?.parameters["channel"]?.stringValue == "upload")
        // Both refusals are in the audit log; nothing was registered.
        #expect(try daemon.sql("SELECT count(*) FROM audit_events WHERE outcome = 'ChannelNotAllowed'") == "2")
        #expect(try daemon.call("GetStatus")["devices"]?.intValue == 0)

        let badHeader = try daemon.callError("UploadDeviceCsv", ["batch": uploadID, "csv": "Serial,Hash\nA,B\n"])
        #expect(badHeader?.name == "io.autopilotd.registry.InvalidInput")
        #expect(badHeader?.parameters["field"]?.stringValue == "csv")
        let tooMany = "Device Serial Number,Windows Product ID,Hardware Hash\n"
            + (0...1000).map { "SN\($0),PK\($0),\n" }.joined()
        let tooLarge = try daemon.callError("UploadDeviceCsv", ["batch": uploadID, "csv": .string(tooMany)])
        #expect(tooLarge?.name == "io.autopilotd.registry.BatchTooLarge")
        // Rows are registered as they are read, so the 1,000 before the refused one were written, then rolled back.
        let untouched = try daemon.call("GetBatch", ["batch": uploadID])
        #expect(untouched["batch"]?.objectValue?["submitted"]?.intValue == 0, "\(untouched)")
        #expect(untouched["results"]?.arrayValue?.isEmpty == true)

        let sent = try daemon.call("UploadDeviceCsv", ["batch": uploadID, "csv": .string(csv), "line": 41])
        let result = sent["results"]?.arrayValue?.first?.objectValue
        #expect(result?["status"]?.stringValue == "registered", "\(sent)")
        #expect(result?["line"]?.intValue == 42)
        let viaAddDevices = try daemon.call("AddDevices", ["batch": apiID, "devices": [device]])
        #expect(viaAddDevices["results"]?.arrayValue?.first?.objectValue?["errorCode"]?.intValue == 806)
        #expect(viaAddDevices["results"]?.arrayValue?.first?.objectValue?["line"]?.isNull == true)
    }

    // MARK: identity

    @Test func aRecaptureOfARegisteredMachineIs806InItsTenantAnd808Elsewhere() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let original = try realDataFile(containing: "ChinwikeOnyia26_")
        #expect(try importing(daemon, original).status == 0)
        // The same laptop captured again after a Windows update: other bytes, same machine.
        let real = try realDataRow(machineFile: "ChinwikeOnyia26_")
        let recaptured = try recapture(real.hash, revision: 7800)
        #expect(recaptured != real.hash)
        let path = daemon.directory + "/recaptured.csv"
        try writeUTF16LE("Device Serial Number,Windows Product ID,Hardware Hash\r\n\(real.serial),,\(recaptured)\r\n", to: path)

        let sameTenant = try importing(daemon, path)
        #expect(sameTenant.status == 2, "\(sameTenant)")
        #expect(sameTenant.stdout.contains("line 2: ZtdDeviceAlreadyAssigned (806)"), "\(sameTenant)")
        let otherTenant = try importing(daemon, path, tenant: Self.fabrikam)
        #expect(otherTenant.status == 2, "\(otherTenant)")
        #expect(otherTenant.stdout.contains("line 2: ZtdDeviceAssignedToOtherTenant (808)"), "\(otherTenant)")
        // The dry run answers the same without writing.
        let validate = try daemon.ctl(["devices", "validate", path, "--partner", Self.csp, "--tenant", Self.fabrikam])
        #expect(validate.status == 2 && validate.stdout.contains("808"), "\(validate)")
        // Without its serial number column the hash alone still names the machine.
        let hashOnly = try daemon.call("ValidateSubmission", [
            "partner": .string(Self.csp), "tenant": .string(Self.contoso),
            "devices": [.object(["hardwareHash": .string(recaptured)])],
        ])
        #expect(hashOnly["results"]?.arrayValue?.first?.objectValue?["errorCode"]?.intValue == 806, "\(hashOnly)")
        #expect(try daemon.call("GetStatus")["devices"]?.intValue == 1)
    }

    @Test func aMachineRegisteredByTupleIsKnownWhenItsHashArrivesAndViceVersa() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        // The OEM registers the laptop it shipped to fabrikam by manufacturer, model and serial number.
        let batch = try daemon.call("CreateDeviceBatch", ["partner": .string(Self.oem), "tenant": .string(Self.fabrikam),
                                                          "name": "shipment", "channel": "api"])
        let added = try daemon.call("AddDevices", [
            "batch": batch["batch"]?.objectValue?["id"] ?? .null,
            "devices": [.object(["manufacturer": "LENOVO", "model": "21R3001BUK", "serialNumber": "PF5MT6SC"])],
        ])
        #expect(added["results"]?.arrayValue?.first?.objectValue?["status"]?.stringValue == "registered", "\(added)")
        // A CSP then uploads the hash Get-WindowsAutopilotInfo captured on it, for another tenant: 808.
        let file = try realDataFile(containing: "ChinwikeOnyia26_")
        let result = try importing(daemon, file)
        #expect(result.status == 2 && result.stdout.contains("ZtdDeviceAssignedToOtherTenant (808)"), "\(result)")

        // The other way round: registered by hash, deregistered by its tuple.
        let hp = try realDataFile(containing: "churlbap_ponise__")
        #expect(try importing(daemon, hp).status == 0)
        let deregistered = try daemon.ctl(["devices", "deregister", "--partner", Self.csp, "--serial", "5CD349G8VJ",
                                           "--manufacturer", "HP", "--model", "HP EliteBook 650 15.6 inch G10 Notebook PC"])
        #expect(deregistered.status == 0, "\(deregistered)")
        #expect(try daemon.sql("SELECT status FROM devices WHERE serial_number = '5CD349G8VJ'") == "deregistered")
    }

    @Test func placeholderSerialNumbersNameNoMachine() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        // Two QEMU virtual machines with the same placeholder serial are two devices.
        for file in ["Pmedley26_PowerShell__AutopilotHWID@8ec586a", "Pmedley26_PowerShell__AutopilotHWID@a5f2af5"] {
            let result = try importing(daemon, try realDataFile(containing: file))
            #expect(result.status == 0, "\(file): \(result)")
        }
        #expect(try daemon.sql("SELECT count(*) FROM devices WHERE manufacturer = 'QEMU' AND status = 'registered'") == "2")
        // A tuple with a placeholder serial names no machine, so it deregisters none: 803, as when registering.
        let ambiguous = try daemon.callError("DeregisterDevice", [
            "partner": .string(Self.csp), "manufacturer": "QEMU", "model": "Standard PC (Q35 + ICH9, 2009)",
            "serialNumber": "SMBIOS_STRING_INDEX_0",
        ])
        #expect(ambiguous?.parameters["code"]?.intValue == 803, "\(String(describing: ambiguous))")
        #expect(try daemon.sql("SELECT count(*) FROM devices WHERE manufacturer = 'QEMU' AND status = 'registered'") == "2")
        // An OEM cannot name a machine by a placeholder serial number: 803, whatever the spelling.
        let batch = try daemon.call("CreateDeviceBatch", ["partner": .string(Self.oem), "tenant": .string(Self.fabrikam),
                                                          "name": "placeholders", "channel": "api"])
        let devices: [JSONValue] = ["To Be Filled By O.E.M.", " none ", "Default string", "0"].map {
            .object(["manufacturer": "Contoso Devices", "model": "Surface-like 1", "serialNumber": .string($0)])
        }
        let added = try daemon.call("AddDevices", ["batch": batch["batch"]?.objectValue?["id"] ?? .null,
                                                   "devices": .array(devices)])
        let codes = added["results"]?.arrayValue?.map { $0.objectValue?["errorCode"]?.intValue }
        #expect(codes == [803, 803, 803, 803], "\(added)")
    }

    @Test func aRowThatContradictsItsOwnHashIs801NamingTheFieldAndBothValues() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let real = try realDataRow(machineFile: "Pmedley26_PowerShell__AutopilotHWID@dd069fa")
        let path = daemon.directory + "/mixed-up.csv"
        // Partner Center form with manufacturer and model swapped, then a row whose serial is another machine's.
        try ("Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model\n"
            + "\(real.serial),,\(real.hash),HP EliteBook 840 G8 Notebook PC,HP\n"
            + "5CD349G8VJ,,\(real.hash),HP,HP EliteBook 840 G8 Notebook PC\n"
            + "\(real.serial.lowercased()),,\(real.hash),hp,hp elitebook 840 g8 notebook pc\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = try importing(daemon, path)
        #expect(result.status == 2, "\(result)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("line 2: InvalidZtdRequestBody (801)") && $0.contains("manufacturer")
                && $0.contains("'HP EliteBook 840 G8 Notebook PC'") && $0.contains("'HP'") }, "\(result)")
        #expect(lines.contains { $0.hasPrefix("line 3: InvalidZtdRequestBody (801)") && $0.contains("serial number")
                && $0.contains("'5CD349G8VJ'") && $0.contains("'5CG1457YL8'") }, "\(result)")
        // Only the spelling differs on line 4: the same machine, registered with the hash's own spelling.
        #expect(result.stdout.contains("registered 1, failed 2"), "\(result)")
        #expect(try daemon.sql("SELECT manufacturer || '|' || model || '|' || serial_number FROM devices")
                == "HP|HP EliteBook 840 G8 Notebook PC|5CG1457YL8")
    }

    @Test func aHashWhoseBytesWereEditedIs802() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let real = try realDataRow(machineFile: "churlbap_ponise__")
        // Someone "fixes" the serial number inside the hash: the structure holds, the checksum no longer does.
        guard var bytes = Base64.decode(real.hash),
              let at = (0..<(bytes.count - 10)).first(where: { bytes[$0..<($0 + 10)].elementsEqual("5CD349G8VJ".utf8) })
        else { throw TestFailure("no serial inside the hash") }
        bytes[at] = UInt8(ascii: "6")
        let edited = SyntheticHardwareHash.base64(bytes)
        let reply = try daemon.call("ValidateSubmission", [
            "partner": .string(Self.csp), "tenant": .string(Self.contoso),
            "devices": [.object(["hardwareHash": .string(edited)]), .object(["hardwareHash": .string(real.hash)])],
        ])
        let results = reply["results"]?.arrayValue?.compactMap(\.objectValue) ?? []
        #expect(results.first?["errorCode"]?.intValue == 802, "\(reply)")
        #expect(results.first?["message"]?.stringValue?.contains("checksum") == true, "\(reply)")
        #expect(results.last?["status"]?.stringValue == "valid", "\(reply)")
    }

    @Test func concurrentSubmissionsOfOneMachineRegisterItOnce() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let real = try realDataRow(machineFile: "tklawun_PowerShell__")
        let batches: [JSONValue] = try (0..<8).map { n in
            let tenant = n % 2 == 0 ? Self.contoso : Self.fabrikam
            let batch = try daemon.call("CreateDeviceBatch", ["partner": .string(Self.csp), "tenant": .string(tenant),
                                                              "name": .string("race \(n)"), "channel": "api"])
            return batch["batch"]?.objectValue?["id"] ?? .null
        }
        let captures = try (0..<8).map { try recapture(real.hash, revision: 500 + $0) }
        let outcomes = NSLock()
        nonisolated(unsafe) var statuses: [String] = []
        DispatchQueue.concurrentPerform(iterations: 8) { n in
            let status: String
            do {
                let reply = try daemon.call("AddDevices", [
                    "batch": batches[n], "devices": [.object(["hardwareHash": .string(captures[n])])],
                ])
                let result = reply["results"]?.arrayValue?.first?.objectValue
                status = result?["errorName"]?.stringValue ?? result?["status"]?.stringValue ?? "?"
            } catch {
                status = "\(error)"
            }
            outcomes.lock()
            statuses.append(status)
            outcomes.unlock()
        }
        #expect(statuses.filter { $0 == "registered" }.count == 1, "\(statuses)")
        #expect(statuses.allSatisfy {
            ["registered", "ZtdDeviceAlreadyAssigned", "ZtdDeviceAssignedToOtherTenant"].contains($0)
        }, "\(statuses)")
        #expect(try daemon.sql("SELECT count(*) FROM devices WHERE serial_number = 'PC0NVWSH'") == "1")
    }

    @Test func upgradingADatabaseFromBeforeIdentityKeepsEveryDeviceAndSaysWhatNeedsAnOperator() throws {
        // A registry as version 7 wrote it (migrations 0001 to 0007, through sqlite3): one laptop registered twice,
        // by two captures of its hash, and one hash that is not an Autopilot hardware hash at all.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("upgrade-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/registry.sqlite"
        let migrations = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/migrations").sorted()
        var script = "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);\n"
        for name in migrations.prefix(7) {
            script += try String(contentsOfFile: repositoryRoot + "/migrations/" + name, encoding: .utf8) + ";\n"
            script += "INSERT INTO grdb_migrations VALUES ('\(name.dropLast(4))');\n"
        }
        let real = try realDataRow(machineFile: "ChinwikeOnyia26_")
        let first = try #require(Base64.decode(real.hash))
        let second = SyntheticHardwareHash.recapture(first, revision: 8000)
        let junk = [UInt8](repeating: 0x5A, count: 3000)
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let at = "2026-11-20T10:00:00.000Z"
        script += """
            INSERT INTO tenants VALUES ('contoso', 'Contoso', '\(at)');
            INSERT INTO partners (id, name, kind, oem_direct_api, created_at) VALUES ('woodgrove', 'Woodgrove', 'directCsp', 0, '\(at)');
            INSERT INTO batches (id, name, partner_id, tenant_id, channel, created_at) VALUES ('old', 'old', 'woodgrove', 'contoso', 'api', '\(at)');

            """
        for (id, bytes) in [("laptop-1", first), ("laptop-again", second), ("junk", junk)] {
            let digest = sha256(bytes).map { String(format: "%02x", $0) }.joined()
            script += """
                INSERT INTO hardware_hashes VALUES ('\(digest)', X'\(hex(bytes))');
                INSERT INTO devices (id, tenant_id, partner_id, batch_id, hardware_hash_sha256, registered_at)
                    VALUES ('\(id)', 'contoso', 'woodgrove', 'old', '\(digest)', '\(at)');

                """
        }
        let created = try runProgram("/usr/bin/sqlite3", [database], stdin: script)
        try #require(created.status == 0, "\(created)")

        let daemon = try TestDaemon(directory: directory)
        defer { daemon.stop() }
        let started = daemon.startLog
        #expect(started.contains("devices registered before the registry read hardware hashes need an operator"),
                "\(started)")
        #expect(started.contains("device laptop-again: sameMachine"), "\(started)")
        #expect(started.contains("device junk: undecodableHash"), "\(started)")
        // Nothing was deregistered; the first registration holds the machine, so a third capture is 806.
        #expect(try daemon.sql("SELECT count(*) FROM devices WHERE status = 'registered'") == "3")
        #expect(try daemon.sql("SELECT manufacturer || '|' || model || '|' || serial_number FROM devices WHERE id = 'laptop-1'")
                == "LENOVO|21R3001BUK|PF5MT6SC")
        let listed = try listedDevices(daemon)
        #expect(Set(listed.compactMap { $0["id"]?.stringValue }) == ["laptop-1", "laptop-again", "junk"])
        let third = try recapture(real.hash, revision: 9000)
        let reply = try daemon.call("ValidateSubmission", ["partner": "woodgrove", "tenant": "contoso",
                                                           "devices": [.object(["hardwareHash": .string(third)])]])
        #expect(reply["results"]?.arrayValue?.first?.objectValue?["errorCode"]?.intValue == 806, "\(reply)")
        #expect(try daemon.sql("SELECT kind FROM device_identity_findings ORDER BY device_id") == "undecodableHash\nsameMachine")
        // Said once: a restart does not repeat it.
        daemon.stop()
        let again = try TestDaemon(directory: directory)
        defer { again.stop() }
        let restarted = again.startLog
        #expect(restarted.contains("listening") && !restarted.contains("need an operator"), "\(restarted)")
    }

    @Test func inspectPrintsWhatAHashSaysWithoutRegisteringIt() throws {
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let file = try realDataFile(containing: "Pmedley26_PowerShell__AutopilotHWID@dd069fa")
        let inspected = try daemon.ctl(["devices", "inspect", file])
        #expect(inspected.status == 0, "\(inspected)")
        for expected in ["HP", "HP EliteBook 840 G8 Notebook PC", "5CG1457YL8", "3305404496774", "10.0.26100.7705"] {
            #expect(inspected.stdout.contains(expected), "\(expected): \(inspected)")
        }
        let real = try realDataRow(machineFile: "Pmedley26_PowerShell__AutopilotHWID@a5f2af5")
        let bare = try daemon.ctl(["devices", "inspect", real.hash, "--json"])
        #expect(bare.status == 0, "\(bare)")
        let object = try JSON.parse(bare.stdout)
        let first = object.arrayValue?.first?.objectValue ?? object.objectValue
        #expect(first?["manufacturer"]?.stringValue == "QEMU", "\(bare)")
        #expect(first?["tpm"]?.isNull == true, "\(bare)")
        let piped = try daemon.ctl(["devices", "inspect", "-"], stdin: real.hash + "\n")
        #expect(piped.status == 0 && piped.stdout.contains("SMBIOS_STRING_INDEX_0"), "\(piped)")
        let broken = try daemon.ctl(["devices", "inspect", String(real.hash.prefix(1000))])
        #expect(broken.status == 65 && broken.stderr.contains("too short"), "\(broken)")
        let stub = try daemon.ctl(["devices", "inspect", String(real.hash.prefix(40))])
        #expect(stub.status == 65 && stub.stderr.contains("too short"), "\(stub)")
        // A hash edited by hand is shown as what it is: damaged.
        var bytes = try #require(Base64.decode(real.hash))
        bytes[bytes.count / 10] ^= 0x01
        let edited = try daemon.ctl(["devices", "inspect", SyntheticHardwareHash.base64(bytes)])
        #expect(edited.status == 65 && edited.stderr.contains("checksum"), "\(edited)")
        #expect(try daemon.call("GetStatus")["devices"]?.intValue == 0)
    }
}

// MARK: real data

/// ../shared/realdata beside the checkout.
let realDataDirectory = repositoryRoot + "/../shared/realdata"

/// The real import files (every CSV but the Graph export), sorted by name.
func realDataImportFiles() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: realDataDirectory)) ?? []
    return names.filter { $0.hasSuffix(".csv") && !$0.contains("GRAPH-EXPORT") }.sorted().map { realDataDirectory + "/" + $0 }
}

/// The real file whose name contains `fragment`.
func realDataFile(containing fragment: String) throws -> String {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: realDataDirectory)) ?? []
    guard let name = names.sorted().first(where: { $0.contains(fragment) }) else {
        throw TestFailure("no file containing \(fragment) in \(realDataDirectory)")
    }
    return realDataDirectory + "/" + name
}

/// The serial number column and the hardware hash of the one data row of a real (UTF-16LE) file.
func realDataRow(machineFile fragment: String) throws -> (serial: String, hash: String) {
    let data = try Data(contentsOf: URL(fileURLWithPath: try realDataFile(containing: fragment)))
    guard let text = String(data: data, encoding: .utf16) else { throw TestFailure("\(fragment) is not UTF-16") }
    let lines = text.split(whereSeparator: \.isNewline)
    guard lines.count >= 2 else { throw TestFailure("\(fragment) has no data row") }
    let fields = lines[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    return (fields[0], fields[2])
}

/// The same machine captured again after a Windows update, as base64 without padding like the real files.
func recapture(_ hash: String, revision: Int) throws -> String {
    guard let bytes = Base64.decode(hash) else { throw TestFailure("not base64") }
    return SyntheticHardwareHash.base64(SyntheticHardwareHash.recapture(bytes, revision: revision))
}

/// Writes `text` as Windows PowerShell does: UTF-16LE with a byte order mark.
func writeUTF16LE(_ text: String, to path: String) throws {
    var data = Data([0xFF, 0xFE])
    for unit in text.utf16 { data.append(UInt8(unit & 0xFF)); data.append(UInt8(unit >> 8)) }
    try data.write(to: URL(fileURLWithPath: path))
}
