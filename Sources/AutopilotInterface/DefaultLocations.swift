#if canImport(Glibc)
import Glibc
#endif

/// Where the daemon listens and keeps its database when nothing else is configured.
///
/// root uses the system locations (`/run/autopilotd/io.autopilotd.registry`, `/var/lib/autopilotd/registry.sqlite`);
/// any other user gets a private daemon under `$XDG_RUNTIME_DIR` (or `/tmp/autopilotd-<uid>`) and
/// `$XDG_STATE_HOME` (or `~/.local/state`).
public struct DefaultLocations: Sendable {
    /// Where root's daemon listens (and the systemd socket unit binds).
    public static let systemSocket = "/run/autopilotd/io.autopilotd.registry"
    /// Where root's daemon keeps its database.
    public static let systemDatabase = "/var/lib/autopilotd/registry.sqlite"
    /// The socket's file name in a user's runtime directory.
    public static let socketFileName = "io.autopilotd.registry"

    /// The socket path for this user.
    public var socket: String
    /// The database path for this user.
    public var database: String

    /// The defaults for a user and environment.
    public init(uid: UInt32 = getuid(), environment: [String: String] = DefaultLocations.environment()) {
        if uid == 0 {
            socket = Self.systemSocket
            database = Self.systemDatabase
            return
        }
        let runtime = environment["XDG_RUNTIME_DIR"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        socket = (runtime.map { "\($0)/autopilotd" } ?? "/tmp/autopilotd-\(uid)") + "/" + Self.socketFileName
        let state = environment["XDG_STATE_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? environment["HOME"].map { "\($0)/.local/state" }
            ?? "/tmp/autopilotd-\(uid)"
        database = state + "/autopilotd/registry.sqlite"
    }

    /// The socket a client should use: `AUTOPILOT_SOCKET` if set, else this user's own daemon if its socket
    /// exists, else the system daemon.
    public static func clientSocket(environment: [String: String] = DefaultLocations.environment()) -> String {
        if let explicit = environment["AUTOPILOT_SOCKET"], !explicit.isEmpty { return explicit }
        let own = DefaultLocations(environment: environment).socket
        var st = stat()
        if stat(own, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK { return own }
        return systemSocket
    }

    /// The process environment as a dictionary.
    public static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                result[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return result
    }
}
