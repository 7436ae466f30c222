import AutopilotDomain
import Synchronization

/// A clock tests move by hand (`advance`), or that moves forward by `step` each time it is read, so that every
/// transaction of a test has its own time. The store reads it once per transaction.
public final class TestClock: Sendable {
    private let millis: Mutex<Int64>
    private let step: Int64

    /// A clock showing `start` (milliseconds since 1970) at its first reading, then `step` later at each next one.
    public init(_ start: Int64, step: Int64 = 0) {
        millis = Mutex(start)
        self.step = step
    }

    /// The time now; reading it moves the clock on by `step`.
    public var now: Timestamp {
        millis.withLock { value in
            defer { value += step }
            return Timestamp(millisecondsSinceEpoch: value)
        }
    }

    /// Moves the clock forward (or back, with a negative value).
    public func advance(milliseconds: Int64) { millis.withLock { $0 += milliseconds } }

    /// Moves the clock forward by whole days.
    public func advance(days: Int64) { advance(milliseconds: days * 86_400_000) }
}
