import AutopilotService
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// autopilotd: the Windows Autopilot consent and device registry daemon.
@main
struct Autopilotd: AsyncParsableCommand {
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

    func run() async throws {
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
