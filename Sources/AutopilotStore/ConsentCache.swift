import AutopilotDomain
import GRDB
import Synchronization

/// The answers of consent checks (`ValidateSubmission` without devices), kept until consent may have changed.
///
/// A partner's tooling asks the same question before every upload, and the answer changes only when a grant, a DAP
/// role, a partner or a tenant does. This cache is a GRDB transaction observer on the store's single writer: a
/// transaction that changed one of those tables bumps `generation` once it has committed, which happens before the
/// call that made the change gets its reply. Every answer is stored with the generation read *before* the database
/// was, and served only while the generation is unchanged. So a check that starts after a revocation was acknowledged
/// never sees an answer from before it; a check that overlaps the revocation may see either, as it would from the
/// database. Errors (`NotFound`) are never cached, and device submissions never use it.
///
/// Imports and other writes to other tables leave the answers valid. The cache holds at most `capacity` answers and
/// forgets them all when full, so its memory is bounded whatever the callers ask.
final class ConsentCache: TransactionObserver, Sendable {
    struct Answer: Sendable {
        var consented: Bool
        var grant: Grant?
        /// The answer changes by itself at this instant: the grant's DAP ends (`dapExpiresAt`).
        var validUntil: Timestamp? { grant?.delegatedAdmin == true ? grant?.dapExpiresAt : nil }
    }

    private struct Pair: Hashable {
        var partner: String
        var tenant: String
    }

    private struct Entry {
        var generation: UInt64
        var answer: Answer
    }

    /// The tables an answer is read from. `grant_roles` is not among them: it is a WITHOUT ROWID table, whose changes
    /// SQLite's update hook (and so GRDB) never reports; its rows are only ever written together with their grant's
    /// row (inserted with it; DAP removal updates the grant), and a test holds the cache to that.
    static let observedTables: Set<String> = ["grants", "partners", "tenants"]

    let capacity: Int
    private let current = Atomic<UInt64>(0)
    /// Whether the writer's open transaction changed an observed table (touched on the writer's queue only).
    private let changedInTransaction = Atomic<Bool>(false)
    private let entries = Mutex<[Pair: Entry]>([:])

    init(capacity: Int = 16_384) {
        self.capacity = capacity
    }

    /// The generation to store with an answer: read it before reading the database.
    var generation: UInt64 { current.load(ordering: .acquiring) }

    /// The answer for this pair if one was stored since the last change to consent and has not run out by `now`
    /// (DAP that ended by itself changes the answer with no commit).
    func answer(partner: String, tenant: String, now: Timestamp) -> Answer? {
        let current = generation
        return entries.withLock { entries in
            guard let entry = entries[Pair(partner: partner, tenant: tenant)], entry.generation == current,
                  entry.answer.validUntil.map({ now < $0 }) ?? true
            else { return nil }
            return entry.answer
        }
    }

    /// Stores an answer read from the database after `generation` was read.
    func remember(_ answer: Answer, partner: String, tenant: String, generation: UInt64) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[Pair(partner: partner, tenant: tenant)] = Entry(generation: generation, answer: answer)
        }
    }

    // MARK: TransactionObserver (called on the writer's queue)

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        Self.observedTables.contains(eventKind.tableName)
    }

    func databaseDidChange(with event: DatabaseEvent) {
        changedInTransaction.store(true, ordering: .relaxed)
    }

    func databaseDidCommit(_ db: Database) {
        guard changedInTransaction.exchange(false, ordering: .relaxed) else { return }
        current.add(1, ordering: .releasing)
        entries.withLock { $0.removeAll(keepingCapacity: true) }
    }

    func databaseDidRollback(_ db: Database) {
        changedInTransaction.store(false, ordering: .relaxed)
    }
}
