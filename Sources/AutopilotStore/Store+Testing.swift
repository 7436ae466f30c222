import AutopilotDomain
import GRDB

/// Direct access for tests of the store itself: the schema's constraints, the audit rows.
extension RegistryStore {
    /// Runs `body` in a write transaction that is always rolled back.
    public func withDatabaseForTesting(_ body: @escaping @Sendable (Database) throws -> Void) async throws {
        try await writer.write { db in
            try db.inSavepoint {
                try body(db)
                return .rollback
            }
        }
    }

    /// Every audit event, in order.
    public func auditEventsForTesting() async throws -> [AuditEvent] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_events ORDER BY seq").map(AuditLog.event)
        }
    }
}

extension RegistryStore {
    /// The rows of a query, column name to value, read in a transaction that is rolled back.
    public func rowsForTesting(_ sql: String, arguments: StatementArguments = []) async throws -> [[String: DatabaseValue]] {
        try await writer.write { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                Dictionary(uniqueKeysWithValues: row.columnNames.map { ($0, row[$0] as DatabaseValue) })
            }
        }
    }
}
