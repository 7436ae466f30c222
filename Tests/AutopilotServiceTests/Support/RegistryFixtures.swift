import AutopilotClient
import AutopilotTestSupport
import Foundation
import Varlink

/// Process control and direct database access for the fault tests.
extension TestDaemon {
    /// The daemon's process id.
    var pid: Int32 { process.processIdentifier }

    /// Kills the daemon with SIGKILL, as a crash or the OOM killer would, and waits until it is gone.
    func kill9() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    /// The daemon's resident memory in KiB (`VmRSS` of /proc/PID/status).
    func residentKiB() throws -> Int { try procStatusKiB("VmRSS", pid: pid) }

    /// Runs SQL on the database with the sqlite3 shell (as an auditor would) and returns its output, trimmed.
    func sql(_ statement: String) throws -> String {
        try sqlite(database, statement)
    }

    /// Calls a method and returns the daemon's error, or nil when the call succeeded; unlike `remoteError`, any other
    /// failure (a closed connection) is thrown, so it cannot pass for a success.
    func callError(_ method: String, _ parameters: JSONObject = [:]) throws -> VarlinkError? {
        do {
            _ = try call(method, parameters)
            return nil
        } catch VarlinkClientError.remote(let error) {
            return error
        }
    }

    /// A tenant (see `addTenant`), the partner of `kind` unless it exists, and the partner's consent from the tenant.
    func makeCustomer(tenant: String, partner: String, kind: String = "directCsp") throws {
        try addTenant(tenant)
        if try callError("GetPartner", ["partner": .string(partner)]) != nil { try addPartner(partner, kind: kind) }
        try giveConsent(partner: partner, kind: kind, tenant: tenant)
    }
}

/// Runs SQL on a database file with the sqlite3 shell and returns its output, trimmed.
func sqlite(_ database: String, _ statement: String) throws -> String {
    let result = try runProgram("/usr/bin/sqlite3", [database, statement])
    guard result.status == 0 else { throw TestFailure("sqlite3 \(statement): \(result)") }
    return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Device CSV files in the Intune form with realistic hardware hashes: structurally valid, 3,000 bytes, 4,000 base64
/// characters, each of the machine its row's serial number names.
enum DeviceCSVFixture {
    static let header = "Device Serial Number,Windows Product ID,Hardware Hash"

    /// The serial number of row `row` (counting data rows from 0).
    static func serial(_ row: Int) -> String { String(format: "SN-%07d", row) }

    /// Writes `rows` devices to `path`; rows for which `invalid` holds get a hash too short to be valid (802): the
    /// first 300 bytes of one. The same `seed` gives the same file.
    static func write(rows: Int, to path: String, seed: UInt64 = 1, invalid: (Int) -> Bool = { _ in false }) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
              let handle = FileHandle(forWritingAtPath: path)
        else { throw TestFailure("cannot create \(path)") }
        defer { try? handle.close() }
        var random = SplitMix64(seed: seed)
        var text = header + "\n"
        for row in 0..<rows {
            let bytes = SyntheticHardwareHash(seed: random.next(), serialNumber: serial(row)).bytes()
            let hash = SyntheticHardwareHash.base64(invalid(row) ? Array(bytes.prefix(300)) : bytes)
            text += "\(serial(row)),,\(hash)\n"
            if text.utf8.count > 1 << 20 {
                handle.write(Data(text.utf8))
                text = ""
            }
        }
        handle.write(Data(text.utf8))
    }
}

/// Runs `body` on `count` threads at once and returns what each returned, in thread order.
func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
    let results = LockedBox([Result<T, any Error>?](repeating: nil, count: count))
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            let result = Result { try body(index) }
            results.mutate { $0[index] = result }
            group.leave()
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
    group.wait()
    return try results.value.map { try $0!.get() }
}

/// A value shared between threads behind a lock.
final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func mutate<R>(_ body: (inout Value) throws -> R) rethrows -> R { try lock.withLock { try body(&stored) } }
}

/// A memory figure of /proc/PID/status in KiB (`VmRSS`, `RssFile`…).
func procStatusKiB(_ field: String, pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") }),
          let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    else { throw TestFailure("no \(field) in /proc/\(pid)/status") }
    return kib
}
