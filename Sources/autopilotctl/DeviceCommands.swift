#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import AutopilotClient
import AutopilotDomain
import AutopilotInterface
import Varlink

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "Register, list, export and deregister Autopilot devices.",
        subcommands: [Import.self, Validate.self, List.self, Show.self, Deregister.self, Export.self, Inspect.self]
    )

    static let csvDiscussion = """
        FILE is a device CSV file in either form, told apart by its header line:
          \(DeviceCSV.Format.intune.header)[,Group Tag[,Assigned User]]
          \(DeviceCSV.Format.partnerCenter.header)
        Header names match ignoring case and spaces around them; the columns must be one of these forms, in order. \
        No quotes, no commas inside fields, exactly one value per column. Files are taken as Windows and Excel \
        write them: UTF-16LE or UTF-16BE with a byte order mark (what Get-WindowsAutopilotInfo writes), UTF-8 with \
        or without one, and lines that are not UTF-8 as Windows-1252 ("ANSI"); CRLF, LF or mixed line endings. \
        Blank lines are skipped (and still counted). A wrong header, or an Intune/Graph export instead of an import \
        file, is refused before anything is sent (exit 65).
        """

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register the devices of a CSV file into one new batch (or, with --batch, an existing one).",
            discussion: csvDiscussion + """


                The file is read as it is sent, in calls of at most 1,000 rows into one batch (CreateDeviceBatch), \
                so files of any size work. A new batch uses the upload channel (UploadDeviceCsv: the daemon parses the \
                rows and keeps each result with its file line, for GetBatch and auditors), except for an OEM, whose \
                only channel is the API (AddDevices, rows parsed here; a row with the wrong number of columns or a \
                quote is then reported as InvalidCsvRow and not sent). Every failed row is reported as
                  line N: <ErrorName> (<code>): <explanation>
                followed by a summary: registered X, failed Y (batch <id>). Exit 0 when no row failed, 2 when some \
                did, 65 when every row failed locally (then nothing is sent and no batch is created). Importing the \
                same file again is safe: rows already registered come back as ZtdDeviceAlreadyAssigned (806).
                An import that stopped half way (the daemon went away) says which batch it was filling; run it again \
                with --batch ID to finish that batch instead of opening a new one.
                A progress bar is drawn on stderr when it is a terminal.
                --json prints {batch, results: [{line, index, status, device, errorCode, errorName, message}], \
                localErrors: [{line, errorName, reason}]}.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CSV file.") var file: String
        @Option(help: "The registering partner's id (with --batch: the batch's, by default).") var partner: String?
        @Option(help: "The tenant the devices are registered to (with --batch: the batch's, by default).")
        var tenant: String?
        @Option(help: "The batch name (default: the file's name).") var name: String?
        @Option(help: "upload (UploadDeviceCsv) or api (AddDevices); default: upload, api for an OEM.") var channel: Channel?
        @Option(name: .customLong("batch"), help: ArgumentHelp(
            "Add the rows to this existing batch, e.g. to finish an import that stopped half way.", valueName: "id"))
        var existingBatch: String?

        func validate() throws {
            if existingBatch == nil && (partner == nil || tenant == nil) {
                throw ValidationError("--partner and --tenant are required, unless --batch names an existing batch")
            }
            if existingBatch != nil && (name != nil || channel != nil) {
                throw ValidationError("--name and --channel describe a new batch; --batch continues an existing one")
            }
        }

        func run() throws {
            let csv = try openCSV(file, global)
            var exitCode: Int32 = 0
            try global.run { s in
                let submission = CSVSubmission(file: csv, json: s.json, success: .registered)
                var batch: Batch?
                if let existingBatch {
                    // Checked before any row is sent: a typo in the id, or the wrong partner or tenant, sends nothing.
                    let found = try s.call(Registry.GetBatch.self, .init(batch: existingBatch, from: 0, limit: 1)).batch
                    if let partner, partner != found.partner {
                        throw CLIError("batch \(found.id) belongs to partner \(found.partner), not \(partner); nothing was sent")
                    }
                    if let tenant, tenant != found.tenant {
                        throw CLIError("batch \(found.id) registers devices to tenant \(found.tenant), not \(tenant); nothing was sent")
                    }
                    batch = found
                }
                // An upload batch takes the file's text (UploadDeviceCsv), an api batch parsed devices (AddDevices).
                // A new batch uploads, unless the partner is an OEM, whose only channel is the API.
                let channel = try batch?.channel ?? channel
                    ?? (s.call(Registry.GetPartner.self, .init(partner: partner!)).partner.kind == .oem ? .api : .upload)
                func openBatch() throws -> Batch {
                    if let batch { return batch }
                    return try s.call(Registry.CreateDeviceBatch.self, .init(
                        partner: partner!, tenant: tenant!, name: name ?? baseName(file), channel: channel)).batch
                }
                func sent(_ reply: BatchResults) -> CSVSubmission.Sent {
                    batch = reply.batch
                    return CSVSubmission.Sent(results: reply.results)
                }
                do {
                    if channel == .upload {
                        try submission.runUpload { csv, headerLine, _ in
                            batch = try openBatch()
                            return sent(try s.call(Registry.UploadDeviceCsv.self,
                                                   .init(batch: batch!.id, csv: csv, line: headerLine)))
                        }
                    } else {
                        try submission.run { devices, _ in
                            batch = try openBatch()
                            return sent(try s.call(Registry.AddDevices.self, .init(batch: batch!.id, devices: devices)))
                        }
                    }
                } catch {
                    if !s.json, let batch {
                        Output.stderrWrite("stopped at line \(csv.currentLine): registered \(submission.succeeded), "
                            + "failed \(submission.failed) so far (batch \(batch.id)); to finish, run the same import "
                            + "again with --batch \(batch.id): rows already in come back as 806\n")
                    }
                    throw error
                }
                if s.json {
                    Output.out(JSON.prettyPrint(.object([
                        "batch": batch?.wire ?? .null, "results": .array(submission.jsonResults),
                        "localErrors": .array(submission.jsonLocalErrors),
                    ])))
                } else if let batch {
                    Output.out("registered \(submission.succeeded), failed \(submission.failed) (batch \(batch.id))")
                } else if submission.nothingSent {
                    Output.out("registered 0, failed \(submission.failed) (no row could be read: nothing was sent)")
                } else {
                    Output.out("registered 0, failed 0 (\(file) has no devices: nothing was sent)")
                }
                exitCode = submission.nothingSent ? ExitStatus.dataError : submission.failed > 0 ? ExitStatus.someFailed : 0
            }
            if exitCode != 0 { throw ExitCode(exitCode) }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a CSV file as import would, without registering anything (ValidateSubmission).",
            discussion: csvDiscussion + """


                Devices are checked in calls of at most 1,000; each failed row is reported as import reports it, \
                then: valid X, failed Y. Exit 0 when every row is valid, 2 when some are not, 3 when the partner \
                holds no consent from the tenant (registering would then be refused), 65 when every row failed \
                locally. --json prints {consented, grant, results: [{line, …}], localErrors: [{line, errorName, reason}]}.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CSV file.") var file: String
        @Option(help: "The partner id.") var partner: String
        @Option(help: "The tenant id.") var tenant: String

        func run() throws {
            let csv = try openCSV(file, global)
            var exitCode: Int32 = 0
            try global.run { s in
                let submission = CSVSubmission(file: csv, json: s.json, success: .valid)
                var check: SubmissionCheck?
                try submission.run { devices, _ in
                    let reply = try s.call(Registry.ValidateSubmission.self,
                                           .init(partner: partner, tenant: tenant, devices: devices))
                    check = reply
                    return CSVSubmission.Sent(results: reply.results)
                }
                if check == nil && !submission.nothingSent {
                    check = try s.call(Registry.ValidateSubmission.self, .init(partner: partner, tenant: tenant))
                }
                let consented = check?.consented
                if s.json {
                    Output.out(JSON.prettyPrint(.object([
                        "consented": consented.map(JSONValue.bool) ?? .null, "grant": check?.grant.wire ?? .null,
                        "results": .array(submission.jsonResults), "localErrors": .array(submission.jsonLocalErrors),
                    ])))
                } else {
                    Output.out("valid \(submission.succeeded), failed \(submission.failed) (nothing was written)")
                    if consented == false {
                        Output.out("partner \(partner) holds no active consent from tenant \(tenant): "
                            + "registering these devices would be refused (ConsentRequired)")
                    }
                }
                if submission.nothingSent { exitCode = ExitStatus.dataError }
                else if consented == false { exitCode = ExitStatus.notConsented }
                else if submission.failed > 0 { exitCode = ExitStatus.someFailed }
            }
            if exitCode != 0 { throw ExitCode(exitCode) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List devices as they stream from the daemon (ListDevices).",
            discussion: """
                Rows are printed as they arrive, so any number of devices can be listed. Partners and tenants see \
                their own. --json prints a JSON array of the replies ({"device": …}).
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this tenant's devices.") var tenant: String?
        @Option(help: "Only this partner's devices.") var partner: String?
        @Option(help: "Only the devices of this batch.") var batch: String?
        @Option(help: "Only devices with this serial number.") var serial: String?
        @Flag(help: "Include deregistered devices.") var all = false

        func run() throws {
            try global.run { s in
                let filter = DeviceFilter(tenant: tenant, partner: partner, batch: batch, serialNumber: serial,
                                          includeDeregistered: all)
                var table = StreamingTable(Render.deviceHeaders) { Output.write($0) }
                var array = JSONArrayWriter()
                try s.client.stream(Registry.ListDevices.self, filter) { reply in
                    guard let device = reply.device else { return }
                    if s.json { array.append(reply.wireObject) } else { table.append(Render.row(device)) }
                }
                if s.json { array.finish() } else { table.finish() }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one device by id, registered or deregistered (ListDevices with device).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The device id.") var device: String

        func run() throws {
            try global.run { s in
                var found: Registry.ListDevices.Reply?
                try s.client.stream(Registry.ListDevices.self, DeviceFilter(includeDeregistered: true, device: device)) { reply in
                    if reply.device != nil { found = reply }
                }
                guard let found else {
                    throw CLIError("no device '\(device)' among the devices you may see", code: ExitStatus.refused)
                }
                if !s.printJSON(found), let device = found.device { Render.print(Render.block(device)) }
            }
        }
    }

    struct Deregister: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deregister a device, named by id, by manufacturer + model + serial, or by product key.",
            discussion: """
                A partner may always deregister devices it registered; any other device needs an active grant for \
                its tenant (ZtdDeviceRegisteredByOtherTenant, 811). OEMs need not name the tenant.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The acting partner's id.") var partner: String
        @Option(help: "The device id.") var device: String?
        @Option(help: "Serial number (with --manufacturer and --model).") var serial: String?
        @Option(help: "Manufacturer name.") var manufacturer: String?
        @Option(help: "Device model.") var model: String?
        @Option(name: .customLong("product-key"), help: "Windows Product Key ID (PKID).") var productKey: String?
        @Option(help: "The device's tenant.") var tenant: String?

        func validate() throws { _ = try selector() }

        /// The device as the options name it, by the domain's rule for naming a device, in the options' words.
        func selector() throws -> DeregistrationTarget {
            do {
                return try DeregistrationTarget.from(device: device, serialNumber: serial, manufacturer: manufacturer,
                                                     model: model, productKey: productKey)
            } catch {
                guard case let .invalidInput(field, _) = error, field != "device" else {
                    throw ValidationError("name the device one way: --device ID, or --serial with --manufacturer and --model, or --product-key")
                }
                throw ValidationError("--serial, --manufacturer and --model go together")
            }
        }

        func run() throws {
            let selector = try selector()
            try global.run { s in
                let reply = try s.call(Registry.DeregisterDevice.self, .init(partner: partner, selector, tenant: tenant))
                if s.printJSON(reply) { return }
                Output.out("deregistered device \(reply.device.id)")
                Render.print(Render.block(reply.device))
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a tenant's registered devices as a Partner Center CSV file.",
            discussion: """
                Columns: \(DeviceCSV.exportHeader).
                The Hardware Hash column is always empty: the registry never sends hashes back (only their \
                SHA-256), so the file identifies devices by serial number, product key, manufacturer and model, \
                and every row it holds can be uploaded again. A device known only by its hardware hash (no product \
                key, no manufacturer + model + serial number), or with a comma or quote in a field, cannot be \
                written: it is skipped with a warning on stderr naming it and why, and the exit status is 2. With --output the file is written whole or not at all; with \
                --json (which needs --output) a summary {output, exported, skipped} is printed.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "Only the devices this partner registered.") var partner: String?
        @Option(help: "Write to this file instead of stdout.") var output: String?

        func validate() throws {
            if global.json && output == nil { throw ValidationError("--json prints a summary, which needs --output FILE") }
        }

        func run() throws {
            var skippedCount = 0
            try global.run { s in
                let sink = try CSVSink(path: output)
                var exported = 0
                var skipped: [JSONValue] = []
                do {
                    sink.write(DeviceCSV.exportHeader + "\n")
                    try s.client.stream(Registry.ListDevices.self, DeviceFilter(tenant: tenant, partner: partner)) { reply in
                        guard let device = reply.device else { return }
                        do {
                            sink.write(try DeviceCSV.exportRow(device) + "\n")
                            exported += 1
                        } catch {
                            Output.warning("device \(device.id) skipped: \(error)")
                            skipped.append(.string(device.id))
                        }
                    }
                    try sink.commit()
                } catch {
                    sink.abandon()
                    throw error
                }
                skippedCount = skipped.count
                if s.json {
                    Output.out(JSON.prettyPrint(.object([
                        "output": .string(sink.finalPath ?? ""), "exported": .int(exported), "skipped": .array(skipped),
                    ])))
                } else if let path = sink.finalPath {
                    Output.stderrWrite("exported \(exported) device\(exported == 1 ? "" : "s") to \(path)"
                        + (skipped.isEmpty ? "" : ", skipped \(skipped.count)") + "\n")
                }
            }
            if skippedCount > 0 { throw ExitCode(ExitStatus.someFailed) }
        }
    }
}

/// Opens a device CSV file and checks its header before anything is sent.
/// - Throws: `ExitCode` 66 when it cannot be opened, 65 when its header is wrong (the reason is printed).
func openCSV(_ path: String, _ global: GlobalOptions) throws -> DeviceCSVFile {
    do {
        return try DeviceCSVFile(path: path)
    } catch {
        throw ExitStatus.report(error, socket: global.socketPath)
    }
}

/// The last component of a path.
func baseName(_ path: String) -> String {
    let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
    return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
}

/// Where export writes: stdout, or a temporary file renamed over the target when complete.
final class CSVSink {
    private let file: UnsafeMutablePointer<FILE>?
    private let temporary: String?
    /// The file written, or nil for stdout.
    let finalPath: String?

    init(path: String?) throws {
        guard let path else {
            file = nil
            temporary = nil
            finalPath = nil
            return
        }
        let target = absolutePath(path)
        let temp = target + ".tmp-\(getpid())"
        guard let f = fopen(temp, "w") else {
            throw CLIError("cannot create \(temp): \(String(cString: strerror(errno)))", code: ExitStatus.cannotCreate)
        }
        file = f
        temporary = temp
        finalPath = target
    }

    func write(_ text: String) {
        if let file { fputs(text, file) } else { Output.write(text) }
    }

    /// Finishes the file: flushes, closes and renames it into place.
    func commit() throws {
        guard let file, let temporary, let finalPath else {
            Output.flush()
            return
        }
        let failed = fflush(file) != 0 || ferror(file) != 0
        let code = errno
        fclose(file)
        if failed {
            unlink(temporary)
            throw CLIError("cannot write \(temporary): \(String(cString: strerror(code)))", code: ExitStatus.cannotCreate)
        }
        guard rename(temporary, finalPath) == 0 else {
            let code = errno
            unlink(temporary)
            throw CLIError("cannot create \(finalPath): \(String(cString: strerror(code)))", code: ExitStatus.cannotCreate)
        }
    }

    /// Removes the unfinished file.
    func abandon() {
        guard let file, let temporary else { return }
        fclose(file)
        unlink(temporary)
    }
}
