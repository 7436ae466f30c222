import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Foundation
import GRDB
import Testing

/// The read connections of a file database (`CallReaders`): bounded, read-only, and released after every read.
@Suite struct CallReadersTests {
    func withFileStore(readers: Int, _ body: (RegistryStore) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("readers-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try RegistryStore(configuration: StoreConfiguration(path: directory + "/registry.sqlite",
                                                                        maximumReaderCount: readers))
        try await body(store)
        try store.close()
        #expect(!FileManager.default.fileExists(atPath: directory + "/registry.sqlite-wal"),
                "closing checkpoints and removes the WAL once the readers are closed")
    }

    @Test func manyConcurrentReadsShareAtMostTheConfiguredConnections() async throws {
        // One connection for reads from every thread of the pool: reads wait for it rather than opening another.
        try await withFileStore(readers: 1) { store in
            _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Contoso",
                                             domain: "contoso.onmicrosoft.com", id: "contoso")
            let found = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        var count = 0
                        for _ in 0..<50 where try await store.getTenant(asOperator(Registry.GetTenant.info), id: "contoso").id == "contoso" {
                            count += 1
                        }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(found == 16 * 50)
            #expect(store.readConnectionsOpenedForTesting == 1)
        }
    }

    @Test func aReadCannotWrite() async throws {
        try await withFileStore(readers: 1) { store in
            await #expect(throws: DatabaseError.self) {
                try await store.read(asOperator(Registry.GetStatus.info)) { tx in
                    try tx.db.execute(sql: "INSERT INTO partners (id, name, kind, created_at) VALUES ('x', 'X', 'directCsp', '')")
                }
            }
            // The connection went back to the list in a usable state: the next read on it works.
            let tenants = try await store.listTenants(asOperator(Registry.ListTenants.info))
            #expect(tenants.isEmpty && store.readConnectionsOpenedForTesting == 1)
        }
    }

    @Test func aReadSeesEveryChangeAcknowledgedBeforeIt() async throws {
        try await withFileStore(readers: 2) { store in
            for index in 0..<20 {
                _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "T\(index)",
                                                 domain: "t\(index).onmicrosoft.com", id: "t\(index)")
                #expect(try await store.listTenants(asOperator(Registry.ListTenants.info)).count == index + 1)
            }
        }
    }
}
