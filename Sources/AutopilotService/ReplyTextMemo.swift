import AutopilotInterface
import Synchronization

/// The reply text last written for each key, reused while the reply is equal to the one it was written from.
///
/// A consent check (`ValidateSubmission` without devices) answers the same grant to the same partner and tenant
/// until consent changes, and writing that grant as JSON text was the largest part of a check the `ConsentCache`
/// answers: 13,000 of its 68,000 instructions on the event loop (docs/performance.md). The memo decides nothing
/// about freshness: the store decides the reply, and the text is reused only when the reply is equal, member for
/// member, to the one the text was written from, so it is the text the reply would be written as.
///
/// It holds at most `capacity` texts and forgets them all when full, so its memory is bounded whatever callers ask.
final class ReplyTextMemo<Key: Hashable & Sendable, Reply: WireRecord & Hashable>: Sendable {
    let capacity: Int
    private let entries: Mutex<[Key: Entry]>

    /// A class, so that taking a kept entry out of the lock retains it instead of copying its reply member by member.
    private final class Entry: Sendable {
        let reply: Reply
        let text: [UInt8]

        init(reply: Reply, text: [UInt8]) {
            self.reply = reply
            self.text = text
        }
    }

    init(capacity: Int) {
        self.capacity = capacity
        self.entries = Mutex([:])
    }

    /// `reply` as JSON text: the text kept for `key` when it was written from an equal reply, else written now and
    /// kept for `key`.
    func text(of reply: Reply, for key: Key) -> [UInt8] {
        if let kept = entries.withLock({ $0[key] }), kept.reply == reply { return kept.text }
        let text = reply.wireText
        entries.withLock { entries in
            if entries.count >= capacity && entries[key] == nil { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(reply: reply, text: text)
        }
        return text
    }

    /// How many texts are kept.
    var count: Int { entries.withLock { $0.count } }
}

/// The partner and tenant a consent check asks about.
struct ConsentPair: Hashable, Sendable {
    var partner: String
    var tenant: String
}
