import AutopilotService
import ArgumentParser
import Foundation

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
