#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The text of a device CSV file: which encoding its first bytes announce, and its lines as UTF-8 text. Pure: bytes
/// come in, lines go out; reading files is the caller's (`DeviceCSVFile` in the client).
///
/// The rules, which every reader of device CSV text shares (domain.md, "Devices", "CSV files"):
/// - Encoding: a byte order mark `EF BB BF` means UTF-8, `FF FE` UTF-16LE, `FE FF` UTF-16BE; no mark means UTF-8,
///   and a line that is not valid UTF-8 in such a file is read as Windows-1252 ("ANSI", what Microsoft's docs ask
///   for). The choice is made per line, so a file is read once, front to back: a file mixing both (rare: Excel writes
///   one or the other) still reads each line as what it is. UTF-8 is tried first because a Windows-1252 line is
///   almost never valid UTF-8 (it would need a lead byte such as `Ã` followed by the right continuation bytes).
/// - Windows-1252: the real table. 0x80–0x9F are `€ ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ‘ ’ “ ” • – — ˜ ™ š › œ ž Ÿ`; the five
///   bytes the code page leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) become the C1 controls U+0081, U+008D,
///   U+008F, U+0090, U+009D, as Windows' own `MultiByteToWideChar` and the WHATWG Encoding Standard decode them.
///   Decoding refuses nothing: whether a control character may stand in a field is for the device rules to say.
/// - Lines end at LF, CRLF, or a lone CR (old Mac "CSV (Macintosh)" files), as .NET's `StreamReader.ReadLine`, which
///   PowerShell's `Import-Csv` uses, reads them. A CR at the very end of a chunk is taken as a line end at once; a LF
///   that then starts the next chunk is its second half, not an empty line. In UTF-16 a line ends at the code unit
///   0x000A or 0x000D, never at a 0x0A byte inside another code unit. A last line without a line ending is a line;
///   a final line ending does not start an empty one.
/// - Invalid text in a file whose mark names its encoding (UTF-8 with a BOM that is not valid UTF-8, UTF-16 with an
///   unpaired surrogate, a UTF-16 file with an odd number of bytes) never stops reading: each bad sequence becomes
///   U+FFFD and the line is marked ``Decoding/replaced``, which `DeviceCSV` reports as a line error (its fields would
///   not be what the file meant).
/// - A line longer than ``maxLineBytes`` bytes of the file is not held in memory: it comes out as an empty line
///   marked ``Decoding/tooLong`` and the rest of it is skipped. So reading any file needs bounded memory.
public enum CSVText {
    /// The longest line a reader holds, in bytes of the file without the line ending. A real line is about 4 KB
    /// (8 KB in UTF-16), and the largest hardware hash the registry accepts is 22 KB of base64.
    public static let maxLineBytes = 1 << 20

    /// The encoding a file's first bytes announce.
    public enum Encoding: Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// No byte order mark: UTF-8, and each line that is not valid UTF-8 is read as Windows-1252.
        case utf8
        /// UTF-8 with a byte order mark (`EF BB BF`), as Excel's "CSV UTF-8" writes it.
        case utf8WithBOM
        /// UTF-16 little-endian with a byte order mark (`FF FE`), as Windows PowerShell 5.1's `Out-File` writes it.
        case utf16LE
        /// UTF-16 big-endian with a byte order mark (`FE FF`).
        case utf16BE

        /// The name for messages such as "read as UTF-16LE".
        public var description: String {
            switch self {
            case .utf8: "UTF-8"
            case .utf8WithBOM: "UTF-8 with a byte order mark"
            case .utf16LE: "UTF-16LE"
            case .utf16BE: "UTF-16BE"
            }
        }

        /// The byte order mark that announces this encoding (empty for ``utf8``).
        public var byteOrderMark: [UInt8] {
            switch self {
            case .utf8: []
            case .utf8WithBOM: [0xEF, 0xBB, 0xBF]
            case .utf16LE: [0xFF, 0xFE]
            case .utf16BE: [0xFE, 0xFF]
            }
        }

        /// The encoding `prefix`, the first bytes of a file, announces; nil while more bytes are needed to tell.
        ///
        /// At most three bytes decide. With `isComplete` (the file has no more bytes) the answer is never nil: a file
        /// too short for a byte order mark is ``utf8``.
        public static func detect(_ prefix: some Collection<UInt8>, isComplete: Bool) -> Encoding? {
            for encoding in [Encoding.utf8WithBOM, .utf16LE, .utf16BE] {
                let mark = encoding.byteOrderMark
                if prefix.starts(with: mark) { return encoding }
                // A proper prefix of the mark: the next bytes decide, unless there are none.
                if !isComplete && prefix.count < mark.count && mark.starts(with: prefix) { return nil }
            }
            return .utf8
        }
    }

    /// How a line's text came out of its bytes.
    public enum Decoding: Sendable, Hashable {
        /// Exactly as the file's encoding says.
        case exact
        /// Not valid UTF-8 in a file without a byte order mark, so read as Windows-1252.
        case windows1252
        /// Not valid in the encoding the file's byte order mark names: each bad sequence became U+FFFD.
        case replaced
        /// Longer than ``CSVText/maxLineBytes``: its text is empty and the rest of it was skipped.
        case tooLong

        /// Why a line decoded this way cannot be used as it is, in words that follow "line N "; nil when it can.
        public func problem(in encoding: Encoding) -> String? {
            switch self {
            case .exact, .windows1252: nil
            case .replaced:
                "is not valid \(encoding) text (an invalid byte sequence, an unpaired UTF-16 surrogate or an odd "
                    + "final byte), so its fields cannot be read"
            case .tooLong:
                "is longer than \(CSVText.maxLineBytes) bytes; a device line is a few kilobytes"
            }
        }
    }

    /// One line of text, without its line ending.
    public struct Line: Sendable, Hashable {
        /// 1-based position of the line in the text: the first line is 1, and blank lines count.
        public var number: Int
        /// The line as text (empty for a ``Decoding/tooLong`` line).
        public var text: String
        /// How the text came out of the file's bytes.
        public var decoding: Decoding

        /// A line with these parts.
        public init(number: Int, text: String, decoding: Decoding = .exact) {
            self.number = number; self.text = text; self.decoding = decoding
        }

        /// Whether the line is empty or holds only spaces and tabs (a device CSV reader skips it). A
        /// ``Decoding/tooLong`` line is not blank, though its text is empty.
        public var isBlank: Bool {
            decoding != .tooLong && text.utf8.allSatisfy { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        }
    }

    /// One line lent by ``LineDecoder/withNextLine(_:)``: its UTF-8 bytes are valid only inside the closure.
    public struct LineView {
        /// 1-based position of the line in the text.
        public let number: Int
        /// How the text came out of the file's bytes.
        public let decoding: Decoding
        /// The file's encoding, for messages.
        public let encoding: Encoding
        /// The line as UTF-8, without its line ending; valid only inside the closure it is passed to.
        public let utf8: UnsafeBufferPointer<UInt8>
    }

    /// Every line of a whole text held in memory, and the encoding its first bytes announce. For a file of any size
    /// feed a ``LineDecoder`` chunk by chunk instead.
    public static func lines(of bytes: some Collection<UInt8>) -> (encoding: Encoding, lines: [Line]) {
        var decoder = LineDecoder()
        decoder.append(contentsOf: bytes)
        decoder.finish()
        var lines: [Line] = []
        while let line = decoder.nextLine() { lines.append(line) }
        return (decoder.encoding ?? .utf8, lines)
    }

    /// A streaming decoder: bytes go in by ``append(_:)`` in chunks of any size (split anywhere, even inside a UTF-16
    /// code unit, a surrogate pair or a CRLF), lines come out by ``nextLine()`` or ``withNextLine(_:)`` as soon as
    /// they are complete, and ``finish()`` says no more bytes come.
    ///
    /// It holds only the bytes of the line being read (at most ``CSVText/maxLineBytes`` plus what the caller appends
    /// at once), so feed it a chunk, take lines until it returns nil, and feed the next chunk. The work is on bytes:
    /// memchr finds UTF-8 line endings, and UTF-16 that is ASCII (every hash, every header) is narrowed eight bytes
    /// at a time.
    public struct LineDecoder: Sendable {
        /// The encoding the first bytes announce; nil until enough bytes came to tell (at most three).
        public private(set) var encoding: Encoding?
        /// The number of the last line returned (0 before the first).
        public private(set) var lineCount = 0
        /// How many lines were read as Windows-1252.
        public private(set) var windows1252LineCount = 0
        /// Whether ``finish()`` was called.
        public private(set) var isFinished = false

        /// The bytes not yet returned as lines: `input[head..<end]`; `input` beyond `end` is room for more.
        private var input: [UInt8] = []
        private var head = 0
        private var end = 0
        /// UTF-8 of a line that had to be transcoded.
        private var output: [UInt8] = []
        /// For the line being read: bytes after `head` already looked at (UTF-8: found without CR or LF; UTF-16:
        /// already transcoded into `output[..<produced]`).
        private var scanned = 0
        private var produced = 0
        private var malformed = false
        /// Inside a line longer than `maxLineBytes`: dropping bytes up to its end.
        private var skipping = false
        /// The last line ended with a CR at the end of the bytes so far: a LF coming first is part of that ending.
        private var dropLF = false

        /// A decoder that has seen no bytes.
        public init() {}

        /// Bytes appended and not yet returned as lines.
        public var bufferedByteCount: Int { end - head }

        /// Adds the next bytes of the text.
        public mutating func append(_ bytes: UnsafeRawBufferPointer) {
            guard !bytes.isEmpty else { return }
            _ = append(upTo: bytes.count) { room in
                room.copyMemory(from: bytes)
                return bytes.count
            }
        }

        /// Adds the next bytes of the text.
        public mutating func append(contentsOf bytes: some Collection<UInt8>) {
            if bytes.withContiguousStorageIfAvailable({ append(UnsafeRawBufferPointer($0)) }) == nil {
                Array(bytes).withUnsafeBytes { append($0) }
            }
        }

        /// Adds up to `capacity` bytes that `fill` writes in place and counts, so that `read(2)` can fill the
        /// decoder without a copy. Returns what `fill` returns (a count from 0 to `capacity`, or a negative error
        /// value, which adds nothing).
        public mutating func append(upTo capacity: Int, from fill: (UnsafeMutableRawBufferPointer) throws -> Int)
            rethrows -> Int {
            precondition(!isFinished, "CSVText.LineDecoder: append after finish")
            compact()
            if input.count < end + capacity {
                input += [UInt8](repeating: 0, count: Swift.max(end + capacity, 2 * input.count) - input.count)
            }
            let start = end
            let n = try input.withUnsafeMutableBytes {
                try fill(UnsafeMutableRawBufferPointer(rebasing: $0[start..<start + capacity]))
            }
            precondition(n <= capacity, "CSVText.LineDecoder: fill wrote more than its room")
            if n > 0 { end += n }
            return n
        }

        /// Says that no more bytes come: the last line, even without a line ending, can be returned.
        public mutating func finish() { isFinished = true }

        /// The next complete line as a String; nil when more bytes are needed, or after ``finish()`` at the end.
        public mutating func nextLine() -> Line? {
            withNextLine { Line(number: $0.number, text: String(decoding: $0.utf8, as: UTF8.self), decoding: $0.decoding) }
        }

        /// Lends the next complete line to `body` without making a String, and returns what `body` returns; nil when
        /// more bytes are needed, or after ``finish()`` at the end. The line counts as read even if `body` throws.
        public mutating func withNextLine<R>(_ body: (LineView) throws -> R) rethrows -> R? {
            if encoding == nil {
                guard let detected = Encoding.detect(input[head..<end].prefix(3), isComplete: isFinished) else { return nil }
                encoding = detected
                head += detected.byteOrderMark.count
            }
            guard let encoding else { return nil }
            let unit = encoding == .utf16LE || encoding == .utf16BE ? 2 : 1
            while true {
                if dropLF {
                    if end - head < unit {
                        guard isFinished else { return nil }
                    } else if self.unit(at: head, encoding) == 0x0A {
                        head += unit
                    }
                    dropLF = false
                }
                guard skipping else { break }
                guard skipRestOfLine(encoding, unit: unit) else { return nil }
            }

            let found = unit == 2 ? scanUTF16(bigEndian: encoding == .utf16BE) : scanUTF8()
            switch found {
            case .needMore:
                return nil
            case .tooLong:
                lineCount += 1
                return try body(LineView(number: lineCount, decoding: .tooLong, encoding: encoding,
                                         utf8: UnsafeBufferPointer(start: nil, count: 0)))
            case let .transcoded(count, next):
                lineCount += 1
                let decoding: Decoding = malformed ? .replaced : .exact
                head = next; scanned = 0; produced = 0; malformed = false
                return try output.withUnsafeBufferPointer {
                    try body(LineView(number: lineCount, decoding: decoding, encoding: encoding,
                                      utf8: UnsafeBufferPointer(rebasing: $0[..<count])))
                }
            case let .bytes(start, lineEnd, next):
                lineCount += 1
                head = next; scanned = 0
                let decoding = transcodeIfInvalid(start, lineEnd, encoding)
                if decoding == .exact {
                    return try input.withUnsafeBufferPointer {
                        try body(LineView(number: lineCount, decoding: .exact, encoding: encoding,
                                          utf8: UnsafeBufferPointer(rebasing: $0[start..<lineEnd])))
                    }
                }
                return try output.withUnsafeBufferPointer {
                    try body(LineView(number: lineCount, decoding: decoding, encoding: encoding,
                                      utf8: UnsafeBufferPointer(rebasing: $0[..<produced])))
                }
            }
        }

        /// What a scan found.
        private enum Found {
            /// No complete line yet; or, once finished, no more lines.
            case needMore
            /// A line too long to hold; `skipping` is set and the line's bytes so far are dropped.
            case tooLong
            /// A UTF-8 line in `input[start..<end]` (not validated yet); the next line starts at `next`.
            case bytes(start: Int, end: Int, next: Int)
            /// A UTF-16 line transcoded into `output[..<count]`; the next line starts at `next`.
            case transcoded(count: Int, next: Int)
        }

        /// Drops consumed bytes before new ones are appended: a memmove of the partial line, done only once at least
        /// as many bytes were consumed, so that feeding a long line in small chunks stays linear.
        private mutating func compact() {
            guard head > 0 && head >= end - head else { return }
            let (from, count) = (head, end - head)
            input.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: $0.baseAddress! + from, byteCount: count) }
            head = 0
            end = count
        }

        /// The code unit at byte offset `i` (a byte for UTF-8).
        private func unit(at i: Int, _ encoding: Encoding) -> UInt16 {
            switch encoding {
            case .utf8, .utf8WithBOM: UInt16(input[i])
            case .utf16LE: UInt16(input[i]) | UInt16(input[i + 1]) << 8
            case .utf16BE: UInt16(input[i]) << 8 | UInt16(input[i + 1])
            }
        }

        /// The byte offset where the line ending at a CR (the code unit at `cr`) is followed by the next line, or
        /// sets `dropLF` when the bytes so far end right after the CR.
        private mutating func afterCR(_ cr: Int, _ encoding: Encoding, unit: Int) -> Int {
            if end - (cr + unit) >= unit {
                return self.unit(at: cr + unit, encoding) == 0x0A ? cr + 2 * unit : cr + unit
            }
            if !isFinished { dropLF = true }
            return cr + unit
        }

        /// Drops the rest of a too-long line; true once its end (or the end of the text) is reached.
        private mutating func skipRestOfLine(_ encoding: Encoding, unit: Int) -> Bool {
            var i = head
            while end - i >= unit {
                let u = self.unit(at: i, encoding)
                if u == 0x0A { head = i + unit; skipping = false; return true }
                if u == 0x0D { head = afterCR(i, encoding, unit: unit); skipping = false; return true }
                i += unit
            }
            head = i
            if isFinished { head = end; skipping = false; return true }
            return false
        }

        /// Finds the end of the next UTF-8 line with memchr, resuming where the last search stopped.
        private mutating func scanUTF8() -> Found {
            let from = head + scanned
            let limit = min(end, head + CSVText.maxLineBytes + 1)
            let (lf, cr): (Int?, Int?) = input.withUnsafeBytes { raw in
                guard let base = raw.baseAddress, limit > from else { return (nil, nil) }
                func find(_ byte: UInt8, _ to: Int) -> Int? {
                    guard to > from, let p = memchr(base + from, CInt(byte), to - from) else { return nil }
                    return base.distance(to: UnsafeRawPointer(p))
                }
                let lf = find(0x0A, limit)
                return (lf, find(0x0D, lf ?? limit))
            }
            if let cr { return .bytes(start: head, end: cr, next: afterCR(cr, .utf8, unit: 1)) }
            if let lf { return .bytes(start: head, end: lf, next: lf + 1) }
            if end - head > CSVText.maxLineBytes { return startSkipping(at: limit) }
            if isFinished {
                return head < end ? .bytes(start: head, end: end, next: end) : .needMore
            }
            scanned = end - head
            return .needMore
        }

        private mutating func startSkipping(at offset: Int) -> Found {
            head = offset; scanned = 0; produced = 0; malformed = false
            skipping = true
            return .tooLong
        }

        /// Validates the UTF-8 line `input[start..<end]`; when it is not valid, transcodes it into `output` (as
        /// Windows-1252 without a byte order mark, else with U+FFFD for each bad sequence) and sets `produced`.
        private mutating func transcodeIfInvalid(_ start: Int, _ end: Int, _ encoding: Encoding) -> Decoding {
            let valid = input.withUnsafeBufferPointer { UTF8Check.isValid(UnsafeBufferPointer(rebasing: $0[start..<end])) }
            if valid { return .exact }
            if encoding == .utf8 {
                let needed = 3 * (end - start)
                if output.count < needed { output = [UInt8](repeating: 0, count: needed) }
                produced = input.withUnsafeBufferPointer { inp in
                    output.withUnsafeMutableBufferPointer { out in
                        Windows1252.decode(UnsafeBufferPointer(rebasing: inp[start..<end]), into: out)
                    }
                }
                windows1252LineCount += 1
                return .windows1252
            }
            output = Array(String(decoding: input[start..<end], as: UTF8.self).utf8)
            produced = output.count
            return .replaced
        }

        /// Transcodes the next UTF-16 line into `output`, resuming where the last call stopped.
        private mutating func scanUTF16(bigEndian: Bool) -> Found {
            let limit = min(end, head + CSVText.maxLineBytes + 2)
            var pos = head + scanned
            // Every code unit makes at most 3 UTF-8 bytes (a surrogate pair 4 from two units); one more for an odd byte.
            let needed = produced + 3 * (max(0, limit - pos) / 2 + 1)
            if output.count < needed { output += [UInt8](repeating: 0, count: needed - output.count) }
            var out = produced
            var lineEnd: (content: Int, unitAfter: Int)?
            var waitForPair = false
            var malformed = self.malformed
            let isFinished = self.isFinished
            input.withUnsafeBufferPointer { inp in
                output.withUnsafeMutableBufferPointer { outp in
                    let p = inp.baseAddress!, o = outp.baseAddress!
                    @inline(__always) func unit(_ i: Int) -> UInt32 {
                        bigEndian ? UInt32(p[i]) << 8 | UInt32(p[i + 1]) : UInt32(p[i]) | UInt32(p[i + 1]) << 8
                    }
                    while limit - pos >= 2 {
                        // Runs of printable ASCII (every hash, every header): 16 code units per step, then 8.
                        while limit - pos >= 32 {
                            let r = UnsafeRawPointer(p + pos)
                            var a = UInt64(littleEndian: r.loadUnaligned(as: UInt64.self))
                            var b = UInt64(littleEndian: r.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                            var c = UInt64(littleEndian: r.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
                            var d = UInt64(littleEndian: r.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
                            guard (a | b | c | d) & (bigEndian ? 0x80FF_80FF_80FF_80FF : 0xFF80_FF80_FF80_FF80) == 0
                            else { break }
                            if bigEndian { a >>= 8; b >>= 8; c >>= 8; d >>= 8 }
                            guard UTF16ASCII.arePrintable(a, b, c, d) else { break }
                            let w = UnsafeMutableRawPointer(o + out)
                            w.storeBytes(of: (UTF16ASCII.pack(a) | UTF16ASCII.pack(b) << 32).littleEndian, as: UInt64.self)
                            w.storeBytes(of: (UTF16ASCII.pack(c) | UTF16ASCII.pack(d) << 32).littleEndian,
                                         toByteOffset: 8, as: UInt64.self)
                            pos += 32
                            out += 16
                        }
                        while limit - pos >= 16 {
                            let a = UInt64(littleEndian: UnsafeRawPointer(p + pos).loadUnaligned(as: UInt64.self))
                            let b = UInt64(littleEndian: UnsafeRawPointer(p + pos + 8).loadUnaligned(as: UInt64.self))
                            guard let na = UTF16ASCII.narrow(a, bigEndian: bigEndian),
                                  let nb = UTF16ASCII.narrow(b, bigEndian: bigEndian) else { break }
                            UnsafeMutableRawPointer(o + out).storeBytes(of: (na | nb << 32).littleEndian, as: UInt64.self)
                            pos += 16
                            out += 8
                        }
                        guard limit - pos >= 2 else { break }
                        let u = unit(pos)
                        if u == 0x0A || u == 0x0D {
                            lineEnd = (pos, pos)
                            return
                        }
                        if u < 0x80 {
                            o[out] = UInt8(u); out += 1
                        } else if u < 0x800 {
                            o[out] = UInt8(0xC0 | u >> 6); o[out + 1] = UInt8(0x80 | u & 0x3F); out += 2
                        } else if u & 0xFC00 == 0xD800 {
                            if end - pos < 4 && !isFinished { waitForPair = true; return }
                            let low = end - pos >= 4 ? unit(pos + 2) : 0
                            if low & 0xFC00 == 0xDC00 {
                                let scalar = 0x10000 + ((u - 0xD800) << 10 | (low - 0xDC00))
                                o[out] = UInt8(0xF0 | scalar >> 18); o[out + 1] = UInt8(0x80 | scalar >> 12 & 0x3F)
                                o[out + 2] = UInt8(0x80 | scalar >> 6 & 0x3F); o[out + 3] = UInt8(0x80 | scalar & 0x3F)
                                out += 4; pos += 2
                            } else {
                                out += UTF8Check.writeReplacement(o + out); malformed = true
                            }
                        } else if u & 0xFC00 == 0xDC00 {
                            out += UTF8Check.writeReplacement(o + out); malformed = true
                        } else {
                            o[out] = UInt8(0xE0 | u >> 12); o[out + 1] = UInt8(0x80 | u >> 6 & 0x3F)
                            o[out + 2] = UInt8(0x80 | u & 0x3F); out += 3
                        }
                        pos += 2
                    }
                }
            }
            self.malformed = malformed
            if let lineEnd {
                let next = unit(at: lineEnd.content, bigEndian ? .utf16BE : .utf16LE) == 0x0A
                    ? lineEnd.content + 2 : afterCR(lineEnd.content, bigEndian ? .utf16BE : .utf16LE, unit: 2)
                return .transcoded(count: out, next: next)
            }
            if pos - head > CSVText.maxLineBytes { return startSkipping(at: pos) }
            if isFinished && !waitForPair {
                if end - pos == 1 {
                    // An odd final byte: half a code unit.
                    output.withUnsafeMutableBufferPointer { out += UTF8Check.writeReplacement($0.baseAddress! + out) }
                    self.malformed = true
                    pos = end
                }
                if pos > head { return .transcoded(count: out, next: end) }
                return .needMore
            }
            scanned = pos - head
            produced = out
            return .needMore
        }
    }
}

/// Narrowing of UTF-16 code units that are printable ASCII.
enum UTF16ASCII {
    /// The four code units in `word` (8 bytes as loaded little-endian) as four ASCII bytes in the low 32 bits, or nil
    /// when one of them is not in 0x20...0x7F (so neither a line ending nor anything needing a real transcoder).
    @inline(__always)
    static func narrow(_ word: UInt64, bigEndian: Bool) -> UInt64? {
        let x: UInt64
        if bigEndian {
            guard word & 0x80FF_80FF_80FF_80FF == 0 else { return nil }
            x = word >> 8
        } else {
            guard word & 0xFF80_FF80_FF80_FF80 == 0 else { return nil }
            x = word
        }
        guard arePrintable(x, x, x, x) else { return nil }
        return pack(x)
    }

    /// Whether every code unit in these words (each unit below 0x80, little-endian order) is at least 0x20. Each
    /// unit's low byte is below 0x80, so adding 0x60 sets its top bit exactly when it is at least 0x20.
    @inline(__always)
    static func arePrintable(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) -> Bool {
        let k: UInt64 = 0x0060_0060_0060_0060, top: UInt64 = 0x0080_0080_0080_0080
        return (a &+ k) & (b &+ k) & (c &+ k) & (d &+ k) & top == top
    }

    /// The low bytes of the four code units in `x` (each below 0x100), packed into the low 32 bits.
    @inline(__always)
    static func pack(_ x: UInt64) -> UInt64 {
        let pairs = (x | x >> 8) & 0x0000_FFFF_0000_FFFF
        return (pairs | pairs >> 16) & 0xFFFF_FFFF
    }
}

/// UTF-8 validation and the replacement character, on bytes.
enum UTF8Check {
    /// Whether `bytes` is well-formed UTF-8 (Unicode Table 3-7: no overlongs, no surrogates, nothing past U+10FFFF).
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let p = bytes.baseAddress else { return true }
        let n = bytes.count
        var i = 0
        while i < n {
            // Skip ASCII 32, then 8 bytes at a time.
            while n - i >= 32 {
                let r = UnsafeRawPointer(p + i)
                let any = r.loadUnaligned(as: UInt64.self) | r.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                    | r.loadUnaligned(fromByteOffset: 16, as: UInt64.self) | r.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                if any & 0x8080_8080_8080_8080 != 0 { break }
                i += 32
            }
            while n - i >= 8 {
                let word = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                if word & 0x8080_8080_8080_8080 != 0 { break }
                i += 8
            }
            guard i < n else { break }
            let b0 = p[i]
            if b0 < 0x80 { i += 1; continue }
            func cont(_ k: Int, _ low: UInt8 = 0x80, _ high: UInt8 = 0xBF) -> Bool {
                i + k < n && p[i + k] >= low && p[i + k] <= high
            }
            switch b0 {
            case 0xC2...0xDF: guard cont(1) else { return false }; i += 2
            case 0xE0: guard cont(1, 0xA0), cont(2) else { return false }; i += 3
            case 0xE1...0xEC, 0xEE...0xEF: guard cont(1), cont(2) else { return false }; i += 3
            case 0xED: guard cont(1, 0x80, 0x9F), cont(2) else { return false }; i += 3
            case 0xF0: guard cont(1, 0x90), cont(2), cont(3) else { return false }; i += 4
            case 0xF1...0xF3: guard cont(1), cont(2), cont(3) else { return false }; i += 4
            case 0xF4: guard cont(1, 0x80, 0x8F), cont(2), cont(3) else { return false }; i += 4
            default: return false
            }
        }
        return true
    }

    /// Writes U+FFFD (3 bytes) at `p`; returns 3.
    @inline(__always)
    static func writeReplacement(_ p: UnsafeMutablePointer<UInt8>) -> Int {
        p[0] = 0xEF; p[1] = 0xBF; p[2] = 0xBD
        return 3
    }
}

/// The Windows-1252 code page ("ANSI" on Western Windows).
enum Windows1252 {
    /// The code points of 0x80...0x9F; the five undefined bytes map to the C1 control of the same value.
    static let high: [UInt16] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
        0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
        0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
        0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ]

    /// The code point of one byte.
    static func scalar(_ byte: UInt8) -> UInt16 {
        switch byte {
        case 0x80...0x9F: high[Int(byte - 0x80)]
        default: UInt16(byte)
        }
    }

    /// Writes `bytes` as UTF-8 into `out` (which holds at least 3 bytes per input byte); returns the count written.
    static func decode(_ bytes: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var n = 0
        for byte in bytes {
            let c = scalar(byte)
            if c < 0x80 {
                out[n] = UInt8(c); n += 1
            } else if c < 0x800 {
                out[n] = UInt8(0xC0 | c >> 6); out[n + 1] = UInt8(0x80 | c & 0x3F); n += 2
            } else {
                out[n] = UInt8(0xE0 | c >> 12); out[n + 1] = UInt8(0x80 | c >> 6 & 0x3F)
                out[n + 2] = UInt8(0x80 | c & 0x3F); n += 3
            }
        }
        return n
    }
}
