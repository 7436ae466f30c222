import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `redis-benchmark -t get` reported for one connection count.
struct RedisResult: Codable, Sendable {
    var connections: Int
    var requests: Int
    var requestsPerSecond: Double
    var p50Micros: Double
    var p99Micros: Double
}

/// The reference measurements: what this machine does with well-known tools in the same run.
enum References {
    /// `redis-benchmark -s SOCKET -t get -c C` against a private `redis-server` on a Unix socket in `directory`,
    /// for each connection count and about `duration` seconds each (redis-benchmark counts requests, so a short
    /// calibration run picks the count). Nil with the reason when redis is not installed.
    static func redis(directory: String, connections: [Int], duration: Double) throws -> Result<[Int: RedisResult], Missing> {
        guard let server = findTool("redis-server") else { return .failure(Missing("redis-server not installed")) }
        guard let benchmark = findTool("redis-benchmark") else { return .failure(Missing("redis-benchmark not installed")) }
        let socket = directory + "/redis.sock"
        let redis = try ChildProcess(server, [
            "--port", "0", "--unixsocket", socket, "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
            "--dir", directory,
        ], stdout: directory + "/redis.log")
        defer { redis.stop() }
        let deadline = monotonicNanoseconds() + 10_000_000_000
        while access(socket, F_OK) != 0 {
            guard redis.isRunning, monotonicNanoseconds() < deadline else { throw BenchError("redis-server did not start") }
            usleep(10_000)
        }
        var results: [Int: RedisResult] = [:]
        for c in connections {
            let calibration = try run(benchmark, socket: socket, connections: c, requests: max(1000, 2000 * c),
                                      directory: directory)
            let requests = max(1000, Int(calibration.requestsPerSecond * duration))
            results[c] = try run(benchmark, socket: socket, connections: c, requests: requests, directory: directory)
        }
        return .success(results)
    }

    private static func run(_ benchmark: String, socket: String, connections: Int, requests: Int,
                            directory: String) throws -> RedisResult {
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
        return RedisResult(connections: connections, requests: requests, requestsPerSecond: rps, p50Micros: p50 * 1000,
                           p99Micros: p99 * 1000)
    }

    /// What `sqlite3 .import` of a device CSV did.
    struct SQLiteImport: Codable, Sendable {
        var rows: Int
        var seconds: Double
        var rowsPerSecond: Double { Double(rows) / seconds }
    }

    /// Imports `csv` with the `sqlite3` shell into a fresh database with the daemon's settings (WAL,
    /// synchronous=FULL) and a table with the file's columns and the registry's three uniqueness rules as unique
    /// indexes (hash, product key, manufacturer+model+serial). Only the `.import` is timed; it is one transaction.
    static func sqliteImport(csv: String, rows: Int, directory: String) throws -> Result<SQLiteImport, Missing> {
        guard let sqlite = findTool("sqlite3") else { return .failure(Missing("sqlite3 not installed")) }
        let database = directory + "/reference.sqlite"
        let schema = """
            PRAGMA journal_mode = WAL;
            CREATE TABLE devices ("Device Serial Number" TEXT, "Windows Product ID" TEXT, "Hardware Hash" TEXT,
                                  "Manufacturer name" TEXT, "Device model" TEXT) STRICT;
            CREATE UNIQUE INDEX devices_hash ON devices("Hardware Hash") WHERE "Hardware Hash" <> '';
            CREATE UNIQUE INDEX devices_product_key ON devices("Windows Product ID") WHERE "Windows Product ID" <> '';
            CREATE UNIQUE INDEX devices_tuple ON devices("Manufacturer name", "Device model", "Device Serial Number");
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
