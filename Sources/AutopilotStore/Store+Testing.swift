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

    /// Runs `body` in a read transaction and returns its result (to look at rows the API does not return).
    public func queryForTesting<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await writer.read(body)
    }

    /// Every audit event, in order.
    public func auditEventsForTesting() async throws -> [AuditEvent] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_events ORDER BY seq").map(AuditLog.event)
        }
    }
}
