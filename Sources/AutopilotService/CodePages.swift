import CProcessMemory
import Glibc
import Logging
import Synchronization

/// The pages of code the daemon has mapped and is not running, given back to the kernel.
///
/// A program's code is mapped from its file a page at a time as it runs, and the kernel maps the neighbours of each
/// page it faults in as well (fault-around, 64 KiB). Start-up runs code nothing runs again (argument parsing, the
/// configuration, migrations), and the first call of each kind runs the runtime's one-time work; all of it stays
/// mapped and counts in the daemon's RSS. Releasing unmaps the read-only segments' pages that still hold the file's
/// own bytes (`process_memory_release_code_pages`); they stay in the page cache, and whatever runs next is mapped
/// again by minor faults. Measured in docs/performance.md ("Peak and idle RSS").
///
/// Fault-around would map 64 KiB again for every page that runs, so before the first release the daemon has the
/// kernel map its code one page per fault instead (`process_memory_map_code_by_page`), where the system allows it.
enum CodePages {
    /// Unmaps what can go; returns the bytes that were mapped.
    static func release() -> Int { Int(process_memory_release_code_pages()) }

    /// Has code mapped one page per fault from now on; nil when done, else why not (the daemon runs as before).
    static func mapByPage() -> String? {
        switch process_memory_map_code_by_page() {
        case 0: return nil
        case ENOSYS: return "this kernel has no userfaultfd"
        case EPERM: return "userfaultfd not permitted"
        case EINVAL: return "userfaultfd: invalid argument; asynchronous write-protection needs Linux 6.7"
        case let failure: return "userfaultfd: \(String(cString: strerror(failure)))"
        }
    }
}

/// How many calls the daemon has received, so that it can tell when it has been idle, and wait for the next call
/// without waking until then.
final class CallActivity: Sendable {
    private let calls = Atomic<UInt64>(0)
    /// Whether a task waits in `nextCall(after:)`; read by every call, so that a call wakes it only when it waits.
    private let waiting = Atomic<Bool>(false)
    private let waiter = Mutex<CheckedContinuation<Void, Never>?>(nil)

    init() {}

    /// Counts one call, and wakes the task waiting for it.
    ///
    /// The count and the flag are sequentially consistent on both sides (here and in `nextCall(after:)`): either
    /// this call sees the waiter's flag, or the waiter sees this call's count, never neither. On x86 and arm64 the
    /// increment costs what a relaxed one does and the load is a plain load.
    func record() {
        calls.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if waiting.load(ordering: .sequentiallyConsistent) { wake() }
    }

    /// Calls received so far.
    var count: UInt64 { calls.load(ordering: .sequentiallyConsistent) }

    /// Returns once the count is no longer `seen` (at once if it already is not), or the task is cancelled. One
    /// task waits at a time.
    func nextCall(after seen: UInt64) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                waiter.withLock { waiter in
                    waiter = continuation
                    waiting.store(true, ordering: .sequentiallyConsistent)
                }
                if calls.load(ordering: .sequentiallyConsistent) != seen || Task.isCancelled { wake() }
            }
        } onCancel: {
            wake()
        }
    }

    /// Resumes the waiting task, if any, once. The flag changes with the continuation, under the lock, so that a
    /// waiter that comes back before this returns is not left waiting with the flag down.
    private func wake() {
        let continuation = waiter.withLock { waiter in
            defer { waiter = nil }
            if waiter != nil { waiting.store(false, ordering: .sequentiallyConsistent) }
            return waiter
        }
        continuation?.resume()
    }
}

extension Daemon {
    /// Releases the code pages once now (start-up is over), then each time no call has arrived for `quiet` after
    /// some did: at most one release per quiet spell, none while calls keep coming. Between a release and the next
    /// call it sleeps without a timer, so an idle daemon does not wake for it.
    func releaseCodePages(whenIdleFor quiet: Duration) async {
        // Counted before releasing: a call that comes while the release runs maps code again after it, so it must
        // count as activity since the release.
        var released = activity.count, seen = released
        let byPage = CodePages.mapByPage()
        // Released outside the log calls: their metadata is not evaluated below the log level.
        let bytes = CodePages.release()
        // At info once (the journal then shows it works inside the unit's sandbox), later at debug.
        logger.info("released code pages", metadata: [
            "bytes": "\(bytes)", "when": "ready", "fault_around": "\(byPage.map { "on (\($0))" } ?? "off")",
        ])
        let tick = max(quiet / 8, .milliseconds(250))
        let clock = ContinuousClock()
        var lastChange = clock.now
        while !Task.isCancelled {
            if seen == released {
                // Nothing has run since the release: wait for a call, then count the quiet from there.
                await activity.nextCall(after: released)
                seen = activity.count
                lastChange = clock.now
                continue
            }
            try? await Task.sleep(for: tick)
            let count = activity.count
            if count != seen {
                seen = count
                lastChange = clock.now
            } else if count != released, clock.now - lastChange >= quiet {
                let bytes = CodePages.release()
                logger.debug("released code pages", metadata: ["bytes": "\(bytes)", "when": "idle"])
                released = count
            }
        }
    }
}
