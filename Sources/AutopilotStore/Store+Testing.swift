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
        try await asyncRead(body)
    }

    /// Every audit event, in order.
    public func auditEventsForTesting() async throws -> [AuditEvent] {
        try await queryForTesting { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_events ORDER BY seq").map(AuditLog.event)
        }
    }
}

extension RegistryStore {
    /// SQLite's plan (the `detail` lines of EXPLAIN QUERY PLAN) for one `listDevices` page, so that tests can prove
    /// every filter is served by an index and no page is sorted.
    public func deviceListQueryPlanForTesting(_ filter: DeviceFilter, after cursor: DeviceCursor?) async throws
        -> [String]
    {
        let query = Self.deviceListQuery(filter, after: cursor, limit: Self.deviceListPageSize)
        return try await queryPlan(query.sql, query.arguments)
    }

    /// SQLite's plans for the lookups that match a submitted device against registered ones, by hash, product key
    /// and tuple.
    public func deviceMatchQueryPlansForTesting() async throws -> [[String]] {
        [
            try await queryPlan(SubmissionEvaluator.matchByHash, ["0"]),
            try await queryPlan(SubmissionEvaluator.matchByProductKey, ["0"]),
            try await queryPlan(SubmissionEvaluator.matchByTuple, ["m", "x", "s"]),
        ]
    }

    /// SQLite's plans for the consent gate: the active grants of a partner for a tenant, and whether there is one.
    public func consentGateQueryPlansForTesting() async throws -> [[String]] {
        [
            try await queryPlan(Fetch.activeGrantsOfPair, ["p", "t"]),
            try await queryPlan(Fetch.hasActiveGrantOfPair, ["p", "t"]),
        ]
    }

    private func queryPlan(_ sql: String, _ arguments: StatementArguments) async throws -> [String] {
        try await queryForTesting { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] }
        }
    }
}

extension RegistryStore {
    /// The rows of a query, column name to value.
    public func rowsForTesting(_ sql: String, arguments: StatementArguments = []) async throws -> [[String: DatabaseValue]] {
        try await queryForTesting { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                Dictionary(uniqueKeysWithValues: row.columnNames.map { ($0, row[$0] as DatabaseValue) })
            }
        }
    }
}

extension RegistryStore {
    /// How many read connections the store has opened (0 for an in-memory store, whose reads use its writer).
    public var readConnectionsOpenedForTesting: Int { callReaders?.openedCount ?? 0 }
}

extension RegistryStore {
    /// The consent cache's generation: it moves when, and only when, a commit changed consent.
    public var consentGenerationForTesting: UInt64 { consentCache.generation }
}
