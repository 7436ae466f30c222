import Dispatch
import GRDB
import Synchronization

/// Read-only connections for the store's reads, handed to the thread that needs one without GRDB's reader pool.
///
/// Every read the daemon makes for a call runs synchronously on the dispatch thread `RegistryStore.read` hands it to.
/// Taking a reader from GRDB's `DatabasePool` for that cost about 45,000 instructions per read, over a fifth of a whole
/// ValidateSubmission: two dispatch-queue hops, a semaphore and a dispatch group, a key path built per call, and a
/// `PRAGMA schema_version` query (docs/performance.md). Here a read takes a connection from a list under a lock,
/// uses it through its own serial queue, and puts it back.
///
/// At most `limit` connections exist; a read that finds them all busy waits for one, as it did in GRDB's pool. They
/// are opened on first need, read-only (SQLite refuses any write through them), after the store has migrated the
/// schema, and closed with the store. Reads release their connection before they return, so no read ever waits for
/// a task that needs another reader to resume.
final class CallReaders: Sendable {
    private let path: String
    private let configuration: Configuration
    private let slots: DispatchSemaphore
    private let idle = Mutex<[DatabaseQueue]>([])
    private let opened = Mutex<[DatabaseQueue]>([])

    init(path: String, limit: Int, busyTimeoutSeconds: Double) {
        self.path = path
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeoutSeconds)
        configuration.label = "autopilotd.reader"
        self.configuration = configuration
        self.slots = DispatchSemaphore(value: max(1, limit))
    }

    /// Runs `body` on an idle connection (opening one if none is idle), waiting while `limit` are in use.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        slots.wait()
        defer { slots.signal() }
        let connection = try idle.withLock { $0.popLast() } ?? open()
        defer { idle.withLock { $0.append(connection) } }
        return try connection.unsafeReentrantRead(body)
    }

    /// How many connections have been opened (tests: the bound holds).
    var openedCount: Int { opened.withLock { $0.count } }

    /// Closes every connection; no read may be running or start afterwards.
    func close() throws {
        let all = opened.withLock { list in
            defer { list.removeAll() }
            return list
        }
        idle.withLock { $0.removeAll() }
        var firstError: (any Error)?
        for connection in all {
            do { try connection.close() } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
    }

    private func open() throws -> DatabaseQueue {
        let connection = try DatabaseQueue(path: path, configuration: configuration)
        opened.withLock { $0.append(connection) }
        return connection
    }
}
