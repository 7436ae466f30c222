#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AutopilotClient
import AutopilotDomain
import AutopilotInterface
import Varlink

/// Sends a device CSV file to the daemon in calls of at most 1,000 devices while reading it, and reports every failed
/// row by its line number. Shared by `devices import` (UploadDeviceCsv for an upload batch, AddDevices for an api
/// batch) and `devices validate` (ValidateSubmission).
///
/// Parsed rows that fail locally (wrong column count, quotes) are reported and never sent; an upload sends the text
/// and the daemon reports such rows, by line, in the batch's stored results. Report lines are
/// printed per call, in line order, as soon as the call's results are back; nothing but the failures (and, with
/// --json, the results) is kept.
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
        var local: [DeviceCSV.LineError] = []
        devices.reserveCapacity(Self.chunkSize)
        defer { progress.clear() }

        func flush() throws {
            var report = takeLocal(&local)
            if !devices.isEmpty {
                let outcome = try send(devices, sent)
                for (position, result) in outcome.results.enumerated() {
                    let p = Self.position(of: result.index, at: position, sentBefore: sent, count: lines.count)
                    count(result, line: lines[p], into: &report)
                }
                sent += devices.count
                devices.removeAll(keepingCapacity: true)
                lines.removeAll(keepingCapacity: true)
            }
            printReport(report)
        }

        while let row = try file.next() {
            switch row.result {
            case let .success(device):
                devices.append(device)
                lines.append(row.line)
            case let .failure(error):
                local.append(error)
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
    /// - Throws: what reading or `send` throws; the counts up to then stay readable.
    func runUpload(_ send: (_ csv: String, _ headerLine: Int, _ sentBefore: Int) throws -> Sent) throws {
        var text = ""
        var headerLine = 1
        var rows = 0
        var local: [DeviceCSV.LineError] = []
        defer { progress.clear() }

        func flush() throws {
            var report = takeLocal(&local)
            if rows > 0 {
                let outcome = try send(file.header + "\n" + text, headerLine, sent)
                for result in outcome.results { count(result, line: result.line ?? 0, into: &report) }
                sent += rows
            }
            text = ""
            rows = 0
            printReport(report)
        }

        while let line = try file.nextLine() {
            if text.isEmpty && rows == 0 { headerLine = line.number - 1 }
            if let problem = line.decoding.problem(in: file.encoding) {
                local.append(DeviceCSV.LineError(line: line.number, reason: problem))
                text += "\n"
                continue
            }
            text += line.text
            text += "\n"
            if !line.isBlank { rows += 1 }
            if rows == Self.chunkSize {
                try flush()
                progress.show(line: line.number, bytes: file.bytesRead, succeeded: succeeded, failed: failed)
            }
        }
        try flush()
    }

    /// Counts the local failures (lines never sent) and keeps them for --json, empties `errors`, and returns their
    /// report lines: the start of a call's report.
    private func takeLocal(_ errors: inout [DeviceCSV.LineError]) -> [(line: Int, text: String)] {
        let report: [(line: Int, text: String)] = errors.map {
            ($0.line, "\(DeviceCSV.LineError.name): \($0.reason); the row was not sent")
        }
        for e in errors {
            jsonLocalErrors.append(.object([
                "line": .int(e.line), "errorName": .string(DeviceCSV.LineError.name), "reason": .string(e.reason),
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
