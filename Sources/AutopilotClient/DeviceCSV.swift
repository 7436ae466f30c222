#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import AutopilotDomain

/// The two device CSV forms of domain.md ("Devices"): detection from the exact header line, row parsing with line
/// numbers, and a writer for export. Pure: no I/O here (``DeviceCSVFile`` reads files).
///
/// The rules are the ones Partner Center applies: headers are case-sensitive, no quotes, no commas inside fields,
/// no extra columns. A UTF-8 byte order mark before the header and CRLF line endings are accepted.
public enum DeviceCSV {
    /// One of the accepted header lines, which fixes the columns of every row.
    public enum Format: Sendable, Hashable, CaseIterable {
        /// Intune/customer form: serial number, product id, hardware hash.
        case intune
        /// Intune/customer form with a group tag.
        case intuneWithGroupTag
        /// Intune/customer form with a group tag and an assigned user.
        case intuneWithGroupTagAndUser
        /// Partner Center form: serial number, product id, hardware hash, manufacturer, model.
        case partnerCenter

        /// The column names, in order, exactly as the header spells them.
        public var columns: [String] {
            switch self {
            case .intune: DeviceCSV.intuneColumns
            case .intuneWithGroupTag: DeviceCSV.intuneColumns + ["Group Tag"]
            case .intuneWithGroupTagAndUser: DeviceCSV.intuneColumns + ["Group Tag", "Assigned User"]
            case .partnerCenter: DeviceCSV.intuneColumns + ["Manufacturer name", "Device model"]
            }
        }

        /// The header line (without line terminator).
        public var header: String { columns.joined(separator: ",") }

        /// A short name for messages.
        public var displayName: String {
            switch self {
            case .intune, .intuneWithGroupTag, .intuneWithGroupTagAndUser: "Intune/customer form"
            case .partnerCenter: "Partner Center form"
            }
        }

        /// Parses one data line (already without its line terminator).
        ///
        /// Returns nil for a blank line (empty or only spaces and tabs), which is skipped but still counted.
        /// Empty fields become nil. A trailing carriage return is removed.
        /// - Throws: ``LineError`` when the line has the wrong number of columns or contains a quote.
        public func parse(line: Substring, number: Int) throws(LineError) -> DeviceInput? {
            var line = line
            let fields: [String?]
            switch line.withUTF8(DeviceCSV.split) {
            case .blank:
                return nil
            case .quote:
                throw LineError(line: number, reason: "contains a quote character; device CSV files take no quotes")
            case let .fields(values):
                fields = values
            }
            guard fields.count == columns.count else {
                throw LineError(
                    line: number,
                    reason: "has \(fields.count) column\(fields.count == 1 ? "" : "s"), expected \(columns.count) (\(header))"
                )
            }
            var input = DeviceInput(serialNumber: fields[0], productKey: fields[1], hardwareHash: fields[2])
            switch self {
            case .intune: break
            case .intuneWithGroupTag: input.groupTag = fields[3]
            case .intuneWithGroupTagAndUser: input.groupTag = fields[3]; input.assignedUser = fields[4]
            case .partnerCenter: input.manufacturer = fields[3]; input.model = fields[4]
            }
            return input
        }

        /// Parses one data line; see ``parse(line:number:)-(Substring,_)``.
        public func parse(line: String, number: Int) throws(LineError) -> DeviceInput? {
            try parse(line: line[...], number: number)
        }

        /// The CSV line (without terminator) for a device in this form; columns the form lacks are dropped.
        /// - Throws: ``WriteError`` when a field cannot be written (a comma, quote or line break in it).
        public func row(for input: DeviceInput) throws(WriteError) -> String {
            var fields: [(String, String?)] = [
                ("Device Serial Number", input.serialNumber), ("Windows Product ID", input.productKey),
                ("Hardware Hash", input.hardwareHash),
            ]
            switch self {
            case .intune: break
            case .intuneWithGroupTag: fields.append(("Group Tag", input.groupTag))
            case .intuneWithGroupTagAndUser:
                fields.append(("Group Tag", input.groupTag)); fields.append(("Assigned User", input.assignedUser))
            case .partnerCenter:
                fields.append(("Manufacturer name", input.manufacturer)); fields.append(("Device model", input.model))
            }
            var out: [String] = []
            for (column, value) in fields {
                let v = value ?? ""
                if v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
                    throw WriteError(column: column, value: v)
                }
                out.append(v)
            }
            return out.joined(separator: ",")
        }
    }

    static let intuneColumns = ["Device Serial Number", "Windows Product ID", "Hardware Hash"]

    /// A header line that is none of the accepted ones. `description` says what is wrong and lists the expected headers.
    public struct HeaderError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong with the header, in words.
        public var reason: String
        public var description: String {
            "\(reason); expected one of these header lines:\n"
                + Format.allCases.map { "  \($0.header)" }.joined(separator: "\n")
        }
    }

    /// A data line that cannot become a device. Nothing is sent for it.
    public struct LineError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The name import reports give such a line, next to the daemon's per-device error names. It is the client's
        /// own: the daemon never sees the line.
        public static let name = "InvalidCsvRow"
        /// 1-based line number in the file (the header is line 1).
        public var line: Int
        public var reason: String
        public init(line: Int, reason: String) { self.line = line; self.reason = reason }
        public var description: String { "line \(line): \(reason)" }
    }

    /// A value that cannot be written in a device CSV file (it holds a comma, quote or line break).
    public struct WriteError: Error, Sendable, Hashable, CustomStringConvertible {
        public var column: String
        public var value: String
        public var description: String {
            "\(column) '\(value)' contains a comma, quote or line break, which a device CSV file cannot hold"
        }
    }

    /// The format a header line announces.
    ///
    /// A leading UTF-8 byte order mark and a trailing carriage return are ignored; everything else must match one of
    /// the accepted headers exactly, including capitalisation.
    /// - Throws: ``HeaderError`` naming what differs (capitalisation, an extra or a missing column, an unknown column).
    public static func detect(header line: Substring) throws(HeaderError) -> Format {
        var text = line
        if text.first == "\u{FEFF}" { text = text.dropFirst() }
        if text.last == "\r" { text = text.dropLast() }
        if let format = Format.allCases.first(where: { $0.header == text }) { return format }
        throw HeaderError(reason: diagnose(String(text)))
    }

    /// The format a header line announces; see ``detect(header:)-(Substring)``.
    public static func detect(header line: String) throws(HeaderError) -> Format {
        try detect(header: line[...])
    }

    /// Why a header line matches no format, as precisely as can be told.
    static func diagnose(_ text: String) -> String {
        if trim(text[...]).isEmpty { return "the header line is empty" }
        if text.contains("\"") { return "the header contains quotes; device CSV files take no quotes" }
        let given = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for format in Format.allCases where format.header.lowercased() == text.lowercased() {
            let wrong = zip(given, format.columns).filter { $0 != $1 }.map { "'\($0)' should be '\($1)'" }
            if !wrong.isEmpty {
                return "the header is miscapitalised: \(wrong.joined(separator: ", ")) (headers are case-sensitive)"
            }
        }
        for format in Format.allCases where given.count < format.columns.count {
            if Array(format.columns.prefix(given.count)) == given {
                let missing = format.columns.dropFirst(given.count).map { "'\($0)'" }
                if format == .intune || format == .partnerCenter && given.count > 3 {
                    return "the header is missing column\(missing.count == 1 ? "" : "s") "
                        + "\(missing.joined(separator: ", ")) of the \(format.displayName)"
                }
            }
        }
        for format in Format.allCases.reversed() where given.count > format.columns.count {
            if Array(given.prefix(format.columns.count)) == format.columns {
                let extra = given.dropFirst(format.columns.count).map { "'\($0)'" }
                return "the header has \(extra.count == 1 ? "an extra column" : "extra columns") "
                    + "\(extra.joined(separator: ", ")) after the \(format.displayName)"
            }
        }
        let known = Set(Format.allCases.flatMap(\.columns))
        if let unknown = given.first(where: { !known.contains($0) }) {
            return "the header has an unknown column '\(unknown)'"
        }
        return "the header's columns are not in an accepted order"
    }

    /// The text without leading and trailing spaces and tabs.
    static func trim(_ s: Substring) -> Substring {
        var t = s
        while let c = t.first, c == " " || c == "\t" { t = t.dropFirst() }
        while let c = t.last, c == " " || c == "\t" { t = t.dropLast() }
        return t
    }

    /// A data line cut at its commas.
    enum Split {
        /// Empty, or only spaces and tabs.
        case blank
        /// The line contains a quote character.
        case quote
        /// Each field trimmed of spaces and tabs; an empty field is nil.
        case fields([String?])
    }

    /// Cuts a data line (UTF-8, without its `\n`; a trailing `\r` is dropped) at its commas.
    ///
    /// Works on bytes, not Characters: every delimiter is ASCII, and walking a 4,000-character hash grapheme by
    /// grapheme was nearly all of `devices import`'s CPU time (docs/performance.md).
    static func split(_ line: UnsafeBufferPointer<UInt8>) -> Split {
        guard let base = line.baseAddress else { return .blank }
        var end = line.count
        if end > 0 && line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        if memchr(base, CInt(UInt8(ascii: "\"")), end) != nil { return .quote }
        func field(_ from: Int, _ to: Int) -> String? {
            var a = from, b = to
            while a < b && isBlank(line[a]) { a += 1 }
            while b > a && isBlank(line[b - 1]) { b -= 1 }
            return a == b ? nil : String(decoding: UnsafeBufferPointer(rebasing: line[a..<b]), as: UTF8.self)
        }
        var fields: [String?] = []
        var start = 0
        while let comma = memchr(base + start, CInt(UInt8(ascii: ",")), end - start) {
            let i = base.distance(to: comma.assumingMemoryBound(to: UInt8.self))
            fields.append(field(start, i))
            start = i + 1
        }
        fields.append(field(start, end))
        // Only spaces and tabs, and no comma: a blank line.
        return fields.count == 1 && fields[0] == nil ? .blank : .fields(fields)
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }

    /// The header of `autopilotctl devices export`: the Partner Center form.
    public static var exportHeader: String { Format.partnerCenter.header }

    /// A registered device that cannot be exported as a row that could be uploaded again.
    public struct ExportError: Error, Sendable, Hashable, CustomStringConvertible {
        /// Why, in words that finish "device <id> skipped: ".
        public var reason: String
        public var description: String { reason }
    }

    /// A registered device as a Partner Center CSV line. The hardware hash column is always empty: the registry never
    /// sends hashes back, only their SHA-256.
    /// - Throws: ``ExportError`` when a field cannot be written, or when only the hardware hash identifies the device:
    ///   its row, without product key or manufacturer + model + serial number, would be refused as 803 on upload.
    public static func exportRow(_ device: Device) throws(ExportError) -> String {
        let hasTuple = device.manufacturer != nil && device.model != nil && device.serialNumber != nil
        guard device.productKey != nil || hasTuple else {
            throw ExportError(reason: "it is identified only by its hardware hash, which the registry never sends "
                + "back; without a product key or manufacturer, model and serial number its row could not be uploaded")
        }
        do {
            return try Format.partnerCenter.row(for: DeviceInput(
                serialNumber: device.serialNumber, productKey: device.productKey, hardwareHash: nil,
                manufacturer: device.manufacturer, model: device.model))
        } catch {
            throw ExportError(reason: error.description)
        }
    }
}
