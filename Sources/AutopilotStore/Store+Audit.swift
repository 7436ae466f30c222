import AutopilotDomain
import Foundation
import GRDB

/// The database files could not be given to the auditors group, so auditors could not read them.
public struct DatabaseFileGroupError: Error, CustomStringConvertible, Sendable {
    /// The database, -wal or -shm file that could not be given to the group.
    public var file: String
    /// The auditors group's gid (`auditors_group`).
    public var group: UInt32
    /// What the system said (`strerror` of the failed chown).
    public var reason: String
    /// The failure and its remedy, on one line for the daemon's exit message.
    public var description: String {
        "cannot give \(file) to group \(group) (auditors_group): \(reason); run autopilotd as root or as a member of that group"
    }
}

/// Audit log reads, chain verification and online backups.
extension RegistryStore {
    /// How many audit events one read fetches while streaming the log, so a long log never sits in memory.
    public static let auditPageSize = 500

    /// Calls `body` with each audit event after `after`, oldest first: at most `limit` events, or all of them when
    /// `limit` is nil. Events are read `pageSize` at a time (keyset on `seq`), each page in its own short read, and
    /// `body` runs between reads. The stream stops at the last event that existed when the call started, so a busy
    /// log cannot keep it going forever.
    /// - Throws: `InvalidInput(after)` when `after` is negative, `InvalidInput(limit)` when `limit` is below 1.
    public func forEachAuditEvent(_ context: OperationContext, after: Int?, limit: Int?, pageSize: Int = auditPageSize,
                                  _ body: (AuditEvent) async throws -> Void) async throws {
        let after = Int64(after ?? 0)
        if after < 0 { throw RegistryError.invalidInput(field: "after", reason: "must be 0 or more") }
        if let limit, limit < 1 { throw RegistryError.invalidInput(field: "limit", reason: "must be 1 or more") }
        let last = try await read(context) { tx in
            try Int64.fetchOne(tx.db, sql: "SELECT ifnull(max(seq), 0) FROM audit_events") ?? 0
        }
        var cursor = after
        var remaining = limit ?? Int.max
        while remaining > 0 && cursor < last {
            let count = min(remaining, max(1, pageSize))
            let page = try await read(context) { [cursor] tx in
                try Row.fetchAll(tx.db, sql: """
                    SELECT \(AuditLog.columns) FROM audit_events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?
                    """, arguments: [cursor, last, count]).map(AuditLog.event)
            }
            for event in page { try await body(event) }
            guard let next = page.last?.seq else { break }
            cursor = next
            remaining -= page.count
        }
    }

    /// Recomputes the audit chain (see `AuditLog.verify`) and, given a head recorded earlier, checks that the log
    /// still holds it: event `head.seq` with that hash. A missing head makes the answer not ok, with `headMissing`.
    public func verifyAudit(_ context: OperationContext, head: AuditHead? = nil) async throws -> AuditVerification {
        try await read(context) { tx in
            var result = try AuditLog.verify(tx.db)
            if let head {
                let stored = try String.fetchOne(tx.db, sql: "SELECT hash FROM audit_events WHERE seq = ?", arguments: [head.seq])
                let present = head.seq == 0 ? head.hash == AuditLog.genesisHash : stored == head.hash
                result.headMissing = !present
                if !present { result.ok = false }
            }
            return result
        }
    }

    /// The last event's seq and hash (0 and 64 zeros for an empty log).
    public func auditHead(_ context: OperationContext? = nil) async throws -> AuditHead {
        let body: @Sendable (Database) throws -> AuditHead = { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1") else {
                return AuditHead(seq: 0, hash: AuditLog.genesisHash)
            }
            return AuditHead(seq: row["seq"], hash: row["hash"])
        }
        if let context { return try await read(context) { tx in try body(tx.db) } }
        return try await asyncRead(body)
    }

    /// Writes a consistent copy of the database to `path` while the registry keeps serving, and records the call
    /// in the audit log (target `file:<path>`), whether it succeeded or failed.
    ///
    /// The copy is made with `VACUUM INTO` on a read connection, so it sees one snapshot and never blocks writes;
    /// it is written to a hidden temporary name in the same directory, synced, then linked to `path` (which
    /// fails if `path` appeared meanwhile), so `path` is never a partial file. The file is mode 0640, with the
    /// auditors group when one is configured. The copy is a self-contained single file (rollback journal mode);
    /// the audit event of this call is not in it.
    /// - Throws: `InvalidInput(path)` when the path is not absolute, or its directory is missing or not writable;
    ///   `AlreadyExists(kind: "file")` when something exists at `path`; `StorageFull` when the disk is full.
    public func backup(_ context: OperationContext, to path: String) async throws -> BackupResult {
        let outcome: Result<BackupResult, RegistryError>
        do {
            outcome = .success(try await writeBackup(to: path))
        } catch let error as RegistryError {
            outcome = .failure(error)
        }
        do {
            return try await change(context) { tx in
                tx.target("file", path)
                return try outcome.get()
            }
        } catch {
            // A backup the log does not mention must not exist.
            if case .success = outcome { _ = unlink(path) }
            throw error
        }
    }

    private func writeBackup(to path: String) async throws -> BackupResult {
        guard path.hasPrefix("/"), !path.contains("\0") else {
            throw RegistryError.invalidInput(field: "path", reason: "must be an absolute path")
        }
        guard !path.hasSuffix("/") else { throw RegistryError.invalidInput(field: "path", reason: "names a directory") }
        var st = stat()
        if lstat(path, &st) == 0 { throw RegistryError.alreadyExists(kind: "file", id: path) }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-" + newID().prefix(8)

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw Self.fileError(errno, path: path, directory: directory) }
        _ = fchmod(fd, 0o640)
        if let group = configuration.auditorsGroup { _ = fchown(fd, UInt32.max, group) }
        _ = Glibc.close(fd)
        defer { _ = unlink(temporary) }
        do {
            try await mapStorage {
                try await offCallThreads {
                    try self.writer.unsafeRead { db in try db.execute(sql: "VACUUM INTO ?", arguments: [temporary]) }
                }
            }
        } catch let error as DatabaseError {
            throw RegistryError.invalidInput(field: "path", reason: "the copy could not be written: \(error.message ?? "\(error.resultCode)")")
        }
        try Self.sync(temporary, path: path, directory: directory)
        // link() never replaces an existing file, unlike rename(); the temporary name is removed on the way out.
        if link(temporary, path) != 0 {
            let code = errno
            guard code == EPERM || code == ENOTSUP || code == EOPNOTSUPP else {
                throw Self.fileError(code, path: path, directory: directory)
            }
            // A file system without hard links: rename, after checking again that nothing appeared.
            if lstat(path, &st) == 0 { throw RegistryError.alreadyExists(kind: "file", id: path) }
            guard rename(temporary, path) == 0 else { throw Self.fileError(errno, path: path, directory: directory) }
        }
        try Self.sync(directory, path: path, directory: directory)
        guard stat(path, &st) == 0 else { throw Self.fileError(errno, path: path, directory: directory) }
        return BackupResult(path: path, bytes: Int(st.st_size))
    }

    /// Flushes a file or directory to disk.
    private static func sync(_ file: String, path: String, directory: String) throws {
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw fileError(errno, path: path, directory: directory) }
        defer { _ = Glibc.close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw fileError(errno, path: path, directory: directory) }
    }

    /// The registry error for a failed file operation on the backup path.
    private static func fileError(_ code: Int32, path: String, directory: String) -> RegistryError {
        switch code {
        case ENOSPC, EDQUOT: .storageFull
        case EEXIST: .alreadyExists(kind: "file", id: path)
        case ENOENT, ENOTDIR: .invalidInput(field: "path", reason: "directory \(directory) does not exist")
        case EACCES, EPERM, EROFS: .invalidInput(field: "path", reason: "the daemon may not write in \(directory)")
        default: .invalidInput(field: "path", reason: String(cString: strerror(code)))
        }
    }
}
