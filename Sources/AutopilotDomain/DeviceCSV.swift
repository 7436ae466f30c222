#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The device CSV forms of domain.md ("Devices", "CSV files"): header detection, row parsing with line numbers, and
/// the writer for export. The one place these rules live: the daemon parses uploaded CSV text with
/// ``parse(text:headerLine:)``, the client reads files through ``CSVText/LineDecoder`` and ``Format/row(_:number:)``.
///
/// - Header names match ignoring ASCII case and spaces or tabs around each name (Microsoft calls them case-sensitive,
///   but the tools in use spell them differently); the columns must be one of the forms, in order.
/// - Rows take no quotes, no commas inside fields, no extra columns. Spaces and tabs around a field are dropped; an
///   empty field is no value.
/// - Pure: no I/O. Text decoding (encodings, line endings) is ``CSVText``'s.
public enum DeviceCSV {
    /// One of the accepted headers, which fixes the columns of every row.
    public enum Format: Sendable, Hashable, CaseIterable {
        /// Intune/customer form: serial number, product id, hardware hash.
        case intune
        /// Intune/customer form with a group tag.
        case intuneWithGroupTag
        /// Intune/customer form with a group tag and an assigned user.
        case intuneWithGroupTagAndUser
        /// Partner Center form: serial number, product id, hardware hash, manufacturer, model.
        case partnerCenter

        /// The column names, in order, as the canonical header (and every file this project writes) spells them.
        public var columns: [String] {
            switch self {
            case .intune: DeviceCSV.intuneColumns
            case .intuneWithGroupTag: DeviceCSV.intuneColumns + ["Group Tag"]
            case .intuneWithGroupTagAndUser: DeviceCSV.intuneColumns + ["Group Tag", "Assigned User"]
            case .partnerCenter: DeviceCSV.intuneColumns + ["Manufacturer name", "Device model"]
            }
        }

        /// The canonical header line (without line ending), as files are written.
        public var header: String { columns.joined(separator: ",") }

        /// A short name for messages.
        public var displayName: String {
            switch self {
            case .intune, .intuneWithGroupTag, .intuneWithGroupTagAndUser: "Intune/customer form"
            case .partnerCenter: "Partner Center form"
            }
        }

        /// The column names as header names are compared: ASCII lowercase.
        var keys: [String] { columns.map { DeviceCSV.key($0) } }

        /// Parses one data line (already without its line ending).
        ///
        /// Returns nil for a blank line (empty or only spaces and tabs), which is skipped but still counted.
        /// Empty fields become nil. A trailing carriage return is removed.
        /// - Throws: ``LineError`` when the line has the wrong number of columns or contains a quote.
        public func parse(line: Substring, number: Int) throws(LineError) -> DeviceInput? {
            var line = line
            let split = line.withUTF8(DeviceCSV.split)
            return try device(split, number: number)
        }

        /// Parses one data line; see ``parse(line:number:)-(Substring,_)``.
        public func parse(line: String, number: Int) throws(LineError) -> DeviceInput? {
            try parse(line: line[...], number: number)
        }

        /// Parses one data line given as UTF-8 bytes; see ``parse(line:number:)-(Substring,_)``.
        public func parse(utf8 line: UnsafeBufferPointer<UInt8>, number: Int) throws(LineError) -> DeviceInput? {
            try device(DeviceCSV.split(line), number: number)
        }

        /// The row a decoded line makes, numbered `number`: nil for a blank line, else the device or why the line
        /// cannot become one (including a line ``CSVText`` could not decode exactly).
        public func row(_ line: CSVText.LineView, number: Int) -> Row? {
            if let problem = line.decoding.problem(in: line.encoding) {
                return Row(line: number, result: .failure(LineError(line: number, reason: problem)))
            }
            do {
                guard let input = try parse(utf8: line.utf8, number: number) else { return nil }
                return Row(line: number, result: .success(input))
            } catch {
                return Row(line: number, result: .failure(error))
            }
        }

        private func device(_ split: Split, number: Int) throws(LineError) -> DeviceInput? {
            let fields: [String?]
            switch split {
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

    /// One data line of a file or upload: its line number and the device, or why it cannot be sent.
    public struct Row: Sendable, Hashable {
        /// 1-based line number in the file (the header's is the header line, 1 in a whole file).
        public var line: Int
        /// The device the line holds, or why it holds none.
        public var result: Result<DeviceInput, LineError>

        /// A row for line `line`.
        public init(line: Int, result: Result<DeviceInput, LineError>) {
            self.line = line; self.result = result
        }
    }

    /// A header line that is none of the accepted ones. `description` says what is wrong and lists the accepted headers.
    public struct HeaderError: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong with the header, in words.
        public var reason: String

        /// An error for a header with this problem.
        public init(reason: String) { self.reason = reason }

        /// The reason followed by the accepted header lines, one per line.
        public var description: String { "\(reason); \(Self.acceptedHeaders)" }

        /// "expected one of these header lines:" and the canonical header of every form, each on its own line.
        public static var acceptedHeaders: String {
            "expected one of these header lines:\n" + Format.allCases.map { "  \($0.header)" }.joined(separator: "\n")
        }
    }

    /// A data line that cannot become a device. Nothing is sent for it.
    public struct LineError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The name import reports give such a line, next to the daemon's per-device error names.
        public static let name = "InvalidCsvRow"
        /// 1-based line number in the file (the header is line 1).
        public var line: Int
        /// What is wrong with the line, in words that follow "line N ".
        public var reason: String
        /// An error for line `line`.
        public init(line: Int, reason: String) { self.line = line; self.reason = reason }
        /// "line N: reason".
        public var description: String { "line \(line): \(reason)" }
    }

    /// A value that cannot be written in a device CSV file (it holds a comma, quote or line break).
    public struct WriteError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The canonical name of the column.
        public var column: String
        /// The value that cannot be written.
        public var value: String
        /// The column, the value and why it cannot be written.
        public var description: String {
            "\(column) '\(value)' contains a comma, quote or line break, which a device CSV file cannot hold"
        }
    }

    /// A whole device CSV text, parsed: the format its header announces and a row for every non-blank data line.
    public struct Document: Sendable, Hashable {
        /// The format the header announces.
        public var format: Format
        /// Every non-blank data line, in order, with its file line number.
        public var rows: [Row]

        /// A document with these parts.
        public init(format: Format, rows: [Row]) {
            self.format = format; self.rows = rows
        }
    }

    /// Parses the whole text of a device CSV upload: the header, then every data line.
    ///
    /// The text is decoded by ``CSVText``'s rules (a leading U+FEFF is ignored; lines end at LF, CRLF or a lone CR).
    /// The header is file line `headerLine`; each following line counts one, and blank lines give no row but count,
    /// so a client that sends a file in parts passes the number its first data line has, minus one.
    /// - Throws: ``HeaderError`` when the text is empty or its first line is no accepted header.
    public static func parse(text: String, headerLine: Int = 1) throws(HeaderError) -> Document {
        var reader = try RowReader(text: text, headerLine: headerLine)
        var rows: [Row] = []
        while let row = reader.next() { rows.append(row) }
        return Document(format: reader.format, rows: rows)
    }

    /// The rows of a device CSV text one at a time, by the rules of ``parse(text:headerLine:)``: the daemon
    /// registers each row as it is read, so an upload's 1,000 rows (4 MB of hashes) are never all held as values at
    /// once, only the text they come from.
    public struct RowReader: IteratorProtocol {
        /// What the header announces.
        public let format: Format
        private let headerLine: Int
        private var lines: SlicedLines

        /// Reads the header of `text` (file line `headerLine`).
        /// - Throws: ``HeaderError`` when the text is empty or its first line is no accepted header.
        public init(text: String, headerLine: Int = 1) throws(HeaderError) {
            var lines = SlicedLines(text)
            guard let header = lines.withNextLine({
                CSVText.Line(number: $0.number, text: String(decoding: $0.utf8, as: UTF8.self), decoding: $0.decoding)
            }) else {
                throw HeaderError(reason: "the text is empty; it needs a header line")
            }
            self.format = try DeviceCSV.detect(header: header)
            self.headerLine = headerLine
            self.lines = lines
        }

        /// The next non-blank data line's row, or nil at the end of the text.
        public mutating func next() -> Row? {
            let format = format, headerLine = headerLine
            while let row = lines.withNextLine({ format.row($0, number: headerLine - 1 + $0.number) }) {
                if let row { return row }
            }
            return nil
        }
    }

    /// The lines of a whole text in memory, given to a ``CSVText/LineDecoder`` a slice at a time: appended at once,
    /// a 4 MB upload was copied whole into the decoder's buffer; this way the decoder holds a slice and a line.
    private struct SlicedLines {
        static let sliceBytes = 64 * 1024
        let text: String
        var fed = 0
        var decoder = CSVText.LineDecoder()

        init(_ text: String) {
            var text = text
            text.makeContiguousUTF8()  // so that each slice is appended as one copy
            self.text = text
        }

        /// Lends the next line to `body`; nil at the end of the text.
        mutating func withNextLine<R>(_ body: (CSVText.LineView) -> R) -> R? {
            while true {
                if let result = decoder.withNextLine(body) { return result }
                if decoder.isFinished { return nil }
                let utf8 = text.utf8
                if fed == utf8.count {
                    decoder.finish()
                } else {
                    let count = min(Self.sliceBytes, utf8.count - fed)
                    let start = utf8.index(utf8.startIndex, offsetBy: fed)
                    decoder.append(contentsOf: utf8[start..<utf8.index(start, offsetBy: count)])
                    fed += count
                }
            }
        }
    }

    /// The format a decoded header line announces.
    /// - Throws: ``HeaderError`` as ``detect(header:)-(Substring)`` does, or when the line is too long to read.
    public static func detect(header line: CSVText.Line) throws(HeaderError) -> Format {
        if line.decoding == .tooLong {
            throw HeaderError(reason: "the header line is longer than \(CSVText.maxLineBytes) bytes")
        }
        return try detect(header: line.text)
    }

    /// The format a header line announces.
    ///
    /// A leading byte order mark (U+FEFF) and a trailing carriage return are ignored; the names, cut at commas,
    /// must be those of one form, in order, compared ignoring ASCII case and spaces or tabs around each name.
    /// - Throws: ``HeaderError`` naming what differs: a missing, extra or unknown column, quotes, another
    ///   separator, or a file that looks like a device export rather than an import file.
    public static func detect(header line: Substring) throws(HeaderError) -> Format {
        var text = line
        if text.first == "\u{FEFF}" { text = text.dropFirst() }
        if text.last == "\r" { text = text.dropLast() }
        let keys = text.split(separator: ",", omittingEmptySubsequences: false).map { key(trim($0)) }
        if let format = Format.allCases.first(where: { $0.keys == keys }) { return format }
        throw HeaderError(reason: diagnose(String(text)))
    }

    /// The format a header line announces; see ``detect(header:)-(Substring)``.
    public static func detect(header line: String) throws(HeaderError) -> Format {
        try detect(header: line[...])
    }

    /// A header name as names are compared: ASCII letters lowercased (nothing else changes, so no other script's
    /// letter can pass for an ASCII one).
    static func key(_ name: some StringProtocol) -> String {
        String(decoding: name.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// Why a header line matches no format, as precisely as can be told.
    static func diagnose(_ text: String) -> String {
        if trim(text[...]).isEmpty { return "the header line is empty" }
        if text.contains("\0") {
            return "the header holds NUL characters: the file looks like UTF-16 without a byte order mark; "
                + "save it as UTF-8, or as UTF-16 with a byte order mark (Unicode in Windows tools)"
        }
        let given = text.split(separator: ",", omittingEmptySubsequences: false).map { String(trim($0)) }
        if let export = exportLook(text, given) { return export }
        let keys = given.map { key($0) }
        if given.count == 1 {
            for (separator, name) in [(";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")]
            where given[0].contains(separator) {
                return "the header has an unknown column '\(given[0])': its names are separated by \(name), "
                    + "where a device CSV file separates them with commas"
            }
        }
        for format in Format.allCases where keys.count < format.columns.count {
            if Array(format.keys.prefix(keys.count)) == keys {
                let missing = format.columns.dropFirst(keys.count).map { "'\($0)'" }
                if format == .intune || format == .partnerCenter && keys.count > 3 {
                    return "the header is missing column\(missing.count == 1 ? "" : "s") "
                        + "\(missing.joined(separator: ", ")) of the \(format.displayName)"
                }
            }
        }
        for format in Format.allCases.reversed() where keys.count > format.columns.count {
            if Array(keys.prefix(format.columns.count)) == format.keys {
                let extra = given.dropFirst(format.columns.count)
                if extra.allSatisfy(\.isEmpty) {
                    return "the header ends with \(extra.count == 1 ? "an empty column" : "\(extra.count) empty columns") "
                        + "after the \(format.displayName) (a comma at the end of the line)"
                }
                let names = extra.map { "'\($0)'" }
                return "the header has \(names.count == 1 ? "an extra column" : "extra columns") "
                    + "\(names.joined(separator: ", ")) after the \(format.displayName)"
            }
        }
        let known = Set(Format.allCases.flatMap(\.keys))
        if let i = keys.firstIndex(where: { !known.contains($0) }) {
            if given[i].isEmpty { return "the header has an empty column name (column \(i + 1))" }
            return "the header has an unknown column '\(given[i])'"
        }
        if let i = keys.indices.first(where: { keys[..<$0].contains(keys[$0]) }) {
            return "the header names the column '\(given[i])' twice"
        }
        return "the header's columns are not in an accepted order: \(given.joined(separator: ", "))"
    }

    /// Column names of Intune's and Microsoft Graph's device exports (`windowsAutopilotDeviceIdentity` and the admin
    /// center's Autopilot device list), compacted: ASCII lowercase without spaces, underscores or hyphens.
    static let exportKeys: Set<String> = [
        "id", "displayname", "devicename", "serialnumber", "productkey", "manufacturer", "model", "grouptag",
        "purchaseorder", "purchaseorderidentifier", "enrollmentstate", "enrolmentstate", "enrolmentprofile",
        "enrollmentprofile", "enrolmenttype", "enrollmenttype", "profile", "profilestatus", "lastcontacted",
        "lastcontacteddatetime", "addressableusername", "userprincipalname", "user", "resourcename", "skunumber",
        "systemfamily", "azureactivedirectorydeviceid", "azureaddeviceid", "entradeviceid", "manageddeviceid",
        "intunedeviceid", "deploymentprofileassignmentstatus", "deploymentprofileassigneddatetime",
        "deploymentprofileassignmentdetailedstatus", "remediationstate", "remediationstatelastmodifieddatetime",
        "userlessenrollmentstatus", "associatedintunedevice", "associatedentradevice",
    ]

    /// A name compacted for recognising export columns: ASCII lowercase without spaces, underscores or hyphens.
    static func compactKey(_ name: String) -> String {
        key(name).filter { $0 != " " && $0 != "_" && $0 != "-" && $0 != "\t" }
    }

    /// The message for a header that looks like a device export rather than an import file: quoted names, or columns
    /// that Intune/Graph exports have and no import form has. Nil when it does not look like one.
    static func exportLook(_ text: String, _ given: [String]) -> String? {
        let quoted = text.contains("\"")
        let names = given.map { name -> String in
            var n = name[...]
            if n.first == "\"" { n = n.dropFirst() }
            if n.last == "\"" { n = n.dropLast() }
            return String(trim(n))
        }
        let importKeys = Set(Format.allCases.flatMap(\.columns).map(compactKey))
        let exportOnly = names.filter { exportKeys.contains(compactKey($0)) && !importKeys.contains(compactKey($0)) }
        // A header naming one of the columns every import form starts with is an import file gone wrong: the
        // precise diagnosis serves it better.
        let importing = names.contains { intuneColumns.map(compactKey).contains(compactKey($0)) }
        let graph = !importing && exportOnly.count >= 2
        guard quoted || graph else { return nil }
        let shown = names.count <= 10 ? names : Array(names.prefix(9)) + ["… (\(names.count) in all)"]
        var traits = quoted ? ["quoted fields"] : []
        traits.append("columns " + shown.joined(separator: ", "))
        return "this looks like \(graph ? "an Intune/Graph device export" : "a CSV export") "
            + "(\(traits.joined(separator: "; "))), not an Autopilot import file"
            + (quoted && !graph ? ": an import file takes no quotes" : "")
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

    /// Cuts a data line (UTF-8, without its line ending; a trailing `\r` is dropped) at its commas.
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

    /// The header of `autopilotctl devices export` in its default form, the Partner Center form.
    public static var exportHeader: String { Format.partnerCenter.header }

    /// The forms `autopilotctl devices export` writes: the Partner Center form, which names a device by product key
    /// or by manufacturer + model + serial number but has no group tag; and the Intune form with Group Tag and
    /// Assigned User, which names a device only by product key (its serial number column alone names no machine,
    /// and the registry never sends hashes back).
    public static let exportForms: [Format] = [.partnerCenter, .intuneWithGroupTagAndUser]

    /// A registered device that cannot be exported as a row that could be uploaded again.
    public struct ExportError: Error, Sendable, Hashable, CustomStringConvertible {
        /// Why, in words that finish "device <id> skipped: ".
        public var reason: String
        /// The reason.
        public var description: String { reason }
    }

    /// A registered device as a line of `form`, with its group tag and assigned user where the form has them. The
    /// hardware hash column is always empty: the registry never sends hashes back, only their SHA-256.
    /// - Throws: ``ExportError`` when a field cannot be written, or when the row could not name the device on upload
    ///   (it would be refused as 803): in the Partner Center form, a device with neither a product key nor
    ///   manufacturer, model and a serial number that is not a placeholder; in the Intune form, one without a product key.
    public static func exportRow(_ device: Device, form: Format = .partnerCenter) throws(ExportError) -> String {
        let tuple = NormalizedDevice(serialNumber: device.serialNumber, manufacturer: device.manufacturer,
                                     model: device.model)
        switch form {
        case .partnerCenter:
            guard device.productKey != nil || tuple.tupleIdentifies else {
                throw ExportError(reason: "it is identified only by its hardware hash, which the registry never sends "
                    + "back; without a product key or manufacturer, model and a serial number that is not a placeholder, "
                    + "its row could not be uploaded")
            }
        case .intune, .intuneWithGroupTag, .intuneWithGroupTagAndUser:
            guard device.productKey != nil else {
                throw ExportError(reason: "it has no product key, the only identifier an Intune-form row can carry "
                    + "without the hardware hash (which the registry never sends back)"
                    + (tuple.tupleIdentifies ? "; the Partner Center form names it by manufacturer, model and serial number"
                        : ""))
            }
        }
        do {
            return try form.row(for: DeviceInput(
                serialNumber: device.serialNumber, productKey: device.productKey, hardwareHash: nil,
                manufacturer: device.manufacturer, model: device.model, groupTag: device.groupTag,
                assignedUser: device.assignedUser))
        } catch {
            throw ExportError(reason: error.description)
        }
    }
}

extension DeviceCSV.Format {
    /// Whether the form has a Group Tag column, and an Assigned User column.
    public var carries: (groupTag: Bool, assignedUser: Bool) {
        switch self {
        case .intune, .partnerCenter: (false, false)
        case .intuneWithGroupTag: (true, false)
        case .intuneWithGroupTagAndUser: (true, true)
        }
    }

    /// The device a row of this form states, for `updateExisting`: a Group Tag or Assigned User cell left empty
    /// states "none" (it clears the device's), while a column the form lacks says nothing (it leaves the device's
    /// alone). Rows read with `parse` give nil for an empty cell; this gives "" for one in a column the form has.
    public func stating(_ input: DeviceInput) -> DeviceInput {
        var stated = input
        if carries.groupTag { stated.groupTag = input.groupTag ?? "" }
        if carries.assignedUser { stated.assignedUser = input.assignedUser ?? "" }
        return stated
    }
}
