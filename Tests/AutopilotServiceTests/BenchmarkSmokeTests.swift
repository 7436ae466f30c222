import Foundation
import Testing

/// Runs each scenario of `autopilot-bench` at tiny sizes, so the tool keeps working as the daemon changes. The
/// figures are not judged (a debug build on a shared machine says nothing about speed); only that each scenario
/// runs against the real daemon, prints its figures and writes JSON that carries them.
@Suite(.serialized) struct BenchmarkSmokeTests {
    /// A short run: a fraction of a second per measurement.
    static let quick = ["--duration", "0.3", "--warmup", "0.1"]

    struct Run {
        var result: CommandResult
        var figures: [String: [String: Any]]
        var report: [String: Any]
    }

    /// Runs `autopilot-bench` with `arguments` plus `--json`, and returns its output and the figures by id.
    func bench(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bench-smoke-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let json = directory + "/results.json"
        let result = try runProgram(productsDirectory + "/autopilot-bench", arguments + ["--json", json, "--work-dir", directory],
                                    environment: environment, timeout: 600)
        try #require(result.status == 0, "\(result)")
        let data = try Data(contentsOf: URL(fileURLWithPath: json))
        let report = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(result)")
        let list = try #require(report["figures"] as? [[String: Any]])
        var figures: [String: [String: Any]] = [:]
        for figure in list { if let id = figure["id"] as? String { figures[id] = figure } }
        return Run(result: result, figures: figures, report: report)
    }

    /// Expects each figure to be in the JSON with a finite, non-negative value, and its label in the printed table.
    func expectFigures(_ run: Run, _ ids: [String]) {
        for id in ids {
            guard let figure = run.figures[id] else {
                Issue.record("figure \(id) missing from the JSON; have \(run.figures.keys.sorted())")
                continue
            }
            let value = figure["value"] as? Double
            #expect(value.map { $0.isFinite && $0 >= 0 } == true, "\(id): \(figure)")
            if let label = figure["label"] as? String { #expect(run.result.stdout.contains(label), "\(id): \(run.result)") }
        }
    }

    @Test(arguments: ["poll", "threads"])
    func echoMeasuresTheLoadGeneratorAgainstATrivialServer(generator: String) throws {
        let run = try bench(["echo", "--connections", "1,2", "--generator", generator] + Self.quick)
        expectFigures(run, ["echo.c1.calls_per_s", "echo.c1.p50_us", "echo.c2.calls_per_s", "echo.c2.client_cpu_us_per_call"])
        let settings = try #require(run.report["settings"] as? [String: Any])
        #expect((settings["load.generator"] as? String)?.hasPrefix(generator + ":") == true, "\(settings)")
        #expect(run.result.stdout.contains("machine: "))
        let machine = try #require(run.report["machine"] as? [String: Any])
        #expect((machine["cores"] as? Int ?? 0) > 0)
        #expect(machine["kernel"] as? String != nil && machine["cpu"] as? String != nil && machine["swift"] as? String != nil)
    }

    @Test func validateMeasuresCallsAndPercentilesAgainstALoadedDaemon() throws {
        let run = try bench(["validate", "--connections", "1,2", "--tenants", "2", "--partners", "2",
                             "--registered-devices", "40", "--devices-per-call", "4"] + Self.quick)
        expectFigures(run, ["validate.c1.calls_per_s", "validate.c1.p50_us", "validate.c1.p90_us", "validate.c1.p99_us",
                            "validate.c1.p999_us", "validate.c2.calls_per_s", "validate.c1.daemon_cpu_us_per_call",
                            "floor.c1.calls_per_s"])
        // The p50 at one connection is held to its target against redis; the figure says so even without redis.
        let p50 = try #require(run.figures["validate.c1.p50_us"])
        #expect((p50["target"] as? [String: Any])?["kind"] as? String == "ratioAtMost")
    }

    @Test(arguments: ["poll", "threads"])
    func consentChecksWithoutDevicesRunWithEitherGenerator(generator: String) throws {
        let run = try bench(["validate", "--connections", "1,3", "--tenants", "2", "--partners", "2",
                             "--registered-devices", "0", "--generator", generator] + Self.quick)
        expectFigures(run, ["validate.c1.calls_per_s", "validate.c3.calls_per_s", "validate.c3.p50_us",
                            "validate.c3.client_cpu_us_per_call", "floor.c3.calls_per_s"])
        #expect((run.figures["validate.c3.calls_per_s"]?["value"] as? Double ?? 0) > 0)
    }

    @Test func importRegistersAGeneratedFileWithTheRealClientAndReportsMemory() throws {
        let run = try bench(["import", "--csv-devices", "30", "--daemon-config", "idle_release_seconds = 1"])
        expectFigures(run, ["import.devices_per_s", "import.daemon_peak_rss_mib", "import.daemon_idle_rss_mib",
                            "import.daemon_cpu_us_per_device", "import.ctl_cpu_us_per_device",
                            "import.daemon_rss_quiet_mib"])
        let peak = try #require(run.figures["import.daemon_peak_rss_mib"]?["value"] as? Double)
        #expect(peak > 1, "a running daemon has more than 1 MiB resident")
        // Measured once the daemon has had no call for longer than its idle_release_seconds: it has unmapped the code
        // it is not running.
        let after = try #require(run.figures["import.daemon_rss_after_mib"]?["value"] as? Double)
        let quiet = try #require(run.figures["import.daemon_rss_quiet_mib"])
        #expect((quiet["value"] as? Double ?? .infinity) < after, "\(quiet), \(after) MiB after the import")
        #expect((quiet["label"] as? String)?.hasSuffix("then 2 s without calls") == true, "\(quiet)")
    }

    @Test func scaleComparesLatencyAtTwoRegistrySizes() throws {
        let run = try bench(["scale", "--scale-sizes", "10,60", "--scale-devices-per-call", "4"] + Self.quick)
        expectFigures(run, ["scale.n10.d0.p50_us", "scale.n10.d4.p50_us", "scale.n60.d0.p50_us", "scale.n60.d4.p50_us"])
        let larger = try #require(run.figures["scale.n60.d4.p50_us"])
        let smaller = try #require(run.figures["scale.n10.d4.p50_us"])
        #expect(larger["reference"] as? Double == smaller["value"] as? Double,
                "the larger registry is compared with the smaller: \(larger)")
        // A daemon per size (10 and 60 devices registered), measured in turns, window by window.
        let settings = try #require(run.report["settings"] as? [String: Any])
        #expect((settings["scale.load"] as? String)?.hasPrefix("70 devices registered") == true, "\(settings)")
        #expect((settings["scale.windows"] as? String)?.hasPrefix("each size measured in 5 windows") == true, "\(settings)")
    }

    @Test func allRunsEveryScenarioIntoOneTableWithEveryTarget() throws {
        let run = try bench(["all", "--connections", "1,16", "--tenants", "1", "--partners", "1", "--registered-devices", "10",
                             "--csv-devices", "10", "--scale-sizes", "5,20", "--scale-devices-per-call", "2",
                             "--daemon-config", "idle_release_seconds = 1"] + Self.quick)
        for id in ["validate.c16.calls_per_s", "validate.c1.p50_us", "import.devices_per_s", "import.daemon_peak_rss_mib",
                   "import.daemon_idle_rss_mib", "scale.n20.d2.p50_us"] {
            #expect(run.figures[id]?["target"] != nil, "\(id) carries its target")
        }
        #expect(Set(run.report["scenarios"] as? [String] ?? []) == ["echo", "validate", "import", "scale"])
        // Issue 15's targets, each against its reference in the same run.
        let bounds: [String: Double] = ["validate.c1.p50_us": 1.3, "validate.c16.calls_per_s": 0.7,
                                        "floor.c1.daemon_cpu_us_per_call": 2, "import.devices_per_s": 1.0,
                                        "import.daemon_peak_rss_mib": 32, "import.daemon_idle_rss_mib": 16,
                                        "scale.n20.d2.p50_us": 1.1]
        for (id, bound) in bounds {
            #expect((run.figures[id]?["target"] as? [String: Any])?["bound"] as? Double == bound, "\(id)")
        }
        // redis is driven by this tool's own generator (a real GET answered with a ValidateSubmission-sized value),
        // so the ratios compare servers; redis-benchmark's figures stand beside it as an extra reference.
        let validate = try #require(run.figures["validate.c1.p50_us"])
        if findExecutable("redis-server") != nil {
            #expect((validate["referenceLabel"] as? String)?.hasSuffix("same generator") == true, "\(validate)")
            #expect((validate["reference"] as? Double ?? 0) > 0)
        }
        if findExecutable("redis-benchmark") != nil {
            #expect(run.figures["redis_benchmark.c1.p50_us"]?["reference"] as? Double == validate["reference"] as? Double)
        }
    }

    @Test func referencesAreMarkedMissingWhenTheToolsAreAbsent() throws {
        // No PATH: neither redis-benchmark nor sqlite3 can be found; the daemon and client are found next to the tool.
        let run = try bench(["import", "--csv-devices", "5", "--daemon-config", "idle_release_seconds = 0"],
                            environment: ["PATH": "/nonexistent"])
        let figure = try #require(run.figures["import.devices_per_s"])
        #expect(figure["reference"] == nil || figure["reference"] is NSNull)
        #expect((figure["referenceLabel"] as? String)?.contains("missing: sqlite3 not installed") == true, "\(figure)")
        #expect(run.result.stdout.contains("missing: sqlite3 not installed"))
    }
}
