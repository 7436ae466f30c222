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
        abstract: "Register, list, change, export and deregister Autopilot devices.",
        subcommands: [Import.self, Validate.self, List.self, Show.self, Update.self, Deregister.self, Export.self,
                      Inspect.self]
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
                Batch names are unique per partner and tenant (ignoring case): without --name the batch is named \
                after the file, with " (2)", " (3)"… added when an earlier batch has that name; a --name that is \
                taken is refused before any row is sent.
                --update-existing re-tags: a device already registered to the tenant is not 806 but takes the row's \
                Group Tag and Assigned User (an empty cell clears the device's; a form without those columns leaves \
                them), and is reported as updated: registered X, updated Y, failed Z. A device registered to another \
                tenant is still 808. Export a tenant's devices with their tags (devices export --form intune), edit \
                the Group Tag column, and import the file with --update-existing to re-tag them all.
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
        @Flag(name: .customLong("update-existing"), help: """
            A device already registered to the tenant takes the row's group tag and assigned user (updated) \
            instead of failing with 806.
            """)
        var updateExisting = false

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
                let submission = CSVSubmission(file: csv, json: s.json, success: [.registered, .updated],
                                               verb: "registered")
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
                    let name = try batchName(s)
                    do {
                        return try s.call(Registry.CreateDeviceBatch.self, .init(
                            partner: partner!, tenant: tenant!, name: name, channel: channel)).batch
                    } catch {
                        throw nameTaken(error, name: name, s)
                    }
                }
                func sent(_ reply: BatchResults) -> CSVSubmission.Sent {
                    batch = reply.batch
                    return CSVSubmission.Sent(results: reply.results)
                }
                do {
                    if channel == .upload {
                        try submission.runUpload { csv, headerLine, _ in
                            batch = try openBatch()
                            return sent(try s.call(Registry.UploadDeviceCsv.self, .init(
                                batch: batch!.id, csv: csv, line: headerLine, updateExisting: updateExisting ? true : nil)))
                        }
                    } else {
                        try submission.run { devices, _ in
                            batch = try openBatch()
                            // The file's columns are what the rows state: an empty Group Tag cell clears a tag.
                            let stated = updateExisting ? devices.map(csv.format.stating) : devices
                            return sent(try s.call(Registry.AddDevices.self, .init(
                                batch: batch!.id, devices: stated, updateExisting: updateExisting ? true : nil)))
                        }
                    }
                } catch {
                    if !s.json, let batch {
                        Output.stderrWrite("stopped at line \(csv.currentLine): \(summary(submission)), "
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
                    Output.out("\(summary(submission)), failed \(submission.failed) (batch \(batch.id))")
                } else if submission.nothingSent {
                    Output.out("registered 0, failed \(submission.failed) (no row could be read: nothing was sent)")
                } else {
                    Output.out("registered 0, failed 0 (\(file) has no devices: nothing was sent)")
                }
                exitCode = submission.nothingSent ? ExitStatus.dataError : submission.failed > 0 ? ExitStatus.someFailed : 0
            }
            if exitCode != 0 { throw ExitCode(exitCode) }
        }

        /// A clearer error than AlreadyExists when the batch name is taken: which batch has it, and what to do.
        func nameTaken(_ error: any Error, name: String, _ s: Session) -> any Error {
            guard case let VarlinkClientError.remote(remote) = error,
                  case .alreadyExists(kind: "batch", _)? = RegistryErrors.registryError(remote) else { return error }
            let key = AutopilotDomain.Validate.trim(name).lowercased()
            let taken = try? s.call(Registry.ListBatches.self, .init(partner: partner, tenant: tenant)).batches
                .first { $0.name.lowercased() == key }
            return CLIError("partner \(partner ?? "?") already has a batch named '\(name)' for tenant \(tenant ?? "?")"
                + (taken.map { " (batch \($0.id)); give another --name, or add the rows to it with --batch \($0.id)" }
                    ?? "; give another --name") + "; nothing was sent", code: ExitStatus.refused)
        }

        /// "registered X" (and ", updated Y" with --update-existing).
        func summary(_ submission: CSVSubmission) -> String {
            "registered \(submission.succeeded - submission.updated)"
                + (updateExisting ? ", updated \(submission.updated)" : "")
        }

        /// The new batch's name: --name as given, else the file's name, with " (2)", " (3)"… added when an earlier
        /// batch of the partner for the tenant has it (names are unique per partner and tenant, ignoring case).
        func batchName(_ s: Session) throws -> String {
            if let name { return name }
            let base = baseName(file)
            let taken = Set(try s.call(Registry.ListBatches.self, .init(partner: partner, tenant: tenant)).batches
                .map { $0.name.lowercased() })
            var candidate = base
            var number = 2
            while taken.contains(candidate.lowercased()) {
                candidate = "\(base) (\(number))"
                number += 1
            }
            return candidate
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
                let submission = CSVSubmission(file: csv, json: s.json, success: [.valid], verb: "valid")
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

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a registered device's group tag, assigned user, display name or purchase order (UpdateDevice).",
            discussion: """
                Sets what the options give and leaves the rest; an empty value clears one (--group-tag ''). \
                A partner changes devices of tenants that gave it consent. A tenant's person acts as an account of \
                the device's tenant holding GlobalAdministrator, IntuneAdministrator or CloudDeviceAdministrator \
                (else AccountRoleRequired): --as UPN, by default the account their access rule binds them to. An \
                operator changes any device, or acts as the account --as names. The assigned user's domain must be \
                one of the tenant's; the display name becomes the Windows computer name (1 to 15 letters, digits and \
                hyphens). Every change is recorded with its old and new value (docs/auditing.md, \
                device_change_history). Prints the device; --json prints {device}.
                To re-tag many devices at once, see devices import --update-existing.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The device id (devices list shows it).") var device: String
        @Option(name: .customLong("group-tag"), help: "The new group tag ('' clears it).") var groupTag: String?
        @Option(name: .customLong("assigned-user"), help: ArgumentHelp("The new assigned user ('' clears it).",
                                                                       valueName: "upn"))
        var assignedUser: String?
        @Option(name: .customLong("display-name"), help: "The new display name ('' clears it).") var displayName: String?
        @Option(name: .customLong("purchase-order"), help: "The new purchase order ('' clears it); the partner's side only.") var purchaseOrder: String?
        @Option(name: .customLong("as"), help: deviceAccountHelp) var account: String?

        func validate() throws {
            if groupTag == nil && assignedUser == nil && displayName == nil && purchaseOrder == nil {
                throw ValidationError("nothing to change: give --group-tag, --assigned-user, --display-name or "
                    + "--purchase-order (an empty value clears one)")
            }
        }

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.UpdateDevice.self, .init(
                    device: device, account: try s.deviceAccount(account), groupTag: groupTag,
                    assignedUser: assignedUser, displayName: displayName, purchaseOrder: purchaseOrder))
                s.printDevice(reply, "updated")
            }
        }
    }

    struct Deregister: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deregister (remove) a device, named by id, by manufacturer + model + serial, or by product key.",
            discussion: """
                Two sides, one command (devices remove is the same command):
                  partner: devices deregister --partner P ...  A partner may always deregister devices it \
                registered; any other device needs an active grant for its tenant (ZtdDeviceRegisteredByOtherTenant, \
                811). OEMs need not name the tenant. A partner's person may leave out --partner (their own).
                  tenant:  devices remove --as UPN ...  A tenant's GlobalAdministrator, IntuneAdministrator or \
                CloudDeviceAdministrator removes a device of its own tenant, whoever registered it (else \
                AccountRoleRequired); a device named by its identifiers is looked for in that tenant only (807 when \
                it is not there). A tenant's person may leave out --as: it acts as the account its access rule binds \
                it to, and is told so.
                An operator names --partner or --as. The registration is kept, marked deregistered, and the \
                deregistration is recorded in the auditors' device_change_history.
                """,
            aliases: ["remove"])
        @OptionGroup var global: GlobalOptions
        @Option(help: "The acting partner's id (the partner's side).") var partner: String?
        @Option(name: .customLong("as"), help: deviceAccountHelp) var account: String?
        @Option(help: "The device id.") var device: String?
        @Option(help: "Serial number (with --manufacturer and --model).") var serial: String?
        @Option(help: "Manufacturer name.") var manufacturer: String?
        @Option(help: "Device model.") var model: String?
        @Option(name: .customLong("product-key"), help: "Windows Product Key ID (PKID).") var productKey: String?
        @Option(help: "The device's tenant.") var tenant: String?

        func validate() throws {
            _ = try selector()
            if partner != nil && account != nil {
                throw ValidationError("--partner deregisters on the partner's side, --as on the tenant's: give one")
            }
        }

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
                var parameters: Registry.DeregisterDevice.Parameters
                if partner != nil || account != nil {
                    parameters = account.map { .init(account: $0, selector) } ?? .init(partner: partner, selector)
                } else {
                    // Neither side named: a partner's person acts as its partner, a tenant's as its account.
                    let me = try s.call(Registry.WhoAmI.self)
                    switch me.role {
                    case .partner: parameters = .init(partner: nil, selector)
                    case .tenant: parameters = .init(account: try s.deviceAccount(nil), selector)
                    default:
                        throw CLIError("name the side you act on: --partner ID (the registering partner's) or --as UPN "
                            + "(a device administrator of the device's tenant)", code: ExitStatus.usage)
                    }
                }
                parameters.tenant = tenant
                s.printDevice(try s.call(Registry.DeregisterDevice.self, parameters), "deregistered")
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a tenant's registered devices as a device CSV file that imports again.",
            discussion: """
                --form partner-center (the default): \(DeviceCSV.Format.partnerCenter.header)
                --form intune: \(DeviceCSV.Format.intuneWithGroupTagAndUser.header)
                The Hardware Hash column is always empty: the registry never sends hashes back (only their \
                SHA-256), so each row names its device another way, and every row written can be uploaded again. \
                The Partner Center form names a device by product key or by manufacturer, model and serial number, \
                but has no group tag. The Intune form carries each device's group tag and assigned user, and names it \
                by product key only (a serial number alone names no machine). A device the chosen form cannot carry \
                (known only by its hash in the Partner Center form, without a product key in the Intune form, or with \
                a comma or quote in a field) is never dropped silently: it is named on stderr with the reason, and \
                the exit status is 2 (0 when every device was written). With --output the file is written whole or \
                not at all; with --json (which needs --output) a summary {output, exported, skipped: [id]} is printed.
                Re-tagging: export --form intune, change the Group Tag column, then devices import FILE \
                --update-existing.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The tenant id.") var tenant: String
        @Option(help: "Only the devices this partner registered.") var partner: String?
        @Option(help: "Only the devices of this batch.") var batch: String?
        @Option(help: "partner-center (default) or intune (with Group Tag and Assigned User).") var form: ExportForm = .partnerCenter
        @Option(help: "Write to this file instead of stdout.") var output: String?

        /// The forms export writes, as the option names them.
        enum ExportForm: String, ExpressibleByArgument, CaseIterable {
            case partnerCenter = "partner-center", intune

            var format: DeviceCSV.Format {
                switch self {
                case .partnerCenter: .partnerCenter
                case .intune: .intuneWithGroupTagAndUser
                }
            }
        }

        func validate() throws {
            if global.json && output == nil { throw ValidationError("--json prints a summary, which needs --output FILE") }
        }

        func run() throws {
            var skippedCount = 0
            try global.run { s in
                let sink = try CSVSink(path: output)
                var exported = 0
                var skipped: [JSONValue] = []
                let format = form.format
                do {
                    sink.write(format.header + "\n")
                    try s.client.stream(Registry.ListDevices.self, DeviceFilter(tenant: tenant, partner: partner,
                                                                                batch: batch)) { reply in
                        guard let device = reply.device else { return }
                        do {
                            sink.write(try DeviceCSV.exportRow(device, form: format) + "\n")
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
                } else if !skipped.isEmpty {
                    Output.stderrWrite("exported \(exported) device\(exported == 1 ? "" : "s"), skipped \(skipped.count)\n")
                }
            }
            if skippedCount > 0 { throw ExitCode(ExitStatus.someFailed) }
        }
    }
}

/// The help of the `--as` option of the device commands.
let deviceAccountHelp = ArgumentHelp(
    "Act on the tenant's side as this account (a GlobalAdministrator, IntuneAdministrator or CloudDeviceAdministrator "
        + "of the device's tenant); default for a tenant's person: the account their access rule binds them to.",
    valueName: "upn")

extension Session {
    /// The account a device command acts as on the tenant's side: the one --as names; else, for a tenant's person, the
    /// one their access rule binds them to (said on stdout, as for consent), or none for a tenant-wide rule (which
    /// the daemon refuses); a partner or an operator without --as acts on the partner's side (nil).
    func deviceAccount(_ named: String?) throws -> String? {
        if let named { return named }
        let me = try call(Registry.WhoAmI.self)
        guard me.role == .tenant else { return nil }
        if let bound = me.account, !json { Output.out("Acting as \(bound), the account your access rule binds you to.\n") }
        return me.account
    }

    /// Prints a device a call changed: `<verb> device ID` and its block, or the reply as JSON.
    func printDevice(_ reply: Registry.DeviceReply, _ verb: String) {
        if printJSON(reply) { return }
        Output.out("\(verb) device \(reply.device.id)")
        Render.print(Render.block(reply.device))
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
