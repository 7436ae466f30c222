import AutopilotDomain
import AutopilotInterface
import Foundation

/// Everything the daemon can be told, with its one set of defaults.
///
/// Precedence: command-line flags > environment (`AUTOPILOTD_<KEY>` in upper case, e.g. `AUTOPILOTD_SOCKET`) >
/// the config file (`key = value` lines, `#` comments; see config/autopilotd.conf) > these defaults.
public struct DaemonConfig: Sendable, Equatable {
    /// `socket`: path of the varlink Unix socket.
    public var socket: String
    /// `socket_mode`: file mode of the socket, octal (default 0660: owner and group may connect).
    public var socketMode: UInt32 = 0o660
    /// `database`: path of the SQLite database; its directory is created if needed (mode 0750).
    public var database: String
    /// `auditors_group`: group (name or number) that may read the database files with sqlite3; none by default.
    public var auditorsGroup: String?
    /// `link_base_url`: start of consent URLs, `<link_base_url>/consent/<token>`.
    public var linkBaseURL = "https://autopilot.invalid"
    /// `reseller_link_lifetime_days`: how long reseller-relationship links can be accepted.
    public var resellerLinkLifetimeDays = 90
    /// `log_level`: trace, debug, info, notice, warning, error or critical.
    public var logLevel = "info"
    /// `max_frame_size`: largest varlink message in bytes; a longer one closes the connection.
    public var maxFrameSize = 16 * 1024 * 1024
    /// `max_connections`: simultaneous connections; more are closed at once.
    public var maxConnections = 256
    /// `max_connections_per_uid`: simultaneous connections from one Unix user.
    public var maxConnectionsPerUID = 64
    /// `max_queued_calls`: pipelined calls a connection may have waiting before the daemon stops reading from it
    /// (it also stops once they add up to `max_frame_size` bytes).
    public var maxQueuedCalls = 64
    /// `idle_timeout_seconds`: a connection with nothing in flight and no input for this long is closed, and one whose
    /// peer has left a reply unread for as long (0: never).
    public var idleTimeoutSeconds = 600
    /// `idle_release_seconds`: once serving, and then whenever no call has arrived for this long, the daemon unmaps
    /// the pages of code it mapped and is not running (0: never). They stay in the kernel's page cache.
    public var idleReleaseSeconds = 10
    /// For tests only, from `AUTOPILOTD_TEST_CLOCK_FILE` (never a config key): the daemon reads the current time from
    /// this file (one RFC 3339 UTC time) instead of the system clock, so a test can let days pass without sleeping.
    public var testClockFile: String?

    /// The built-in defaults for the current user (see `DefaultLocations`).
    public init(locations: DefaultLocations = DefaultLocations()) {
        socket = locations.socket
        database = locations.database
    }

    /// The keys a config file or the environment may set.
    public static let keys = ["socket", "socket_mode", "database", "auditors_group", "link_base_url",
                              "reseller_link_lifetime_days", "log_level", "max_frame_size", "max_connections",
                              "max_connections_per_uid", "max_queued_calls", "idle_timeout_seconds",
                              "idle_release_seconds"]

    /// Sets one key from its text form.
    /// - Throws: `ConfigError` naming the key when the key is unknown or the value is not valid for it.
    public mutating func set(_ key: String, _ value: String, source: String) throws(ConfigError) {
        func int(_ range: ClosedRange<Int>) throws(ConfigError) -> Int {
            guard let v = Int(value), range.contains(v) else {
                throw ConfigError(source: source, key: key, reason: "expected a whole number in \(range.lowerBound)...\(range.upperBound), got '\(value)'")
            }
            return v
        }
        switch key {
        case "socket": socket = try Self.absolutePath(value, key: key, source: source)
        case "socket_mode":
            guard let mode = UInt32(value, radix: 8), mode <= 0o777 else {
                throw ConfigError(source: source, key: key, reason: "expected an octal file mode like 0660, got '\(value)'")
            }
            socketMode = mode
        case "database": database = try Self.absolutePath(value, key: key, source: source)
        case "auditors_group": auditorsGroup = value.isEmpty ? nil : value
        case "link_base_url":
            guard value.hasPrefix("https://") || value.hasPrefix("http://") else {
                throw ConfigError(source: source, key: key, reason: "expected an http(s) URL, got '\(value)'")
            }
            linkBaseURL = value.hasSuffix("/") ? String(value.dropLast()) : value
        case "reseller_link_lifetime_days": resellerLinkLifetimeDays = try int(1...3650)
        case "log_level":
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(value) else {
                throw ConfigError(source: source, key: key, reason: "expected trace, debug, info, notice, warning, error or critical")
            }
            logLevel = value
        case "max_frame_size": maxFrameSize = try int(1024...(256 * 1024 * 1024))
        case "max_connections": maxConnections = try int(1...100_000)
        case "max_connections_per_uid": maxConnectionsPerUID = try int(1...100_000)
        case "max_queued_calls": maxQueuedCalls = try int(1...100_000)
        case "idle_timeout_seconds": idleTimeoutSeconds = try int(0...86_400 * 7)
        case "idle_release_seconds": idleReleaseSeconds = try int(0...86_400)
        default:
            throw ConfigError(source: source, key: key, reason: "unknown key; known keys: \(Self.keys.joined(separator: ", "))")
        }
    }

    static func absolutePath(_ value: String, key: String, source: String) throws(ConfigError) -> String {
        if value.hasPrefix("/") { return value }
        if source.hasPrefix("--") || source == "environment" {
            return FileManager.default.currentDirectoryPath + "/" + value
        }
        throw ConfigError(source: source, key: key, reason: "expected an absolute path, got '\(value)'")
    }

    /// Applies a config file's text.
    public mutating func apply(fileText: String, path: String) throws(ConfigError) {
        for (number, rawLine) in fileText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let source = "\(path):\(number + 1)"
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw ConfigError(source: source, key: trimmed, reason: "expected key = value")
            }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
            var value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            try set(key, value, source: source)
        }
    }

    /// Applies `AUTOPILOTD_<KEY>` variables.
    public mutating func apply(environment: [String: String]) throws(ConfigError) {
        for key in Self.keys {
            if let value = environment["AUTOPILOTD_" + key.uppercased()] { try set(key, value, source: "environment") }
        }
        if let clock = environment["AUTOPILOTD_TEST_CLOCK_FILE"], !clock.isEmpty {
            testClockFile = try Self.absolutePath(clock, key: "AUTOPILOTD_TEST_CLOCK_FILE", source: "environment")
        }
    }

    /// Builds the configuration from defaults, an optional file, the environment and flags, in that order.
    public static func load(configFile: String?, environment: [String: String], socket: String?,
                            database: String?) throws(ConfigError) -> DaemonConfig {
        var config = DaemonConfig()
        if let configFile {
            let text: String
            do { text = try String(contentsOfFile: configFile, encoding: .utf8) } catch {
                throw ConfigError(source: configFile, key: "--config", reason: "cannot read the file")
            }
            try config.apply(fileText: text, path: configFile)
        }
        try config.apply(environment: environment)
        if let socket { try config.set("socket", socket, source: "--socket") }
        if let database { try config.set("database", database, source: "--database") }
        return config
    }
}

/// A configuration value that cannot be used, with where it came from.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// Where the value came from (a flag, the environment, or `file:line`), its key, and what is wrong with it.
    public var source: String, key: String, reason: String
    /// `source: key: reason`.
    public var description: String { "\(source): \(key): \(reason)" }
}
