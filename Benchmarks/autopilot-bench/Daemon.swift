import AutopilotClient
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The built programs the benchmark drives: `autopilotd` and `autopilotctl` from one build directory.
struct Programs {
    let daemon: String
    let ctl: String

    /// The programs in `directory`, or next to this executable (the same `swift build` products directory).
    init(directory: String?) throws {
        let dir = directory ?? Self.ownDirectory
        daemon = dir + "/autopilotd"
        ctl = dir + "/autopilotctl"
        for program in [daemon, ctl] where access(program, X_OK) != 0 {
            throw BenchError("\(program) not found: build the package first (swift build -c release) or pass --bin-dir")
        }
    }

    static var ownDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }
}

/// A real `autopilotd` serving a fresh database in a directory of its own, with its default configuration.
final class DaemonUnderTest {
    let directory: String
    let socket: String
    let database: String
    let log: String
    private let process: ChildProcess

    /// Starts the daemon and waits until its socket answers. `config` lines are added to its config file; `wrapper`
    /// is a command the daemon runs under (a profiler).
    init(programs: Programs, directory: String, config: [String] = [], wrapper: [String] = []) throws {
        self.directory = directory
        socket = directory + "/io.autopilotd.registry"
        database = directory + "/registry.sqlite"
        log = directory + "/autopilotd.log"
        var arguments = ["--socket", socket, "--database", database]
        if !config.isEmpty {
            let path = directory + "/autopilotd.conf"
            try (config.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            arguments += ["--config", path]
        }
        Self.startsCold(programs.daemon)
        let command = wrapper.isEmpty ? programs.daemon : (findTool(wrapper[0]) ?? wrapper[0])
        arguments = wrapper.isEmpty ? arguments : Array(wrapper.dropFirst()) + [programs.daemon] + arguments
        process = try ChildProcess(command, arguments,
                                   unset: ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "JOURNAL_STREAM"], stderr: log)
        try waitUntilServing()
    }

    var pid: pid_t { process.pid }

    /// Drops the executable's pages from the kernel's page cache, so that the daemon reads its code as after a boot.
    ///
    /// A binary the linker (or `install`) has just written stays cached as it was written, in large blocks, and the
    /// page faults of a daemon started from it map more of those blocks than it touches: its idle RSS measured 23.4
    /// to 25.2 MiB where the same binary, read back from the disk, gave 21.1 to 21.8 (docs/performance.md). The pages
    /// are written back first, since only clean pages can be dropped; nothing else is touched.
    static func startsCold(_ executable: String) {
        let fd = open(executable, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = fdatasync(fd)
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
    }

    private func waitUntilServing() throws {
        let deadline = monotonicNanoseconds() + 60_000_000_000
        while monotonicNanoseconds() < deadline {
            guard process.isRunning else {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw BenchError("autopilotd exited before serving:\n\(text)")
            }
            if let connection = try? VarlinkConnection(path: socket) {
                connection.close()
                return
            }
            usleep(20_000)
        }
        throw BenchError("autopilotd did not serve within 60 s")
    }

    /// Resident memory now, and its peak since the daemon started, in bytes.
    var residentBytes: Int? { ProcStatus.bytes("VmRSS", pid: pid) }
    var peakResidentBytes: Int? { ProcStatus.bytes("VmHWM", pid: pid) }
    /// CPU seconds the daemon used so far.
    var cpuSeconds: Double { ProcStatus.cpuSeconds(pid: pid) ?? 0 }

    /// A client connected as this process's user (root: operator).
    func client() throws -> RegistryClient { try RegistryClient(path: socket) }

    /// Stops the daemon with SIGTERM (it drains and checkpoints) and returns its exit status.
    @discardableResult
    func stop() -> Int32 { process.stop() }
}
