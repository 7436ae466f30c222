import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Copies committed WAL frames back into the database file on a thread of its own, instead of in the commit that
/// filled the WAL.
///
/// SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages: the committing call then
/// also reads every frame back, writes it into the database file and waits for that file's `fsync`. A 1,000-device
/// upload writes about 10 MB of pages, so every one of them paid for a checkpoint of its own pages before its reply,
/// on the writer's thread, while the second core sat idle (docs/performance.md). Here the writer's WAL hook (which
/// replaces the automatic checkpoint) only counts frames, and past `thresholdFrames` wakes this checkpointer, which
/// runs a PASSIVE checkpoint on its own connection while the writer goes on with the next call.
///
/// Nothing about durability changes: a commit is on disk when its WAL frames are synced (`synchronous = FULL`), as
/// before; a checkpoint only moves committed pages. PASSIVE never waits for readers or the writer, as SQLite's own
/// automatic checkpoint does not (a replicator's open read transaction, docs/replication.md, just leaves the frames
/// it may still need in the WAL). A checkpoint that fails (disk full) is tried again at the next wake-up.
final class WALCheckpointer: Sendable {
    /// The WAL size, in frames (pages), past which a commit wakes the checkpointer: SQLite's own default.
    static let thresholdFrames: Int32 = 1000

    private let connection: DatabaseQueue
    // Default QoS: for a lower class libdispatch would start workers of that priority and try to renice them, which
    // the unit's system call filter refuses (docs/service.md).
    private let queue = DispatchQueue(label: "autopilotd.checkpoint")
    /// A wake-up is queued and has not started yet (so commits in a burst queue one checkpoint, not one each).
    private let queued = Atomic<Bool>(false)
    /// Checkpoints run so far (tests).
    private let runs = Atomic<Int>(0)

    /// A checkpointer with its own connection to the database at `path`.
    init(path: String, busyTimeoutSeconds: Double) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeoutSeconds)
        configuration.label = "autopilotd.checkpoint"
        connection = try DatabaseQueue(path: path, configuration: configuration)
    }

    /// Makes `writer`'s commits wake this checkpointer, replacing SQLite's automatic checkpoint on that connection.
    func attach(to writer: Database) {
        sqlite3_wal_hook(writer.sqliteConnection, { context, _, _, frames in
            if frames >= WALCheckpointer.thresholdFrames, let context {
                Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().wake()
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Queues a checkpoint unless one is queued already. Called on the writer's thread, after a commit.
    func wake() {
        guard !queued.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async { [self] in
            queued.store(false, ordering: .releasing)
            _ = try? connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
            runs.add(1, ordering: .relaxed)
        }
    }

    /// How many checkpoints have run.
    var checkpointCount: Int { runs.load(ordering: .relaxed) }

    /// Waits for a queued checkpoint to finish, then closes the connection. The writer's hook must be gone (the
    /// writer closed, or no commit coming) before this is called.
    func close() throws {
        queue.sync {}
        try connection.close()
    }
}
