import AutopilotClient
import Foundation
import Testing
import Varlink

/// Starting the daemon with its built-in defaults as an ordinary user, and the directories it refuses to use.
@Suite(.serialized, .ownThread) struct DaemonStartupTests {
    /// A directory owned by `user`, mode 0700, removed by the caller.
    private func privateDirectory(for user: TestUser, _ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        #expect(chown(path, user.uid, user.gid) == 0)
        return path
    }

    /// `autopilotd` (or `autopilotctl`) run as `user` with exactly `environment`, through setpriv.
    private func asUser(_ user: TestUser, _ program: String, _ arguments: [String],
                        environment: [String: String]) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups", "--",
                             productsDirectory + "/" + program] + arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { a, _ in a }
        return process
    }

    /// Starts `process` with its stderr in `log` and waits until `socket` answers (or the process exits).
    private func start(_ process: Process, socket: String, log: String) throws {
        try #require(FileManager.default.createFile(atPath: log, contents: nil), "cannot create \(log)")
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try process.run()
        _ = waitUntilAccepting(socket, while: process)
    }

    /// Stops a daemon this suite started: SIGTERM must end it, with exit status 0.
    private func stop(_ process: Process, log: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let stopped = terminateAndWait(process)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(stopped, "autopilotd did not stop within 60 s of SIGTERM:\n\(text)", sourceLocation: sourceLocation)
        #expect(!stopped || process.terminationStatus == 0, "\(text)", sourceLocation: sourceLocation)
    }

    @Test func ordinaryUserRunsAPrivateDaemonWithNoArguments() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let user = try TestUser.make("ap-test-solo")
        let home = try privateDirectory(for: user, "ap-home")
        let runtime = try privateDirectory(for: user, "ap-runtime")
        defer {
            try? FileManager.default.removeItem(atPath: home)
            try? FileManager.default.removeItem(atPath: runtime)
        }
        let environment = ["HOME": home, "XDG_RUNTIME_DIR": runtime]
        let daemon = asUser(user, "autopilotd", [], environment: environment)
        let socket = runtime + "/autopilotd/io.autopilotd.registry"
        let log = home + "/autopilotd.log"
        try start(daemon, socket: socket, log: log)
        defer { if daemon.isRunning { stop(daemon, log: log) } }
        #expect(access(socket, F_OK) == 0, "no socket at \(socket)")
        #expect(access(home + "/.local/state/autopilotd/registry.sqlite", F_OK) == 0)

        // The client finds the user's own daemon without --socket, and the daemon's own uid is an operator there.
        let whoami = try runProgram("/usr/bin/setpriv",
                                    ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups", "--",
                                     productsDirectory + "/autopilotctl", "whoami", "--json"],
                                    environment: environment.merging(["AUTOPILOT_SOCKET": ""]) { _, b in b })
        #expect(whoami.status == 0, "\(whoami)")
        let who = try JSON.parse(whoami.stdout).objectValue
        #expect(who?["role"] == "operator" && who?["uid"] == .int(Int(user.uid)), "\(whoami)")

        stop(daemon, log: log)
    }

    @Test func fallbackDirectoryCreatedFirstByAnotherUserIsRefused() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let user = try TestUser.make("ap-test-solo")
        let squatter = try TestUser.make("ap-test-squatter")
        let home = try privateDirectory(for: user, "ap-home")
        // Without XDG_RUNTIME_DIR the socket goes to /tmp/autopilotd-<uid>, which another user created first.
        let fallback = "/tmp/autopilotd-\(user.uid)"
        try? FileManager.default.removeItem(atPath: fallback)
        try FileManager.default.createDirectory(atPath: fallback, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o777])
        #expect(chown(fallback, squatter.uid, squatter.gid) == 0)
        defer {
            try? FileManager.default.removeItem(atPath: home)
            try? FileManager.default.removeItem(atPath: fallback)
        }
        let result = try runProgram("/usr/bin/setpriv",
                                    ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups", "--",
                                     productsDirectory + "/autopilotd"],
                                    environment: ["HOME": home, "XDG_RUNTIME_DIR": ""], timeout: 60)
        #expect(result.status != 0)
        #expect(result.stderr.contains("refusing directory \(fallback): it belongs to uid \(squatter.uid)"), "\(result)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result)")
        #expect(access(fallback + "/io.autopilotd.registry", F_OK) != 0)
    }

    @Test func socketDirectoryOthersCanWriteIsRefusedUnlessSticky() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("ap-open-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(chmod(base, 0o777) == 0)
        let refused = try runProgram(productsDirectory + "/autopilotd",
                                     ["--socket", base + "/sock", "--database", base + "/db/registry.sqlite"], timeout: 60)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("refusing directory \(base): other users can write to it"), "\(refused)")

        // The sticky bit (as on /tmp) stops others from replacing what the daemon creates: accepted.
        #expect(chmod(base, 0o1777) == 0)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: productsDirectory + "/autopilotd")
        daemon.arguments = ["--socket", base + "/sock", "--database", base + "/db/registry.sqlite"]
        let log = base + "/autopilotd.log"
        try start(daemon, socket: base + "/sock", log: log)
        defer { stop(daemon, log: log) }
        let connection = try VarlinkConnection(path: base + "/sock")
        defer { connection.close() }
        #expect(try connection.call("io.autopilotd.registry.WhoAmI", [:])["role"] == "operator")
    }
}
