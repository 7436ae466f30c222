import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A goal for one figure, from issue 7's table: a bound on its ratio to the reference, or on its value.
struct Target: Codable, Sendable {
    enum Kind: String, Codable, Sendable {
        /// value / reference ≥ bound
        case ratioAtLeast
        /// value / reference ≤ bound
        case ratioAtMost
        /// value ≤ bound (in the figure's unit)
        case valueAtMost
    }
    var kind: Kind
    var bound: Double

    var text: String {
        switch kind {
        case .ratioAtLeast: "≥ \(formatNumber(bound)) ×"
        case .ratioAtMost: "≤ \(formatNumber(bound)) ×"
        case .valueAtMost: "≤ \(formatNumber(bound))"
        }
    }
}

/// One line of the results: a measured value, its reference measured in the same run, their ratio, and the
/// target it is held to.
struct Figure: Codable, Sendable {
    var id: String
    var label: String
    var unit: String
    var value: Double
    var reference: Double?
    /// What the reference is ("redis GET, 16 connections"), or why it is missing.
    var referenceLabel: String?
    var ratio: Double?
    var target: Target?
    /// Whether the target is met; nil without a target, or when the reference it needs is missing.
    var met: Bool?

    init(id: String, label: String, unit: String, value: Double, reference: Double? = nil,
         referenceLabel: String? = nil, target: Target? = nil) {
        self.id = id; self.label = label; self.unit = unit; self.value = value
        self.reference = reference; self.referenceLabel = referenceLabel; self.target = target
        ratio = reference.flatMap { $0 > 0 ? value / $0 : nil }
        if let target {
            switch target.kind {
            case .ratioAtLeast: met = ratio.map { $0 >= target.bound }
            case .ratioAtMost: met = ratio.map { $0 <= target.bound }
            case .valueAtMost: met = value <= target.bound
            }
        }
    }
}

/// The machine a run happened on.
struct Machine: Codable, Sendable {
    var cpu: String
    var cores: Int
    var memoryGiB: Double
    var kernel: String
    var swift: String
    /// How the benchmark (and so, normally, the daemon next to it) was compiled.
    var build: String
    var loadAverageAtStart: String

    static func current() -> Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }.map { $0.trimmingCharacters(in: .whitespaces) }
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let memKiB = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Double($0) } ?? 0
        var names = utsname()
        uname(&names)
        let kernel = withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        return Machine(cpu: model ?? "unknown", cores: sysconf(Int32(_SC_NPROCESSORS_ONLN)), memoryGiB: memKiB / 1_048_576,
                       kernel: kernel, swift: swiftVersion(), build: build, loadAverageAtStart: loadAverage())
    }

    /// The first line of `swift --version`, when a toolchain is on PATH.
    static func swiftVersion() -> String {
        guard let swift = findTool("swift") ?? findTool("/opt/swift/usr/bin/swift") else { return "unknown" }
        let out = FileManager.default.temporaryDirectory.path + "/autopilot-bench-swift-\(getpid()).txt"
        defer { unlink(out) }
        guard let r = try? runTimed(swift, ["--version"], stdout: out), r.status == 0,
              let text = try? String(contentsOfFile: out, encoding: .utf8) else { return "unknown" }
        return text.split(separator: "\n").first.map(String.init) ?? "unknown"
    }
}

/// The 1, 5 and 15 minute load averages.
func loadAverage() -> String {
    let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// Everything one run produced, printed as a table and written as JSON.
struct Report: Codable {
    var tool = "autopilot-bench"
    var startedAt: String
    var finishedAt: String?
    var machine: Machine
    var loadAverageAtEnd: String?
    var scenarios: [String] = []
    var settings: [String: String] = [:]
    var figures: [Figure] = []
    var notes: [String] = []

    init() {
        startedAt = Date().formatted(.iso8601)
        machine = Machine.current()
    }

    mutating func add(_ figure: Figure) { figures.append(figure) }

    /// The results as an aligned text table, with the machine first.
    func table() -> String {
        var lines = [
            "machine: \(machine.cpu), \(machine.cores) cores, \(String(format: "%.1f", machine.memoryGiB)) GiB, "
                + "Linux \(machine.kernel), \(machine.swift), \(machine.build) build",
            "load average: \(machine.loadAverageAtStart) at start" + (loadAverageAtEnd.map { ", \($0) at end" } ?? ""),
            "",
        ]
        let header = ["figure", "value", "reference", "ratio", "target", "met?"]
        let rows = figures.map { f -> [String] in
            let reference: String
            if let r = f.reference {
                reference = "\(formatValue(r, f.unit)) (\(f.referenceLabel ?? ""))"
            } else {
                reference = f.referenceLabel ?? "–"
            }
            let met = f.met.map { $0 ? "yes" : "NO" } ?? (f.target == nil ? "" : "?")
            return [f.label, formatValue(f.value, f.unit), reference, f.ratio.map { String(format: "%.2f", $0) } ?? "–",
                    f.target?.text ?? "", met]
        }
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        lines.append(line(header))
        lines.append(line(widths.map { String(repeating: "-", count: $0) }))
        lines += rows.map(line)
        if !notes.isEmpty { lines += [""] + notes.map { "note: \($0)" } }
        return lines.joined(separator: "\n")
    }

    func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// A value with its unit, rounded for reading.
func formatValue(_ value: Double, _ unit: String) -> String {
    "\(formatNumber(value)) \(unit)"
}

/// Thousands separated above 1,000; three significant digits below.
func formatNumber(_ value: Double) -> String {
    if abs(value) >= 1000 {
        let digits = String(Int(value.rounded()))
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
    if value == value.rounded() { return String(Int(value)) }
    if abs(value) >= 100 { return String(format: "%.0f", value) }
    if abs(value) >= 10 { return String(format: "%.1f", value) }
    return String(format: "%.2f", value)
}
