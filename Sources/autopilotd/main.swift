import AutopilotService
import ArgumentParser
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// autopilotd: the Windows Autopilot consent and device registry daemon.
@main
struct Autopilotd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autopilotd",
        abstract: "Serve the io.autopilotd.registry varlink interface.",
        discussion: """
            With no options, a non-root user's daemon listens on $XDG_RUNTIME_DIR/autopilotd/io.autopilotd.registry \
            and keeps its database in $XDG_STATE_HOME/autopilotd/registry.sqlite; root's uses \
            /run/autopilotd/io.autopilotd.registry and /var/lib/autopilotd/registry.sqlite. Settings come from \
            flags, then AUTOPILOTD_<KEY> environment variables, then the config file, then defaults.
            """,
        version: AutopilotVersion.current)

    @Option(help: "Config file (key = value lines; see config/autopilotd.conf).")
    var config: String?
    @Option(help: "Path of the varlink socket to listen on.")
    var socket: String?
    @Option(help: "Path of the SQLite database.")
    var database: String?

    /// Serves until stopped, on a task of the concurrency pool while this (the main) thread waits for it.
    ///
    /// Not an `AsyncParsableCommand`: Swift's asynchronous `main` hands the main thread to `dispatch_main`, which
    /// ends it with `pthread_exit`, and unwinding its stack reads about 1 MiB of the executable's unwind tables
    /// (`.eh_frame_hdr`, `.eh_frame`) into memory, where they stay (docs/performance.md, idle RSS). Nothing in the
    /// daemon runs on the main queue.
    func run() throws {
        let config = config, socket = socket, database = database
        let finished = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Void, any Error>>(.success(()))
        Task.detached {
            do {
                try await Self.serve(config: config, socket: socket, database: database)
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            finished.signal()
        }
        finished.wait()
        try outcome.withLock { $0 }.get()
    }

    private static func serve(config: String?, socket: String?, database: String?) async throws {
        #if canImport(Glibc)
        // A device upload is a message of about 4 MB, parsed and decoded into buffers of the same order. glibc's
        // malloc raises its mmap threshold each time such a buffer is freed, after which they come from the heap and
        // stay resident: a fixed threshold of 128 KiB maps them and gives them back at free (docs/performance.md:
        // 10 MiB less at the peak of an import, 12 MiB less after it).
        // mallopt is declared in <malloc.h>, which the Glibc module does not import; M_MMAP_THRESHOLD is -3 there.
        if let mallopt = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            _ = unsafeBitCast(mallopt, to: Mallopt.self)(-3, 128 * 1024)
        }
        #endif
        do {
            let settings = try DaemonConfig.load(configFile: config, environment: ProcessInfo.processInfo.environment,
                                                 socket: socket, database: database)
            try await buildDaemon(config: settings).run()
        } catch let error as ConfigError {
            FileHandle.standardError.write(Data("autopilotd: configuration: \(error)\n".utf8))
            throw ExitCode(78)
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("autopilotd: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
