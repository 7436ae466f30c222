import AutopilotClient
import AutopilotInterface
import AutopilotService
import Foundation
import Testing
import Varlink

// The systemd integration: units, notify, socket activation, journal logging and `make install`. Nothing here needs
// systemd as PID 1; the systemd tools (`systemd-analyze`, `systemd-socket-activate`) and `make` must be installed,
// and a test fails with the package to install when one is missing.

/// A new temporary directory with a short path (socket paths must stay under 108 bytes).
private func makeTemporaryDirectory(_ label: String) throws -> String {
    let path = "/tmp/apd-\(label)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// `Key=Value` settings of a unit file, in order, with their section.
private struct UnitFile {
    var entries: [(section: String, key: String, value: String)] = []

    init(path: String) throws {
        var section = ""
        for raw in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") { section = String(line.dropFirst().dropLast()); continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            entries.append((section, String(line[..<eq]), String(line[line.index(after: eq)...])))
        }
    }

    /// Every value of `key` in `section`.
    func values(_ section: String, _ key: String) -> [String] {
        entries.filter { $0.section == section && $0.key == key }.map(\.value)
    }

    /// The last value of `key` in `section` (the one systemd uses for single-valued settings).
    func value(_ section: String, _ key: String) -> String? { values(section, key).last }
}

/// A datagram socket standing in for systemd's notify socket, at a path or in the abstract namespace.
private final class NotifyListener {
    /// The `NOTIFY_SOCKET` value naming this listener.
    let name: String
    private let fd: CInt
    private var received: [String] = []

    init(abstract: Bool, directory: String) throws {
        name = abstract ? "@autopilotd-test-\(UUID().uuidString.prefix(12))" : directory + "/notify"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw TestFailure("bind \(name): errno \(errno)") }
        var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Every datagram received so far, reading for up to `seconds` until `done` holds for them.
    @discardableResult
    func messages(within seconds: Double, until done: ([String]) -> Bool = { _ in false }) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !done(received) && Date() < deadline {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count > 0 { received.append(String(decoding: buffer[0..<count], as: UTF8.self)) }
        }
        return received
    }
}

/// The index of the first message containing the line `line`, if any.
private func index(of line: String, in messages: [String]) -> Int? {
    messages.firstIndex { $0.split(separator: "\n").contains { $0 == line } }
}

/// Counts the messages containing the line `line`.
private func count(of line: String, in messages: [String]) -> Int {
    messages.filter { $0.split(separator: "\n").contains { $0 == line } }.count
}

@Suite("systemd integration", .ownThread)
struct SystemdTests {
    // MARK: notify, watchdog and socket activation, in process

    @Test(arguments: [false, true])
    func notifierReachesPathAndAbstractSockets(abstract: Bool) throws {
        let directory = try makeTemporaryDirectory("notify")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try NotifyListener(abstract: abstract, directory: directory)
        let notifier = try #require(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": listener.name]))
        #expect(notifier.send("READY=1\nSTATUS=Serving"))
        #expect(listener.messages(within: 5) { !$0.isEmpty } == ["READY=1\nSTATUS=Serving"])
    }

    @Test func notifierIgnoresSocketsItCannotAddress() {
        #expect(SystemdNotifier.fromEnvironment([:]) == nil)
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "relative/notify"]) == nil)
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "@"]) == nil)
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/" + String(repeating: "a", count: 107)]) == nil)
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/" + String(repeating: "a", count: 106)]) != nil)
        // An abstract name needs no terminating NUL, so it may fill sun_path.
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "@" + String(repeating: "a", count: 107)]) != nil)
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "@" + String(repeating: "a", count: 108)]) == nil)
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "/run/systemd/notify"])?.socketPath == "/run/systemd/notify")
    }

    @Test func sendingToAMissingSocketReportsFailure() {
        #expect(!SystemdNotifier(socketPath: "/nonexistent/autopilotd/notify").send("READY=1"))
    }

    @Test func watchdogIntervalIsHalfTheTimeoutForThisProcessOnly() {
        let ours = String(getpid())
        #expect(SystemdNotifier.watchdogInterval(["WATCHDOG_USEC": "200000"]) == .milliseconds(100))
        #expect(SystemdNotifier.watchdogInterval(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": ours]) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(["WATCHDOG_USEC": "200000", "WATCHDOG_PID": String(getpid() + 1)]) == nil)
        #expect(SystemdNotifier.watchdogInterval(["WATCHDOG_USEC": "200000", "WATCHDOG_PID": "x"]) == nil)
        #expect(SystemdNotifier.watchdogInterval(["WATCHDOG_USEC": "0"]) == nil)
        #expect(SystemdNotifier.watchdogInterval(["WATCHDOG_USEC": "-5"]) == nil)
        #expect(SystemdNotifier.watchdogInterval([:]) == nil)
    }

    @Test func listenDescriptorsAreOnlyThoseAddressedToThisProcess() {
        let ours = String(getpid())
        #expect(SocketActivation.listenDescriptors(["LISTEN_PID": ours, "LISTEN_FDS": "2"]) == [3, 4])
        #expect(SocketActivation.listenDescriptors(["LISTEN_PID": String(getpid() + 1), "LISTEN_FDS": "1"]).isEmpty)
        #expect(SocketActivation.listenDescriptors(["LISTEN_FDS": "1"]).isEmpty)
        #expect(SocketActivation.listenDescriptors(["LISTEN_PID": ours, "LISTEN_FDS": "0"]).isEmpty)
        #expect(SocketActivation.listenDescriptors(["LISTEN_PID": ours, "LISTEN_FDS": "many"]).isEmpty)
        #expect(SocketActivation.listenDescriptors(["LISTEN_PID": ours, "LISTEN_FDS": "5000"]).isEmpty)
    }

    @Test func onlyAListeningUnixStreamSocketIsAccepted() throws {
        let directory = try makeTemporaryDirectory("fd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func unixSocket(_ type: Int32, boundTo path: String?, listening: Bool) -> CInt {
            let fd = socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0)
            if let path {
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
                _ = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
            }
            if listening { listen(fd, 8) }
            return fd
        }
        let listening = unixSocket(Int32(SOCK_STREAM.rawValue), boundTo: directory + "/s", listening: true)
        let idle = unixSocket(Int32(SOCK_STREAM.rawValue), boundTo: nil, listening: false)
        let datagram = unixSocket(Int32(SOCK_DGRAM.rawValue), boundTo: directory + "/d", listening: false)
        let file = open(directory + "/file", O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        defer { for fd in [listening, idle, datagram, file] { close(fd) } }

        #expect(SocketActivation.problem(withListeningSocket: listening) == nil)
        #expect(SocketActivation.problem(withListeningSocket: idle)?.contains("not listening") == true)
        #expect(SocketActivation.problem(withListeningSocket: datagram)?.contains("not a Unix stream socket") == true)
        #expect(SocketActivation.problem(withListeningSocket: file)?.contains("not a socket") == true)
        #expect(SocketActivation.problem(withListeningSocket: 9999)?.contains("not open") == true)
    }

    @Test func journalIsDetectedOnlyWhenStderrMatchesJournalStream() {
        var st = stat()
        guard fstat(2, &st) == 0 else {
            Issue.record("fstat(2) failed: errno \(errno)")
            return
        }
        let matching = "\(st.st_dev):\(st.st_ino)"
        #expect(StderrLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": matching]))
        #expect(!StderrLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino + 1)"]))
        #expect(!StderrLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "garbage"]))
        #expect(!StderrLogHandler.stderrIsJournal(environment: [:]))
    }

    // MARK: the real daemon

    @Test(arguments: [false, true])
    func daemonNotifiesReadyThenStoppingOnSigterm(abstract: Bool) throws {
        let directory = try makeTemporaryDirectory("ready")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try NotifyListener(abstract: abstract, directory: directory)
        let daemon = try TestDaemon(environment: ["NOTIFY_SOCKET": listener.name])
        defer { daemon.cleanup() }

        let started = listener.messages(within: 10) { index(of: "READY=1", in: $0) != nil }
        let ready = try #require(index(of: "READY=1", in: started), "no READY=1 in \(started)\n\(daemon.log)")
        #expect(started[ready].contains("STATUS=Serving io.autopilotd.registry"))
        // A fresh database is migrated before READY, each migration announced with a longer start timeout.
        let extend = try #require(started.firstIndex { $0.hasPrefix("EXTEND_TIMEOUT_USEC=") }, "\(started)")
        #expect(extend < ready)
        #expect(index(of: "STOPPING=1", in: started) == nil)

        #expect(daemon.stop() == 0)
        let all = listener.messages(within: 10) { index(of: "STOPPING=1", in: $0) != nil }
        let stopping = try #require(index(of: "STOPPING=1", in: all), "no STOPPING=1 in \(all)\n\(daemon.log)")
        #expect(stopping > ready)
    }

    @Test func daemonPingsTheWatchdogAtHalfItsTimeout() throws {
        let directory = try makeTemporaryDirectory("wd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try NotifyListener(abstract: false, directory: directory)
        let daemon = try TestDaemon(environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "200000"])
        defer { daemon.cleanup() }
        let start = Date()
        let messages = listener.messages(within: 10) { count(of: "WATCHDOG=1", in: $0) >= 4 }
        let elapsed = Date().timeIntervalSince(start)
        #expect(count(of: "WATCHDOG=1", in: messages) >= 4, "\(messages)")
        // Four pings at 100 ms intervals take about 0.3 s; pinging only at the full timeout would take 0.6 s or more.
        #expect(elapsed < 3)
    }

    @Test func daemonLeavesTheWatchdogOfAnotherProcessAlone() throws {
        let directory = try makeTemporaryDirectory("wdpid")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try NotifyListener(abstract: false, directory: directory)
        let daemon = try TestDaemon(environment: ["NOTIFY_SOCKET": listener.name, "WATCHDOG_USEC": "200000",
                                                  "WATCHDOG_PID": "1"])
        defer { daemon.cleanup() }
        let messages = listener.messages(within: 1.5)
        #expect(index(of: "READY=1", in: messages) != nil, "\(messages)")
        #expect(count(of: "WATCHDOG=1", in: messages) == 0)
    }

    @Test func socketActivatedDaemonServesTheInheritedSocket() throws {
        let activate = try requireTool("systemd-socket-activate", package: "systemd")
        let directory = try makeTemporaryDirectory("act")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let inherited = directory + "/io.autopilotd.registry"
        let configured = directory + "/configured.sock"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: activate)
        process.arguments = ["-l", inherited, "--", productsDirectory + "/autopilotd",
                             "--database", directory + "/registry.sqlite", "--socket", configured]
        let log = directory + "/stderr"
        try #require(FileManager.default.createFile(atPath: log, contents: nil), "cannot create \(log)")
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        var environment = ProcessInfo.processInfo.environment
        for key in ["NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "JOURNAL_STREAM", "WATCHDOG_USEC"] {
            environment.removeValue(forKey: key)
        }
        process.environment = environment
        try process.run()
        // SIGKILL, not SIGTERM: until it execs the daemon, systemd-socket-activate keeps the signal mask of the thread
        // that spawned it, and a libdispatch worker thread blocks SIGTERM. Left running, it would also stall every
        // other Process wait in this test run: Foundation reaps children on one thread, and it is already waiting
        // for this one, which closed the descriptor Foundation watches.
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

        // The socket file appears when it is bound, a moment before it listens: until then a connection is refused.
        // The first connection (this probe's) makes systemd-socket-activate exec the daemon with the socket as fd 3.
        _ = waitUntilAccepting(inherited, while: process)
        let connection = try VarlinkConnection(path: inherited)
        let reply = try connection.call("io.autopilotd.registry.WhoAmI")
        connection.close()
        #expect(reply["role"]?.stringValue == "operator", "\(reply)")
        #expect(reply["uid"]?.intValue == Int(getuid()))
        #expect(access(configured, F_OK) != 0, "the daemon bound --socket instead of serving the inherited socket")

        process.terminate()
        process.waitUntilExit()
        let stderr = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("serving inherited socket"), "\(stderr)")
        // The socket belongs to whoever passed it (systemd): the daemon must not remove it when it stops.
        #expect(access(inherited, F_OK) == 0)
    }

    @Test(arguments: [true, false])
    func daemonLogsWithJournalPrioritiesOnlyWhenStderrIsTheJournal(journal: Bool) throws {
        let directory = try makeTemporaryDirectory("log")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = directory + "/stderr"
        try #require(FileManager.default.createFile(atPath: log, contents: nil), "cannot create \(log)")
        var st = stat()
        #expect(stat(log, &st) == 0)
        let stream = journal ? "\(st.st_dev):\(st.st_ino)" : "\(st.st_dev):\(st.st_ino + 1)"
        let socket = directory + "/io.autopilotd.registry"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: productsDirectory + "/autopilotd")
        process.arguments = ["--socket", socket, "--database", directory + "/registry.sqlite"]
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "NOTIFY_SOCKET")
        environment["JOURNAL_STREAM"] = stream
        process.environment = environment
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate(); process.waitUntilExit() } }
        #expect(waitUntilAccepting(socket, while: process), "the daemon did not serve within 60 s")
        process.terminate()
        process.waitUntilExit()

        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(!lines.isEmpty)
        let prefixed = lines.filter { $0.wholeMatch(of: /<[0-7]>.*/) != nil }
        if journal {
            #expect(prefixed.count == lines.count, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("<5>listening") }, "notice is priority 5: \(lines)")
        } else {
            #expect(prefixed.isEmpty, "\(lines)")
            #expect(lines.contains { $0.contains("notice") && $0.contains("listening") }, "\(lines)")
        }
    }

    // MARK: units and config

    @Test func unitsDeclareSocketActivationAndTheStaticUser() throws {
        let socket = try UnitFile(path: repositoryRoot + "/systemd/autopilotd.socket")
        #expect(socket.value("Socket", "ListenStream") == DefaultLocations.systemSocket)
        #expect(socket.value("Socket", "SocketMode") == "0660")
        // Whoever may connect must not be able to read the database: the daemon's group, which its files are
        // readable by, is not the socket's.
        #expect(socket.value("Socket", "SocketGroup") == "autopilot-clients")

        let service = try UnitFile(path: repositoryRoot + "/systemd/autopilotd.service")
        #expect(service.value("Unit", "Requires") == "autopilotd.socket")
        #expect(service.value("Unit", "After") == "autopilotd.socket")
        #expect(service.value("Service", "Type") == "notify")
        #expect(service.value("Service", "NotifyAccess") == "main")
        #expect(service.value("Service", "User") == "autopilot")
        #expect(service.value("Service", "Group") == "autopilot")
        #expect(service.value("Service", "Group") != socket.value("Socket", "SocketGroup"))
        #expect(!service.values("Service", "SupplementaryGroups").contains("autopilot-clients"))
        #expect(service.value("Service", "StateDirectory") == "autopilotd")
        #expect(service.value("Service", "Restart") == "on-failure")
        #expect(service.value("Service", "WatchdogSec") != nil)
        // systemd removes a RuntimeDirectory= (and the socket in it) on every stop; DynamicUser= cannot own a group
        // the socket needs first; PrivateUsers= would hide peers' real uids from SO_PEERCRED.
        #expect(service.values("Service", "RuntimeDirectory").isEmpty)
        #expect(service.values("Service", "DynamicUser").allSatisfy { ["no", "false", "0"].contains($0) })
        #expect(service.values("Service", "PrivateUsers").allSatisfy { ["no", "false", "0"].contains($0) })

        let exec = try #require(service.value("Service", "ExecStart")).split(separator: " ").map(String.init)
        #expect(exec.first == "/usr/local/bin/autopilotd")
        func flag(_ name: String) -> String? { exec.firstIndex(of: name).flatMap { $0 + 1 < exec.count ? exec[$0 + 1] : nil } }
        #expect(flag("--database") == DefaultLocations.systemDatabase)
        #expect(flag("--socket") == DefaultLocations.systemSocket)
        #expect(flag("--config") == "/etc/autopilotd/autopilotd.conf")

        let sysusers = try String(contentsOfFile: repositoryRoot + "/systemd/sysusers.d/autopilotd.conf", encoding: .utf8)
        #expect(sysusers.split(separator: "\n").contains { $0.split(separator: " ").prefix(2) == ["u", "autopilot"] })
        #expect(sysusers.split(separator: "\n").contains { $0.split(separator: " ").prefix(2) == ["g", "autopilot-clients"] })
    }

    @Test func unitsVerifyWithoutWarnings() throws {
        let analyze = try requireTool("systemd-analyze", package: "systemd")
        let directory = try makeTemporaryDirectory("verify")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyUnits(to: directory, binary: productsDirectory + "/autopilotd")
        // The man pages are checked with the installed tree in makeInstallProducesTheExpectedTree.
        let result = try runProgram(analyze, ["verify", "--man=no", directory + "/autopilotd.socket",
                                              directory + "/autopilotd.service"])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.isEmpty && result.stderr.isEmpty, "\(result)")
    }

    @Test func serviceExposureIsAtMostOne() throws {
        let analyze = try requireTool("systemd-analyze", package: "systemd")
        let directory = try makeTemporaryDirectory("security")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try copyUnits(to: directory, binary: productsDirectory + "/autopilotd")
        let result = try runProgram(analyze, ["security", "--offline=yes", "--no-pager", directory + "/autopilotd.service"])
        let output = result.stdout + result.stderr
        let match = try #require(output.firstMatch(of: /Overall exposure level for autopilotd\.service: ([0-9]+\.[0-9])/),
                                 "\(result)")
        let exposure = try #require(Double(match.1))
        #expect(exposure <= 1.0, "\(output)")
    }

    @Test func exampleConfigShowsEveryKeyWithItsDefault() throws {
        let text = try String(contentsOfFile: repositoryRoot + "/config/autopilotd.conf", encoding: .utf8)
        // Every setting line is commented out, so the file as installed changes nothing.
        var asShipped = DaemonConfig(locations: DefaultLocations(uid: 0, environment: [:]))
        try asShipped.apply(fileText: text, path: "autopilotd.conf")
        let defaults = DaemonConfig(locations: DefaultLocations(uid: 0, environment: [:]))
        #expect(asShipped == defaults)

        let settings = text.split(separator: "\n").filter { $0.wholeMatch(of: /#[a-z_]+ =.*/) != nil }
        let keys = settings.map { $0.dropFirst().split(separator: " ")[0] }.map(String.init)
        #expect(keys.sorted() == DaemonConfig.keys.sorted())
        // Uncommented, each line states the default for root (the service's user gets the same via flags).
        var uncommented = DaemonConfig(locations: DefaultLocations(uid: 0, environment: [:]))
        try uncommented.apply(fileText: settings.map { $0.dropFirst() }.joined(separator: "\n"), path: "uncommented")
        #expect(uncommented == defaults)
    }

    // MARK: make install

    @Test func makeInstallProducesTheExpectedTree() throws {
        let analyze = try requireTool("systemd-analyze", package: "systemd")
        _ = try requireTool("man", package: "man-db")
        let directory = try makeTemporaryDirectory("install")
        defer { try? FileManager.default.removeItem(atPath: directory) }

        let destination = directory + "/root"
        let install = try runMake(["install", "DESTDIR=\(destination)"])
        try #require(install.status == 0, "\(install)")
        let prefix = destination + "/usr/local"
        let expected = [
            "/usr/local/bin/autopilotd", "/usr/local/bin/autopilotctl",
            "/usr/local/lib/systemd/system/autopilotd.service", "/usr/local/lib/systemd/system/autopilotd.socket",
            "/usr/local/lib/sysusers.d/autopilotd.conf", "/etc/autopilotd/autopilotd.conf",
            "/usr/local/share/man/man8/autopilotd.8", "/usr/local/share/man/man1/autopilotctl.1",
            "/usr/local/share/bash-completion/completions/autopilotd",
            "/usr/local/share/bash-completion/completions/autopilotctl",
            "/usr/local/share/zsh/site-functions/_autopilotd", "/usr/local/share/zsh/site-functions/_autopilotctl",
            "/usr/local/share/fish/vendor_completions.d/autopilotd.fish",
            "/usr/local/share/fish/vendor_completions.d/autopilotctl.fish",
            "/usr/local/lib/systemd/system/autopilotd-audit-ui.service",
            "/usr/local/share/autopilotd/datasette/metadata.json",
            "/usr/local/share/autopilotd/datasette/plugins/audit_style.py",
            "/usr/local/share/autopilotd/datasette/plugins/hide_secrets.py",
            "/usr/local/lib/systemd/system/autopilotd-litestream.service", "/etc/autopilotd/litestream.yml",
        ]
        #expect(installedFiles(destination) == expected.sorted())
        #expect(try String(contentsOfFile: destination + "/etc/autopilotd/autopilotd.conf", encoding: .utf8)
                == String(contentsOfFile: repositoryRoot + "/config/autopilotd.conf", encoding: .utf8))

        // The installed binaries run from there, without the Swift runtime installed as shared libraries.
        for program in ["autopilotd", "autopilotctl"] {
            let help = try runProgram(prefix + "/bin/" + program, ["--help"])
            #expect(help.status == 0, "\(help)")
            #expect(help.stdout.contains("USAGE: \(program)"), "\(help)")
            let libraries = try runProgram("/usr/bin/ldd", [prefix + "/bin/" + program])
            #expect(!libraries.stdout.contains("libswiftCore"), "\(libraries)")
            #expect(!libraries.stdout.contains("libFoundation"), "\(libraries)")
        }
        let version = try runProgram(prefix + "/bin/autopilotd", ["--version"])
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == AutopilotVersion.current)

        // Completions name their commands; man pages are roff for the right sections and render.
        let bash = try String(contentsOfFile: prefix + "/share/bash-completion/completions/autopilotctl", encoding: .utf8)
        #expect(bash.contains("complete") && bash.contains("autopilotctl"))
        let zsh = try String(contentsOfFile: prefix + "/share/zsh/site-functions/_autopilotctl", encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef autopilotctl"))
        let fish = try String(contentsOfFile: prefix + "/share/fish/vendor_completions.d/autopilotd.fish", encoding: .utf8)
        #expect(fish.contains("complete -c autopilotd") || fish.contains("complete -c 'autopilotd'"))
        for (page, section) in [("man8/autopilotd.8", "8"), ("man1/autopilotctl.1", "1")] {
            let text = try String(contentsOfFile: prefix + "/share/man/" + page, encoding: .utf8)
            #expect(text.contains(".Dt \(page.split(separator: "/")[1].split(separator: ".")[0].uppercased()) \(section)"),
                    "\(page): \(text.prefix(300))")
            let rendered = try runProgram(try requireTool("man", package: "man-db"), ["-l", "-P", "cat",
                                                                                      prefix + "/share/man/" + page],
                                          environment: ["MANWIDTH": "100"])
            #expect(rendered.status == 0 && rendered.stdout.contains("SYNOPSIS"), "\(rendered)")
        }

        // The installed units point at the installed binary and verify cleanly, man pages included.
        let service = try UnitFile(path: prefix + "/lib/systemd/system/autopilotd.service")
        #expect(service.value("Service", "ExecStart")?.hasPrefix("/usr/local/bin/autopilotd ") == true)
        let verifyDirectory = directory + "/verify"
        try FileManager.default.createDirectory(atPath: verifyDirectory, withIntermediateDirectories: true)
        try copyUnits(from: prefix + "/lib/systemd/system", to: verifyDirectory, binary: prefix + "/bin/autopilotd")
        let verify = try runProgram(analyze, ["verify", verifyDirectory + "/autopilotd.socket",
                                              verifyDirectory + "/autopilotd.service"],
                                    environment: ["MANPATH": prefix + "/share/man"])
        #expect(verify.status == 0 && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(verify)")

        // install keeps an edited config; uninstall removes everything else and keeps it too.
        let edited = "log_level = debug\n"
        try edited.write(toFile: destination + "/etc/autopilotd/autopilotd.conf", atomically: true, encoding: .utf8)
        let again = try runMake(["install", "DESTDIR=\(destination)"])
        #expect(again.status == 0, "\(again)")
        #expect(try String(contentsOfFile: destination + "/etc/autopilotd/autopilotd.conf", encoding: .utf8) == edited)
        let uninstall = try runMake(["uninstall", "DESTDIR=\(destination)"])
        #expect(uninstall.status == 0, "\(uninstall)")
        #expect(installedFiles(destination) == ["/etc/autopilotd/autopilotd.conf"])

        // PREFIX moves everything but /etc, and ExecStart with it.
        let usr = directory + "/usr-root"
        let packaged = try runMake(["install", "PREFIX=/usr", "DESTDIR=\(usr)"])
        #expect(packaged.status == 0, "\(packaged)")
        let packagedService = try UnitFile(path: usr + "/usr/lib/systemd/system/autopilotd.service")
        #expect(packagedService.value("Service", "ExecStart")?.hasPrefix("/usr/bin/autopilotd ") == true)
        #expect(FileManager.default.fileExists(atPath: usr + "/usr/lib/sysusers.d/autopilotd.conf"))
        #expect(FileManager.default.fileExists(atPath: usr + "/etc/autopilotd/autopilotd.conf"))
        let cleaned = try runMake(["uninstall", "PREFIX=/usr", "DESTDIR=\(usr)"])
        #expect(cleaned.status == 0, "\(cleaned)")
        #expect(installedFiles(usr).isEmpty)
    }
}

/// Copies the units into `directory` with ExecStart's binary replaced by `binary` (one that exists here).
private func copyUnits(from source: String = repositoryRoot + "/systemd", to directory: String, binary: String) throws {
    for name in ["autopilotd.socket", "autopilotd.service"] {
        var text = try String(contentsOfFile: source + "/" + name, encoding: .utf8)
        text = text.replacing(/ExecStart=\S+/) { _ in "ExecStart=" + binary }
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }
}

/// The regular files under `root`, as absolute paths inside it, sorted.
private func installedFiles(_ root: String) -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
    var files: [String] = []
    while let relative = enumerator.nextObject() as? String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
            files.append("/" + relative)
        }
    }
    return files.sorted()
}
