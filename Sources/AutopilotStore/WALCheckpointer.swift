import GRDB
import GRDBSQLite
import Synchronization

/// Checkpoints the WAL on the writer's queue after the commit that filled it has been answered, instead of inside
/// that commit.
///
/// SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages: the committing call then
/// also reads every frame back, writes it into the database file and waits for that file's `fsync`, all before its
/// reply. A 1,000-device upload writes about 10 MB of pages, so every one of them paid for a checkpoint of its own
/// pages first (docs/performance.md). Here the writer's WAL hook (which replaces the automatic checkpoint) only
/// counts frames, and past `thresholdFrames` queues a PASSIVE checkpoint behind the current write on the writer's
/// queue: the reply goes out at once, and the checkpoint runs while it travels, while the client prepares its next
/// call and while the daemon receives and parses it.
///
/// It runs on the writer's queue, before any later write, so that the next write transaction finds the WAL fully
/// copied and starts it again from its beginning: checkpoints run on a connection of their own fell behind the next
/// write every time, and a 100,000-device import left a WAL of 1.1 GB. Nothing about durability changes: a commit is
/// on disk when its WAL frames are synced (`synchronous = FULL`), as before; a checkpoint only moves committed pages.
/// PASSIVE never waits for readers, as SQLite's own automatic checkpoint does not (a replicator's open read
/// transaction, docs/replication.md, just leaves the frames it may still need in the WAL). A checkpoint that fails
/// (disk full) is tried again after the next large commit.
final class WALCheckpointer: Sendable {
    /// The WAL size, in frames (pages), past which a commit queues a checkpoint: SQLite's own default.
    static let thresholdFrames: Int32 = 1000

    private let writer: any DatabaseWriter
    /// A checkpoint is queued and has not started yet (so commits in a burst queue one checkpoint, not one each).
    private let queued = Atomic<Bool>(false)
    /// Checkpoints run so far (tests).
    private let runs = Atomic<Int>(0)

    /// A checkpointer that queues its checkpoints on `writer`.
    init(writer: any DatabaseWriter) {
        self.writer = writer
    }

    /// Makes the commits of `connection` (the writer's) queue checkpoints, replacing SQLite's automatic checkpoint on
    /// that connection. The checkpointer must outlive the connection's last commit.
    func attach(to connection: Database) {
        sqlite3_wal_hook(connection.sqliteConnection, { context, _, _, frames in
            if frames >= WALCheckpointer.thresholdFrames, let context {
                Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().queueCheckpoint()
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Queues a checkpoint on the writer's queue unless one is queued already. Called on the writer's queue, after a
    /// commit; the checkpoint runs once the write that committed has returned.
    func queueCheckpoint() {
        guard !queued.exchange(true, ordering: .acquiringAndReleasing) else { return }
        writer.asyncWriteWithoutTransaction { [self] db in
            queued.store(false, ordering: .releasing)
            _ = try? db.checkpoint(.passive)
            runs.add(1, ordering: .relaxed)
        }
    }

    /// How many checkpoints have run.
    var checkpointCount: Int { runs.load(ordering: .relaxed) }
}
