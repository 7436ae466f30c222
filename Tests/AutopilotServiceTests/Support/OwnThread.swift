import Foundation
import Testing

/// Runs a suite's tests on a thread of their own instead of Swift's cooperative pool.
///
/// End-to-end tests block for long stretches (waiting for processes, sockets, sleeps). On a two-core machine the
/// cooperative pool has two threads, and the in-process servers of other suites (ServerTests) need them to make any
/// progress: two blocked tests starve them. Under this trait the tests' synchronous code runs on the suite's own
/// thread; expectations still belong to the test, since it stays the same task.
struct OwnThreadTrait: SuiteTrait, TestTrait, TestScoping {
    let executor: DedicatedThreadExecutor

    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?,
                      performing function: @Sendable @concurrent () async throws -> Void) async throws {
        try await withTaskExecutorPreference(executor) { try await function() }
    }
}

extension Trait where Self == OwnThreadTrait {
    /// Runs the suite's tests on a thread of its own (see `OwnThreadTrait`).
    static var ownThread: Self { OwnThreadTrait(executor: DedicatedThreadExecutor()) }
}

/// A task executor with one thread that runs its jobs in order.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    init() {
        let thread = Thread { self.run() }
        thread.stackSize = 8 << 20
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
