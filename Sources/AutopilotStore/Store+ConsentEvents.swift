import AutopilotDomain
import GRDB
import Synchronization

/// Consent events (`consent_events`): every change to a grant, numbered in commit order, written in the transaction
/// that makes it. `WatchConsent` streams them; DAP expiries, which no call makes, are recorded by `recordDapExpiries`.
extension RegistryStore {
    /// Appends the event for a grant as `tx` has just left it.
    static func recordConsentEvent(_ tx: Transaction, _ kind: ConsentEventKind, grant id: String, actor: String,
                                   link: String? = nil) throws {
        let grant = try requireGrant(tx, id)
        // The audit event of this call is appended after the body, in the same transaction, with the next seq.
        let auditSeq = try Int64.fetchOne(tx.db.cachedStatement(sql: "SELECT ifnull(max(seq), 0) + 1 FROM audit_events"))
        try insertConsentEvent(tx.db, kind, grant, at: tx.now, actor: actor, auditSeq: auditSeq, link: link)
    }

    private static func insertConsentEvent(_ db: Database, _ kind: ConsentEventKind, _ grant: Grant, at: Timestamp,
                                           actor: String, auditSeq: Int64?, link: String?) throws {
        try db.cachedStatement(sql: """
            INSERT INTO consent_events (at, kind, grant_id, tenant_id, partner_id, actor, audit_seq, link_id, status,
                                        delegated_admin, dap_roles, dap_expires_at, ended_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [
            at.rfc3339, kind.rawValue, grant.id, grant.tenant, grant.partner, actor, auditSeq, link,
            grant.status.rawValue, grant.delegatedAdmin,
            grant.roles.isEmpty ? nil : grant.roles.map(\.rawValue).joined(separator: ","),
            grant.dapExpiresAt?.rfc3339, grant.endedAt?.rfc3339,
        ])
    }

    /// How a consent event names who made a change: the account a tenant-side call acted as, `partner:<id>` for a
    /// partner, `uid=N` for an operator acting as itself.
    static func consentActor(_ tx: Transaction, account: String? = nil) -> String {
        if let account { return account }
        if tx.caller.role == .partner, let partner = tx.caller.partner { return "partner:\(partner)" }
        return ConsentRules.decider(tx.caller)
    }

    /// The name consent events give the daemon itself, for DAP that ended by time.
    public static let expiryActor = "autopilotd"

    /// Records a `dapExpired` event for every active grant whose DAP ended at or before `now` and has no such event
    /// yet, each at the moment DAP ended, in one transaction. Returns when the next DAP ends (nil: none will), so
    /// the daemon can wake then. DAP is already out of force in every read at its instant; this only tells watchers.
    public func recordDapExpiries() async throws -> Timestamp? {
        let clock = configuration.clock
        return try await mapStorage {
            try await writer.write { db in
                let now = clock()
                let due = try Row.fetchAll(db, sql: """
                    SELECT id, dap_expires_at FROM grants
                    WHERE dap_expires_at IS NOT NULL AND dap_expiry_event IS NULL AND delegated_admin = 1
                      AND status = 'active' AND dap_expires_at <= ?
                    ORDER BY dap_expires_at, rowid
                    """, arguments: [now.rfc3339])
                for row in due {
                    let id: String = row["id"]
                    guard let grant = try Fetch.grant(db, id: id, now: now) else { continue }
                    try Self.insertConsentEvent(db, .dapExpired, grant, at: Timestamp(column: row["dap_expires_at"]),
                                                actor: Self.expiryActor, auditSeq: nil, link: nil)
                    try db.execute(sql: "UPDATE grants SET dap_expiry_event = ? WHERE id = ?",
                                   arguments: [db.lastInsertedRowID, id])
                }
                return try String.fetchOne(db, sql: """
                    SELECT min(dap_expires_at) FROM grants
                    WHERE dap_expires_at IS NOT NULL AND dap_expiry_event IS NULL AND delegated_admin = 1
                      AND status = 'active'
                    """).timestamp
            }
        }
    }

    /// Checks a watch's filters and `after`, and returns the seq it starts after: `after`, or the last one committed.
    /// - Throws: `NotFound(partner/tenant)` for a filter naming nothing; `InvalidInput(after)` below 0.
    public func startConsentWatch(_ context: OperationContext, partner: String?, tenant: String?,
                                  after: Int64?) async throws -> Int64 {
        try await read(context) { tx in
            if let partner { _ = try tx.requirePartner(partner) }
            if let tenant { _ = try tx.requireTenant(tenant) }
            if let after, after < 0 {
                throw RegistryError.invalidInput(field: "after", reason: "a consent event seq is 0 or more, got \(after)")
            }
            return try after ?? Int64.fetchOne(tx.db, sql: "SELECT ifnull(max(seq), 0) FROM consent_events") ?? 0
        }
    }

    /// The seq of the last consent event committed (0 before the first).
    public func lastConsentEventSeq() async throws -> Int64 {
        try await asyncRead { db in try Int64.fetchOne(db, sql: "SELECT ifnull(max(seq), 0) FROM consent_events") ?? 0 }
    }

    /// Consent events after `seq`, in order, for grants of `partner` and `tenant` when given (nil: any), at most
    /// `limit`; and the last seq committed when they were read, so a watcher knows how far it has looked.
    public func consentEvents(after seq: Int64, partner: String?, tenant: String?,
                              limit: Int) async throws -> (events: [ConsentEvent], lastSeq: Int64) {
        try await asyncRead { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT e.seq, e.at, e.kind, e.actor, e.status, e.delegated_admin, e.dap_roles, e.dap_expires_at,
                       e.ended_at, g.id, g.tenant_id, g.partner_id, g.basis, g.via_grant_id, g.link_id, g.granted_by,
                       g.granted_at
                  FROM consent_events e JOIN grants g ON g.id = e.grant_id
                 WHERE e.seq > ?1 AND (?2 IS NULL OR e.partner_id = ?2) AND (?3 IS NULL OR e.tenant_id = ?3)
                 ORDER BY e.seq LIMIT ?4
                """, arguments: [seq, partner, tenant, limit])
            let events = rows.map { row in
                let roles = (row["dap_roles"] as String?).map {
                    $0.split(separator: ",").compactMap { AccountRole(rawValue: String($0)) }
                } ?? []
                let grant = Grant(
                    id: row["id"], tenant: row["tenant_id"], partner: row["partner_id"],
                    basis: GrantBasis(rawValue: row["basis"]) ?? .direct, via: row["via_grant_id"], link: row["link_id"],
                    delegatedAdmin: row["delegated_admin"], roles: roles, grantedBy: row["granted_by"],
                    grantedAt: Timestamp(column: row["granted_at"]),
                    status: GrantStatus(rawValue: row["status"]) ?? .active,
                    endedAt: (row["ended_at"] as String?).timestamp,
                    dapExpiresAt: (row["dap_expires_at"] as String?).timestamp)
                return ConsentEvent(seq: row["seq"], at: Timestamp(column: row["at"]),
                                    kind: ConsentEventKind(rawValue: row["kind"]) ?? .ended, grant: grant,
                                    actor: row["actor"])
            }
            let last = try Int64.fetchOne(db, sql: "SELECT ifnull(max(seq), 0) FROM consent_events") ?? 0
            return (events, events.count == limit ? events[events.count - 1].seq : last)
        }
    }

    /// Waits until a consent event after `seq` has committed, or `deadline` (nanoseconds of the monotonic clock)
    /// passes, or the task is cancelled.
    public func waitForConsentEvent(after seq: Int64, deadline: ContinuousClock.Instant? = nil) async {
        await consentEventHub.wait(after: seq, deadline: deadline)
    }
}

/// Wakes tasks waiting for consent events: a transaction observer on the store's writer that, once a transaction
/// that added to `consent_events` commits, publishes the last seq it wrote.
final class ConsentEventHub: TransactionObserver, Sendable {
    private struct State {
        var latest: Int64 = 0
        var pendingLatest: Int64 = 0
        var waiters: [UInt64: (seq: Int64, continuation: CheckedContinuation<Void, Never>)] = [:]
        /// Waits in progress, and those among them woken (by their deadline or cancellation) before they registered.
        var active: Set<UInt64> = []
        var woken: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Starts from the last seq already in the database.
    func start(latest: Int64) {
        state.withLock { $0.latest = latest }
    }

    /// Waits until an event after `seq` has committed, `deadline` passes, or the task is cancelled.
    func wait(after seq: Int64, deadline: ContinuousClock.Instant?) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            state.active.insert(state.nextWaiter)
            return state.nextWaiter
        }
        let timer = deadline.map { deadline in
            Task { [weak self] in
                guard (try? await Task.sleep(until: deadline, clock: .continuous)) != nil else { return }
                self?.resume(id)
            }
        }
        defer {
            timer?.cancel()
            state.withLock { state in
                state.active.remove(id)
                state.woken.remove(id)
            }
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.latest > seq || Task.isCancelled || state.woken.contains(id) { return true }
                    state.waiters[id] = (seq, continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            resume(id)
        }
    }

    private func resume(_ id: UInt64) {
        let waiter = state.withLock { state in
            let waiter = state.waiters.removeValue(forKey: id)
            if waiter == nil && state.active.contains(id) { state.woken.insert(id) }
            return waiter
        }
        waiter?.continuation.resume()
    }

    // MARK: TransactionObserver (called on the writer's queue)

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { return table == "consent_events" }
        return false
    }

    func databaseDidChange(with event: DatabaseEvent) {
        state.withLock { $0.pendingLatest = max($0.pendingLatest, event.rowID) }
    }

    func databaseDidCommit(_ db: Database) {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.pendingLatest > state.latest else { return [] }
            state.latest = state.pendingLatest
            let due = state.waiters.filter { $0.value.seq < state.latest }
            for key in due.keys { state.waiters.removeValue(forKey: key) }
            return due.map(\.value.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    func databaseDidRollback(_ db: Database) {
        state.withLock { $0.pendingLatest = $0.latest }
    }
}
