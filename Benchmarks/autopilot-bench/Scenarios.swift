import AutopilotClient
import AutopilotDomain
import AutopilotInterface
import AutopilotTestSupport
import Foundation
import Varlink
#if canImport(Glibc)
import Glibc
#endif

/// One benchmark run: where it works, what it drives, and the report it fills.
final class BenchRun {
    let work: WorkDirectory
    let programs: Programs
    let daemonConfig: [String]
    /// The daemons' `idle_release_seconds`: the built-in 10 unless `--daemon-config` sets it.
    let idleReleaseSeconds: Int
    let daemonWrapper: [String]
    var report = Report()
    /// redis GET results by connection count (this tool's generator, and redis-benchmark), measured once per run and
    /// shared by the figures that need them.
    private var redis: Result<[Int: RedisResult], Missing>?
    private var redisConnections: Set<Int> = []

    init(common: CommonOptions) throws {
        programs = try Programs(directory: common.binDir)
        work = try WorkDirectory(parent: common.workDir, keep: common.keep)
        daemonConfig = common.daemonConfig
        idleReleaseSeconds = Self.idleReleaseSeconds(in: common.daemonConfig)
        daemonWrapper = common.daemonWrapper.map { $0.split(separator: " ").map(String.init) } ?? []
        if report.machine.build == "debug" {
            report.notes.append("debug build: figures are for smoke testing only; measure with a release build")
        }
    }

    /// The last `idle_release_seconds = N` of `--daemon-config` lines, else the daemon's default of 10.
    static func idleReleaseSeconds(in config: [String]) -> Int {
        config.compactMap { line -> Int? in
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            return parts.count == 2 && parts[0] == "idle_release_seconds" ? Int(parts[1]) : nil
        }.last ?? 10
    }

    /// Starts a daemon in a new subdirectory.
    func startDaemon(_ name: String) throws -> DaemonUnderTest {
        try DaemonUnderTest(programs: programs, directory: try work.subdirectory(name), config: daemonConfig,
                            wrapper: daemonWrapper)
    }

    /// The redis GET references for these connection counts (measured on first use).
    func redisReference(connections: [Int], load: LoadOptions) throws -> Result<[Int: RedisResult], Missing> {
        if let redis, redisConnections.isSuperset(of: connections) { return redis }
        let measured = try References.redis(directory: try work.subdirectory("redis"), connections: connections,
                                            duration: load.duration, warmup: load.warmup)
        redis = measured
        redisConnections = Set(connections)
        if case let .success(results) = measured {
            for c in connections.sorted() {
                if let r = results[c] {
                    report.settings["redis.c\(c)"] = "\(r.requests) GETs by this tool's generator, "
                        + "\(formatNumber(r.requestsPerSecond)) rps, p50 \(formatNumber(r.p50Micros)) µs, "
                        + "p99 \(formatNumber(r.p99Micros)) µs"
                    if let b = r.redisBenchmark {
                        report.settings["redis-benchmark.c\(c)"] = "\(b.requests) GETs, \(formatNumber(b.requestsPerSecond)) "
                            + "rps, p50 \(formatNumber(b.p50Micros)) µs, p99 \(formatNumber(b.p99Micros)) µs"
                    }
                }
            }
        }
        return measured
    }

    /// Prints the table, writes the JSON file when asked, and removes the work directory.
    func finish(json: String?) throws {
        report.finishedAt = Date().formatted(.iso8601)
        report.loadAverageAtEnd = loadAverage()
        print(report.table())
        if let json { try report.json().write(to: URL(fileURLWithPath: json)) }
        work.remove()
    }
}

/// The scenarios of issue 7. Each adds its figures to the run's report.
enum Scenarios {
    static func connectionsLabel(_ c: Int) -> String { c == 1 ? "1 connection" : "\(c) connections" }

    // MARK: echo

    /// The load generator against `EchoServer`: the calls per second and latency the client side allows.
    static func echo(_ run: BenchRun, load: LoadOptions) throws {
        run.report.scenarios.append("echo")
        run.report.settings["load.generator"] = load.generator.description
        let redis = try run.redisReference(connections: load.connectionCounts, load: load)
        let server = try EchoServer(path: run.work.path + "/echo.sock")
        defer { server.stop() }
        for c in load.connectionCounts {
            let socket = server.path
            let result = try drive(load, "echo", connections: c, socket: socket, serverCPU: { server.cpuSeconds },
                                   polled: PolledCalls(frames: [validateFrame(partner: "p", tenant: "t")],
                                                       expect: consentedTrue)) { _ in
                let client = try RegistryClient(path: socket)
                return { _ = try client.call(Registry.ValidateSubmission.self, .init(partner: "p", tenant: "t")) }
            }
            let ref = reference(redis, c)
            run.report.add(Figure(id: "echo.c\(c).calls_per_s", label: "echo calls/s, \(connectionsLabel(c))",
                                  unit: "calls/s", value: result.callsPerSecond, reference: ref.value?.requestsPerSecond,
                                  referenceLabel: ref.label))
            run.report.add(Figure(id: "echo.c\(c).p50_us", label: "echo p50, \(connectionsLabel(c))", unit: "µs",
                                  value: result.micros(50), reference: ref.value?.p50Micros, referenceLabel: ref.label))
            // The echo server runs in this process: what is left of the process's CPU is the client's.
            let clientMicros = (result.clientCPUSeconds - (result.serverCPUSeconds ?? 0)) * 1e6 / Double(max(result.calls, 1))
            run.report.add(Figure(id: "echo.c\(c).client_cpu_us_per_call",
                                  label: "load generator CPU per call, \(connectionsLabel(c))", unit: "µs",
                                  value: clientMicros))
        }
    }

    // MARK: validate

    /// Closed-loop `ValidateSubmission` (no devices unless asked) against a daemon loaded with a generated registry.
    static func validate(_ run: BenchRun, load: LoadOptions, options: ValidateOptions) throws {
        run.report.scenarios.append("validate")
        run.report.settings["load.generator"] = load.generator.description
        run.report.settings["validate.dataset"] = "\(options.tenants) tenants, \(options.partners) partners, "
            + "\(options.tenants * options.partners) grants, \(options.registeredDevices) devices; "
            + "\(options.devicesPerCall) devices per call"
        let daemon = try run.startDaemon("validate")
        let consents: [Consent]
        do {
            let client = try daemon.client()
            defer { client.close() }
            consents = try Dataset.consents(client, tenants: options.tenants, partners: options.partners)
        }
        if options.registeredDevices > 0, let first = consents.first {
            let loaded = try Dataset.registerDevices(socket: daemon.socket, consent: first, range: 0..<options.registeredDevices)
            run.report.settings["validate.load_seconds"] = String(format: "%.1f", loaded.seconds)
        }
        var results: [Int: LoadResult] = [:]
        var floors: [Int: LoadResult] = [:]
        for c in load.connectionCounts {
            results[c] = try measureValidate(daemon: daemon, consents: consents, connections: c, load: load,
                                             devicesPerCall: options.devicesPerCall,
                                             registered: options.registeredDevices)
            floors[c] = try measureFloor(daemon: daemon, connections: c, load: load)
        }
        daemon.stop()
        let redis = try run.redisReference(connections: load.connectionCounts, load: load)
        for c in load.connectionCounts {
            guard let result = results[c] else { continue }
            let ref = reference(redis, c)
            let name = connectionsLabel(c)
            run.report.add(Figure(id: "validate.c\(c).calls_per_s", label: "validate calls/s, \(name)", unit: "calls/s",
                                  value: result.callsPerSecond, reference: ref.value?.requestsPerSecond,
                                  referenceLabel: ref.label,
                                  target: c == 16 ? Target(kind: .ratioAtLeast, bound: 0.7) : nil))
            run.report.add(Figure(id: "validate.c\(c).p50_us", label: "validate p50, \(name)", unit: "µs",
                                  value: result.micros(50), reference: ref.value?.p50Micros, referenceLabel: ref.label,
                                  target: c == 1 ? Target(kind: .ratioAtMost, bound: 1.3) : nil))
            run.report.add(Figure(id: "validate.c\(c).p90_us", label: "validate p90, \(name)", unit: "µs",
                                  value: result.micros(90)))
            run.report.add(Figure(id: "validate.c\(c).p99_us", label: "validate p99, \(name)", unit: "µs",
                                  value: result.micros(99), reference: ref.value?.p99Micros, referenceLabel: ref.label))
            run.report.add(Figure(id: "validate.c\(c).p999_us", label: "validate p99.9, \(name)", unit: "µs",
                                  value: result.micros(99.9)))
            if let server = result.serverMicrosPerCall {
                run.report.add(Figure(id: "validate.c\(c).daemon_cpu_us_per_call",
                                      label: "daemon CPU per validate call, \(name)", unit: "µs", value: server,
                                      reference: ref.value?.serverMicrosPerCall,
                                      referenceLabel: "redis CPU per GET, \(name)"))
            }
            run.report.add(Figure(id: "validate.c\(c).client_cpu_us_per_call",
                                  label: "load generator CPU per validate call, \(name)", unit: "µs",
                                  value: result.clientMicrosPerCall))
            if let floor = floors[c] {
                run.report.add(Figure(id: "floor.c\(c).calls_per_s", label: "daemon floor (WhoAmI, no database) calls/s, \(name)",
                                      unit: "calls/s", value: floor.callsPerSecond,
                                      reference: ref.value?.requestsPerSecond, referenceLabel: ref.label))
                run.report.add(Figure(id: "floor.c\(c).p50_us", label: "daemon floor (WhoAmI, no database) p50, \(name)",
                                      unit: "µs", value: floor.micros(50), reference: ref.value?.p50Micros,
                                      referenceLabel: ref.label))
                if let server = floor.serverMicrosPerCall {
                    // At one connection, against sixteen: what the hand-offs per call cost beyond the work.
                    let busiest = load.connectionCounts.max() ?? c
                    let atBusiest = c == busiest ? nil : floors[busiest]?.serverMicrosPerCall
                    run.report.add(Figure(id: "floor.c\(c).daemon_cpu_us_per_call",
                                          label: "daemon CPU per WhoAmI call, \(name)", unit: "µs", value: server,
                                          reference: atBusiest,
                                          referenceLabel: atBusiest == nil ? nil : "at \(connectionsLabel(busiest))",
                                          target: c == 1 && atBusiest != nil ? Target(kind: .ratioAtMost, bound: 2) : nil))
                }
            }
            // redis-benchmark, a heavier client than this tool's generator, against the generator's redis figures.
            if let own = ref.value, let b = own.redisBenchmark {
                run.report.add(Figure(id: "redis_benchmark.c\(c).p50_us", label: "redis GET p50 by redis-benchmark, \(name)",
                                      unit: "µs", value: b.p50Micros, reference: own.p50Micros, referenceLabel: ref.label))
                run.report.add(Figure(id: "redis_benchmark.c\(c).calls_per_s",
                                      label: "redis GET calls/s by redis-benchmark, \(name)", unit: "calls/s",
                                      value: b.requestsPerSecond, reference: own.requestsPerSecond,
                                      referenceLabel: ref.label))
            }
        }
    }

    /// Closed-loop `WhoAmI` as root: the daemon's answer comes from the peer's credentials alone, so this is what
    /// a call costs through the socket, the event loop, the connection's task, the dispatcher and JSON, with no
    /// database work. No method can be faster; it bounds every other figure.
    static func measureFloor(daemon: DaemonUnderTest, connections: Int, load: LoadOptions) throws -> LoadResult {
        let socket = daemon.socket
        let whoAmI = VarlinkCall(method: Registry.WhoAmI.qualifiedName).encoded()
        return try drive(load, "WhoAmI", connections: connections, socket: socket, serverCPU: { daemon.cpuSeconds },
                         polled: PolledCalls(frames: [whoAmI], expect: Array(#""role":"operator""#.utf8))) { _ in
            let client = try RegistryClient(path: socket)
            return { _ = try client.call(Registry.WhoAmI.self) }
        }
    }

    /// One closed-loop run of `ValidateSubmission` over the consented pairs; each connection starts at its own pair.
    /// With devices, half of each call's devices are registered ones picked at random (they come back 806), half
    /// new ones (valid).
    static func measureValidate(daemon: DaemonUnderTest, consents: [Consent], connections: Int, load: LoadOptions,
                                devicesPerCall: Int, registered: Int) throws -> LoadResult {
        let socket = daemon.socket
        // Calls with devices vary from call to call: only the threaded generator builds them.
        let polled = devicesPerCall == 0
            ? PolledCalls(frames: consents.map { validateFrame(partner: $0.partner, tenant: $0.tenant) },
                          expect: consentedTrue)
            : nil
        return try drive(load, "validate", connections: connections, socket: socket, serverCPU: { daemon.cpuSeconds },
                         polled: polled) { worker in
            let client = try RegistryClient(path: socket)
            var next = worker * 7919
            var random = SplitMix64(seed: UInt64(worker + 1))
            let fresh = 2_000_000_000 + worker * 100_000_000
            var freshNext = 0
            return {
                let consent = consents[next % consents.count]
                next += 1
                var devices: [DeviceInput]?
                if devicesPerCall > 0 {
                    devices = (0..<devicesPerCall).map { i in
                        if i % 2 == 0 && registered > 0 { return Dataset.device(Int(random.next() % UInt64(registered))) }
                        freshNext += 1
                        return Dataset.device(fresh + freshNext)
                    }
                }
                let check = try client.call(Registry.ValidateSubmission.self,
                                             .init(partner: consent.partner, tenant: consent.tenant, devices: devices))
                guard check.consented, check.results.count == devicesPerCall else {
                    throw BenchError("unexpected ValidateSubmission answer: consented \(check.consented), "
                        + "\(check.results.count) results")
                }
            }
        }
    }

    /// One closed loop with the generator `load` asks for: `polled` from one polling thread, or `threaded` from a
    /// thread per connection (also when there is no `polled`). Fails unless calls completed and none failed.
    static func drive(_ load: LoadOptions, _ what: String, connections: Int, socket: String,
                      serverCPU: @escaping () -> Double, polled: PolledCalls?,
                      threaded: @escaping CallFactory) throws -> LoadResult {
        let result = if load.generator == .poll, let polled {
            try runPolledLoop(socket: socket, connections: connections, duration: load.duration, warmup: load.warmup,
                              serverCPU: serverCPU, calls: polled)
        } else {
            try runClosedLoop(connections: connections, duration: load.duration, warmup: load.warmup,
                              serverCPU: serverCPU, factory: threaded)
        }
        try check(result, what)
        return result
    }

    // MARK: import

    /// `autopilotctl devices import` of a generated CSV, against `sqlite3 .import` of the same file; the daemon's
    /// resident memory when idle and at its peak during the import.
    static func importCSV(_ run: BenchRun, options: ImportOptions) throws {
        run.report.scenarios.append("import")
        let n = options.csvDevices
        let csv = run.work.path + "/devices.csv"
        let bytes = try Dataset.writeCSV(path: csv, count: n)
        run.report.settings["import.csv"] = "\(n) devices, \(formatNumber(Double(bytes) / 1_048_576)) MiB "
            + "(Partner Center form, 4,000-character hashes)"

        let daemon = try run.startDaemon("import")
        let consent: Consent
        do {
            let client = try daemon.client()
            defer { client.close() }
            consent = try Dataset.consents(client, tenants: 1, partners: 1)[0]
            _ = try client.call(Registry.GetStatus.self)
        }
        let idle = daemon.residentBytes ?? 0
        let cpuBefore = daemon.cpuSeconds
        let out = run.work.path + "/import.out"
        let imported = try runTimed(run.programs.ctl, ["devices", "import", csv, "--partner", consent.partner,
                                                       "--tenant", consent.tenant],
                                    environment: ["AUTOPILOT_SOCKET": daemon.socket], stdout: out, stderr: out)
        let cpuAfter = daemon.cpuSeconds
        let peak = daemon.peakResidentBytes ?? 0
        let after = daemon.residentBytes ?? 0
        // The daemon unmaps the code it is not running once it has had no call for idle_release_seconds (10 by
        // default), looking every eighth of that: what it holds while nobody calls.
        let quietSeconds = run.idleReleaseSeconds * 5 / 4 + 1
        if run.idleReleaseSeconds > 0 { Thread.sleep(forTimeInterval: Double(quietSeconds)) }
        let quiet = daemon.residentBytes ?? 0
        let output = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard imported.status == 0, output.contains("registered \(n), failed 0") else {
            throw BenchError("autopilotctl devices import failed (exit \(imported.status)): \(output.suffix(2000))")
        }
        daemon.stop()
        try? FileManager.default.removeItem(atPath: daemon.directory)

        let sqlite = try References.sqliteImport(csv: csv, rows: n, directory: try run.work.subdirectory("sqlite"))
        unlink(csv)
        let rate = Double(n) / imported.seconds
        let mib = 1_048_576.0
        switch sqlite {
        case let .success(s):
            run.report.add(Figure(id: "import.devices_per_s", label: "import devices/s, \(formatNumber(Double(n))) devices",
                                  unit: "devices/s", value: rate, reference: s.rowsPerSecond,
                                  referenceLabel: "sqlite3 .import rows/s", target: Target(kind: .ratioAtLeast, bound: 1.0)))
        case let .failure(missing):
            run.report.add(Figure(id: "import.devices_per_s", label: "import devices/s, \(formatNumber(Double(n))) devices",
                                  unit: "devices/s", value: rate, referenceLabel: "missing: \(missing.reason)",
                                  target: Target(kind: .ratioAtLeast, bound: 1.0)))
        }
        run.report.add(Figure(id: "import.daemon_cpu_us_per_device", label: "daemon CPU per imported device", unit: "µs",
                              value: (cpuAfter - cpuBefore) * 1e6 / Double(max(n, 1))))
        run.report.add(Figure(id: "import.ctl_cpu_us_per_device", label: "autopilotctl CPU per imported device", unit: "µs",
                              value: imported.cpuSeconds * 1e6 / Double(max(n, 1))))
        run.report.add(Figure(id: "import.daemon_peak_rss_mib", label: "daemon peak RSS during import", unit: "MiB",
                              value: Double(peak) / mib, target: Target(kind: .valueAtMost, bound: 32)))
        run.report.add(Figure(id: "import.daemon_idle_rss_mib", label: "daemon idle RSS (started, one tenant)", unit: "MiB",
                              value: Double(idle) / mib, target: Target(kind: .valueAtMost, bound: 16)))
        run.report.add(Figure(id: "import.daemon_rss_after_mib", label: "daemon RSS after import", unit: "MiB",
                              value: Double(after) / mib))
        if run.idleReleaseSeconds > 0 {
            run.report.add(Figure(id: "import.daemon_rss_quiet_mib",
                                  label: "daemon RSS after import, then \(quietSeconds) s without calls", unit: "MiB",
                                  value: Double(quiet) / mib))
        }
    }

    // MARK: scale

    /// Measurement windows per size and call shape in `scale`: the sizes are measured in turns, window by window.
    static let scaleRounds = 5

    /// `ValidateSubmission` latency on one connection with `sizes` registered devices, without devices and with
    /// `devicesPerCall` devices per call.
    ///
    /// Each size has a daemon of its own, loaded before anything is measured; then the daemons are measured in turns,
    /// `scaleRounds` windows each (the duration divided among them, every window after its own warm-up), and each
    /// figure is taken from the merged windows. A call with devices waits for two thread wake-ups, whose cost on two
    /// shared cores drifts with what else the machine is doing (the kernel writing back the million devices' pages,
    /// for one): measured one size after the other, the p50 at 1,000 moved from 263 to 371 µs between runs of the
    /// same build, more than the difference being measured. In turns, both sizes see the same machine.
    static func scale(_ run: BenchRun, load: LoadOptions, options: ScaleOptions) throws {
        run.report.scenarios.append("scale")
        let sizes = Array(Set(options.sizes)).sorted()
        guard let smallest = sizes.first, let largest = sizes.last else { return }
        var daemons: [(size: Int, daemon: DaemonUnderTest, consents: [Consent])] = []
        defer { for d in daemons { d.daemon.stop() } }
        var loadSeconds = 0.0
        for size in sizes {
            let daemon = try run.startDaemon("scale-\(size)")
            daemons.append((size, daemon, []))
            let client = try daemon.client()
            defer { client.close() }
            let consents = try Dataset.consents(client, tenants: 10, partners: 2)
            daemons[daemons.count - 1].consents = consents
            if size > 0 {
                loadSeconds += try Dataset.registerDevices(socket: daemon.socket, consent: consents[0],
                                                           range: 0..<size).seconds
            }
        }
        let perCallCounts = options.scaleDevicesPerCall > 0 ? [0, options.scaleDevicesPerCall] : [0]
        var window = load
        window.duration = load.duration / Double(scaleRounds)
        var merged: [Int: [Int: LoadResult]] = [:]
        for _ in 0..<scaleRounds {
            for (size, daemon, consents) in daemons {
                for perCall in perCallCounts {
                    let result = try measureValidate(daemon: daemon, consents: consents, connections: 1, load: window,
                                                     devicesPerCall: perCall, registered: size)
                    if merged[size]?[perCall] == nil {
                        merged[size, default: [:]][perCall] = result
                    } else {
                        merged[size]![perCall]!.add(result)
                    }
                }
            }
        }
        for size in sizes {
            for perCall in perCallCounts {
                let p50 = merged[size]![perCall]!.micros(50)
                let baseline = merged[smallest]![perCall]!.micros(50)
                let what = perCall == 0 ? "no devices" : "\(perCall) devices"
                run.report.add(Figure(
                    id: "scale.n\(size).d\(perCall).p50_us",
                    label: "validate p50 (\(what)), \(formatNumber(Double(size))) registered", unit: "µs", value: p50,
                    reference: size == smallest ? nil : baseline,
                    referenceLabel: size == smallest ? nil : "p50 at \(formatNumber(Double(smallest)))",
                    target: size == smallest ? nil : Target(kind: .ratioAtMost, bound: 1.1)))
            }
        }
        let registered = sizes.reduce(0, +)
        run.report.settings["scale.load"] = "\(registered) devices registered by AddDevices in "
            + String(format: "%.1f s (%.0f devices/s)", loadSeconds, Double(registered) / max(loadSeconds, 1e-9))
        run.report.settings["scale.windows"] = "each size measured in \(scaleRounds) windows of "
            + String(format: "%.1f s", window.duration) + ", the sizes in turns"
        let big = daemons.last!.daemon
        run.report.add(Figure(id: "scale.daemon_rss_mib", label: "daemon RSS, \(formatNumber(Double(largest))) registered",
                              unit: "MiB", value: Double(big.residentBytes ?? 0) / 1_048_576))
    }

    // MARK: shared

    static func reference(_ redis: Result<[Int: RedisResult], Missing>, _ c: Int) -> (value: RedisResult?, label: String) {
        switch redis {
        case let .success(results):
            if let r = results[c] { return (r, "redis GET, \(connectionsLabel(c)), same generator") }
            return (nil, "missing: no redis run at \(c)")
        case let .failure(missing):
            return (nil, "missing: \(missing.reason)")
        }
    }

    /// A `ValidateSubmission` call without devices, as a frame.
    static func validateFrame(partner: String, tenant: String) -> [UInt8] {
        VarlinkCall(method: Registry.ValidateSubmission.qualifiedName,
                    parameters: Registry.ValidateSubmission.Parameters(partner: partner, tenant: tenant).parametersObject)
            .encoded()
    }

    /// What every answer of a consented pair contains.
    static let consentedTrue = Array(#""consented":true"#.utf8)

    static func check(_ result: LoadResult, _ what: String) throws {
        if result.errors > 0 { throw BenchError("\(what): \(result.errors) calls failed: \(result.firstError ?? "")") }
        if result.calls == 0 { throw BenchError("\(what): no call completed in the measured window") }
    }
}
