import AutopilotDomain
import AutopilotInterface
import AutopilotTestSupport
@testable import AutopilotStore
import Foundation
import GRDB
import Testing

/// The WAL is checkpointed by the writer right after a commit that takes it past SQLite's usual 1,000 pages has
/// returned (not inside that commit, and not for small ones), and is then started again from its beginning, so
/// that it never grows past about one large call.
@Suite struct WALCheckpointerTests {
    @Test func largeCommitsAreCheckpointedAfterTheyReturnAndTheWALIsReused() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wal-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let world = try await DeviceWorld(path: path)
        defer { try? world.store.close() }
        try await world.consent(DeviceWorld.csp, DeviceWorld.contoso)
        let checkpointer = try #require(world.store.checkpointer)
        let before = checkpointer.checkpointCount
        let batch = try await world.openBatch(DeviceWorld.csp, DeviceWorld.contoso)
        #expect(checkpointer.checkpointCount == before, "a small commit queues no checkpoint")

        // 1,000 devices with 3,000-byte hashes: over 1,000 pages in one commit. The writer does not checkpoint inside
        // it (its WAL hook replaces SQLite's automatic checkpoint); the checkpoint queued behind it copies the pages
        // into the database file.
        let added = try await world.add(batch.id, (0..<1000).map { .byHash($0) })
        #expect(added.batch.registered == 1000)
        let deadline = Date().addingTimeInterval(10)
        while (checkpointer.checkpointCount == before || fileSize(path) < 1000 * 3000) && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        #expect(checkpointer.checkpointCount == before + 1)
        #expect(fileSize(path) > 1000 * 3000, "the hashes' pages were copied into the database file")
        let walAfterOne = fileSize(path + "-wal")
        #expect(walAfterOne > 1000 * 4096)

        // Three more such calls: each next write finds the WAL copied and writes it again from the start.
        for round in 1...3 {
            let more = try await world.add(batch.id, (round * 1000..<(round + 1) * 1000).map { .byHash($0) })
            #expect(more.batch.registered == (round + 1) * 1000)
        }
        #expect(fileSize(path + "-wal") < walAfterOne * 3 / 2, "WAL \(fileSize(path + "-wal")) after \(walAfterOne)")
        #expect(checkpointer.checkpointCount >= before + 3)
    }
}
