import Foundation
import Histogram
#if canImport(Glibc)
import Glibc
#endif

/// What one closed-loop run measured.
struct LoadResult {
    var connections: Int
    var calls: Int
    var errors: Int
    var firstError: String?
    /// Length of the measured window, after the warm-up.
    var seconds: Double
    /// Round-trip latency of each call, in nanoseconds.
    var histogram: Histogram<UInt64>
    /// CPU seconds this process (the load generator) used during the window.
    var clientCPUSeconds: Double
    /// CPU seconds the server used during the window, when it could be read.
    var serverCPUSeconds: Double?

    var callsPerSecond: Double { Double(calls) / seconds }

    /// Adds another window's calls, time and CPU to this one's (the same connection count).
    mutating func add(_ other: LoadResult) {
        calls += other.calls
        errors += other.errors
        firstError = firstError ?? other.firstError
        seconds += other.seconds
        histogram.add(other.histogram)
        clientCPUSeconds += other.clientCPUSeconds
        serverCPUSeconds = serverCPUSeconds.flatMap { mine in other.serverCPUSeconds.map { mine + $0 } }
    }

    /// Latency at a percentile, in microseconds.
    func micros(_ percentile: Double) -> Double { Double(histogram.valueAtPercentile(percentile)) / 1000 }

    /// CPU microseconds per call, of the client and of the server.
    var clientMicrosPerCall: Double { calls > 0 ? clientCPUSeconds * 1e6 / Double(calls) : 0 }
    var serverMicrosPerCall: Double? { serverCPUSeconds.map { calls > 0 ? $0 * 1e6 / Double(calls) : 0 } }
}

/// Makes the call one connection repeats: `worker` numbers the connections from 0. It runs on that connection's
/// thread and may connect there (a blocking client is not shared between threads).
typealias CallFactory = @Sendable (_ worker: Int) throws -> () throws -> Void

/// Runs `connections` closed loops, one thread each: every thread makes one call, waits for the reply, and makes
/// the next, for `warmup` seconds unmeasured and then `duration` seconds measured. Latencies go to an HdrHistogram
/// per thread (three significant digits, up to 60 s), merged at the end.
/// - Parameter serverCPU: reads the server's CPU seconds so far, sampled at the window's start and end.
func runClosedLoop(connections: Int, duration: Double, warmup: Double, serverCPU: (() -> Double)? = nil,
                   factory: @escaping CallFactory) throws -> LoadResult {
    let shared = LoadShared(workers: connections, warmup: warmup, duration: duration)
    var threads: [Thread] = []
    for worker in 0..<connections {
        let thread = Thread {
            shared.run(worker: worker, factory: factory)
        }
        thread.stackSize = 1 << 20
        threads.append(thread)
        thread.start()
    }
    // Start the clock only once every connection is open, so connecting is never measured.
    guard let start = shared.waitUntilReady() else {
        shared.finish()
        throw BenchError("could not start the load: \(shared.firstError ?? "unknown error")")
    }
    let windowStart = start + UInt64(warmup * 1e9)
    let windowEnd = windowStart + UInt64(duration * 1e9)
    sleepUntil(windowStart)
    let clientBefore = processCPUSeconds(), serverBefore = serverCPU?()
    sleepUntil(windowEnd)
    let clientAfter = processCPUSeconds(), serverAfter = serverCPU?()
    let merged = shared.waitForWorkers()
    return LoadResult(
        connections: connections, calls: merged.calls, errors: merged.errors, firstError: shared.firstError,
        seconds: duration, histogram: merged.histogram, clientCPUSeconds: clientAfter - clientBefore,
        serverCPUSeconds: serverBefore.flatMap { before in serverAfter.map { $0 - before } })
}

/// A new latency histogram in nanoseconds, 1 ns to 60 s, three significant digits.
func latencyHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
}

private func sleepUntil(_ deadline: UInt64) {
    while true {
        let now = monotonicNanoseconds()
        if now >= deadline { return }
        usleep(useconds_t(min((deadline - now) / 1000, 100_000)))
    }
}

/// CPU seconds (user + system) of this process, all threads.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// State shared by the load threads and the coordinating thread.
private final class LoadShared: @unchecked Sendable {
    private let condition = NSCondition()
    private let workers: Int
    private var ready = 0
    private var failed = false
    private var start: UInt64?
    private var done = 0
    private var histogram = latencyHistogram()
    private var calls = 0
    private var errors = 0
    private(set) var firstError: String?

    private let warmupNanos: UInt64
    private let durationNanos: UInt64

    init(workers: Int, warmup: Double, duration: Double) {
        self.workers = workers
        warmupNanos = UInt64(warmup * 1e9)
        durationNanos = UInt64(duration * 1e9)
    }

    func run(worker: Int, factory: CallFactory) {
        let call: () throws -> Void
        do {
            call = try factory(worker)
        } catch {
            condition.lock()
            failed = true
            firstError = firstError ?? "connection \(worker): \(error)"
            ready += 1
            condition.broadcast()
            condition.unlock()
            report(latencyHistogram(), calls: 0, errors: 1)
            return
        }
        condition.lock()
        ready += 1
        condition.broadcast()
        while start == nil && !failed { condition.wait() }
        let begin = start
        condition.unlock()
        guard let begin else { report(latencyHistogram(), calls: 0, errors: 0); return }

        let windowStart = begin + warmupNanos
        let windowEnd = windowStart + durationNanos
        var local = latencyHistogram()
        var count = 0, failures = 0
        var error: String?
        while true {
            let t0 = monotonicNanoseconds()
            if t0 >= windowEnd { break }
            do {
                try call()
            } catch let e {
                failures += 1
                error = "connection \(worker): \(e)"
                break
            }
            if t0 >= windowStart {
                local.record(monotonicNanoseconds() - t0)
                count += 1
            }
        }
        if let error {
            condition.lock()
            firstError = firstError ?? error
            condition.unlock()
        }
        report(local, calls: count, errors: failures)
    }

    private func report(_ h: Histogram<UInt64>, calls n: Int, errors e: Int) {
        condition.lock()
        histogram.add(h)
        calls += n
        errors += e
        done += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every worker connected, then releases them; nil when one failed to connect.
    func waitUntilReady() -> UInt64? {
        condition.lock()
        defer { condition.unlock() }
        while ready < workers { condition.wait() }
        if failed { return nil }
        let now = monotonicNanoseconds()
        start = now
        condition.broadcast()
        return now
    }

    /// Releases workers that are still waiting (after a failed start).
    func finish() {
        condition.lock()
        failed = true
        condition.broadcast()
        while done < workers { condition.wait() }
        condition.unlock()
    }

    func waitForWorkers() -> (calls: Int, errors: Int, histogram: Histogram<UInt64>) {
        condition.lock()
        defer { condition.unlock() }
        while done < workers { condition.wait() }
        return (calls, errors, histogram)
    }
}
