import ArgumentParser
import Foundation

/// autopilot-bench: measures a real autopilotd against what this machine does with redis and sqlite3, in one run.
/// docs/performance.md explains the method and the targets.
@main
struct AutopilotBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autopilot-bench",
        abstract: "Measure autopilotd (validate, import, scale) against redis and sqlite3 on this machine.",
        discussion: """
            Each scenario starts its own autopilotd (the one built next to this tool, or --bin-dir) on a fresh \
            database in a temporary directory, loads a generated registry through the daemon's own interface, and \
            measures it. References come from the same run when the tools are installed (apt-get install \
            redis-server sqlite3); a missing tool is reported as such. Prints a table of figure, value, reference, \
            ratio, target and whether it is met; --json writes the same as JSON. Measure a release build.
            """,
        subcommands: [All.self, Validate.self, Echo.self, Import.self, Scale.self])
}

/// Options every scenario takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Also write the results as JSON to this file.")
    var json: String?
    @Option(help: "Directory holding autopilotd and autopilotctl (default: this tool's own directory).")
    var binDir: String?
    @Option(help: "Where to make the temporary directory (default: $TMPDIR or /tmp).")
    var workDir: String?
    @Flag(help: "Keep the temporary directory (databases, logs) for inspection.")
    var keep = false
    @Option(name: .customLong("daemon-config"), help: "An extra autopilotd config line (key = value); repeatable.")
    var daemonConfig: [String] = []
    @Option(help: ArgumentHelp("Run autopilotd under this command, e.g. 'valgrind --tool=callgrind' (profiling).",
                               valueName: "command"))
    var daemonWrapper: String?
}

/// The two ways the closed loops drive their connections.
enum LoadGenerator: String, ExpressibleByArgument, CaseIterable, CustomStringConvertible {
    case poll, threads

    var description: String {
        switch self {
        case .poll: "poll: one thread drives every connection with poll(2); prepared calls, replies checked, not decoded"
        case .threads: "threads: one thread and one blocking RegistryClient per connection; replies decoded"
        }
    }
}

/// How long and from how many connections the closed loops run.
struct LoadOptions: ParsableArguments {
    @Option(help: "Comma-separated connection counts; each is measured in turn.")
    var connections = "1,16"
    @Option(help: "Seconds measured per connection count.")
    var duration = 10.0
    @Option(help: "Seconds run before measuring, per connection count.")
    var warmup = 1.0
    @Option(help: """
        How connections are driven: 'poll' (one thread, prepared calls, each reply checked without decoding it, as \
        redis-benchmark drives redis) or 'threads' (a thread and a blocking RegistryClient per connection, decoding \
        every reply as autopilotctl does). ValidateSubmission with devices always uses 'threads'.
        """)
    var generator: LoadGenerator = .poll

    var connectionCounts: [Int] { connections.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 } }

    func validate() throws {
        guard !connectionCounts.isEmpty else { throw ValidationError("--connections needs at least one positive count") }
        guard duration > 0, warmup >= 0 else { throw ValidationError("--duration must be positive, --warmup not negative") }
    }
}

/// The registry `validate` runs against.
struct ValidateOptions: ParsableArguments {
    @Option(help: "Tenants in the generated registry; each accepts every partner's link.")
    var tenants = 100
    @Option(help: "Direct CSP partners in the generated registry.")
    var partners = 10
    @Option(help: "Devices registered before measuring.")
    var registeredDevices = 10_000
    @Option(help: "Devices in each ValidateSubmission call (0: a consent check only, as partners call it before uploads).")
    var devicesPerCall = 0

    func validate() throws {
        guard tenants > 0, partners > 0, registeredDevices >= 0, (0...1000).contains(devicesPerCall) else {
            throw ValidationError("--tenants and --partners must be positive, --devices-per-call 0 to 1000")
        }
    }
}

/// The size of the `import` file.
struct ImportOptions: ParsableArguments {
    @Option(help: "Devices in the generated CSV file.")
    var csvDevices = 100_000

    func validate() throws {
        guard csvDevices > 0 else { throw ValidationError("--csv-devices must be positive") }
    }
}

/// The registry sizes `scale` compares.
struct ScaleOptions: ParsableArguments {
    @Option(help: "Comma-separated numbers of registered devices; latency at each is compared with the smallest.")
    var scaleSizes = "1000,1000000"
    @Option(help: "Devices per ValidateSubmission call in the second measurement at each size.")
    var scaleDevicesPerCall = 10

    var sizes: [Int] { scaleSizes.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 0 } }

    func validate() throws {
        guard !sizes.isEmpty else { throw ValidationError("--scale-sizes needs at least one size") }
        guard (0...1000).contains(scaleDevicesPerCall) else { throw ValidationError("--scale-devices-per-call 0 to 1000") }
    }
}

/// Runs `body` in a new benchmark run and reports; a failure ends the tool with its reason.
func benchmark(_ common: CommonOptions, _ body: (BenchRun) throws -> Void) throws {
    let run: BenchRun
    do {
        run = try BenchRun(common: common)
    } catch let error as BenchError {
        throw ValidationError(error.description)
    }
    do {
        try body(run)
        try run.finish(json: common.json)
    } catch {
        run.work.remove()
        FileHandle.standardError.write(Data("autopilot-bench: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

extension AutopilotBench {
    struct All: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run echo, validate, import and scale, and print one table against every target.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var validateOptions: ValidateOptions
        @OptionGroup var importOptions: ImportOptions
        @OptionGroup var scaleOptions: ScaleOptions

        func run() throws {
            try benchmark(common) { run in
                try Scenarios.echo(run, load: load)
                try Scenarios.validate(run, load: load, options: validateOptions)
                try Scenarios.importCSV(run, options: importOptions)
                try Scenarios.scale(run, load: load, options: scaleOptions)
            }
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Closed-loop ValidateSubmission calls from N connections; calls/s and p50/p90/p99/p99.9.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var options: ValidateOptions

        func run() throws {
            try benchmark(common) { try Scenarios.validate($0, load: load, options: options) }
        }
    }

    struct Echo: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The load generator against a trivial varlink server in this tool: the client's own ceiling.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var load: LoadOptions

        func run() throws {
            try benchmark(common) { try Scenarios.echo($0, load: load) }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "autopilotctl devices import of a generated CSV with 4K hashes; devices/s and daemon memory.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var options: ImportOptions

        func run() throws {
            try benchmark(common) { try Scenarios.importCSV($0, options: options) }
        }
    }

    struct Scale: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "ValidateSubmission latency with 1,000 and with 1,000,000 registered devices.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var load: LoadOptions
        @OptionGroup var options: ScaleOptions

        func run() throws {
            try benchmark(common) { try Scenarios.scale($0, load: load, options: options) }
        }
    }
}
