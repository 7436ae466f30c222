#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AutopilotDomain

/// A device CSV file read one line at a time, so a file of any size is never held in memory.
///
/// Opening reads the header and detects the ``DeviceCSV/Format``; ``next()`` then returns each non-blank data line
/// as a device or a line error, with its 1-based line number (the header is line 1; blank lines are skipped but
/// counted).
public final class DeviceCSVFile {
    /// Why a file cannot be read as a device CSV file at all.
    public enum FileError: Error, Sendable, CustomStringConvertible {
        case cannotOpen(path: String, errno: Int32)
        case readFailed(path: String, errno: Int32)
        case empty(path: String)
        case badHeader(path: String, DeviceCSV.HeaderError)
        case notUTF8(path: String, line: Int)

        public var description: String {
            switch self {
            case let .cannotOpen(path, code): "cannot open \(path): \(String(cString: strerror(code)))"
            case let .readFailed(path, code): "cannot read \(path): \(String(cString: strerror(code)))"
            case let .empty(path): "\(path) is empty; it needs a header line"
            case let .badHeader(path, error): "\(path), line 1: \(error)"
            case let .notUTF8(path, line): "\(path), line \(line): the header is not valid UTF-8"
            }
        }
    }

    /// One data line: its number and the device, or why it cannot be sent.
    public struct Row: Sendable {
        public var line: Int
        public var result: Result<DeviceInput, DeviceCSV.LineError>
    }

    public let path: String
    public let format: DeviceCSV.Format
    /// The file's size in bytes when it is a regular file (not a pipe), for progress reports.
    public let size: Int64?
    private let file: UnsafeMutablePointer<FILE>
    private var lineNumber = 1
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0

    /// Opens `path` and reads its header.
    /// - Throws: ``FileError`` when the file cannot be opened or read, is empty, or has a header of no known format.
    public init(path: String) throws(FileError) {
        guard let file = fopen(path, "r") else { throw .cannotOpen(path: path, errno: errno) }
        self.path = path
        self.file = file
        var st = stat()
        size = fstat(fileno(file), &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? Int64(st.st_size) : nil
        let line: [UInt8]?
        do {
            line = try Self.readLine(file, &buffer, &capacity, path: path)
        } catch {
            fclose(file); free(buffer)
            throw error
        }
        guard let header = line else {
            fclose(file); free(buffer)
            throw .empty(path: path)
        }
        guard let text = String(validating: header, as: UTF8.self) else {
            fclose(file); free(buffer)
            throw .notUTF8(path: path, line: 1)
        }
        do {
            format = try DeviceCSV.detect(header: text)
        } catch {
            fclose(file); free(buffer)
            throw .badHeader(path: path, error)
        }
    }

    deinit {
        fclose(file)
        free(buffer)
    }

    /// Bytes read so far.
    public var bytesRead: Int64 { Int64(ftello(file)) }

    /// The number of the last line read (1 after the header).
    public var currentLine: Int { lineNumber }

    /// The next non-blank data line, or nil at the end of the file.
    /// - Throws: ``FileError/readFailed(path:errno:)`` when reading fails.
    public func next() throws(FileError) -> Row? {
        while let bytes = try Self.readLine(file, &buffer, &capacity, path: path) {
            lineNumber += 1
            guard let text = String(validating: bytes, as: UTF8.self) else {
                return Row(line: lineNumber, result: .failure(.init(line: lineNumber, reason: "is not valid UTF-8")))
            }
            do {
                if let input = try format.parse(line: text, number: lineNumber) {
                    return Row(line: lineNumber, result: .success(input))
                }
            } catch {
                return Row(line: lineNumber, result: .failure(error))
            }
        }
        return nil
    }

    /// One line without its `\n` (a `\r` before it is left for the parser), or nil at end of file.
    private static func readLine(
        _ file: UnsafeMutablePointer<FILE>, _ buffer: inout UnsafeMutablePointer<CChar>?, _ capacity: inout Int,
        path: String
    ) throws(FileError) -> [UInt8]? {
        errno = 0
        let n = getline(&buffer, &capacity, file)
        if n < 0 {
            if ferror(file) != 0 { throw .readFailed(path: path, errno: errno) }
            return nil
        }
        guard let buffer else { return [] }
        var count = n
        if count > 0 && buffer[count - 1] == 10 { count -= 1 }
        return buffer.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }
}
