/// Plain-text output for people: aligned tables with a header row, and `key: value` blocks.
///
/// No colours and no box drawing, so output reads the same in a terminal, a pipe or a log.
public struct TextTable: Sendable {
    /// How a column's cells sit in their width.
    public enum Alignment: Sendable { case left, right }

    /// Spaces between columns.
    public static let gutter = 2

    /// The header row, one per column.
    public var headers: [String]
    /// Each column's alignment, by index.
    public var alignments: [Alignment]
    /// The rows appended so far, each a cell per column.
    public private(set) var rows: [[String]] = []

    /// A table with these column headers; `right` names the columns (by index) aligned right, such as counts.
    public init(_ headers: [String], right: Set<Int> = []) {
        self.headers = headers
        self.alignments = headers.indices.map { right.contains($0) ? .right : .left }
    }

    /// Adds a row; missing cells are empty, extra cells are dropped.
    public mutating func append(_ row: [String]) {
        rows.append(Self.fit(row, headers.count))
    }

    /// The widths that fit the headers and every row.
    public var widths: [Int] { Self.widths(headers: headers, rows: rows) }

    /// The table as lines (header first), each without trailing spaces.
    public func lines() -> [String] {
        let w = widths
        return ([headers] + rows).map { Self.line($0, widths: w, alignments: alignments) }
    }

    /// The table as text ending in a newline.
    public func render() -> String {
        lines().map { $0 + "\n" }.joined()
    }

    static func fit(_ row: [String], _ count: Int) -> [String] {
        if row.count == count { return row }
        if row.count > count { return Array(row.prefix(count)) }
        return row + Array(repeating: "", count: count - row.count)
    }

    static func widths(headers: [String], rows: [[String]]) -> [Int] {
        var w = headers.map(displayWidth)
        for row in rows {
            for (i, cell) in row.enumerated() where i < w.count { w[i] = max(w[i], displayWidth(cell)) }
        }
        return w
    }

    /// One row laid out in `widths`; a cell wider than its column pushes the rest of the row right.
    static func line(_ cells: [String], widths: [Int], alignments: [Alignment]) -> String {
        var out = ""
        for (i, cell) in cells.enumerated() {
            let pad = max(0, widths[i] - displayWidth(cell))
            let last = i == cells.count - 1
            if i > 0 { out += String(repeating: " ", count: gutter) }
            switch alignments[i] {
            case .left: out += cell + (last ? "" : String(repeating: " ", count: pad))
            case .right: out += String(repeating: " ", count: pad) + cell
            }
        }
        while out.last == " " { out.removeLast() }
        return out
    }

    /// Columns a string takes: one per character (line breaks and tabs in cells are shown as spaces by callers).
    static func displayWidth(_ s: String) -> Int { s.count }
}

/// A table printed while its rows arrive, for streams too long to hold (devices, audit events).
///
/// The first `sample` rows are held to choose column widths; after that, rows are written at once in those widths,
/// and a longer cell only shifts the rest of its own row.
public struct StreamingTable {
    private var table: TextTable
    private let sample: Int
    private var widths: [Int]?
    private let write: (String) -> Void
    /// Rows written or held so far.
    public private(set) var count = 0

    /// A table with these headers that hands each finished line (with its newline) to `write`.
    public init(_ headers: [String], right: Set<Int> = [], sample: Int = 100, write: @escaping (String) -> Void) {
        self.table = TextTable(headers, right: right)
        self.sample = max(1, sample)
        self.write = write
    }

    /// Adds a row, writing it now or once the sample is complete.
    public mutating func append(_ row: [String]) {
        count += 1
        if let widths {
            write(TextTable.line(TextTable.fit(row, table.headers.count), widths: widths, alignments: table.alignments) + "\n")
            return
        }
        table.append(row)
        if table.rows.count >= sample { flushSample() }
    }

    /// Writes whatever is still held (with no rows at all, just the header). Later rows are written at once.
    public mutating func finish() {
        if widths == nil { flushSample() }
    }

    private mutating func flushSample() {
        widths = table.widths
        for line in table.lines() { write(line + "\n") }
    }
}

/// A single record shown as `key: value` lines with the values aligned.
public struct KeyValueBlock: Sendable {
    /// The lines appended so far, in order.
    public private(set) var pairs: [(String, String)] = []

    /// A block of these lines.
    public init(_ pairs: [(String, String)] = []) { self.pairs = pairs }

    /// Adds a line.
    public mutating func append(_ key: String, _ value: String) { pairs.append((key, value)) }

    /// Adds a line only when there is a value.
    public mutating func append(_ key: String, _ value: String?, ifPresent: Bool) {
        if let value { pairs.append((key, value)) } else if !ifPresent { pairs.append((key, "-")) }
    }

    /// The block as text ending in a newline; each value starts in the same column.
    public func render() -> String {
        let width = pairs.map { TextTable.displayWidth($0.0) }.max() ?? 0
        return pairs.map { key, value in
            let pad = String(repeating: " ", count: width - TextTable.displayWidth(key) + 1)
            return value.isEmpty ? "\(key):\n" : "\(key):\(pad)\(value)\n"
        }.joined()
    }
}
