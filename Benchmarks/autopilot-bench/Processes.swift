import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a benchmark could not run, as one line.
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Monotonic time in nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Finds an executable by name on `PATH` (or checks an explicit path); nil when absent.
func findTool(_ name: String) -> String? {
    if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 {
        return "\(dir)/\(name)"
    }
    return nil
}

/// A child process started with posix_spawn; stdout and stderr go to files (or /dev/null).
final class ChildProcess {
    let pid: pid_t
    let command: String
    private(set) var exitStatus: Int32?
    /// Resource usage of the child once it was reaped (user and system CPU, peak RSS).
    private(set) var usage = rusage()

    /// Starts `path` with `arguments`; `environment` entries are added to (or replace) this process's, `unset` ones removed.
    init(_ path: String, _ arguments: [String], environment: [String: String] = [:], unset: [String] = [],
         stdout: String? = nil, stderr: String? = nil, stdin: String? = nil) throws {
        command = ([path] + arguments).joined(separator: " ")
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        for k in unset { env.removeValue(forKey: k) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // Children start with no blocked signal and default handlers: a thread that blocks signals (a dispatch worker
        // does) would otherwise pass its mask on, and redis-server would never see SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), handled = sigset_t()
        sigemptyset(&noSignals)
        sigemptyset(&handled)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGQUIT] { sigaddset(&handled, signal) }
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &handled)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, envp)
        guard rc == 0 else { throw BenchError("cannot start \(path): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Whether the process has not exited yet (reaping it if it has).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let r = wait4(pid, &status, WNOHANG, &usage)
        if r == pid { exitStatus = Self.decode(status); return false }
        return r == 0
    }

    /// Waits for the process to exit and returns its exit status (128 + signal when killed).
    @discardableResult
    func wait() -> Int32 {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let decoded = Self.decode(status)
        exitStatus = decoded
        return decoded
    }

    /// Sends `signal` (SIGTERM by default) and waits for the exit.
    @discardableResult
    func stop(_ signal: Int32 = SIGTERM) -> Int32 {
        if isRunning { kill(pid, signal) }
        return wait()
    }

    /// CPU seconds (user + system) of the reaped child.
    var cpuSeconds: Double {
        Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    deinit { if exitStatus == nil { stop(SIGKILL) } }
}

/// Runs a command to completion and returns its exit status, wall time and CPU time.
func runTimed(_ path: String, _ arguments: [String], environment: [String: String] = [:], stdout: String? = nil,
              stderr: String? = nil, stdin: String? = nil) throws -> (status: Int32, seconds: Double, cpuSeconds: Double) {
    let start = monotonicNanoseconds()
    let child = try ChildProcess(path, arguments, environment: environment, stdout: stdout, stderr: stderr, stdin: stdin)
    let status = child.wait()
    return (status, Double(monotonicNanoseconds() - start) / 1e9, child.cpuSeconds)
}

/// Reads what a process reports about itself in /proc.
enum ProcStatus {
    /// A field of /proc/PID/status in kB (VmRSS, VmHWM…), as bytes.
    static func bytes(_ field: String, pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let number = line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
                .flatMap { Int($0) }
            return number.map { $0 * 1024 }
        }
        return nil
    }

    /// User + system CPU seconds a process has used so far (/proc/PID/stat fields 14 and 15).
    static func cpuSeconds(pid: pid_t) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name start at field 3 (state).
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A scratch directory for one run, removed at the end unless asked to keep it.
final class WorkDirectory {
    let path: String
    let keep: Bool

    init(parent: String?, keep: Bool) throws {
        let base = parent ?? FileManager.default.temporaryDirectory.path
        var template = Array("\(base)/autopilot-bench-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw BenchError("cannot create a directory in \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
        chmod(path, 0o755)
        self.keep = keep
    }

    /// A new subdirectory.
    func subdirectory(_ name: String) throws -> String {
        let dir = "\(path)/\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func remove() {
        if !keep { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// The address of the Unix socket at `path`, for `bind` or `connect`.
func unixSocketAddress(_ path: String) throws -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw BenchError("socket path too long: \(path)") }
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
    return address
}
