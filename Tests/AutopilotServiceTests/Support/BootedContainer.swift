import Foundation

/// A minimal Debian booted under its own systemd with `systemd-nspawn -b`, for the tests that need systemd as PID 1.
///
/// It always boots a copy of the cached root of `tools/systemd-test-root`, never `/` and never the cache itself: a
/// systemd booted over the host's root would run systemd-tmpfiles on the host (emptying its /tmp) and start the host's
/// enabled services. The copy lives in a directory of its own, which `shutDown()` removes once the container is gone.
/// Commands run inside with `nsenter` into the container's namespaces, as root, with a clean environment.
final class BootedContainer: @unchecked Sendable {
    /// The temporary directory holding `root` and the container's console log.
    let directory: String
    /// The container's root directory: the copy.
    let root: String
    /// The console output of systemd-nspawn (the boot messages).
    let consoleLog: String
    /// The host's pid of the container's init (systemd), set once `boot()` has found it.
    private(set) var initPID: pid_t = 0
    private let nspawnTool: String
    private let nsenterTool: String
    private var nspawn: Process?

    /// The file by which `tools/systemd-test-root` marks a complete root; the commands check that they see it at `/`.
    static let rootMark = "/.autopilotd-test-root"

    /// Makes the cached root (building it on first use) and copies it into a new temporary directory.
    /// - Throws: `TestFailure` naming the missing tool or package, or with the output of the step that failed.
    init(label: String) throws {
        nspawnTool = try requireTool("systemd-nspawn", package: "systemd-container")
        nsenterTool = try requireTool("nsenter", package: "util-linux")
        // The root is built by debootstrap, which the script asks for when the cache is missing.
        let made = try runProgram("/bin/bash", [repositoryRoot + "/tools/systemd-test-root"], timeout: 1800)
        let cached = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard made.status == 0, cached.hasPrefix("/"), cached != "/",
              FileManager.default.fileExists(atPath: cached + Self.rootMark) else {
            throw TestFailure("tools/systemd-test-root could not provide a root to boot: \(made)")
        }
        directory = "/var/tmp/apd-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        root = directory + "/root"
        consoleLog = directory + "/console.log"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // --reflink=auto shares the blocks where the file system can (btrfs, XFS); elsewhere it is a plain copy.
        let copy = try runProgram("/bin/cp", ["-a", "--reflink=auto", cached, root], timeout: 600)
        guard copy.status == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            throw TestFailure("cannot copy \(cached) to \(root): \(copy)")
        }
    }

    /// Boots the copy and waits until its systemd has finished starting up (running, or degraded).
    /// - Throws: `TestFailure` when systemd-nspawn exits or the boot does not finish within `timeout` seconds.
    func boot(timeout: TimeInterval = 120) throws {
        precondition(nspawn == nil && root != "/" && FileManager.default.fileExists(atPath: root + Self.rootMark))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: nspawnTool)
        // --register=no and --keep-unit: nothing is asked of the host's systemd (there may be none). No network.
        process.arguments = ["--directory=\(root)", "--machine=\(URL(fileURLWithPath: directory).lastPathComponent)",
                             "--register=no", "--keep-unit", "--private-network", "--console=read-only", "--boot"]
        guard FileManager.default.createFile(atPath: consoleLog, contents: nil) else {
            throw TestFailure("cannot create \(consoleLog)")
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: consoleLog))
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? log.close()
        nspawn = process

        let deadline = Date().addingTimeInterval(timeout)
        while initPID == 0 {
            guard process.isRunning, Date() < deadline else {
                throw TestFailure("systemd-nspawn started no init: \(console())")
            }
            initPID = Self.containerInit(childOf: process.processIdentifier) ?? 0
            if initPID == 0 { Thread.sleep(forTimeInterval: 0.1) }
        }
        // Every command is entered through initPID: make sure it is the copy's root that it sees.
        let mark = try run(["/usr/bin/test", "-e", Self.rootMark])
        guard mark.status == 0 else { throw TestFailure("nsenter into pid \(initPID) does not see the copy: \(mark)") }
        var state = ""
        while Date() < deadline {
            let result = try run(["systemctl", "is-system-running", "--wait"], timeout: deadline.timeIntervalSinceNow)
            state = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if state == "running" || state == "degraded" { return }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw TestFailure("the container's systemd did not finish booting (state '\(state)'): \(console())")
    }

    /// Runs a command inside the container as root, with PATH and LANG only, and waits for it.
    func run(_ commandLine: [String], timeout: TimeInterval = 60) throws -> CommandResult {
        try runProgram(nsenterTool, enter(commandLine), timeout: max(timeout, 1))
    }

    /// Starts a command inside the container (see `run`) without waiting for it.
    func start(_ commandLine: [String]) throws -> InteractiveProcess {
        try InteractiveProcess([nsenterTool] + enter(commandLine))
    }

    /// The nsenter arguments for `commandLine`: every namespace of the container's init but its cgroup, then env(1)
    /// of the container to drop the test's environment (which could name a socket or a runtime directory of the host).
    private func enter(_ commandLine: [String]) -> [String] {
        precondition(initPID > 1, "the container is not booted")
        return ["--target", String(initPID), "--mount", "--uts", "--ipc", "--net", "--pid", "--",
                "/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "SYSTEMD_LOG_COLOR=0"] + commandLine
    }

    /// Properties of a unit, from `systemctl show`.
    func properties(_ unit: String, _ names: [String]) throws -> [String: String] {
        let result = try run(["systemctl", "show", unit, "--property=" + names.joined(separator: ",")])
        guard result.status == 0 else { throw TestFailure("systemctl show \(unit): \(result)") }
        var values: [String: String] = [:]
        for line in result.stdout.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            values[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        return values
    }

    /// Waits until `condition` holds of the unit's properties `names`, and returns them.
    /// - Throws: `TestFailure` with the last values seen and the unit's journal after `timeout` seconds.
    @discardableResult
    func waitFor(_ unit: String, _ names: [String], timeout: TimeInterval = 30, _ what: String,
                 until condition: ([String: String]) -> Bool) throws -> [String: String] {
        let deadline = Date().addingTimeInterval(timeout)
        var values: [String: String] = [:]
        while true {
            values = try properties(unit, names)
            if condition(values) { return values }
            guard Date() < deadline else {
                throw TestFailure("\(unit): \(what) did not happen within \(Int(timeout)) s; last \(values)\n"
                                  + journal(units: [unit]))
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// The container's journal, of `units` when given, else of the whole boot: the last `lines` lines, or with
    /// `after`, those after that cursor (from `journalCursor()`); with `priority`, only entries at least that urgent.
    func journal(units: [String] = [], lines: Int = 200, after cursor: String? = nil,
                 priority: String? = nil) -> String {
        var arguments = ["journalctl", "--no-pager", "--quiet", "--boot", "--lines=\(lines)", "--output=short-precise"]
        arguments += units.flatMap { ["--unit", $0] }
        if let cursor { arguments.append("--after-cursor=" + cursor) }
        if let priority { arguments.append("--priority=" + priority) }
        let result = try? run(arguments)
        return "--- journal \(units.joined(separator: " "))\n" + (result.map { $0.stdout + $0.stderr } ?? "unavailable")
    }

    /// The cursor of the journal's last entry, to read only what comes after it.
    func journalCursor() throws -> String {
        let result = try run(["journalctl", "--no-pager", "--boot", "--lines=1", "--show-cursor", "--quiet"])
        guard let line = result.stdout.split(separator: "\n").last(where: { $0.hasPrefix("-- cursor: ") }) else {
            throw TestFailure("no journal cursor: \(result)")
        }
        return String(line.dropFirst("-- cursor: ".count))
    }

    /// What systemd-nspawn printed: the boot messages, or why it failed.
    func console() -> String {
        "--- console\n" + ((try? String(contentsOfFile: consoleLog, encoding: .utf8)) ?? "")
    }

    /// Powers the container off (asking its systemd, then signalling systemd-nspawn, then killing), then removes the
    /// copy; a copy whose container cannot be made to stop is left in place, and said so, rather than removed under it.
    func shutDown() {
        if let process = nspawn {
            if process.isRunning && initPID > 1 {
                _ = try? run(["systemctl", "poweroff", "--no-block"], timeout: 15)
                waitForExit(process, seconds: 30)
            }
            if process.isRunning {
                // systemd-nspawn turns SIGTERM into an orderly poweroff of the container.
                kill(process.processIdentifier, SIGTERM)
                waitForExit(process, seconds: 15)
            }
            if process.isRunning {
                if initPID > 1 { kill(initPID, SIGKILL) }
                kill(process.processIdentifier, SIGKILL)
                waitForExit(process, seconds: 15)
            }
            if process.isRunning || (initPID > 1 && kill(initPID, 0) == 0) {
                print("BootedContainer: the container of \(root) is still running; leaving \(directory) in place")
                return
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func waitForExit(_ process: Process, seconds: TimeInterval) {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
    }

    /// The child of `parent` that is pid 1 of its own pid namespace: the init systemd-nspawn started.
    private static func containerInit(childOf parent: pid_t) -> pid_t? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = pid_t(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "pid (comm)": state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, pid_t(fields[1]) == parent,
                  let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let nspid = status.split(separator: "\n").first(where: { $0.hasPrefix("NSpid:") }) else { continue }
            let ids = nspid.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst()
            if ids.count > 1, ids.last == "1" { return pid }
        }
        return nil
    }
}
