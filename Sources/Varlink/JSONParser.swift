#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a JSON text was rejected, and at which byte.
public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    /// Byte offset in the input where the problem was found.
    public let offset: Int
    /// What was wrong, for humans.
    public let reason: String

    /// The error at byte `offset`, for `reason`.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    /// The reason and the byte offset, in one line.
    public var description: String {
        "invalid JSON at byte \(offset): \(reason)"
    }
}

/// JSON text in and out.
public enum JSON {
    /// Parses one JSON value (RFC 8259) from UTF-8 bytes.
    ///
    /// Rejects invalid UTF-8, control characters in strings, lone surrogate escapes, duplicate keys,
    /// numbers out of `Double` range and anything after the value but whitespace. Integers without
    /// fraction or exponent that fit in `Int` become `.int`, other numbers `.double`. The parser
    /// keeps its own stack, so deep input cannot overflow the thread's stack.
    ///
    /// - Throws: `JSONParseError` on malformed input or when containers nest deeper than `maxDepth`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    /// Parses one JSON value from UTF-8 bytes the caller gives up, returning their memory to the system as it goes.
    ///
    /// The same as ``parse(_:maxDepth:)-(UnsafeRawBufferPointer,_)``, except that whole pages of `bytes` the parser
    /// has decoded past are handed back (`madvise(MADV_DONTNEED)` on Linux) once 256 KiB of them have gathered: a
    /// 4 MB upload and the string it decodes to are then never both resident. The bytes read as zero afterwards, so
    /// `bytes` must be private memory that nothing reads again (a received frame; see `FrameSplitter`).
    public static func parse(consuming bytes: UnsafeMutableRawBufferPointer, maxDepth: Int = 64)
        throws(JSONParseError) -> JSONValue
    {
        try parseMeasured(consuming: bytes, maxDepth: maxDepth).value
    }

    /// ``parse(consuming:maxDepth:)``, which also says how much memory the value holds, and refuses input whose value
    /// would hold more than `maxDecodedSize` bytes before building it.
    ///
    /// The size is an estimate from above for 64-bit platforms: each value's slot, each container's buffers and
    /// header, and each string too long to be stored inline. It is what a server counts against its limits instead
    /// of the text's length: `[0,0,…]` takes two bytes per element as text and twenty-four once decoded.
    public static func parseMeasured(consuming bytes: UnsafeMutableRawBufferPointer, maxDepth: Int = 64,
                                     maxDecodedSize: Int = .max)
        throws(JSONParseError) -> (value: JSONValue, decodedSize: Int)
    {
        var parser = JSONParser(bytes: UnsafeRawBufferPointer(bytes), maxDepth: maxDepth, maxDecodedSize: maxDecodedSize)
        parser.releaser = ConsumedInputReleaser(bytes)
        let value = try parser.parseDocument()
        return (value, parser.decodedSize)
    }

    /// Parses one JSON value from UTF-8 bytes; see ``parse(_:maxDepth:)-(UnsafeRawBufferPointer,_)``.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { raw in
            Result { () throws(JSONParseError) in try parse(raw, maxDepth: maxDepth) }
        }
        return try result.get()
    }

    /// Parses one JSON value from a string; see ``parse(_:maxDepth:)-(UnsafeRawBufferPointer,_)``.
    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONParseError) -> JSONValue {
        let contiguous: Result<JSONValue, JSONParseError>? = text.utf8.withContiguousStorageIfAvailable { utf8 in
            Result { () throws(JSONParseError) in try parse(UnsafeRawBufferPointer(utf8), maxDepth: maxDepth) }
        }
        if let contiguous { return try contiguous.get() }
        return try parse(Array(text.utf8), maxDepth: maxDepth)
    }
}

private enum ASCII {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let nine = UInt8(ascii: "9")
    static let lowerE = UInt8(ascii: "e")
    static let upperE = UInt8(ascii: "E")
}

/// A container being filled while parsing: where its values (and, for objects, keys) start on the shared stacks.
private struct OpenContainer {
    var isObject: Bool
    var valueStart: Int
    var keyStart: Int
}

/// Gives the pages of a consumed input back to the system once the parser is past them (`JSON.parse(consuming:)`).
struct ConsumedInputReleaser {
    /// Pages are given back in runs of at least this many bytes: one system call per 256 KiB decoded.
    static let minimumRun = 256 * 1024
    static let pageSize: Int = {
        #if canImport(Glibc) || canImport(Darwin)
        return max(4096, Int(sysconf(Int32(_SC_PAGESIZE))))
        #else
        return 4096
        #endif
    }()

    /// The input's first byte, as an address.
    private let base: Int
    /// Everything from the input's first whole page up to this address has been given back.
    private(set) var releasedEnd: Int

    init(_ bytes: UnsafeMutableRawBufferPointer) {
        base = Int(bitPattern: bytes.baseAddress)
        // Only pages that lie wholly inside the input: the bytes before it are not the parser's to give away.
        releasedEnd = (base + Self.pageSize - 1) & ~(Self.pageSize - 1)
    }

    /// The parser will not read the input before `offset` again: give back the whole pages that lie before it.
    mutating func release(before offset: Int) {
        let end = (base + offset) & ~(Self.pageSize - 1)
        guard end - releasedEnd >= Self.minimumRun else { return }
        #if os(Linux)
        _ = madvise(UnsafeMutableRawPointer(bitPattern: releasedEnd), end - releasedEnd, MADV_DONTNEED)
        #endif
        releasedEnd = end
    }
}

/// What decoded values hold in memory on a 64-bit platform, for ``JSON/parseMeasured(consuming:maxDepth:maxDecodedSize:)``:
/// rounded up, so that the sum is an estimate from above.
enum DecodedSize {
    /// A value's slot in its container's buffer (and the root's own).
    static let value = MemoryLayout<JSONValue>.stride
    /// A key's slot in its object's key buffer.
    static let key = MemoryLayout<String>.stride
    /// An array's buffer: its 32-byte header, the allocator's chunk header and rounding.
    static let array = 64
    /// An object's two buffers (keys and values).
    static let object = 2 * array
    /// Each key of an object large enough to be indexed by a dictionary (`JSONObject.indexThreshold`).
    static let indexEntry = 48
    /// Strings of up to this many UTF-8 bytes are stored inline, in the slot.
    static let inlineString = 15
    /// A longer string's heap storage beyond its bytes: its header, the terminating NUL, the allocator's chunk header
    /// and rounding.
    static let stringHeader = 64
}

private struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let maxDepth: Int
    /// Refuse the input once its decoded value would hold more than this many bytes (`DecodedSize`).
    let maxDecodedSize: Int
    /// What the values decoded so far hold, by `DecodedSize`'s estimate.
    var decodedSize = DecodedSize.value
    var position = 0
    /// Set when the input is the caller's to discard (`JSON.parse(consuming:)`).
    var releaser: ConsumedInputReleaser?
    /// Values of all open containers, innermost last.
    var values: [JSONValue] = []
    /// Keys of all open objects, innermost last; one per value of an object.
    var keys: [String] = []
    var containers: [OpenContainer] = []

    init(bytes: UnsafeRawBufferPointer, maxDepth: Int, maxDecodedSize: Int = .max) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxDecodedSize = maxDecodedSize
        // Room for a call's usual few members at once: grown from empty, the stacks were reallocated three or four
        // times for every call parsed.
        values.reserveCapacity(16)
        keys.reserveCapacity(16)
        containers.reserveCapacity(8)
    }

    /// Counts `size` more bytes of decoded value, before they are allocated.
    @inline(__always)
    mutating func account(_ size: Int) throws(JSONParseError) {
        decodedSize &+= size
        if decodedSize > maxDecodedSize {
            throw error("the value would take more than \(maxDecodedSize) bytes of memory once decoded")
        }
    }

    func error(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? position, reason: reason)
    }

    @inline(__always)
    func peek() -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        let value = try parseValueTree()
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected data after the value") }
        return value
    }

    /// Parses a value, iteratively descending into containers.
    mutating func parseValueTree() throws(JSONParseError) -> JSONValue {
        while true {
            // Parse the start of a value: either a complete scalar/empty container, or open a container.
            var value: JSONValue
            guard let byte = peek() else { throw error("unexpected end of input") }
            switch byte {
            case ASCII.openBrace, ASCII.openBracket:
                let isObject = byte == ASCII.openBrace
                guard containers.count < maxDepth else { throw error("nesting deeper than \(maxDepth)") }
                position += 1
                skipWhitespace()
                if peek() == (isObject ? ASCII.closeBrace : ASCII.closeBracket) {
                    position += 1
                    value = isObject ? .object(JSONObject()) : .array([])
                } else {
                    containers.append(OpenContainer(isObject: isObject, valueStart: values.count, keyStart: keys.count))
                    if isObject { try parseKey() }
                    continue
                }
            case ASCII.quote:
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case ASCII.minus, ASCII.zero...ASCII.nine:
                value = try parseNumber()
            default:
                throw error("unexpected character")
            }

            // Attach the finished value to the enclosing containers, closing those that end here.
            while true {
                guard let container = containers.last else { return value }
                try account(DecodedSize.value)
                values.append(value)
                releaser?.release(before: position)
                skipWhitespace()
                guard let next = peek() else { throw error("unexpected end of input") }
                if next == ASCII.comma {
                    position += 1
                    skipWhitespace()
                    if container.isObject { try parseKey() }
                    break
                }
                if container.isObject {
                    guard next == ASCII.closeBrace else { throw error("expected ',' or '}'") }
                    position += 1
                    let count = values.count - container.valueStart
                    try account(DecodedSize.object
                                + (count > JSONObject.indexThreshold ? count * DecodedSize.indexEntry : 0))
                    let object = JSONObject(
                        uncheckedKeys: Array(keys[container.keyStart...]),
                        values: Array(values[container.valueStart...])
                    )
                    if object.hasDuplicateKeys { throw error("duplicate key in object", at: position - 1) }
                    keys.removeSubrange(container.keyStart...)
                    value = .object(object)
                } else {
                    guard next == ASCII.closeBracket else { throw error("expected ',' or ']'") }
                    position += 1
                    try account(DecodedSize.array)
                    value = .array(Array(values[container.valueStart...]))
                }
                values.removeSubrange(container.valueStart...)
                containers.removeLast()
            }
        }
    }

    /// Parses `"key" :` and leaves the position at the value.
    mutating func parseKey() throws(JSONParseError) {
        guard peek() == ASCII.quote else { throw error("expected a string key") }
        try account(DecodedSize.key)
        keys.append(try parseString())
        skipWhitespace()
        guard peek() == ASCII.colon else { throw error("expected ':'") }
        position += 1
        skipWhitespace()
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else { throw error("invalid literal") }
        let start = literal.utf8Start
        for offset in 0..<count where bytes[position + offset] != start[offset] {
            throw error("invalid literal")
        }
        position += count
    }

    mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = position
        let negative = bytes[position] == ASCII.minus
        if negative { position += 1 }
        guard let first = peek(), first >= ASCII.zero, first <= ASCII.nine else {
            throw error("expected a digit")
        }
        position += 1
        if first != ASCII.zero {
            skipDigits()
        }
        let integerEnd = position
        var isInteger = true
        if peek() == ASCII.dot {
            position += 1
            guard skipDigits() > 0 else { throw error("expected a digit after '.'") }
            isInteger = false
        }
        if let byte = peek(), byte == ASCII.lowerE || byte == ASCII.upperE {
            position += 1
            if let sign = peek(), sign == ASCII.plus || sign == ASCII.minus { position += 1 }
            guard skipDigits() > 0 else { throw error("expected a digit in the exponent") }
            isInteger = false
        }
        if isInteger, let value = integerValue(digitsFrom: negative ? start + 1 : start, to: integerEnd, negative: negative) {
            return .int(value)
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw error("number out of range", at: start)
        }
        return .double(value)
    }

    @discardableResult
    mutating func skipDigits() -> Int {
        let start = position
        while position < bytes.count, bytes[position] >= ASCII.zero, bytes[position] <= ASCII.nine {
            position += 1
        }
        return position - start
    }

    /// The integer for the digits, or nil when it does not fit in `Int`.
    func integerValue(digitsFrom start: Int, to end: Int, negative: Bool) -> Int? {
        // Accumulate negatively so that Int.min is representable.
        var value = 0
        for offset in start..<end {
            let digit = Int(bytes[offset] &- ASCII.zero)
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            value = next
        }
        if negative { return value }
        let (positive, overflow) = (0).subtractingReportingOverflow(value)
        return overflow ? nil : positive
    }

    mutating func parseString() throws(JSONParseError) -> String {
        let openQuote = position
        position += 1
        let start = position
        var hasEscapes = false
        var hasNonASCII = false
        while true {
            // Long plain runs (a 4,000-character hardware hash) are skipped eight bytes at a time.
            while position + 8 <= bytes.count,
                  !Self.mayNeedAttention(bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)) {
                position += 8
            }
            guard position < bytes.count else { throw error("unterminated string", at: openQuote) }
            let byte = bytes[position]
            if byte == ASCII.quote { break }
            if byte == ASCII.backslash {
                hasEscapes = true
                position += 2
                continue
            }
            if byte < 0x20 { throw error("control character in string") }
            if byte >= 0x80 { hasNonASCII = true }
            position += 1
        }
        let end = position
        position += 1
        // Escapes only shorten a string: its text's length bounds what it stores.
        if end - start > DecodedSize.inlineString { try account(DecodedSize.stringHeader + end - start) }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        if hasNonASCII, let bad = UTF8Validation.firstInvalidOffset(raw) {
            throw error("invalid UTF-8", at: start + bad)
        }
        if !hasEscapes {
            return String(decoding: raw, as: UTF8.self)
        }
        return try unescape(from: start, to: end)
    }

    /// Whether any of eight string bytes is a quote, a backslash, a control character or not ASCII (bit tricks from
    /// "Bit Twiddling Hacks": `haszero` and `hasless`, exact for whether such a byte exists).
    @inline(__always)
    static func mayNeedAttention(_ word: UInt64) -> Bool {
        word & 0x8080_8080_8080_8080 != 0 || JSONStringBytes.anyToEscape(word)
    }

    /// Decodes the escapes of the already scanned and validated string bytes `start..<end`, straight into the new
    /// String's storage (an escape never decodes to more bytes than it takes, so `end - start` is room enough): a
    /// 4 MB CSV upload used to be unescaped into a scratch array and then copied, holding both at once.
    mutating func unescape(from start: Int, to end: Int) throws(JSONParseError) -> String {
        var failure: JSONParseError?
        let text = String(unsafeUninitializedCapacity: end - start) { out in
            do throws(JSONParseError) {
                return try unescape(from: start, to: end, into: out)
            } catch {
                failure = error
                return 0
            }
        }
        if let failure { throw failure }
        return text
    }

    /// Writes the decoded bytes of `start..<end` to `out` and returns how many it wrote; with a `releaser`, gives
    /// back the input's pages as the decoding passes them.
    mutating func unescape(from start: Int, to end: Int, into out: UnsafeMutableBufferPointer<UInt8>)
        throws(JSONParseError) -> Int
    {
        var offset = start, written = 0
        let base = bytes.baseAddress!
        func put(_ byte: UInt8) {
            out[written] = byte
            written += 1
        }
        while offset < end {
            // The bytes up to the next escape are copied as one run: a device CSV sent as one string has an escaped
            // line break every few thousand bytes, and copying byte by byte was a tenth of an import's daemon CPU.
            let next = memchr(base + offset, Int32(ASCII.backslash), end - offset)
                .map { base.distance(to: UnsafeRawPointer($0)) } ?? end
            if next > offset {
                UnsafeMutableRawPointer(out.baseAddress! + written)
                    .copyMemory(from: base + offset, byteCount: next - offset)
                written += next - offset
                offset = next
                releaser?.release(before: offset)
                continue
            }
            let escapeStart = offset
            offset += 1
            let kind = bytes[offset]
            offset += 1
            switch kind {
            case ASCII.quote, ASCII.backslash, ASCII.slash: put(kind)
            case UInt8(ascii: "b"): put(0x08)
            case UInt8(ascii: "f"): put(0x0C)
            case UInt8(ascii: "n"): put(0x0A)
            case UInt8(ascii: "r"): put(0x0D)
            case UInt8(ascii: "t"): put(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hexQuad(at: offset, end: end)
                offset += 4
                if scalar >= 0xD800, scalar <= 0xDBFF {
                    guard offset + 6 <= end, bytes[offset] == ASCII.backslash, bytes[offset + 1] == UInt8(ascii: "u") else {
                        throw error("lone surrogate escape", at: escapeStart)
                    }
                    let low = try hexQuad(at: offset + 2, end: end)
                    guard low >= 0xDC00, low <= 0xDFFF else { throw error("lone surrogate escape", at: escapeStart) }
                    offset += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00, scalar <= 0xDFFF {
                    throw error("lone surrogate escape", at: escapeStart)
                }
                // At most as many UTF-8 bytes as the escape took (6, or 12 for a surrogate pair). Surrogates were
                // refused above, so the scalar is valid.
                UTF8.encode(Unicode.Scalar(scalar)!, into: put)
            default:
                throw error("invalid escape", at: escapeStart)
            }
        }
        return written
    }

    func hexQuad(at offset: Int, end: Int) throws(JSONParseError) -> UInt32 {
        guard offset + 4 <= end else { throw error("truncated \\u escape", at: offset) }
        var value: UInt32 = 0
        for index in offset..<offset + 4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case ASCII.zero...ASCII.nine: digit = byte - ASCII.zero
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape", at: index)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }
}

/// Strict UTF-8 validation (no overlong forms, no surrogates, nothing above U+10FFFF).
enum UTF8Validation {
    /// The offset of the first byte that starts an invalid sequence, or nil when all is valid.
    static func firstInvalidOffset(_ bytes: UnsafeRawBufferPointer) -> Int? {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var lower: UInt8 = 0x80
            var upper: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; lower = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; upper = 0x9F
            case 0xF0: length = 4; lower = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; upper = 0x8F
            default: return index
            }
            guard index + length <= count else { return index }
            let second = bytes[index + 1]
            guard second >= lower, second <= upper else { return index }
            for continuation in 2..<length where bytes[index + continuation] & 0xC0 != 0x80 {
                return index
            }
            index += length
        }
        return nil
    }
}
