extension JSON {
    /// Appends the compact JSON text of `value` (no whitespace) to `buffer`.
    ///
    /// Quotes, backslashes and control characters are escaped; other characters are written as UTF-8.
    /// Non-finite doubles, which JSON cannot express, are written as `null`.
    public static func serialize(_ value: JSONValue, into buffer: inout [UInt8]) {
        var writer = JSONOutput(buffer: buffer, indent: nil)
        buffer = []
        writer.write(value, level: 0)
        buffer = writer.buffer
    }

    /// The compact JSON text of `value`.
    public static func serialize(_ value: JSONValue) -> String {
        var writer = JSONOutput(buffer: [], indent: nil)
        writer.write(value, level: 0)
        return String(decoding: writer.buffer, as: UTF8.self)
    }

    /// The JSON text of `value` indented by two spaces per level, for humans.
    public static func prettyPrint(_ value: JSONValue) -> String {
        var writer = JSONOutput(buffer: [], indent: 2)
        writer.write(value, level: 0)
        return String(decoding: writer.buffer, as: UTF8.self)
    }
}

/// JSON text being written: a `JSONValue` at once, or a value piece by piece without building its tree (the
/// daemon's replies, `WireValue.writeWire`). Written piece by piece, the text is the same as `JSON.serialize` writes
/// for the same value: compact, keys in the order written, the same escapes.
public struct JSONOutput {
    /// The text so far, UTF-8.
    public var buffer: [UInt8]
    /// Spaces per nesting level, or nil for compact output.
    let indent: Int?

    /// Compact text appended to `buffer`.
    public init(buffer: [UInt8] = []) {
        self.init(buffer: buffer, indent: nil)
    }

    init(buffer: [UInt8], indent: Int?) {
        self.buffer = buffer
        self.indent = indent
    }

    /// Appends `value` (compact unless this output indents).
    public mutating func write(_ value: JSONValue) {
        write(value, level: 0)
    }

    /// Appends `null`.
    public mutating func writeNull() {
        append("null")
    }

    /// Appends `true` or `false`.
    public mutating func writeBool(_ flag: Bool) {
        flag ? append("true") : append("false")
    }

    /// Appends text the caller knows to be JSON: a member's quoted name and its colon, a bracket, a comma.
    @inline(__always)
    public mutating func writeRaw(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
    }

    /// Appends one byte of JSON syntax (`{`, `,`, `]`…).
    @inline(__always)
    public mutating func writeRaw(_ byte: UInt8) {
        buffer.append(byte)
    }

    mutating func write(_ value: JSONValue, level: Int) {
        switch value {
        case .null:
            append("null")
        case .bool(let flag):
            append(flag ? "true" : "false")
        case .int(let number):
            writeInteger(number)
        case .double(let number):
            if number.isFinite {
                buffer.append(contentsOf: number.description.utf8)
            } else {
                append("null")
            }
        case .string(let text):
            writeString(text)
        case .array(let elements):
            buffer.append(UInt8(ascii: "["))
            guard !elements.isEmpty else {
                buffer.append(UInt8(ascii: "]"))
                return
            }
            for (position, element) in elements.enumerated() {
                if position > 0 { buffer.append(UInt8(ascii: ",")) }
                newline(level: level + 1)
                write(element, level: level + 1)
            }
            newline(level: level)
            buffer.append(UInt8(ascii: "]"))
        case .object(let object):
            buffer.append(UInt8(ascii: "{"))
            guard !object.isEmpty else {
                buffer.append(UInt8(ascii: "}"))
                return
            }
            for position in 0..<object.count {
                if position > 0 { buffer.append(UInt8(ascii: ",")) }
                newline(level: level + 1)
                writeString(object.storedKeys[position])
                buffer.append(UInt8(ascii: ":"))
                if indent != nil { buffer.append(UInt8(ascii: " ")) }
                write(object.storedValues[position], level: level + 1)
            }
            newline(level: level)
            buffer.append(UInt8(ascii: "}"))
        }
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func newline(level: Int) {
        guard let indent else { return }
        buffer.append(UInt8(ascii: "\n"))
        buffer.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * level))
    }

    /// Appends an integer.
    public mutating func writeInteger(_ number: Int) {
        if number < 0 { buffer.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        // At most 20 decimal digits; write them backwards into the tail of the buffer.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { scratch in
            repeat {
                count += 1
                scratch[24 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            buffer.append(contentsOf: scratch[(24 - count)...])
        }
    }

    /// Appends a string, quoted and escaped.
    public mutating func writeString(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            // Most strings need no escape: one append of the whole run between the quotes.
            if !JSONStringBytes.anyToEscape(UnsafeRawBufferPointer(utf8)) {
                buffer.append(UInt8(ascii: "\""))
                buffer.append(contentsOf: utf8)
                buffer.append(UInt8(ascii: "\""))
                return
            }
            buffer.append(UInt8(ascii: "\""))
            var runStart = 0
            for position in 0..<utf8.count {
                let byte = utf8[position]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<position]))
                runStart = position + 1
                buffer.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): buffer.append(byte)
                case 0x0A: buffer.append(UInt8(ascii: "n"))
                case 0x0D: buffer.append(UInt8(ascii: "r"))
                case 0x09: buffer.append(UInt8(ascii: "t"))
                case 0x08: buffer.append(UInt8(ascii: "b"))
                case 0x0C: buffer.append(UInt8(ascii: "f"))
                default:
                    let low = byte & 0xF
                    append("u00")
                    buffer.append(UInt8(ascii: "0") + byte >> 4)
                    buffer.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
                }
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
            buffer.append(UInt8(ascii: "\""))
        }
    }
}

/// Which bytes of a string JSON text must escape: quotes, backslashes and control characters.
enum JSONStringBytes {
    /// Whether any of eight bytes is one to escape (bit tricks from "Bit Twiddling Hacks": `haszero` and `hasless`,
    /// exact for whether such a byte exists).
    @inline(__always)
    static func anyToEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ v: UInt64) -> Bool { (v &- ones) & ~v & high != 0 }
        let quote = word ^ (ones &* UInt64(UInt8(ascii: "\""))), backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
        let control = (word &- ones &* 0x20) & ~word & high != 0
        return control || hasZeroByte(quote) || hasZeroByte(backslash)
    }

    /// Whether any byte of `bytes` is one to escape, eight at a time.
    static func anyToEscape(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var position = 0
        while position + 8 <= bytes.count {
            if anyToEscape(bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self)) { return true }
            position += 8
        }
        while position < bytes.count {
            let byte = bytes[position]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return true }
            position += 1
        }
        return false
    }
}
