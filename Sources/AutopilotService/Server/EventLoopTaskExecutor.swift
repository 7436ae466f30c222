import NIOCore

/// Runs a connection's task on the event loop that reads its socket, so a call answered from memory never changes thread.
///
/// A call used to cross threads twice: the event loop decoded it and woke a thread of Swift's cooperative pool to
/// handle it, which in turn woke the event loop to write the reply. Each crossing is a futex or eventfd wake-up and
/// the cache misses of a cold thread, and at one connection they were most of a call's cost (docs/performance.md).
/// With this executor as the connection task's preference, the task's jobs are event-loop tasks: a call decoded in a
/// loop tick is handled, and its reply written, in that same tick, as redis does on its one thread.
///
/// SQLite never runs on the loop: whatever a call needs from the database (a read on a dispatch thread, a write
/// transaction on GRDB's writer queue) suspends the task without holding the loop, and the task resumes on the loop
/// when it is done. What is answered from memory (`WhoAmI`, a consent check the `ConsentCache` holds) crosses no
/// thread at all.
final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop every job runs on.
    let loop: any EventLoop

    /// An executor whose jobs run on `loop`.
    init(_ loop: any EventLoop) { self.loop = loop }

    /// Schedules the job as a task of the loop (no wake-up when it is enqueued from the loop itself).
    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
