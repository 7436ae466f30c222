import AutopilotClient
import Foundation
import Testing
import Varlink

/// The directory holding the built products (`autopilotd`, `autopilotctl`) next to the running test binary.
let productsDirectory: String = {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = (exe as NSString).deletingLastPathComponent
    // On Linux the test runner is <products>/autopilotdPackageTests.xctest.
    while !dir.isEmpty, dir != "/", !FileManager.default.fileExists(atPath: dir + "/autopilotd") {
        dir = (dir as NSString).deletingLastPathComponent
    }
    return dir
}()

/// What a finished command printed and how it exited.
struct CommandResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String
    var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// Runs a program to completion with the given arguments, environment additions and standard input.
@discardableResult
func runProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil,
                timeout: TimeInterval = 120) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let out = Pipe(), err = Pipe(), input = Pipe()
    process.standardOutput = out
    process.standardError = err
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    // Read both pipes concurrently so a chatty child never blocks on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var outData = Data(), errData = Data()
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    if group.wait(timeout: .now() + timeout) == .timedOut {
        // SIGKILL: a child spawned from a libdispatch worker thread inherits its mask, which blocks SIGTERM.
        kill(process.processIdentifier, SIGKILL)
        throw TestFailure("\(path) \(arguments) did not finish within \(timeout)s")
    }
    process.waitUntilExit()
    return CommandResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// Waits until something accepts a connection on the Unix socket at `path` (a connection opened and closed at once),
/// for at most `seconds` and only while `process` runs; whether it did.
func waitUntilAccepting(_ path: String, while process: Process, seconds: Double = 60) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline {
        if let connection = try? VarlinkConnection(path: path) {
            connection.close()
            return true
        }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return false
}

/// Sends SIGTERM to a running `process` and waits up to `seconds` for it to exit; past that, kills it (SIGKILL)
/// and returns false, so that a process that ignores SIGTERM fails its test instead of hanging the suite.
@discardableResult
func terminateAndWait(_ process: Process, seconds: Double = 60) -> Bool {
    guard process.isRunning else { return true }
    process.terminate()
    let deadline = Date().addingTimeInterval(seconds)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    guard process.isRunning else { return true }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    return false
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A real `autopilotd` process in a fresh temporary directory, stopped (SIGTERM) by `stop()`.
final class TestDaemon: @unchecked Sendable {
    let directory: String
    let socket: String
    let database: String
    let process: Process
    private let logPipe = Pipe()
    private let logLock = NSLock()
    private var logData = Data()
    /// Signalled when the log pipe reaches its end (the daemon, the only writer, has exited).
    private let logEnded = DispatchSemaphore(value: 0)
    /// Whether `stop()` has waited for that end already (`cleanup()` stops again).
    private var logDrained = false

    /// Starts the daemon with `--socket` and `--database` in a new temp dir, plus config lines and environment,
    /// and waits until the socket answers. `databaseName` is the database's path within the directory. With `umask`,
    /// the daemon starts under that umask (through /bin/sh); with `launcher`, through that program and its arguments,
    /// which must exec the daemon's path and arguments that follow them.
    init(config: [String] = [], environment: [String: String] = [:], arguments: [String] = [],
         directory existing: String? = nil, databaseName: String = "registry.sqlite", umask: mode_t? = nil,
         launcher: [String] = []) throws {
        if let existing {
            directory = existing
        } else {
            directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("autopilotd-test-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        socket = directory + "/io.autopilotd.registry"
        database = directory + "/" + databaseName
        var args = ["--socket", socket, "--database", database] + arguments
        if !config.isEmpty {
            let path = directory + "/autopilotd.conf"
            try (config.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            args += ["--config", path]
        }
        process = Process()
        let launcher = umask.map { ["/bin/sh", "-c", "umask \(String($0, radix: 8)) && exec \"$0\" \"$@\""] } ?? launcher
        if let program = launcher.first {
            process.executableURL = URL(fileURLWithPath: program)
            process.arguments = launcher.dropFirst() + [productsDirectory + "/autopilotd"] + args
        } else {
            process.executableURL = URL(fileURLWithPath: productsDirectory + "/autopilotd")
            process.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "LISTEN_PID")
        env.removeValue(forKey: "LISTEN_FDS")
        env.removeValue(forKey: "JOURNAL_STREAM")
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = logPipe
        logPipe.fileHandleForReading.readabilityHandler = { [logLock, logEnded] handle in
            let chunk = handle.availableData
            if chunk.isEmpty {
                handle.readabilityHandler = nil
                logEnded.signal()
                return
            }
            logLock.lock()
            self.logData.append(chunk)
            logLock.unlock()
        }
        try process.run()
        try waitUntilServing()
    }

    private func waitUntilServing() throws {
        if waitUntilAccepting(socket, while: process) { return }
        if !process.isRunning {
            throw TestFailure("autopilotd exited with \(process.terminationStatus) before serving:\n\(log)")
        }
        throw TestFailure("autopilotd did not start serving within 60s:\n\(log)")
    }

    /// What the daemon wrote to stderr by the time it opened its socket: everything it says at start (warnings about
    /// rules, upgrade findings) comes before its `listening` line. The log reaches the test through a pipe read on
    /// another thread, so a socket that accepts says nothing about what of it has arrived: this waits for that line
    /// (up to 10 s, then gives the log as it is).
    var startLog: String {
        let deadline = Date().addingTimeInterval(10)
        while true {
            let now = log
            if now.contains("listening") || now.contains("serving inherited socket") || Date() >= deadline { return now }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// What the daemon wrote to stderr so far (what the pipe's reader has taken in).
    var log: String {
        logLock.lock()
        defer { logLock.unlock() }
        return String(decoding: logData, as: UTF8.self)
    }

    /// Runs the real `autopilotctl` against this daemon.
    @discardableResult
    func ctl(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws -> CommandResult {
        var env = environment
        env["AUTOPILOT_SOCKET"] = env["AUTOPILOT_SOCKET"] ?? socket
        return try runProgram(productsDirectory + "/autopilotctl", arguments, environment: env, stdin: stdin)
    }

    /// Runs `autopilotctl` as another Unix user (the test runs as root), through setpriv.
    @discardableResult
    func ctl(as user: TestUser, _ arguments: [String], stdin: String? = nil) throws -> CommandResult {
        try user.run(productsDirectory + "/autopilotctl", arguments,
                     environment: ["AUTOPILOT_SOCKET": socket, "HOME": directory], stdin: stdin)
    }

    /// A new connection to the daemon.
    func connect() throws -> VarlinkConnection { try VarlinkConnection(path: socket) }

    /// Calls a method of io.autopilotd.registry as the test's own user (root: operator).
    func call(_ method: String, _ parameters: JSONObject = [:]) throws -> JSONObject {
        let connection = try connect()
        defer { connection.close() }
        return try connection.call("io.autopilotd.registry." + method, parameters)
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status. A daemon still running after a
    /// minute is a failure of the test (with its log), and is killed so that the suite goes on. Returns once the log
    /// has been read to its end (up to 10 s after the exit), so that `log` then holds the daemon's last lines.
    @discardableResult
    func stop() -> Int32 {
        if !terminateAndWait(process) {
            Issue.record("autopilotd did not stop within 60 s of SIGTERM; its log:\n\(log)")
        }
        if !logDrained {
            logDrained = true
            if logEnded.wait(timeout: .now() + 10) == .timedOut {
                logPipe.fileHandleForReading.readabilityHandler = nil
            }
        }
        return process.terminationStatus
    }

    /// Stops the daemon and removes its directory.
    func cleanup() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { if process.isRunning { process.terminate() } }
}

/// A throwaway Unix user for permission tests, created with useradd (the suite runs as root in CI).
struct TestUser: Sendable {
    let name: String
    let uid: UInt32
    let gid: UInt32

    /// Creates (or reuses) the user `name`.
    static func make(_ name: String) throws -> TestUser {
        if getpwnam(name) == nil {
            let r = try runProgram("/usr/sbin/useradd", ["--system", "--no-create-home", "--user-group",
                                                         "--shell", "/usr/sbin/nologin", name])
            if r.status != 0 && getpwnam(name) == nil { throw TestFailure("useradd \(name) failed: \(r)") }
        }
        guard let entry = getpwnam(name) else { throw TestFailure("no user \(name)") }
        return TestUser(name: name, uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// The command line that runs `program` as this user through setpriv, with exactly the supplementary `groups`.
    func commandLine(_ program: String, _ arguments: [String], groups: [UInt32] = []) -> [String] {
        let groupOption = groups.isEmpty ? ["--clear-groups"] : ["--groups", groups.map(String.init).joined(separator: ",")]
        return ["/usr/bin/setpriv", "--reuid", String(uid), "--regid", String(gid)] + groupOption + ["--", program]
            + arguments
    }

    /// Runs `program` to completion as this user, with exactly the supplementary `groups`.
    @discardableResult
    func run(_ program: String, _ arguments: [String], groups: [UInt32] = [], environment: [String: String] = [:],
             stdin: String? = nil) throws -> CommandResult {
        let line = commandLine(program, arguments, groups: groups)
        return try runProgram(line[0], Array(line.dropFirst()), environment: environment, stdin: stdin)
    }

    /// Whether the suite can create users and switch to them (root with useradd and setpriv).
    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/useradd")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
    }
}

/// A throwaway Unix group, created with groupadd (the suite runs as root).
enum TestGroup {
    /// The gid of group `name`, created when missing.
    static func make(_ name: String) throws -> UInt32 {
        if getgrnam(name) == nil {
            let r = try runProgram("/usr/sbin/groupadd", ["--system", name])
            if r.status != 0 && getgrnam(name) == nil { throw TestFailure("groupadd \(name) failed: \(r)") }
        }
        guard let entry = getgrnam(name) else { throw TestFailure("no group \(name)") }
        return entry.pointee.gr_gid
    }
}

/// The repository checkout these tests were built from.
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.path
}()
