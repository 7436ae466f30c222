import AutopilotDomain
import AutopilotStore
import Foundation
import Logging

/// A swift-log handler writing one line per message to stderr. When stderr is the journal (systemd sets
/// `JOURNAL_STREAM` to its device and inode), each line starts with the syslog priority, `<3>` for errors and so on,
/// so journald records the level; otherwise lines carry a time and the level in words.
public struct StderrLogHandler: LogHandler {
    /// Metadata added to every line this handler writes.
    public var metadata: Logger.Metadata = [:]
    /// The lowest level written.
    public var logLevel: Logger.Level
    let label: String
    let journal: Bool

    /// A handler writing `level` and above; `journal` chooses the priority prefix over the time and level in words.
    public init(label: String, level: Logger.Level, journal: Bool = StderrLogHandler.stderrIsJournal()) {
        self.label = label; self.logLevel = level; self.journal = journal
    }

    /// One metadata value of this handler.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// The syslog priority of a level.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Writes the message and its metadata (sorted by key, `key=value`) as one line to stderr.
    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let fields = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = fields.isEmpty ? "\(event.message)" : "\(event.message) \(fields)"
        let line: String
        if journal {
            line = "<\(Self.priority(event.level))>\(text)\n"
        } else {
            // The registry's own RFC 3339 form: Foundation's formatter would load ICU for every line.
            line = "\(Timestamp.now().rfc3339) \(event.level) \(label): \(text)\n"
        }
        line.utf8CString.withUnsafeBufferPointer { buf in
            _ = write(2, buf.baseAddress, buf.count - 1)
        }
    }

    /// Whether stderr is the journal stream named by `JOURNAL_STREAM` (`<device>:<inode>`).
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }
}
