import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Foundation
import Logging
import NIOCore
import NIOPosix

/// Why the daemon could not start, as one line.
public struct StartupError: Error, CustomStringConvertible {
    /// What failed, in words for the daemon's exit message.
    public var description: String
}

/// The daemon: the store, the varlink server and the systemd integration, built from a configuration.
/// `main` and the tests both build it with `buildDaemon(config:)`.
public final class Daemon: Sendable {
    /// The configuration the daemon was built from.
    public let config: DaemonConfig
    /// The registry's database, open for as long as the daemon runs.
    public let store: RegistryStore
    let server: VarlinkServer
    let logger: Logger
    let notifier: SystemdNotifier?
    /// Calls received, counted by the dispatcher: the daemon releases its code pages once it has been idle.
    let activity: CallActivity
    private let stopSignal: AsyncStream<Void>
    private let stopContinuation: AsyncStream<Void>.Continuation

    init(config: DaemonConfig, store: RegistryStore, server: VarlinkServer, logger: Logger, notifier: SystemdNotifier?,
         activity: CallActivity) {
        self.config = config; self.store = store; self.server = server; self.logger = logger; self.notifier = notifier
        self.activity = activity
        (stopSignal, stopContinuation) = AsyncStream.makeStream(of: Void.self)
    }

    /// Serves until `stop()` or SIGTERM/SIGINT, then stops accepting, lets calls in flight finish, and closes the
    /// database.
    public func run() async throws {
        // Watched from the start, so a SIGTERM that arrives while the socket is being set up still stops cleanly
        // (the request waits in `stopSignal`) instead of killing the process with its socket file left behind.
        let signals = Self.watchSignals { [stopContinuation] in stopContinuation.yield() }
        defer { signals.forEach { $0.cancel() } }
        // Before the socket opens, so the warning is in the log before anyone can call.
        try await warnAboutTenantWideRules()
        let inherited = SocketActivation.listenDescriptors()
        if let fd = inherited.first {
            SocketActivation.clearEnvironment()
            if let problem = SocketActivation.problem(withListeningSocket: fd) { throw StartupError(description: problem) }
            try await server.adopt(listeningSocket: fd)
            logger.notice("serving inherited socket", metadata: ["fd": "\(fd)", "database": "\(store.databasePath)"])
        } else {
            try Self.makeDirectory(parentOf: config.socket, mode: 0o755)
            try await server.bind(path: config.socket, mode: mode_t(config.socketMode))
            logger.notice("listening", metadata: ["socket": "\(config.socket)", "database": "\(store.databasePath)"])
        }
        notifier?.send("READY=1\nSTATUS=Serving io.autopilotd.registry; schema \(RegistryStore.schemaVersion)")

        let expiries = Task { await reportDapExpiries() }
        let heads = Task { await witnessAuditHead(every: .seconds(60)) }
        let release = Task { [config] in
            guard config.idleReleaseSeconds > 0 else { return }
            await releaseCodePages(whenIdleFor: .seconds(config.idleReleaseSeconds))
        }
        let watchdog = Task { [notifier] in
            guard let notifier, let interval = SystemdNotifier.watchdogInterval() else { return }
            while !Task.isCancelled {
                notifier.send("WATCHDOG=1")
                try? await Task.sleep(for: interval)
            }
        }
        for await _ in stopSignal { break }
        watchdog.cancel()
        expiries.cancel()
        heads.cancel()
        release.cancel()
        await expiries.value
        await heads.value

        logger.notice("stopping: finishing calls in flight")
        notifier?.send("STOPPING=1\nSTATUS=Stopping: finishing calls in flight")
        await server.shutdown()
        // The last head, after the last call: what an auditor compares with once the daemon is gone.
        if let head = try? await store.auditHead() { logHead(head, when: "at stop") }
        try store.close()
        logger.notice("stopped")
    }

    /// Says, at every start while such rules exist, which tenant rules cover a whole tenant: they only read now (a
    /// caller they match acts as no account), and how to bind each person to their own account instead.
    func warnAboutTenantWideRules() async throws {
        let wide = try await store.activeAccessRules().filter { $0.role == .tenant && $0.account == nil }
        guard !wide.isEmpty else { return }
        let rules = wide.map { rule in
            "\(rule.id) (\(rule.uid.map { "uid \($0)" } ?? "gid \(rule.gid ?? 0)"), tenant \(rule.tenant ?? "?"))"
        }
        logger.warning("tenant access rules without an account only read: a caller they match cannot accept links, end relationships or file requests; bind each person to their own account", metadata: [
            "rules": "\(rules.joined(separator: ", "))",
            "bind": "autopilotctl access remove RULE && autopilotctl access add --user NAME --role tenant --tenant TENANT --account UPN",
        ])
    }

    /// Tells watchers when DAP ends by itself: records the `dapExpired` events that are due, then waits for the next
    /// expiry, a consent change (which may bring an earlier one), or `recheck` at most, whichever comes first. Reads
    /// never depend on this: DAP is out of force at its instant in every answer.
    func reportDapExpiries() async {
        let recheck: Duration = config.testClockFile == nil ? .seconds(60) : .milliseconds(50)
        while !Task.isCancelled {
            var wait = recheck
            do {
                let seen = try await store.lastConsentEventSeq()
                if let next = try await store.recordDapExpiries() {
                    let millis = next.millisecondsSinceEpoch - store.configuration.clock().millisecondsSinceEpoch
                    wait = min(recheck, .milliseconds(max(millis, 1)))
                }
                await store.waitForConsentEvent(after: seen, deadline: .now + wait)
            } catch {
                logger.error("cannot record DAP expiries", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: recheck)
            }
        }
    }

    /// Writes the audit log's head to the daemon's log (the journal under systemd) at start and then whenever it
    /// changed, looking every `interval`: a witness kept outside the database, against which `audit verify
    /// --head-from-log` finds events cut from the end of the log.
    func witnessAuditHead(every interval: Duration) async {
        var written: AuditHead?
        while !Task.isCancelled {
            if let head = try? await store.auditHead(), head != written {
                logHead(head, when: written == nil ? "at start" : "changed")
                written = head
            }
            try? await Task.sleep(for: interval)
        }
    }

    func logHead(_ head: AuditHead, when: String) {
        logger.notice("\(AuditHead.logMessage)", metadata: ["head": "\(head)", "when": "\(when)"])
    }

    /// Asks `run()` to stop, as SIGTERM does.
    public func stop() { stopContinuation.yield() }

    static func watchSignals(_ onSignal: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
        [SIGTERM, SIGINT].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: onSignal)
            source.resume()
            return source
        }
    }

    /// Creates the directory holding `path` (and its parents) when missing, and refuses one that another user
    /// controls. With `group` (the auditors group), a directory it creates belongs to that group, so its members can
    /// reach the database files inside; nobody else can. An existing directory keeps its group and mode.
    ///
    /// The non-root defaults fall back to `/tmp/autopilotd-<uid>`, a name anyone can create first: a directory
    /// owned by another user (root aside), or writable by others without the sticky bit, would let them replace
    /// the socket or the database under the daemon.
    /// - Throws: `StartupError` naming the directory.
    static func makeDirectory(parentOf path: String, mode: mode_t, group: UInt32? = nil) throws {
        let directory = (path as NSString).deletingLastPathComponent
        guard !directory.isEmpty else { return }
        if access(directory, F_OK) != 0 {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: Int(mode)])
            } catch {
                throw StartupError(description: "cannot create directory \(directory): \(error.localizedDescription)")
            }
            if let group, chown(directory, UInt32.max, group) != 0 {
                throw StartupError(description: "cannot give \(directory) to group \(group) (auditors_group): \(String(cString: strerror(errno)))")
            }
        }
        var st = stat()
        guard stat(directory, &st) == 0 else {
            throw StartupError(description: "cannot use directory \(directory): \(String(cString: strerror(errno)))")
        }
        if st.st_uid != getuid() && st.st_uid != 0 {
            throw StartupError(description: "refusing directory \(directory): it belongs to uid \(st.st_uid), not to this user")
        }
        if st.st_mode & (S_IWGRP | S_IWOTH) != 0 && st.st_mode & S_ISVTX == 0 {
            throw StartupError(description: "refusing directory \(directory): other users can write to it")
        }
    }
}

/// Builds the daemon: logger, database (created and migrated), dispatcher and server. Nothing is bound yet.
/// - Throws: `StartupError` with a one-line reason (bad database, unknown auditors group…).
public func buildDaemon(config: DaemonConfig, logHandler: (@Sendable (String) -> any LogHandler)? = nil) throws -> Daemon {
    let level = Logger.Level(rawValue: config.logLevel) ?? .info
    var logger = Logger(label: "autopilotd") { label in
        logHandler?(label) ?? StderrLogHandler(label: label, level: level)
    }
    logger.logLevel = level
    let notifier = SystemdNotifier.fromEnvironment()

    var group: UInt32?
    if let name = config.auditorsGroup {
        if let number = UInt32(name) {
            group = number
        } else if let entry = getgrnam(name) {
            group = entry.pointee.gr_gid
        } else {
            throw StartupError(description: "auditors_group: no group named '\(name)'")
        }
    }
    try Daemon.makeDirectory(parentOf: config.database, mode: 0o750, group: group)
    let store: RegistryStore
    do {
        store = try RegistryStore(configuration: StoreConfiguration(
            path: config.database, auditorsGroup: group, clock: config.testClockFile.map(fileClock) ?? Timestamp.now,
            resellerLinkLifetimeSeconds: Int64(config.resellerLinkLifetimeDays) * 86_400,
            linkBaseURL: config.linkBaseURL,
            willMigrate: { name in
                notifier?.send("EXTEND_TIMEOUT_USEC=300000000\nSTATUS=Applying migration \(name)")
            }))
    } catch let error as StoreOpenError {
        throw StartupError(description: error.description)
    } catch {
        throw StartupError(description: "cannot open \(config.database): \(error)")
    }
    if let file = config.testClockFile {
        logger.warning("the clock is read from a file, for tests: never set AUTOPILOTD_TEST_CLOCK_FILE in service",
                       metadata: ["file": "\(file)"])
    }
    if !store.upgradeFindings.isEmpty {
        // Said once, when the upgrade that found them ran; the table keeps them for the operator and auditors.
        logger.warning("devices registered before the registry read hardware hashes need an operator", metadata: [
            "findings": "\(store.upgradeFindings.count)", "table": "device_identity_findings",
            "resolve": "deregister the registration that should not stand: autopilotctl devices deregister --partner PARTNER --device ID",
        ])
        for finding in store.upgradeFindings.prefix(100) { logger.warning("\(finding)") }
        if store.upgradeFindings.count > 100 {
            logger.warning("\(store.upgradeFindings.count - 100) more in device_identity_findings")
        }
    }
    let activity = CallActivity()
    let dispatcher = try Dispatcher(store: store, config: config, logger: logger, startedAt: Timestamp.now(),
                                    activity: activity)
    var limits = VarlinkServerLimits()
    limits.maxFrameSize = config.maxFrameSize
    limits.maxConnections = config.maxConnections
    limits.maxConnectionsPerUID = config.maxConnectionsPerUID
    limits.maxQueuedCallsPerConnection = config.maxQueuedCalls
    limits.idleTimeout = config.idleTimeoutSeconds > 0 ? .seconds(Int64(config.idleTimeoutSeconds)) : nil
    let server = VarlinkServer(handler: dispatcher, limits: limits, group: MultiThreadedEventLoopGroup.singleton)
    return Daemon(config: config, store: store, server: server, logger: logger, notifier: notifier, activity: activity)
}

/// A clock that reads the current time from `path` (one RFC 3339 UTC time), for tests that let days pass; the system
/// clock while the file is missing or holds no time.
func fileClock(_ path: String) -> @Sendable () -> Timestamp {
    return {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
              let time = Timestamp(rfc3339: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return Timestamp.now() }
        return time
    }
}
