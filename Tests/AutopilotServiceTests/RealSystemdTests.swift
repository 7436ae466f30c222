import AutopilotService
import Foundation
import Testing

// The units under a real systemd as PID 1. SystemdTests checks them with systemd-analyze and systemd-socket-activate,
// which never apply a hardening option: one that stops the daemon at its first real start would pass there. Here
// `make install` puts the release build into a minimal Debian (tools/systemd-test-root), booted with systemd-nspawn
// from a copy of that root, and the daemon is started, called, killed, hung and stopped by that root's systemd.
// Needs root, systemd-nspawn (package systemd-container), nsenter (util-linux), and debootstrap the first time.

/// The socket of the installed units, inside the container.
private let systemSocket = "/run/autopilotd/io.autopilotd.registry"

@Suite("systemd as PID 1", .ownThread)
struct RealSystemdTests {
    @Test func installedUnitsServeUnderABootedSystemd() throws {
        let started = Date()
        var phases: [String] = []
        func phase(_ name: String) { phases.append("\(name) \(Int(Date().timeIntervalSince(started))) s") }
        defer { print("RealSystemdTests: " + phases.joined(separator: ", ")) }

        let container = try BootedContainer(label: "realsd")
        defer { container.shutDown(); phase("powered off") }
        phase("root copied")
        // As a distribution package installs it; the release build is the one makeInstallProducesTheExpectedTree makes.
        let install = try runMake(["install", "PREFIX=/usr", "DESTDIR=\(container.root)"])
        try #require(install.status == 0, "\(install)")
        let passwd = try String(contentsOfFile: container.root + "/etc/passwd", encoding: .utf8)
        try #require(!passwd.split(separator: "\n").contains { $0.hasPrefix("autopilot:") },
                     "the root has the user before systemd-sysusers runs")
        phase("installed")
        try container.boot()
        phase("booted")
        do {
            try exercise(container, phase: phase)
        } catch {
            print(container.journal())
            throw error
        }
    }

    /// The points of the systemd integration, in the order a new installation meets them.
    private func exercise(_ container: BootedContainer, phase: (String) -> Void) throws {
        let service = "autopilotd.service"
        /// autopilotctl as root, an operator. A call waits while the service starts; one that never starts (a unit
        /// setting that fails under systemd) leaves the call waiting until the timeout, which then says so.
        func ctl(_ arguments: [String]) throws -> CommandResult {
            do {
                return try container.run(["autopilotctl", "--socket", systemSocket] + arguments, timeout: 30)
            } catch let failure as TestFailure {
                throw TestFailure("autopilotctl \(arguments.joined(separator: " ")): no answer; did the service start? "
                                  + "\(failure)\n\(journal())")
            }
        }
        func journal() -> String { container.journal(units: [service, "autopilotd.socket"]) }

        // The static-stdlib build runs on the container's C library.
        let version = try container.run(["autopilotd", "--version"])
        try #require(version.status == 0, "the installed autopilotd does not run in the container: \(version)")
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == AutopilotVersion.current)

        // systemd-sysusers (which a package runs after installing, and the boot ran if /etc needed an update)
        // creates the system user and group from the installed sysusers.d file; nothing else creates them here.
        let sysusers = try container.run(["systemd-sysusers"])
        #expect(sysusers.status == 0, "\(sysusers)")
        let user = try container.run(["getent", "passwd", "autopilot"])
        try #require(user.status == 0, "systemd-sysusers did not create the user: \(user)")
        let fields = user.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":",
                                                                                       omittingEmptySubsequences: false)
        try #require(fields.count == 7, "\(user.stdout)")
        let uid = try #require(Int(fields[2]))
        #expect(uid > 0 && uid < 1000, "not a system uid: \(user.stdout)")
        #expect(fields[5] == "/var/lib/autopilotd" && fields[6] == "/usr/sbin/nologin", "\(user.stdout)")
        let group = try container.run(["getent", "group", "autopilot"])
        #expect(group.status == 0 && group.stdout.split(separator: ":").dropFirst(2).first == fields[3], "\(group)")
        let clients = try container.run(["getent", "group", "autopilot-clients"])
        #expect(clients.status == 0 && clients.stdout.split(separator: ":").dropFirst(2).first != fields[3], "\(clients)")

        // The socket listens; nothing starts the service until the first connection.
        let enable = try container.run(["systemctl", "enable", "--now", "autopilotd.socket"])
        try #require(enable.status == 0, "\(enable)\n\(journal())")
        try container.waitFor("autopilotd.socket", ["ActiveState", "SubState"], "listening") {
            $0["SubState"] == "listening"
        }
        #expect(try container.properties(service, ["ActiveState"])["ActiveState"] == "inactive")
        let socketFile = try container.run(["stat", "--format=%U:%G %a %F", systemSocket])
        #expect(socketFile.stdout == "root:autopilot-clients 660 socket\n", "\(socketFile)")
        phase("socket listening")

        // The first call starts the service, which reports ready (Type=notify: active only after READY=1).
        let whoami = try ctl(["whoami", "--json"])
        try #require(whoami.status == 0, "the first call failed: \(whoami)\n\(journal())")
        #expect(whoami.stdout.contains("\"operator\""), "root is an operator: \(whoami)")
        let ready = try container.waitFor(service, ["ActiveState", "SubState", "StatusText", "MainPID", "NRestarts"],
                                          "READY=1") { $0["ActiveState"] == "active" && $0["SubState"] == "running" }
        #expect(ready["StatusText"]?.hasPrefix("Serving io.autopilotd.registry") == true, "\(ready)")
        #expect(ready["NRestarts"] == "0")
        let firstPID = try #require(ready["MainPID"].flatMap(Int.init))
        #expect(journal().contains("serving inherited socket"), "the daemon did not serve the socket systemd passed")
        // Inside the sandbox (ProcSubset=pid, the system-call filter) the daemon still reads its own pagemap,
        // unmaps the start-up code it will not run again, and has its code mapped one page per fault.
        let released = journal().firstMatch(of: /released code pages bytes=([0-9]+) fault_around=off when=ready/)
            .flatMap { Int($0.1) }
        #expect((released ?? 0) > 1_048_576, "no start-up code released: \(journal())")
        let status = try container.run(["systemctl", "status", "--no-pager", "--lines=0", service])
        #expect(status.status == 0 && status.stdout.contains("Active: active (running)")
                && status.stdout.contains("Status: \"Serving io.autopilotd.registry"), "\(status)")
        phase("started by the first call")

        // The hardening is in force on the running process, not only written in the unit.
        try expectHardening(container, pid: firstPID, uid: uid)

        // A change, then `kill -9`: systemd restarts the daemon (Restart=on-failure), and the change is there.
        let create = try ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"])
        try #require(create.status == 0, "\(create)")
        let files = try container.run(["stat", "--format=%U:%G %a", "/var/lib/autopilotd",
                                       "/var/lib/autopilotd/registry.sqlite"])
        #expect(files.stdout == "autopilot:autopilot 750\nautopilot:autopilot 640\n", "\(files)")
        let beforeKill = try container.journalCursor()
        try container.run(["sh", "-c", "kill -KILL \(firstPID)"]).requireSuccess("kill -9 \(firstPID)")
        let restarted = try container.waitFor(service, ["ActiveState", "SubState", "MainPID", "NRestarts"],
                                              "the restart after kill -9") {
            $0["NRestarts"] == "1" && $0["ActiveState"] == "active" && $0["SubState"] == "running"
        }
        let secondPID = try #require(restarted["MainPID"].flatMap(Int.init))
        #expect(secondPID != firstPID)
        let killLog = container.journal(units: [service], after: beforeKill)
        #expect(killLog.contains("Main process exited, code=killed, status=9/KILL"), "\(killLog)")
        let afterKill = try ctl(["tenant", "show", "contoso", "--json"])
        #expect(afterKill.status == 0 && afterKill.stdout.contains("contoso.onmicrosoft.com"),
                "the tenant created before kill -9 is gone: \(afterKill)\n\(journal())")
        phase("restarted after kill -9")

        // A member of the socket's group connects, and gets what its access rule gives (none: whoami), not the
        // database's bytes.
        try container.run(["useradd", "--system", "--no-create-home", "--groups", "autopilot-clients", "apclient"])
            .requireSuccess("useradd apclient")
        let client = try container.run(["runuser", "-u", "apclient", "--", "autopilotctl", "--socket", systemSocket,
                                        "whoami", "--json"])
        #expect(client.status == 0 && client.stdout.contains("\"none\""), "\(client)")
        let peek = try container.run(["runuser", "-u", "apclient", "--", "cat", "/var/lib/autopilotd/registry.sqlite"])
        #expect(peek.status != 0 && peek.stderr.contains("Permission denied"), "\(peek)")

        // The watchdog. The unit's 30 s would make this test wait a minute; a drop-in shortens it, and the daemon,
        // restarted to read the new WATCHDOG_USEC, must keep a healthy process alive past it, then be killed and
        // restarted by systemd once it stops answering (SIGSTOP: the process exists, it just does nothing).
        #expect(try container.properties(service, ["WatchdogUSec"])["WatchdogUSec"] == "30s")
        let dropIn = container.root + "/etc/systemd/system/autopilotd.service.d"
        try FileManager.default.createDirectory(atPath: dropIn, withIntermediateDirectories: true)
        try "[Service]\nWatchdogSec=3s\n".write(toFile: dropIn + "/test-watchdog.conf", atomically: true,
                                                 encoding: .utf8)
        try container.run(["systemctl", "daemon-reload"]).requireSuccess("systemctl daemon-reload")
        try container.run(["systemctl", "restart", service]).requireSuccess("systemctl restart")
        let watchedProperties = ["ActiveState", "SubState", "MainPID", "NRestarts", "WatchdogUSec"]
        let watched = try container.waitFor(service, watchedProperties, "the restart with WatchdogSec=3s") {
            $0["ActiveState"] == "active" && $0["SubState"] == "running" && $0["WatchdogUSec"] == "3s"
                && $0["MainPID"] != String(secondPID)
        }
        let watchedPID = try #require(watched["MainPID"].flatMap(Int.init))
        Thread.sleep(forTimeInterval: 7)
        let healthy = try container.properties(service, ["ActiveState", "MainPID", "NRestarts"])
        #expect(healthy["MainPID"] == String(watchedPID) && healthy["NRestarts"] == watched["NRestarts"],
                "the watchdog killed a daemon that pings it: \(healthy)\n\(journal())")
        let beforeHang = try container.journalCursor()
        try container.run(["sh", "-c", "kill -STOP \(watchedPID)"]).requireSuccess("kill -STOP \(watchedPID)")
        let rescued = try container.waitFor(service, ["ActiveState", "SubState", "MainPID", "NRestarts"],
                                            "the watchdog's restart of a stopped daemon") {
            $0["NRestarts"] == String((Int(watched["NRestarts"] ?? "") ?? 0) + 1) && $0["ActiveState"] == "active"
                && $0["SubState"] == "running" && $0["MainPID"] != String(watchedPID)
        }
        #expect(rescued["MainPID"] != String(watchedPID))
        let hangLog = container.journal(units: [service], after: beforeHang)
        #expect(hangLog.contains("Watchdog timeout (limit 3s)") && hangLog.contains("Failed with result 'watchdog'"),
                "\(hangLog)")
        let afterWatchdog = try ctl(["tenant", "show", "contoso", "--json"])
        #expect(afterWatchdog.status == 0, "\(afterWatchdog)")
        phase("restarted by the watchdog")

        // `systemctl stop` drains: SIGTERM, a clean exit well within TimeoutStopSec, and a watch in progress is
        // ended by the daemon (the CLI says how to resume, exit 69) rather than cut by SIGKILL.
        let beforeStop = try container.journalCursor()
        let watch = try container.start(["autopilotctl", "--socket", systemSocket, "consent", "watch"])
        defer { watch.terminate() }
        let deadline = Date().addingTimeInterval(30)
        while !watch.errorOutput.contains("Watching consent changes") && watch.process.isRunning && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        try #require(watch.errorOutput.contains("Watching consent changes"),
                     "the watch did not start: \(watch.errorOutput)")
        let stopStarted = Date()
        let stop = try container.run(["systemctl", "stop", service], timeout: 90)
        let stopSeconds = Date().timeIntervalSince(stopStarted)
        #expect(stop.status == 0, "\(stop)")
        let stopped = try container.properties(service, ["ActiveState", "Result", "ExecMainCode", "ExecMainStatus"])
        #expect(stopped["ActiveState"] == "inactive" && stopped["Result"] == "success"
                && stopped["ExecMainStatus"] == "0", "\(stopped)\n\(journal())")
        #expect(stopSeconds < 30, "systemctl stop took \(stopSeconds) s")
        #expect(watch.finish() == 69, "\(watch.errorOutput)")
        #expect(watch.errorOutput.contains("the watch ended: autopilotd stopped"), "\(watch.errorOutput)")
        let log = container.journal(units: [service], after: beforeStop)
        let lines = log.split(separator: "\n")
        #expect(lines.contains { $0.hasSuffix(": stopping: finishing calls in flight") }
                && lines.contains { $0.hasSuffix(": stopped") }, "\(log)")
        #expect(!log.contains("Killing process"), "the stop needed a signal after SIGTERM: \(log)")
        phase("stopped")

        // The socket stayed: the next call starts the daemon again, on the same data.
        #expect(try container.properties("autopilotd.socket", ["SubState"])["SubState"] == "listening")
        let again = try ctl(["tenant", "show", "contoso", "--json"])
        #expect(again.status == 0 && again.stdout.contains("contoso.onmicrosoft.com"), "\(again)\n\(journal())")
        phase("started again by a call")

        // A mistake in the configuration stops the start with one journal line and exit status 78, and systemd does
        // not retry it every RestartSec (RestartPreventExitStatus=78); mended, the daemon starts again.
        let conf = container.root + "/etc/autopilotd/autopilotd.conf"
        let original = try String(contentsOfFile: conf, encoding: .utf8)
        try (original + "\nno_such_setting = 1\n").write(toFile: conf, atomically: true, encoding: .utf8)
        try container.run(["systemctl", "stop", service]).requireSuccess("systemctl stop")
        // The restarts above count against StartLimitBurst; the start below must not meet that limit instead.
        try container.run(["systemctl", "reset-failed", service]).requireSuccess("systemctl reset-failed")
        let beforeMistake = try container.journalCursor()
        let badStart = try container.run(["systemctl", "start", service], timeout: 90)
        #expect(badStart.status != 0, "a daemon with an unknown setting started: \(badStart)")
        Thread.sleep(forTimeInterval: 5)  // more than RestartSec=2s: a restart would have happened by now
        let refused = try container.properties(service, ["ActiveState", "Result", "ExecMainStatus", "NRestarts"])
        #expect(refused["ActiveState"] == "failed" && refused["Result"] == "exit-code"
                && refused["ExecMainStatus"] == "78" && refused["NRestarts"] == "0", "\(refused)\n\(journal())")
        let mistakeLog = container.journal(units: [service], after: beforeMistake)
        #expect(mistakeLog.contains("autopilotd: configuration:") && mistakeLog.contains("no_such_setting"),
                "\(mistakeLog)")
        try original.write(toFile: conf, atomically: true, encoding: .utf8)
        try container.run(["systemctl", "reset-failed", service]).requireSuccess("systemctl reset-failed")
        let mended = try ctl(["tenant", "show", "contoso", "--json"])
        #expect(mended.status == 0, "\(mended)\n\(journal())")
    }

    /// Checks in /proc what the unit's hardening promises of process `pid`: its user, no privileges and no way to
    /// gain any, a seccomp filter, namespaces of its own, and a read-only file system but for its state directory.
    private func expectHardening(_ container: BootedContainer, pid: Int, uid: Int) throws {
        let status = try container.run(["cat", "/proc/\(pid)/status"])
        try #require(status.status == 0, "\(status)")
        var fields: [String: String] = [:]
        for line in status.stdout.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let ids = fields["Uid"]?.split(whereSeparator: \.isWhitespace).map(String.init)
        #expect(ids == Array(repeating: String(uid), count: 4), "runs as autopilot: \(fields["Uid"] ?? "?")")
        #expect(fields["NoNewPrivs"] == "1")
        #expect(fields["Seccomp"] == "2", "SystemCallFilter= installs a filter")
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(fields[set] == "0000000000000000", "\(set) \(fields[set] ?? "?")")
        }

        // PrivateNetwork=, PrivateIPC=, ProtectHostname=, and the mount namespace of ProtectSystem= and PrivateTmp=.
        for namespace in ["net", "ipc", "uts", "mnt"] {
            let ours = try container.run(["readlink", "/proc/\(pid)/ns/\(namespace)", "/proc/1/ns/\(namespace)"])
            let links = ours.stdout.split(separator: "\n")
            #expect(links.count == 2 && links[0] != links[1], "\(namespace) namespace not private: \(ours)")
        }
        let mounts = try container.run(["cat", "/proc/\(pid)/mountinfo"])
        var options: [String: String] = [:]
        for line in mounts.stdout.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count > 5 { options[String(parts[4])] = String(parts[5]) }  // the last mount at a point wins
        }
        func writable(_ point: String) -> Bool? { options[point].map { $0.split(separator: ",").contains("rw") } }
        #expect(writable("/") == false, "ProtectSystem=strict: / is read-only: \(options["/"] ?? "no mount")")
        #expect(writable("/var/lib/autopilotd") == true, "the state directory is writable: \(mounts.stdout)")
        #expect(options["/tmp"] != nil && options["/home"] != nil, "PrivateTmp= and ProtectHome=: \(mounts.stdout)")

        // Neither systemd (a setting it could not apply) nor the daemon has warned about anything so far.
        // (libdispatch's "Failed to set thread priority for worker thread" lines are plain stderr, priority info:
        // docs/service.md.)
        let warnings = container.journal(units: ["autopilotd.service", "autopilotd.socket"], priority: "warning")
        #expect(warnings.split(separator: "\n").dropFirst().isEmpty,  // the first line is journal()'s heading
                "\(warnings)\n\(container.journal(units: ["autopilotd.service"]))")
    }
}

private extension CommandResult {
    /// Throws unless the command exited 0.
    func requireSuccess(_ what: String) throws {
        guard status == 0 else { throw TestFailure("\(what) failed: \(self)") }
    }
}
