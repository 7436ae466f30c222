import AutopilotDomain
import Foundation
import GRDB

/// Why the store could not open a database. Each case reads as one line for the daemon's exit message.
public enum StoreOpenError: Error, CustomStringConvertible, Sendable {
    case newerSchema(path: String, unknownMigrations: [String])
    case notARegistry(path: String)
    case unreadable(path: String, reason: String)

    /// Why, and what to do about it, on one line for the daemon's exit message.
    public var description: String {
        switch self {
        case let .newerSchema(path, unknown):
            "\(path) was written by a newer autopilotd (unknown migrations: \(unknown.joined(separator: ", "))); upgrade autopilotd or restore a backup"
        case let .notARegistry(path):
            "\(path) is an SQLite database but not an autopilotd registry; refusing to touch it"
        case let .unreadable(path, reason):
            "\(path) cannot be opened as an SQLite database: \(reason)"
        }
    }
}

/// How to open the registry database.
public struct StoreConfiguration: Sendable {
    /// The database file; nil opens a private in-memory database (tests).
    public var path: String?
    /// Group that may read the database files (auditors); nil keeps the process's group. Files are mode 0640.
    public var auditorsGroup: UInt32?
    /// The clock; the store pins `now` once per transaction.
    public var clock: @Sendable () -> Timestamp
    /// Lifetime of reseller-relationship links.
    public var resellerLinkLifetimeSeconds: Int64
    /// Start of consent URLs: `<linkBaseURL>/consent/<token>`.
    public var linkBaseURL: String
    /// Read connections open at most (`CallReaders`); a read that finds them all busy waits for one.
    public var maximumReaderCount: Int
    /// Called before each migration is applied, with its name (the daemon extends its systemd start timeout).
    public var willMigrate: @Sendable (String) -> Void

    /// A configuration; only the path has no default (nil: an in-memory database).
    public init(path: String?, auditorsGroup: UInt32? = nil, clock: @escaping @Sendable () -> Timestamp = Timestamp.now,
                resellerLinkLifetimeSeconds: Int64 = ConsentRules.defaultResellerLinkLifetimeSeconds,
                linkBaseURL: String = "https://autopilot.invalid", maximumReaderCount: Int = 8,
                willMigrate: @escaping @Sendable (String) -> Void = { _ in }) {
        self.path = path; self.auditorsGroup = auditorsGroup; self.clock = clock
        self.resellerLinkLifetimeSeconds = resellerLinkLifetimeSeconds; self.linkBaseURL = linkBaseURL
        self.maximumReaderCount = maximumReaderCount; self.willMigrate = willMigrate
    }
}

extension Timestamp {
    /// The current time from the system clock (the only clock read in the store).
    @Sendable public static func now() -> Timestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(millisecondsSinceEpoch: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }
}

/// The registry's SQLite database: WAL, foreign keys on, one serialized writer and concurrent readers.
///
/// Every state change is one transaction that also appends its audit event; reads run on a dispatch thread, never on
/// the caller's event loop, on read-only connections of the store's own (`CallReaders`).
public final class RegistryStore: Sendable {
    let writer: any DatabaseWriter
    /// The connections reads run on (a file database); nil for an in-memory one, whose reads use `writer`.
    let callReaders: CallReaders?
    /// Checkpoints the WAL after large commits have been answered (a file database); nil for an in-memory one.
    let checkpointer: WALCheckpointer?
    /// Answers of consent checks, valid until a commit changes consent.
    let consentCache = ConsentCache()
    /// Wakes watchers of consent events when a transaction that recorded some commits.
    let consentEventHub = ConsentEventHub()
    /// How the store was opened.
    public let configuration: StoreConfiguration
    /// What upgrading an existing database found and left for an operator (`device_identity_findings`), one line
    /// per finding; empty when no such upgrade ran at this start.
    public let upgradeFindings: [String]

    /// The migrations compiled into this binary, in order.
    public static var migrationNames: [String] { embeddedMigrations.map(\.name) }
    /// The schema version this binary writes: the number of migrations it knows.
    public static var schemaVersion: Int { embeddedMigrations.count }

    /// Opens (creating if needed) and migrates the database.
    /// - Throws: `StoreOpenError` for a newer schema, a foreign database or an unreadable file.
    public init(configuration: StoreConfiguration) throws {
        self.configuration = configuration
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(10)
        // GRDB's own readers only take backups (VACUUM INTO); every other read uses `callReaders`.
        config.maximumReaderCount = 2
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        if let path = configuration.path {
            try Self.prepareFile(path: path, group: configuration.auditorsGroup)
            try Self.inspectExisting(path: path)
            do {
                writer = try DatabasePool(path: path, configuration: config)
            } catch let error as DatabaseError {
                throw StoreOpenError.unreadable(path: path, reason: error.message ?? "\(error.resultCode)")
            }
        } else {
            writer = try DatabaseQueue(configuration: config)
        }
        callReaders = configuration.path.map {
            CallReaders(path: $0, limit: configuration.maximumReaderCount, busyTimeoutSeconds: 10)
        }
        if let pool = writer as? DatabasePool {
            let checkpointer = WALCheckpointer(writer: pool)
            pool.writeWithoutTransaction { db in checkpointer.attach(to: db) }
            self.checkpointer = checkpointer
        } else {
            checkpointer = nil
        }
        writer.add(transactionObserver: consentCache, extent: .databaseLifetime)
        writer.add(transactionObserver: consentEventHub, extent: .databaseLifetime)
        upgradeFindings = try Self.migrate(writer, configuration)
        consentEventHub.start(latest: try writer.writeWithoutTransaction { db in
            try Int64.fetchOne(db, sql: "SELECT ifnull(max(seq), 0) FROM consent_events") ?? 0
        })
        if let path = configuration.path { try Self.fixModes(path: path, group: configuration.auditorsGroup) }
    }

    /// Creates the database file group-readable (0640, whatever the umask) before SQLite does, so SQLite's WAL and
    /// shared-memory files, which copy the database file's mode (and, when the daemon runs as root, its owner and
    /// group), are readable by the auditors group and nobody else.
    /// - Throws: `StoreOpenError.unreadable` when the file cannot be created, `DatabaseFileGroupError` when it
    ///   cannot be given to the auditors group.
    static func prepareFile(path: String, group: UInt32?) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw StoreOpenError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { _ = Glibc.close(fd) }
        var st = stat()
        if fstat(fd, &st) == 0, st.st_size == 0 {
            _ = fchmod(fd, 0o640)
            if let group, fchown(fd, UInt32.max, group) != 0 {
                throw DatabaseFileGroupError(file: path, group: group, reason: String(cString: strerror(errno)))
            }
        }
    }

    /// Gives the database, -wal and -shm files mode 0640 and the auditors group, once the database is open.
    ///
    /// A daemon that is not root gets -wal and -shm created with its own group rather than the database file's,
    /// and older files may predate this configuration. The daemon's connections keep both files open, so SQLite
    /// does not recreate them while it runs and this fix holds.
    /// - Throws: `DatabaseFileGroupError` when a file cannot be given to the auditors group.
    static func fixModes(path: String, group: UInt32?) throws {
        for file in [path, path + "-wal", path + "-shm"] where access(file, F_OK) == 0 {
            if let group, chown(file, UInt32.max, group) != 0 {
                throw DatabaseFileGroupError(file: file, group: group, reason: String(cString: strerror(errno)))
            }
            _ = chmod(file, 0o640)
        }
    }

    /// Looks at an existing database file read-only before the pool opens it, because opening a pool writes to the
    /// file (it switches it to WAL mode and creates a table): a corrupt file, a foreign database or one written by a
    /// newer autopilotd is refused byte for byte untouched. An empty file is a new database.
    /// - Throws: `StoreOpenError`.
    static func inspectExisting(path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0, st.st_size > 0 else { return }
        // A read-only connection to a WAL database creates -wal and -shm; a refused file gets no companions.
        let companions = [String]([path + "-wal", path + "-shm"]).filter { access($0, F_OK) != 0 }
        var config = Configuration()
        config.readonly = true
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            defer { try? queue.close() }
            try queue.read { db in try requireRegistry(db, path: path) }
        } catch {
            for file in companions { unlink(file) }
            if let error = error as? DatabaseError {
                throw StoreOpenError.unreadable(path: path, reason: error.message ?? "\(error.resultCode)")
            }
            throw error
        }
    }

    /// Refuses a database that has tables but is not a registry, or that has migrations this binary does not know.
    /// - Throws: `StoreOpenError.notARegistry`, `.newerSchema`.
    static func requireRegistry(_ db: Database, path: String) throws {
        // Litestream adds its two tables to any database it watches, even one left empty before its first migration.
        let tables = try String.fetchAll(db, sql: """
            SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('_litestream_seq', '_litestream_lock')
            """)
        if !tables.isEmpty && !tables.contains("grdb_migrations") {
            throw StoreOpenError.notARegistry(path: path)
        }
        if tables.contains("grdb_migrations") {
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            let unknown = applied.filter { !migrationNames.contains($0) }
            if !unknown.isEmpty { throw StoreOpenError.newerSchema(path: path, unknownMigrations: unknown) }
        }
    }

    /// Steps in Swift that follow a migration's SQL in the same transaction, for data the SQL cannot compute.
    private static let dataSteps: [String: @Sendable (Database, Timestamp) throws -> Void] = [
        DeviceIdentityUpgrade.migration: DeviceIdentityUpgrade.run,
    ]

    /// Applies the migrations this database lacks, and returns what their data steps recorded in
    /// `device_identity_findings` (one line each), so the daemon can report it once.
    private static func migrate(_ writer: any DatabaseWriter, _ configuration: StoreConfiguration) throws -> [String] {
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations {
            let hook = configuration.willMigrate, clock = configuration.clock
            migrator.registerMigration(migration.name) { db in
                hook(migration.name)
                try db.execute(sql: migration.sql)
                try dataSteps[migration.name]?(db, clock())
            }
        }
        let path = configuration.path ?? ":memory:"
        do {
            // Read through the writer's connection: a pool reader would stay open, and keep the WAL, until close.
            let before = try writer.writeWithoutTransaction { db in try migrator.appliedIdentifiers(db) }
            try migrator.migrate(writer)
            try writer.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA user_version = \(Self.schemaVersion)")
            }
            guard !before.isEmpty, !before.contains(DeviceIdentityUpgrade.migration) else { return [] }
            return try writer.writeWithoutTransaction { db in
                try Row.fetchAll(db, sql: """
                    SELECT kind, device_id, detail FROM device_identity_findings ORDER BY id
                    """).map { "device \($0[1] as String): \($0[0] as String): \($0[2] as String)" }
            }
        } catch let error as DatabaseError {
            throw StoreOpenError.unreadable(path: path, reason: error.message ?? "\(error.resultCode)")
        }
    }

    /// Runs `body` as one write transaction with `now` pinned, and appends the audit event for it in the same
    /// transaction: `ok` when it returns, or the error's name when it throws a `RegistryError` (the changes are then
    /// rolled back, the event kept). A `PermissionDenied` rolls back everything and is recorded as every refusal is,
    /// by `recordRefusal`. Any other error rolls back everything; the call is then recorded as `InternalError` in a
    /// transaction of its own, when the database still takes writes.
    public func change<T: Sendable>(_ context: OperationContext,
                                    _ body: @escaping @Sendable (Transaction) throws -> T) async throws -> T {
        let clock = configuration.clock
        let outcome: Result<T, RegistryError>
        do {
            outcome = try await mapStorage {
                try await writer.write { db in
                    let tx = Transaction(db: db, now: clock(), context: context, store: self)
                    do {
                        var value: T?
                        try db.inSavepoint {
                            value = try body(tx)
                            return .commit
                        }
                        try AuditLog.append(tx, outcome: "ok")
                        return .success(value!)
                    } catch let error as RegistryError {
                        if case .permissionDenied = error { throw Refusal(error, targets: tx.targets, account: tx.account) }
                        try AuditLog.append(tx, outcome: error.name)
                        return .failure(error)
                    }
                }
            }
        } catch let refusal as Refusal {
            await recordRefusal(context, refusal)
            throw refusal.error
        } catch let error as RegistryError {
            throw error
        } catch {
            try? await record(context, outcome: AuditLog.internalErrorOutcome, targets: [], account: nil)
            throw error
        }
        return try outcome.get()
    }

    /// Runs `body` as a read, in one snapshot, on a dispatch thread. A `PermissionDenied` it throws is recorded in
    /// the audit log (`recordRefusal`), with the targets and account the body had named, before it is rethrown;
    /// successful reads and other failures are not recorded.
    ///
    /// Calls run on their connection's event loop (`EventLoopTaskExecutor`), and SQLite never does: a read, however
    /// short, waits on the disk when its page is not cached, and would stall every connection of that loop. So a read
    /// is handed to a dispatch thread and the call's task resumes on its loop once it is done: the same two thread
    /// crossings a call made before calls ran on the loop, now paid only by calls that read the database (a cached
    /// consent answer and `WhoAmI` pay none).
    public func read<T: Sendable>(_ context: OperationContext,
                                  _ body: @escaping @Sendable (Transaction) throws -> T) async throws -> T {
        try await audited(context) { try await self.offCallThreads { try self.readOnCallingThread(context, body) } }
    }

    /// A synchronous read (`syncRead`) on a dispatch thread, for store-internal queries that need no audit context.
    func asyncRead<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await offCallThreads { try self.syncRead(body) }
    }

    /// Runs a synchronous database read on a dispatch thread, and waits for it without holding a calling thread.
    ///
    /// GRDB's asynchronous reads are never used: they keep their reader connection until the awaiting task resumes,
    /// and since a read blocks its thread while it waits for a free reader, every reader could end up held by a task
    /// that no thread is left to resume (16 clients mixing VerifyAudit and Backup with other reads did that). Here
    /// the connection is given back before the continuation is resumed.
    func offCallThreads<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Maps storage errors, and records a refused read before rethrowing its `PermissionDenied`.
    private func audited<T>(_ context: OperationContext, _ run: () async throws -> T) async throws -> T {
        do {
            return try await mapStorage(run)
        } catch let refusal as Refusal {
            await recordRefusal(context, refusal)
            throw refusal.error
        }
    }

    /// Runs a read's body, turning a `PermissionDenied` into a `Refusal` with what the transaction named.
    private static func refusable<T>(_ body: (Transaction) throws -> T, _ tx: Transaction) throws -> T {
        do {
            return try body(tx)
        } catch let error as RegistryError {
            guard case .permissionDenied = error else { throw error }
            throw Refusal(error, targets: tx.targets, account: tx.account)
        }
    }

    /// `body` with a `Transaction` for the audit context, in `snapshotRead`.
    private func readOnCallingThread<T>(_ context: OperationContext, _ body: (Transaction) throws -> T) throws -> T {
        let clock = configuration.clock
        return try snapshotRead { db in
            try Self.refusable(body, Transaction(db: db, now: clock(), context: context, store: self))
        }
    }

    /// A read-only connection (`CallReaders`), on this thread, with `body` in one deferred transaction (one snapshot).
    ///
    /// The transaction is begun and ended with cached statements: GRDB's `read` compiles BEGIN and COMMIT anew on
    /// every call, a fifth of a ValidateSubmission's database time.
    private func snapshotRead<T>(_ body: (Database) throws -> T) throws -> T {
        assert(!Self.onEventLoopThread(), "SQLite must not run on an event-loop thread (RegistryStore.read)")
        let run = { (db: Database) throws -> T in
            try db.cachedStatement(sql: "BEGIN DEFERRED TRANSACTION").execute()
            do {
                let value = try body(db)
                try db.cachedStatement(sql: "COMMIT TRANSACTION").execute()
                return value
            } catch {
                try? db.cachedStatement(sql: "ROLLBACK TRANSACTION").execute()
                throw error
            }
        }
        if let callReaders { return try callReaders.read(run) }
        return try writer.unsafeReentrantRead(run)
    }

    /// Whether this thread is one of SwiftNIO's event loops (by the name NIO gives them, "NIO-..."): debug builds
    /// assert that no read runs there, so that every end-to-end test would fail if a call did SQLite on its loop.
    static func onEventLoopThread() -> Bool {
        // pthread_getname_np is not exported to Swift; the kernel shows the name at /proc/thread-self/comm.
        let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { _ = Glibc.close(fd) }
        var name = [UInt8](repeating: 0, count: 4)
        return Glibc.read(fd, &name, 4) == 4 && name == Array("NIO-".utf8)
    }

    /// Records a refused call: the one path every `PermissionDenied` takes into the audit log, whether the
    /// permission table refused it before the store ran or the store found the caller does not own what an id names.
    /// The event names the ids the call named (`kind:id`) and the tenant account it acted as. The refusal stands even
    /// when it cannot be recorded (a full disk): the caller gets `PermissionDenied` either way, never an error that
    /// tells it more.
    public func recordRefusal(_ context: OperationContext, _ refusal: Refusal) async {
        try? await record(context, outcome: refusal.error.name, targets: refusal.targets,
                          account: refusal.account.map(Validate.accountKey))
    }

    /// Appends one event in a transaction of its own.
    private func record(_ context: OperationContext, outcome: String, targets: [String], account: String?) async throws {
        let clock = configuration.clock
        try await mapStorage {
            try await writer.write { db in
                let tx = Transaction(db: db, now: clock(), context: context, store: self)
                tx.targets = targets
                tx.account = account
                try AuditLog.append(tx, outcome: outcome)
            }
        }
    }

    /// Turns SQLite's "disk full" into `StorageFull`; other errors pass through.
    func mapStorage<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as DatabaseError where error.resultCode == .SQLITE_FULL {
            throw RegistryError.storageFull
        }
    }

    /// A synchronous read in one snapshot, on this thread (short reads only; see `read`).
    func syncRead<T>(_ body: (Database) throws -> T) throws -> T {
        try snapshotRead(body)
    }

    /// The path of the database, or ":memory:".
    public var databasePath: String { configuration.path ?? ":memory:" }

    /// Closes the database (checkpointing the WAL). The store must not be used afterwards.
    public func close() throws {
        // The readers first: the pool's connection, closing last, checkpoints the WAL and removes it. The checkpoint
        // before is PASSIVE: a replicator (Litestream, docs/replication.md) keeps a read transaction open, and a
        // TRUNCATE checkpoint would wait the whole busy timeout for it at every stop, then fail anyway.
        let readersClosed = Result { try callReaders?.close() }
        if let pool = writer as? DatabasePool {
            _ = try? pool.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            try pool.close()
        } else if let queue = writer as? DatabaseQueue {
            try queue.close()
        }
        try readersClosed.get()
    }
}

/// Who is calling which method; the store records it with every event.
public struct OperationContext: Sendable {
    /// Who is calling: the peer's credentials and the role its access rule gives it.
    public var caller: Caller
    /// The method called, as the audit log names it.
    public var method: MethodInfo
    /// The context of one call.
    public init(caller: Caller, method: MethodInfo) { self.caller = caller; self.method = method }
}

/// One transaction: the database, the `now` pinned for it, the caller, and what the audit event will name.
public final class Transaction {
    /// The connection, inside the transaction (a write, or one read snapshot).
    public let db: Database
    /// The time, read once for the whole transaction: its rules, the rows it writes and its audit event all use it.
    public let now: Timestamp
    /// The caller and method the audit event records.
    public let context: OperationContext
    let store: RegistryStore
    /// Ids the call named or touched, as `kind:id`, for the audit event's target.
    public var targets: [String] = []
    /// The tenant account acting in a tenant-side call.
    public var account: String?

    init(db: Database, now: Timestamp, context: OperationContext, store: RegistryStore) {
        self.db = db; self.now = now; self.context = context; self.store = store
    }

    /// Who is calling.
    public var caller: Caller { context.caller }
    /// The method called.
    public var method: MethodInfo { context.method }

    /// Adds `kind:id` to the audit event's target (once).
    public func target(_ kind: String, _ id: String) {
        let entry = "\(kind):\(id)"
        if !targets.contains(entry) { targets.append(entry) }
    }
}

/// A fresh lowercase time-ordered (version 7, RFC 9562) UUID: 48 bits of Unix milliseconds, then 74 random bits.
///
/// Time-ordered so that rows made one after another land together at the end of every index over their id (the
/// primary keys of `devices`, `batches`, `links`…): with random (version 4) ids, an import of 1,000 devices dirtied
/// a random leaf of the `devices` primary key per device, and each commit wrote nearly the whole index to the WAL
/// again. The ids are still unique and unguessable enough for what they are (names, not secrets: link tokens are
/// separate), and they reveal only the creation time, which the row records anyway.
///
/// Formatted here rather than with Foundation's `uuidString`, which goes through printf and then needs lowercasing:
/// AddDevices makes one id per device, and that was 5% of its instructions.
func newID(milliseconds: UInt64 = currentUnixMilliseconds()) -> String {
    var random = SystemRandomNumberGenerator()
    // Bytes 0-5 the timestamp (big-endian, so the text sorts by time), 6-15 random; then version and variant bits.
    var value = ((milliseconds << 16 | UInt64(random.next() as UInt16)).bigEndian, random.next() as UInt64)
    return withUnsafeMutableBytes(of: &value) { bytes in
        bytes[6] = bytes[6] & 0x0F | 0x70  // version 7
        bytes[8] = bytes[8] & 0x3F | 0x80  // RFC 4122 variant
        let hex = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: 36) { text in
            var out = 0
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    text[out] = UInt8(ascii: "-")
                    out += 1
                }
                text[out] = hex[Int(byte >> 4)]
                text[out + 1] = hex[Int(byte & 0x0F)]
                out += 2
            }
            return out
        }
    }
}

/// Milliseconds since the Unix epoch, from the system's real-time clock.
func currentUnixMilliseconds() -> UInt64 {
    UInt64(max(0, Timestamp.now().millisecondsSinceEpoch))
}
