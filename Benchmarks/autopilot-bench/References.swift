import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What redis did for `GET` at one connection count, driven by this tool's own load generator (the reference every
/// ratio uses), and what `redis-benchmark` reported for the same count (an extra reference: a heavier client).
struct RedisResult: Codable, Sendable {
    var connections: Int
    var requests: Int
    var requestsPerSecond: Double
    var p50Micros: Double
    var p99Micros: Double
    /// redis-server's CPU per GET over the measured window, when it could be read.
    var serverMicrosPerCall: Double?
    /// The same count measured by `redis-benchmark -t get`, when it is installed.
    var redisBenchmark: RedisBenchmarkResult?
}

/// What `redis-benchmark -t get` reported for one connection count.
struct RedisBenchmarkResult: Codable, Sendable {
    var requests: Int
    var requestsPerSecond: Double
    var p50Micros: Double
    var p99Micros: Double
}

/// The reference measurements: what this machine does with well-known tools in the same run.
enum References {
    /// The keys the generator reads from redis, one per consented pair of the `validate` scenario's shape.
    static let redisKeys = 100

    /// A private `redis-server` on a Unix socket in `directory`, holding `redisKeys` values that are byte for byte
    /// the reply a consented `ValidateSubmission` gets (`EchoServer.validateReply` without its NUL), read with `GET`
    /// by the same polled closed loop that drives the daemon, at each connection count for `duration` seconds after
    /// `warmup`. `redis-benchmark -t get`, when installed, is run as well, as an extra reference.
    static func redis(directory: String, connections: [Int], duration: Double,
                      warmup: Double) throws -> Result<[Int: RedisResult], Missing> {
        guard let server = findTool("redis-server") else { return .failure(Missing("redis-server not installed")) }
        let socket = directory + "/redis.sock"
        let redis = try ChildProcess(server, [
            "--port", "0", "--unixsocket", socket, "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
            "--dir", directory,
        ], stdout: directory + "/redis.log")
        defer { redis.stop() }
        // The socket file appears when redis binds it, a moment before it listens (a connection then is refused):
        // redis is ready once a connection is accepted.
        let deadline = monotonicNanoseconds() + 10_000_000_000
        while true {
            if let probe = try? connectUnix(socket, nonBlocking: false) {
                close(probe)
                break
            }
            guard redis.isRunning, monotonicNanoseconds() < deadline else { throw BenchError("redis-server did not start") }
            usleep(10_000)
        }
        let value = Array(EchoServer.validateReply.dropLast())
        try setKeys(socket: socket, count: redisKeys, value: value)
        let frames = (0..<redisKeys).map { resp(["GET", "validate:\($0)"]) }
        let calls = PolledCalls(frames: frames, expect: Array(#""consented":true"#.utf8), protocolKind: .redis)
        let benchmark = findTool("redis-benchmark")
        var results: [Int: RedisResult] = [:]
        for c in connections {
            let run = try runPolledLoop(socket: socket, connections: c, duration: duration, warmup: warmup,
                                        serverCPU: { ProcStatus.cpuSeconds(pid: redis.pid) ?? 0 }, calls: calls)
            var result = RedisResult(connections: c, requests: run.calls, requestsPerSecond: run.callsPerSecond,
                                     p50Micros: run.micros(50), p99Micros: run.micros(99),
                                     serverMicrosPerCall: run.serverMicrosPerCall)
            if let benchmark {
                let calibration = try runBenchmark(benchmark, socket: socket, connections: c,
                                                   requests: max(1000, 2000 * c), directory: directory)
                let requests = max(1000, Int(calibration.requestsPerSecond * duration))
                result.redisBenchmark = try runBenchmark(benchmark, socket: socket, connections: c, requests: requests,
                                                         directory: directory)
            }
            results[c] = result
        }
        return .success(results)
    }

    /// A RESP command.
    static func resp(_ words: [String]) -> [UInt8] {
        var out = Array("*\(words.count)\r\n".utf8)
        for word in words { out += Array("$\(word.utf8.count)\r\n\(word)\r\n".utf8) }
        return out
    }

    /// `SET validate:K value` for K below `count`, pipelined on one connection, each answered `+OK`.
    private static func setKeys(socket: String, count: Int, value: [UInt8]) throws {
        let fd = try connectUnix(socket, nonBlocking: false)
        defer { close(fd) }
        var commands: [UInt8] = []
        for k in 0..<count {
            let key = Array("validate:\(k)".utf8)
            commands += Array("*3\r\n$3\r\nSET\r\n$\(key.count)\r\n".utf8) + key + Array("\r\n$\(value.count)\r\n".utf8)
            commands += value + Array("\r\n".utf8)
        }
        var offset = 0
        while offset < commands.count {
            let sent = commands.withUnsafeBytes { write(fd, $0.baseAddress! + offset, commands.count - offset) }
            guard sent > 0 else { throw BenchError("redis SET: \(String(cString: strerror(errno)))") }
            offset += sent
        }
        let expected = Array(repeating: Array("+OK\r\n".utf8), count: count).joined()
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < expected.count {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard got > 0 else { throw BenchError("redis closed the connection while loading keys") }
            received += buffer[0..<got]
        }
        guard received.elementsEqual(expected) else {
            throw BenchError("redis refused SET: \(String(decoding: received.prefix(200), as: UTF8.self))")
        }
    }

    private static func runBenchmark(_ benchmark: String, socket: String, connections: Int, requests: Int,
                                     directory: String) throws -> RedisBenchmarkResult {
        let out = directory + "/redis-benchmark.csv"
        let r = try runTimed(benchmark, ["-s", socket, "-t", "get", "-c", String(connections), "-n", String(requests), "--csv"],
                             stdout: out, stderr: directory + "/redis-benchmark.err")
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
        guard r.status == 0, let line = text.split(separator: "\n").first(where: { $0.hasPrefix("\"GET\"") }) else {
            throw BenchError("redis-benchmark failed (exit \(r.status)): \(text)")
        }
        let fields = line.split(separator: ",").map { Double($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) }
        guard fields.count >= 7, let rps = fields[1], let p50 = fields[4], let p99 = fields[6] else {
            throw BenchError("unexpected redis-benchmark output: \(line)")
        }
        return RedisBenchmarkResult(requests: requests, requestsPerSecond: rps, p50Micros: p50 * 1000, p99Micros: p99 * 1000)
    }

    /// What `sqlite3 .import` of a device CSV did.
    struct SQLiteImport: Codable, Sendable {
        var rows: Int
        var seconds: Double
        var rowsPerSecond: Double { Double(rows) / seconds }
    }

    /// Imports `csv` with the `sqlite3` shell into a fresh database with the daemon's settings (WAL,
    /// synchronous=FULL) and a table of the file's five columns without indexes: the least a database can do to keep
    /// the file's rows. Only the `.import` is timed; it is one transaction.
    static func sqliteImport(csv: String, rows: Int, directory: String) throws -> Result<SQLiteImport, Missing> {
        guard let sqlite = findTool("sqlite3") else { return .failure(Missing("sqlite3 not installed")) }
        let database = directory + "/reference.sqlite"
        let schema = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE devices ("Device Serial Number" TEXT, "Windows Product ID" TEXT, "Hardware Hash" TEXT,
                                  "Manufacturer name" TEXT, "Device model" TEXT) STRICT;
            """
        let schemaFile = directory + "/reference-schema.sql"
        try schema.write(toFile: schemaFile, atomically: true, encoding: .utf8)
        let log = directory + "/sqlite3.log"
        let created = try runTimed(sqlite, ["-batch", database], stdout: log, stderr: log, stdin: schemaFile)
        guard created.status == 0 else { throw BenchError("sqlite3 could not create the reference table: \(read(log))") }
        let imported = try runTimed(sqlite, ["-batch", "-cmd", "PRAGMA synchronous = FULL", database,
                                             ".import --csv --skip 1 \(csv) devices"], stdout: log, stderr: log)
        guard imported.status == 0 else { throw BenchError("sqlite3 .import failed: \(read(log))") }
        let countFile = directory + "/sqlite3.count"
        _ = try runTimed(sqlite, ["-batch", database, "SELECT count(*) FROM devices"], stdout: countFile)
        let count = Int(read(countFile).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        guard count == rows else { throw BenchError("sqlite3 imported \(count) rows of \(rows): \(read(log))") }
        unlink(database)
        unlink(database + "-wal")
        unlink(database + "-shm")
        return .success(SQLiteImport(rows: rows, seconds: imported.seconds))
    }

    private static func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}

/// A reference that could not be measured, and why ("redis-benchmark not installed").
struct Missing: Error, Sendable {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}
