import AutopilotDomain
import AutopilotInterface
@testable import AutopilotStore
import Foundation
import GRDB
import Testing

/// The WAL is copied back into the database file by the store's checkpointer, off the writer's thread, once it
/// passes SQLite's usual 1,000 pages; small commits leave it alone.
@Suite struct WALCheckpointerTests {
    func fileSize(_ path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    @Test func aLargeCommitIsCheckpointedByTheCheckpointerAndSmallOnesAreNot() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("wal-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let world = try await DeviceWorld(path: path)
        defer { try? world.store.close() }
        try await world.consent(DeviceWorld.csp, DeviceWorld.contoso)
        let checkpointer = try #require(world.store.checkpointer)
        let before = checkpointer.checkpointCount
        let batch = try await world.openBatch(DeviceWorld.csp, DeviceWorld.contoso)
        #expect(checkpointer.checkpointCount == before, "a small commit wakes no checkpoint")

        // 1,000 devices with 3,000-byte hashes: over 1,000 pages in one commit.
        let added = try await world.add(batch.id, (0..<1000).map { .byHash($0) })
        #expect(added.batch.registered == 1000)
        // The writer does not checkpoint (its WAL hook replaces SQLite's automatic checkpoint): the pages reach the
        // database file only through the checkpointer's own connection, soon after the commit.
        let deadline = Date().addingTimeInterval(10)
        while (checkpointer.checkpointCount == before || fileSize(path) < 1000 * 3000) && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        #expect(checkpointer.checkpointCount > before)
        #expect(fileSize(path) > 1000 * 3000, "the hashes' pages were copied into the database file")
    }
}
