#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AutopilotClient
import AutopilotDomain
import AutopilotInterface
import Crypto
import Dispatch
import Varlink

/// Sends a device CSV file to the daemon in calls of at most 1,000 devices while reading it, and reports every failed
/// row by its line number. Shared by `devices import` (UploadDeviceCsv for an upload batch, AddDevices for an api
/// batch) and `devices validate` (ValidateSubmission).
///
/// Parsed rows that fail locally (wrong column count, quotes) are reported and never sent; an upload sends the text
/// and the daemon reports such rows, by line, in the batch's stored results. Report lines are
/// printed per call, in line order, as soon as the call's results are back; nothing but the failures (and, with
/// --json, the results) is kept.
///
/// A file of more than 1,000 rows goes in parts, and the daemon finds a machine named twice only within one call.
/// So that the whole file is answered as one submission would be (the first is processed, the rest get
/// `ZtdDeviceDuplicated`), a row naming a machine that a row of an earlier part got through with (registered, updated
/// or valid) is reported here, with that row's line, and not sent: otherwise `devices validate` would call both
/// valid and the import would then refuse the second (806), or, with --update-existing, let it overwrite the first's
/// group tag. The identifiers are read as the daemon reads them (`DeviceRules.normalize`), from the second part on.
final class CSVSubmission {
    /// Devices per call: the interface's limit.
    static let chunkSize = DeviceRules.maxDevicesPerCall

    /// One call's outcome: the results in the order the daemon sent them.
    struct Sent {
        var results: [DeviceResult]
    }

    let file: DeviceCSVFile
    let json: Bool
    /// The statuses that count as success: `registered` (and `updated`, with updateExisting) or `valid`.
    let success: Set<DeviceResultStatus>
    private let progress: Progress

    private(set) var succeeded = 0
    /// Of `succeeded`, the devices already registered that an import with updateExisting updated.
    private(set) var updated = 0
    private(set) var failed = 0
    private(set) var sent = 0
    private(set) var localFailures = 0
    private(set) var jsonResults: [JSONValue] = []
    private(set) var jsonLocalErrors: [JSONValue] = []
    /// The machines rows of the parts already sent got through with, by the line that named each first.
    private var earlier = MachineIndex()
    /// The last part's rows that got through, folded into `earlier` when another part begins.
    private var unfolded: [(line: Int, machine: RowMachine)] = []

    init(file: DeviceCSVFile, json: Bool, success: Set<DeviceResultStatus>, verb: String) {
        self.file = file
        self.json = json
        self.success = success
        self.progress = Progress(total: file.size, verb: verb)
    }

    /// Whether every data line failed locally, so nothing was sent.
    var nothingSent: Bool { sent == 0 && localFailures > 0 }

    /// Reads the whole file, handing each chunk to `send` with the number of devices sent before it.
    /// - Throws: what reading or `send` throws; the counts up to then stay readable.
    func run(_ send: (_ devices: [DeviceInput], _ sentBefore: Int) throws -> Sent) throws {
        var devices: [DeviceInput] = []
        var lines: [Int] = []
        var machines: [RowMachine] = []
        var local: [LocalFailure] = []
        devices.reserveCapacity(Self.chunkSize)
        defer { progress.clear() }

        func flush() throws {
            var report = takeLocal(&local)
            if !devices.isEmpty {
                let outcome = try send(devices, sent)
                for (position, result) in outcome.results.enumerated() {
                    let p = Self.position(of: result.index, at: position, sentBefore: sent, count: lines.count)
                    count(result, line: lines[p], into: &report)
                    if success.contains(result.status) { unfolded.append((lines[p], machines[p])) }
                }
                sent += devices.count
                devices.removeAll(keepingCapacity: true)
                lines.removeAll(keepingCapacity: true)
                machines.removeAll(keepingCapacity: true)
            }
            printReport(report)
        }

        while let row = try file.next() {
            switch row.result {
            case let .success(device):
                foldEarlierPart()
                var machine = RowMachine.device(device)
                if !earlier.isEmpty {
                    let keys = DeviceKeys.ofRow(device)
                    if let keys, let first = earlier.firstPosition(naming: keys) {
                        local.append(.repeat(line: row.line, of: first))
                        continue
                    }
                    machine = .known(keys)
                }
                devices.append(device)
                lines.append(row.line)
                machines.append(machine)
            case let .failure(error):
                local.append(LocalFailure(error))
            }
            if devices.count == Self.chunkSize {
                try flush()
                progress.show(line: row.line, bytes: file.bytesRead, succeeded: succeeded, failed: failed)
            }
        }
        try flush()
    }

    /// Reads the whole file as text and hands it to `send` in parts: the header line, then at most `chunkSize` data
    /// rows, with the file line number of the line before the part's first line, for `UploadDeviceCsv`, whose
    /// results carry their file lines. Blank lines go along (they keep the numbering and are skipped by the daemon);
    /// a line that cannot be read as text in the file's encoding is reported here and sent as a blank line.
    ///
    /// One part's call runs on another thread while the next part is read (and, from the second part on, its rows'
    /// machines read out of them), so the daemon does not wait for the file between calls; the next part is checked
    /// against the earlier parts' machines, and sent, once the call before it has answered. One call at a time.
    /// - Throws: what reading or `send` throws; the counts up to then stay readable.
    func runUpload(_ send: @escaping (_ csv: String, _ headerLine: Int, _ sentBefore: Int) throws -> Sent) throws {
        /// A line of the part being read: its text (blank lines too) and, for a row, the machine it names.
        struct PartLine {
            var number: Int
            var text: String
            var machine: RowMachine?
        }
        var part: [PartLine] = []
        var rows = 0
        var local: [LocalFailure] = []
        var partsRead = 0
        var inFlight: (call: BackgroundCall<Sent>, machines: [Int: RowMachine], rows: Int, lastLine: Int)?
        defer { progress.clear() }
        // Called on another thread, one call at a time, each waited for before the next and before returning.
        let sender = UncheckedSendable(send)

        /// Waits for the call in flight and counts its results.
        func finish() throws {
            guard let call = inFlight else { return }
            inFlight = nil
            let outcome = try call.call.wait()
            var report: [(line: Int, text: String)] = []
            for result in outcome.results {
                count(result, line: result.line ?? 0, into: &report)
                guard success.contains(result.status), let line = result.line, let machine = call.machines[line]
                else { continue }
                unfolded.append((line, machine))
            }
            sent += call.rows
            printReport(report)
            progress.show(line: call.lastLine, bytes: file.bytesRead, succeeded: succeeded, failed: failed)
        }
        /// Sends the part read so far, once the call before it has answered and its rows are checked.
        func flush() throws {
            try finish()
            foldEarlierPart()
            var text = ""
            var machines: [Int: RowMachine] = [:]
            var partRows = 0
            for line in part {
                if let machine = line.machine {
                    if case let .known(keys?) = machine, let first = earlier.firstPosition(naming: keys) {
                        local.append(.repeat(line: line.number, of: first))
                        text += "\n"  // sent blank, so that the daemon's line numbers stay the file's
                        continue
                    }
                    machines[line.number] = machine
                    partRows += 1
                }
                text += line.text
                text += "\n"
            }
            printReport(takeLocal(&local))
            if partRows > 0, let first = part.first, let last = part.last {
                let csv = file.header + "\n" + text, headerLine = first.number - 1, before = sent
                inFlight = (BackgroundCall { try sender.value(csv, headerLine, before) }, machines, partRows,
                            last.number)
            }
            part.removeAll(keepingCapacity: true)
            rows = 0
        }

        do {
            while let line = try file.nextLine() {
                if let problem = line.decoding.problem(in: file.encoding) {
                    local.append(LocalFailure(DeviceCSV.LineError(line: line.number, reason: problem)))
                    part.append(PartLine(number: line.number, text: "", machine: nil))
                    continue
                }
                var machine: RowMachine?
                if !line.isBlank {
                    rows += 1
                    if partsRead == 0 {
                        // Read only if another part follows.
                        machine = .text(line.text, line: line.number, format: file.format)
                    } else {
                        // A row the reader refuses names nothing here: the daemon reports it on its line.
                        machine = .known(RowMachine.text(line.text, line: line.number, format: file.format).keys)
                    }
                }
                part.append(PartLine(number: line.number, text: line.text, machine: machine))
                if rows == Self.chunkSize {
                    try flush()
                    // Counted here, not in flush(): counted there, the compiler took `partsRead == 0` above for
                    // always true and warned that a later part's branch would never run (it does run).
                    partsRead += 1
                }
            }
            if !part.isEmpty || !local.isEmpty { try flush() }
            try finish()
        } catch {
            // Whatever failed, the call in flight ends (and is counted) before this returns: nothing runs on after it.
            try? finish()
            throw error
        }
    }

    /// Remembers the machines of the last part's rows that got through, once another part begins.
    private func foldEarlierPart() {
        for (line, machine) in unfolded {
            if let keys = machine.keys { earlier.insert(keys, at: line) }
        }
        unfolded.removeAll()
    }

    /// A row reported here and never sent: one the reader refuses, or a repeat of a machine an earlier part sent.
    struct LocalFailure {
        var line: Int
        var name: String
        var reason: String

        init(_ error: DeviceCSV.LineError) {
            line = error.line; name = DeviceCSV.LineError.name; reason = error.reason
        }

        init(line: Int, name: String, reason: String) {
            self.line = line; self.name = name; self.reason = reason
        }

        /// A row naming the machine of line `first`, which an earlier part got through with.
        static func `repeat`(line: Int, of first: Int) -> LocalFailure {
            LocalFailure(line: line, name: DeviceErrorCode.ztdDeviceDuplicated.name,
                         reason: "the same device appears earlier in this file, on line \(first)")
        }
    }

    /// Counts the local failures (lines never sent) and keeps them for --json, empties `errors`, and returns their
    /// report lines: the start of a call's report.
    private func takeLocal(_ errors: inout [LocalFailure]) -> [(line: Int, text: String)] {
        let report: [(line: Int, text: String)] = errors.map {
            ($0.line, "\($0.name): \($0.reason); the row was not sent")
        }
        for e in errors {
            jsonLocalErrors.append(.object([
                "line": .int(e.line), "errorName": .string(e.name), "reason": .string(e.reason),
            ]))
        }
        localFailures += errors.count
        failed += errors.count
        errors.removeAll(keepingCapacity: true)
        return report
    }

    /// Counts one result from the daemon, adds a failure to `report` and keeps the result for --json.
    private func count(_ result: DeviceResult, line: Int, into report: inout [(line: Int, text: String)]) {
        if success.contains(result.status) {
            succeeded += 1
            if result.status == .updated { updated += 1 }
        } else {
            failed += 1
            report.append((line, Render.failure(result)))
        }
        if json {
            var object: JSONObject = ["line": .int(line)]
            for (key, value) in result.wireObject where key != "line" { object[key] = value }
            jsonResults.append(.object(object))
        }
    }

    /// Prints one call's failures in line order (not with --json, which prints everything at the end).
    private func printReport(_ report: [(line: Int, text: String)]) {
        guard !json && !report.isEmpty else { return }
        progress.clear()
        for entry in report.sorted(by: { $0.line < $1.line }) { Output.out("line \(entry.line): \(entry.text)") }
    }

    /// Where a result belongs in the chunk: by its batch-wide index, else its index within the call, else its order.
    static func position(of index: Int, at position: Int, sentBefore: Int, count: Int) -> Int {
        if (0..<count).contains(index - sentBefore) { return index - sentBefore }
        if (0..<count).contains(index) { return index }
        return min(position, count - 1)
    }
}

/// A one-line progress bar on stderr, drawn only when stderr is a terminal.
final class Progress {
    private let enabled = Output.stderrIsTerminal
    private let total: Int64?
    private let verb: String
    private var drawn = false

    init(total: Int64?, verb: String) {
        self.total = total
        self.verb = verb
    }

    func show(line: Int, bytes: Int64, succeeded: Int, failed: Int) {
        guard enabled else { return }
        var text = "\r"
        if let total, total > 0 {
            let fraction = min(1, Double(bytes) / Double(total))
            let width = 30
            let filled = Int(fraction * Double(width))
            text += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            text += "\(Int(fraction * 100))%  "
        }
        text += "line \(line)  \(verb) \(succeeded)  failed \(failed)\u{1B}[K"
        Output.stderrWrite(text)
        drawn = true
    }

    /// Erases the bar so that other output starts on a clean line.
    func clear() {
        guard drawn else { return }
        Output.stderrWrite("\r\u{1B}[K")
        drawn = false
    }
}

/// The machine a row names, read from it when first needed: a file of one part never needs it.
enum RowMachine {
    /// A parsed row, not read yet.
    case device(DeviceInput)
    /// A row of an upload, kept as its text.
    case text(String, line: Int, format: DeviceCSV.Format)
    /// Read already (nil: the daemon's rules refuse the row).
    case known(DeviceKeys?)

    /// Its identifiers, nil when the row is refused.
    var keys: DeviceKeys? {
        switch self {
        case let .device(device): DeviceKeys.ofRow(device)
        case let .text(text, line, format):
            // A row the reader refuses got no result to fold; nil either way.
            (try? format.parse(line: text, number: line)).flatMap { $0 }.flatMap(DeviceKeys.ofRow)
        case let .known(keys): keys
        }
    }
}

extension DeviceKeys {
    /// The identifiers the daemon reads from a row (interface.md, "Device identity"), or nil when its rules refuse
    /// the row (the daemon reports why). Read as for a CSP partner, which may name a device by hash: an OEM's hash
    /// row is refused by the daemon.
    static func ofRow(_ device: DeviceInput) -> DeviceKeys? {
        guard case let .success(normalized) = DeviceRules.normalize(device, partnerKind: .directCsp) else { return nil }
        return DeviceKeys(normalized, hashDigest: normalized.hardwareHash.map { Hex.lowercase(SHA256.hash(data: $0)) })
    }
}

/// A value handed to another thread that only one thread uses at a time, by the caller's own ordering.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// One blocking call run on a dispatch thread; `wait()` returns its value or rethrows its error.
final class BackgroundCall<Value>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    // Written once by the call's thread before `done` is signalled, read after `wait()` has seen the signal.
    private var result: Result<Value, any Error>?

    init(_ body: @escaping () throws -> Value) {
        let work = UncheckedSendable(body)
        DispatchQueue.global().async { [self] in
            result = Result { try work.value() }
            done.signal()
        }
    }

    func wait() throws -> Value {
        done.wait()
        return try result!.get()
    }
}
