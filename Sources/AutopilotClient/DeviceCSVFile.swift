#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AutopilotDomain

/// A device CSV file read in chunks and decoded line by line, so a file of any size is never held in memory.
///
/// Opening detects the encoding (``CSVText/Encoding``: UTF-8, UTF-8 or UTF-16 with a byte order mark, Windows-1252
/// lines in a file without one), reads the header and detects the ``DeviceCSV/Format``. Then either ``next()`` returns
/// each non-blank data line parsed, as a device or a line error, or ``nextLine()`` returns each line as text for an
/// uploader that lets the daemon parse it. Line numbers are the file's: the header is line 1, every line counts.
/// Works on pipes too (`/dev/stdin`, a FIFO): nothing is read twice and nothing seeks. Memory: one 256 KiB chunk,
/// read by `read(2)` straight into the decoder, plus the line being read (at most ``CSVText/maxLineBytes``).
public final class DeviceCSVFile {
    /// Why a file cannot be read as a device CSV file at all.
    public enum FileError: Error, Sendable, CustomStringConvertible {
        /// The file cannot be opened; `errno` says why.
        case cannotOpen(path: String, errno: Int32)
        /// Reading failed part way; `errno` says why.
        case readFailed(path: String, errno: Int32)
        /// The file has no bytes (or only a byte order mark), so no header.
        case empty(path: String)
        /// The first line is no accepted header; the file was read as `encoding`.
        case badHeader(path: String, encoding: CSVText.Encoding, DeviceCSV.HeaderError)

        /// A message naming the file, and for a bad header its line, how it was read and the accepted headers.
        public var description: String {
            switch self {
            case let .cannotOpen(path, code): "cannot open \(path): \(String(cString: strerror(code)))"
            case let .readFailed(path, code): "cannot read \(path): \(String(cString: strerror(code)))"
            case let .empty(path):
                "\(path) is empty; a device CSV file starts with a header line, e.g. \(DeviceCSV.Format.intune.header)"
            case let .badHeader(path, encoding, error):
                "\(path), line 1: \(error.reason) (read as \(encoding)); \(DeviceCSV.HeaderError.acceptedHeaders)"
            }
        }
    }

    /// One data line: its number and the device, or why it cannot be sent.
    public typealias Row = DeviceCSV.Row

    /// Bytes asked of `read(2)` at a time.
    static let chunkSize = 256 * 1024

    /// The path the file was opened by.
    public let path: String
    /// The format the header announces.
    public let format: DeviceCSV.Format
    /// The encoding the file's first bytes announce.
    public let encoding: CSVText.Encoding
    /// The header line as read (without byte order mark and line ending).
    public let header: String
    /// The file's size in bytes when it is a regular file (not a pipe), for progress reports.
    public let size: Int64?
    /// Bytes read from the file so far.
    public private(set) var bytesRead: Int64 = 0

    private let descriptor: Int32
    private var decoder = CSVText.LineDecoder()

    /// Opens `path`, detects its encoding and reads its header.
    /// - Throws: ``FileError`` when the file cannot be opened or read, is empty, or has a header of no known format.
    public init(path: String) throws(FileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        self.path = path
        descriptor = fd
        var st = stat()
        size = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : nil
        // Until every stored property is set, a throw does not run deinit: close by hand.
        var decoder = CSVText.LineDecoder()
        var bytesRead: Int64 = 0
        let line: CSVText.Line?
        do {
            line = try Self.readLine(&decoder, fd, &bytesRead, path: path)
        } catch {
            close(fd)
            throw error
        }
        guard let header = line else {
            close(fd)
            throw .empty(path: path)
        }
        self.decoder = decoder
        self.bytesRead = bytesRead
        let encoding = decoder.encoding ?? .utf8
        self.encoding = encoding
        self.header = header.text
        do {
            format = try DeviceCSV.detect(header: header)
        } catch {
            close(fd)
            throw .badHeader(path: path, encoding: encoding, error)
        }
    }

    deinit {
        close(descriptor)
    }

    /// The number of the last line read (1 after the header).
    public var currentLine: Int { decoder.lineCount }

    /// How many lines so far were not valid UTF-8 and were read as Windows-1252 (only in a file without a byte
    /// order mark).
    public var windows1252Lines: Int { decoder.windows1252LineCount }

    /// How the file was read, for messages: "UTF-16LE", or "UTF-8 (3 lines as Windows-1252)".
    public var encodingDescription: String {
        let ansi = windows1252Lines
        return ansi == 0 ? encoding.description
            : "\(encoding) (\(ansi) line\(ansi == 1 ? "" : "s") as Windows-1252)"
    }

    /// The next non-blank data line, parsed, or nil at the end of the file.
    /// - Throws: ``FileError/readFailed(path:errno:)`` when reading fails.
    public func next() throws(FileError) -> Row? {
        let format = format
        while true {
            if let row = decoder.withNextLine({ format.row($0, number: $0.number) }) {
                if let row { return row }
                continue
            }
            if decoder.isFinished { return nil }
            try fill()
        }
    }

    /// The next line after the header as text, blank lines included, or nil at the end of the file.
    ///
    /// Nothing is parsed or skipped, so that an uploader can send the lines to the daemon, which parses them with
    /// the same rules and the same numbers (``DeviceCSV/parse(text:headerLine:)``). A line whose
    /// ``CSVText/Line/decoding`` has a ``CSVText/Decoding/problem(in:)`` (too long, or not valid text in the
    /// file's encoding) should be reported by its number rather than sent.
    /// - Throws: ``FileError/readFailed(path:errno:)`` when reading fails.
    public func nextLine() throws(FileError) -> CSVText.Line? {
        try Self.readLine(&decoder, descriptor, &bytesRead, path: path)
    }

    /// Reads the next chunk into the decoder, or finishes it at the end of the file.
    private func fill() throws(FileError) {
        try Self.fill(&decoder, descriptor, &bytesRead, path: path)
    }

    private static func readLine(
        _ decoder: inout CSVText.LineDecoder, _ fd: Int32, _ bytesRead: inout Int64, path: String
    ) throws(FileError) -> CSVText.Line? {
        while true {
            if let line = decoder.nextLine() { return line }
            if decoder.isFinished { return nil }
            try fill(&decoder, fd, &bytesRead, path: path)
        }
    }

    /// Reads the next chunk straight into the decoder's buffer (no copy), or finishes the decoder at end of file.
    private static func fill(
        _ decoder: inout CSVText.LineDecoder, _ fd: Int32, _ bytesRead: inout Int64, path: String
    ) throws(FileError) {
        while true {
            let n = decoder.append(upTo: chunkSize) { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { bytesRead += Int64(n); return }
            if n == 0 { decoder.finish(); return }
            if errno == EINTR { continue }
            throw .readFailed(path: path, errno: errno)
        }
    }
}
