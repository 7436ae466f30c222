import GRDB
import GRDBSQLite

/// Reading the rows of the hottest queries (the partner, tenant and grant lookups of every ValidateSubmission and
/// AddDevices) straight from SQLite, on statements from GRDB's statement cache.
///
/// GRDB's `Row.fetchOne` / `fetchAll` build a row cursor that lowercases every column name into a dictionary, copy
/// each row, and decode each column through a generic call that instantiates type metadata at run time. For a
/// ValidateSubmission that was about 130,000 instructions, two fifths of the daemon's work per call, against a few
/// thousand for SQLite's own steps (docs/performance.md). Everything else keeps using GRDB's rows.
///
/// The statements stay GRDB's: compiled once per connection, authorised, finalised with the connection. A raw query is
/// reset before and after use, so it leaves no statement busy and no arguments bound; its SQL is never also run
/// through GRDB, so GRDB never sees a statement in a state it did not leave it in.
struct RawColumns: ColumnReader {
    fileprivate let statement: SQLiteStatement

    func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: text)
    }

    func optionalString(_ column: Int32) -> String? {
        guard sqlite3_column_type(statement, column) != SQLITE_NULL, let text = sqlite3_column_text(statement, column)
        else { return nil }
        return String(cString: text)
    }

    func bool(_ column: Int32) -> Bool { sqlite3_column_int64(statement, column) != 0 }
}

/// Reading a row's columns by position, from a GRDB `Row` or from `RawColumns`, so that each record is mapped from its
/// columns in one place whichever way its row was fetched.
protocol ColumnReader {
    func string(_ column: Int32) -> String
    func optionalString(_ column: Int32) -> String?
    func bool(_ column: Int32) -> Bool
}

extension Row: ColumnReader {
    func string(_ column: Int32) -> String { self[Int(column)] }
    func optionalString(_ column: Int32) -> String? { self[Int(column)] }
    func bool(_ column: Int32) -> Bool { self[Int(column)] }
}

extension Database {
    /// Runs a cached SELECT with text arguments, and returns `row` of each result row, in order.
    ///
    /// - Throws: `DatabaseError` with SQLite's code and message when a step fails, or what `row` throws.
    func rawSelect<T>(_ sql: String, _ arguments: String..., row: (RawColumns) throws -> T) throws -> [T] {
        var rows: [T] = []
        try rawStep(sql, arguments, limit: .max) { rows.append(try row($0)) }
        return rows
    }

    /// `rawSelect`'s first row, or nil; SQLite stops after it.
    func rawSelectOne<T>(_ sql: String, _ arguments: String..., row: (RawColumns) throws -> T) throws -> T? {
        var first: T?
        try rawStep(sql, arguments, limit: 1) { first = try row($0) }
        return first
    }

    private func rawStep(_ sql: String, _ arguments: [String], limit: Int, _ body: (RawColumns) throws -> Void) throws {
        let statement = try cachedStatement(sql: sql).sqliteStatement
        var code = sqlite3_reset(statement)
        guard code == SQLITE_OK else { throw rawError(code, sql) }
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (index, argument) in arguments.enumerated() {
            code = sqlite3_bind_text(statement, Int32(index + 1), argument, -1, Self.transient)
            guard code == SQLITE_OK else { throw rawError(code, sql) }
        }
        var count = 0
        while count < limit {
            code = sqlite3_step(statement)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw rawError(code, sql) }
            try body(RawColumns(statement: statement))
            count += 1
        }
    }

    /// SQLite copies the bound text (`SQLITE_TRANSIENT`): Swift's bridged C string lives only for the call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private func rawError(_ code: Int32, _ sql: String) -> DatabaseError {
        let message = sqliteConnection.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: sql)
    }
}
