import AutopilotDomain
import Crypto
import Foundation
import GRDB

/// The append-only, hash-chained audit log (migrations/0004_audit.sql documents the canonical form).
enum AuditLog {
    static let genesisHash = String(repeating: "0", count: 64)

    /// The outcome of a call that failed unexpectedly: the name the interface gives that error.
    static let internalErrorOutcome = "InternalError"

    /// Longest target entry or account the log keeps, in characters. Both come from what the caller sent (an
    /// unknown id, a malformed UPN), so a peer could otherwise store megabytes with every refused call.
    static let maxValueLength = 256

    /// `value`, cut to `maxValueLength` characters with an ellipsis when longer.
    static func bounded(_ value: String) -> String {
        value.count <= maxValueLength ? value : value.prefix(maxValueLength - 1) + "…"
    }

    /// The fields of an event in canonical order, before escaping.
    struct Fields {
        var seq: Int64, at: String, uid: Int64, role: String, partner: String?, tenant: String?, account: String?
        var method: String, target: String?, outcome: String

        var canonical: String {
            func esc(_ v: String?) -> String {
                guard let v else { return "" }
                return v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
            }
            return [String(seq), esc(at), String(uid), esc(role), esc(partner), esc(tenant), esc(account), esc(method),
                    esc(target), esc(outcome)].joined(separator: "\n")
        }

        func hash(previous: String) -> String {
            hexSHA256(Array((previous + "\n" + canonical).utf8))
        }
    }

    /// Appends the event for `tx` with the given outcome.
    static func append(_ tx: Transaction, outcome: String) throws {
        let last = try Row.fetchOne(tx.db.cachedStatement(sql: "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"))
        let seq: Int64 = (last?["seq"] ?? 0) + 1
        let previous: String = last?["hash"] ?? genesisHash
        let caller = tx.caller
        let fields = Fields(
            seq: seq, at: tx.now.rfc3339, uid: Int64(caller.uid), role: caller.role.rawValue,
            partner: caller.partner, tenant: caller.tenant, account: tx.account.map(bounded), method: tx.method.name,
            target: tx.targets.isEmpty ? nil : tx.targets.map(bounded).joined(separator: " "), outcome: outcome)
        try tx.db.cachedStatement(sql: """
            INSERT INTO audit_events (seq, at, actor_uid, actor_role, actor_partner, actor_tenant, actor_account,
                                      method, target, outcome, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(
            arguments: [fields.seq, fields.at, fields.uid, fields.role, fields.partner, fields.tenant, fields.account,
                        fields.method, fields.target, fields.outcome, fields.hash(previous: previous)])
    }

    static func fields(_ row: Row) -> Fields {
        Fields(seq: row["seq"], at: row["at"], uid: row["actor_uid"], role: row["actor_role"],
               partner: row["actor_partner"], tenant: row["actor_tenant"], account: row["actor_account"],
               method: row["method"], target: row["target"], outcome: row["outcome"])
    }

    /// The event as the interface shows it; `actor` reads like `uid=1001 role=tenant tenant=contoso account=a@b`.
    static func event(_ row: Row) -> AuditEvent {
        let f = fields(row)
        var actor = "uid=\(f.uid) role=\(f.role)"
        if let p = f.partner { actor += " partner=\(p)" }
        if let t = f.tenant { actor += " tenant=\(t)" }
        if let a = f.account { actor += " account=\(a)" }
        return AuditEvent(seq: f.seq, at: Timestamp(rfc3339: f.at) ?? Timestamp(millisecondsSinceEpoch: 0),
                          actor: actor, method: f.method, target: f.target, outcome: f.outcome, hash: row["hash"])
    }

    /// The columns of `audit_events` that `fields(_:)` and `event(_:)` read.
    static let columns = "seq, at, actor_uid, actor_role, actor_partner, actor_tenant, actor_account, method, target, outcome, hash"

    /// Recomputes the chain from the first event, reading through a cursor so a long log never sits in memory.
    ///
    /// `events` is the number of events in the log; `firstBroken` is the seq of the first event whose stored hash
    /// differs from the recomputed one, or which does not follow its predecessor's seq (a deleted event).
    static func verify(_ db: Database) throws -> AuditVerification {
        let total = try Int.fetchOne(db, sql: "SELECT count(*) FROM audit_events") ?? 0
        var previous = genesisHash
        var expectedSeq: Int64 = 1
        let cursor = try Row.fetchCursor(db, sql: "SELECT \(columns) FROM audit_events ORDER BY seq")
        while let row = try cursor.next() {
            let f = fields(row)
            let stored: String = row["hash"]
            if f.seq != expectedSeq || f.hash(previous: previous) != stored {
                return AuditVerification(ok: false, events: total, firstBroken: f.seq)
            }
            previous = stored
            expectedSeq += 1
        }
        return AuditVerification(ok: true, events: total, firstBroken: nil)
    }
}

/// Lowercase hex SHA-256.
func hexSHA256(_ bytes: some DataProtocol) -> String {
    Hex.lowercase(SHA256.hash(data: bytes))
}
