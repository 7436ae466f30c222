import Testing
import Varlink

@Suite struct JSONParsingTests {
    @Test func roundTripKeepsValuesAndKeyOrder() throws {
        let text = #"{"z":1,"a":[true,false,null],"m":{"nested":"x","n":-42},"d":1.5,"e":""}"#
        let value = try JSON.parse(text)
        #expect(JSON.serialize(value) == text)
        #expect(value.objectValue?.keys == ["z", "a", "m", "d", "e"])
    }

    @Test func whitespaceAroundTokensIsAccepted() throws {
        let value = try JSON.parse(" \t\r\n{ \"a\" : [ 1 , 2 ] }\n")
        #expect(value == ["a": [1, 2]])
    }

    @Test func escapesAreDecoded() throws {
        let value = try JSON.parse(#""q\" b\\ s\/ \b\f\n\r\t \u0041\u00e9\u20ac""#)
        #expect(value == .string("q\" b\\ s/ \u{8}\u{c}\n\r\t Aé€"))
    }

    @Test func surrogatePairEscapeDecodesToOneScalar() throws {
        let value = try JSON.parse(#""\ud83d\ude00""#)
        #expect(value == .string("😀"))
    }

    /// Strings with escapes are decoded straight into their storage, sized by the escaped text: runs of plain
    /// bytes between escapes, every escape that shrinks least (`\u00e9` to two bytes, a surrogate pair to four, `\n`
    /// to one) and an escape as the very last character all land where they belong.
    @Test func longStringsMixingRunsAndEscapesDecodeExactly() throws {
        var escaped = "", expected = ""
        for i in 0..<5_000 {
            let run = String(repeating: "x", count: i % 97)
            escaped += run + #"\u00e9\ud83d\ude00\u20ac\n\""#
            expected += run + "é😀€\n\""
        }
        escaped += #"\\"#
        expected += "\\"
        #expect(try JSON.parse("\"\(escaped)\"") == .string(expected))
        #expect(try JSON.parse(#""\u0041""#) == .string("A"))
    }

    @Test func rawNonASCIIIsKept() throws {
        let value = try JSON.parse("\"héllo 😀 日本\"")
        #expect(value == .string("héllo 😀 日本"))
        #expect(JSON.serialize(value) == "\"héllo 😀 日本\"")
    }

    @Test func serializationEscapesQuotesBackslashesAndControls() throws {
        let original = JSONValue.string("a\"b\\c\n\t\u{0}\u{1f}\u{7f}é")
        let text = JSON.serialize(original)
        #expect(text == #""a\"b\\c\n\t\u0000\u001f"# + "\u{7f}é\"")
        #expect(try JSON.parse(text) == original)
        #expect(!JSON.serialize(original).utf8.contains(0))
    }

    @Test func everyControlCharacterRoundTrips() throws {
        let all = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        #expect(try JSON.parse(JSON.serialize(.string(all))) == .string(all))
    }

    @Test func integersStayIntegersAndOthersBecomeDoubles() throws {
        #expect(try JSON.parse("0") == .int(0))
        #expect(try JSON.parse("-0") == .int(0))
        #expect(try JSON.parse("42") == .int(42))
        #expect(try JSON.parse("-17") == .int(-17))
        #expect(try JSON.parse("9223372036854775807") == .int(Int.max))
        #expect(try JSON.parse("-9223372036854775808") == .int(Int.min))
        #expect(try JSON.parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try JSON.parse("1.0") == .double(1))
        #expect(try JSON.parse("1e2") == .double(100))
        #expect(try JSON.parse("-2.5E-3") == .double(-0.0025))
    }

    @Test func doublesSerializeAsValidJSON() throws {
        for number in [0.5, -1.25, 1e300, 1e-7, 3.0] {
            let text = JSON.serialize(.double(number))
            #expect(try JSON.parse(text).doubleValue == number)
        }
        #expect(JSON.serialize(.double(.infinity)) == "null")
        #expect(JSON.serialize(.double(.nan)) == "null")
    }

    /// Strings are checked for bytes to escape eight at a time: each such byte, at every place in and after a word,
    /// and beside non-ASCII bytes, must still be escaped.
    @Test func everyByteToEscapeIsEscapedWhereverItStands() throws {
        let toEscape = Array(0..<0x20) + [UInt8(ascii: "\""), UInt8(ascii: "\\")]
        for length in [1, 7, 8, 9, 17, 24] {
            for place in 0..<length {
                for byte in toEscape {
                    var bytes = Array(repeating: UInt8(ascii: "a"), count: length)
                    if length > 2 { bytes[(place + 1) % length] = 0xC3; bytes[(place + 2) % length] = 0xA9 }
                    bytes[place] = byte
                    let text = String(decoding: bytes, as: UTF8.self)
                    let json = JSON.serialize(.string(text))
                    #expect(!json.utf8.dropFirst().dropLast().contains { $0 < 0x20 }, "\(bytes)")
                    #expect(try JSON.parse(json) == .string(text), "\(bytes)")
                }
            }
        }
        #expect(JSON.serialize(.string("aaaaaaaaé")) == "\"aaaaaaaaé\"")
    }

    @Test func writingPieceByPieceIsTheTextOfTheValue() {
        let texts = ["", "plain", "quote \" and \\ backslash", "line\nfeed\ttab\u{1}\u{1F}", "héllo 😀 日本", "ends with \\"]
        var output = JSONOutput()
        output.writeRaw(UInt8(ascii: "["))
        for (position, text) in texts.enumerated() {
            if position > 0 { output.writeRaw(UInt8(ascii: ",")) }
            output.writeString(text)
        }
        for number in [0, -1, Int.min, Int.max] {
            output.writeRaw(UInt8(ascii: ","))
            output.writeInteger(number)
        }
        output.writeRaw(Array(#","#.utf8))
        output.writeBool(true)
        output.writeRaw(UInt8(ascii: ","))
        output.writeNull()
        output.writeRaw(UInt8(ascii: ","))
        output.write(.object(["k": .array([.bool(false)])]))
        output.writeRaw(UInt8(ascii: "]"))
        let value: JSONValue = .array(texts.map { .string($0) } + [0, -1, .int(Int.min), .int(Int.max)].map { $0 }
            + [.bool(true), .null, .object(["k": .array([.bool(false)])])])
        #expect(String(decoding: output.buffer, as: UTF8.self) == JSON.serialize(value))
    }

    @Test func integerExtremesSerialize() {
        #expect(JSON.serialize(.int(Int.min)) == "-9223372036854775808")
        #expect(JSON.serialize(.int(Int.max)) == "9223372036854775807")
        #expect(JSON.serialize(.int(0)) == "0")
    }

    @Test(arguments: [
        "", " ", "nul", "tru", "[1,]", "{\"a\":1,}", "[1 2]", "{\"a\" 1}", "{a:1}", "01", "-", "1.", ".5", "1e", "+1",
        "NaN", "Infinity", "-Infinity", "[1]x", "{} {}", "\"abc", "'a'", "[\"a\u{1}\"]", "\"\\x\"", "\"\\u12\"",
        "\"\\uZZZZ\"", "1e400", "{\"a\":1,\"a\":2}", "[", "{", "]",
    ])
    func malformedTextIsRejected(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func trailingDataIsReportedAtItsOffset() throws {
        let error = #expect(throws: JSONParseError.self) { try JSON.parse("{} x") }
        #expect(error?.offset == 3)
    }

    @Test(arguments: [
        [0x22, 0xFF, 0x22],  // invalid lead byte
        [0x22, 0xC3, 0x22],  // truncated sequence
        [0x22, 0xC0, 0xAF, 0x22],  // overlong
        [0x22, 0xED, 0xA0, 0x80, 0x22],  // UTF-8 encoded surrogate
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],  // above U+10FFFF
        [0x22, 0x80, 0x22],  // lone continuation byte
    ] as [[UInt8]])
    func invalidUTF8IsRejected(_ bytes: [UInt8]) {
        #expect(throws: JSONParseError.self) { try JSON.parse(bytes) }
    }

    @Test(arguments: [#""\ud83d""#, #""\ude00""#, #""\ud83dx""#, #""\ud83d\u0041""#, #""\ud83d\ud83d""#])
    func loneSurrogateEscapesAreRejected(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func nestingDeeperThanTheLimitThrowsWithoutCrashing() {
        let depth = 10_000
        let arrays = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(throws: JSONParseError.self) { try JSON.parse(arrays) }
        let objects = String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(throws: JSONParseError.self) { try JSON.parse(objects) }
        let unclosed = String(repeating: "[", count: 1_000_000)
        #expect(throws: JSONParseError.self) { try JSON.parse(unclosed, maxDepth: 2_000_000) }
    }

    @Test func nestingExactlyAtTheLimitIsAccepted() throws {
        let atLimit = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSON.parse(atLimit) }
        let overLimit = "[" + atLimit + "]"
        #expect(throws: JSONParseError.self) { try JSON.parse(overLimit) }
        #expect(try JSON.parse("[[1]]", maxDepth: 2) == [[1]])
    }

    @Test func largeObjectsLookUpAndRejectDuplicates() throws {
        let keys = (0..<1000).map { "key\($0)" }
        let text = "{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + "}"
        let object = try #require(try JSON.parse(text).objectValue)
        #expect(object.count == 1000)
        #expect(object["key999"] == 1)
        #expect(object["missing"] == nil)
        let duplicated = "{" + keys.map { "\"\($0)\":1" }.joined(separator: ",") + ",\"key5\":2}"
        #expect(throws: JSONParseError.self) { try JSON.parse(duplicated) }
    }

    @Test func prettyPrintIndentsByTwoSpaces() throws {
        let value: JSONValue = ["a": 1, "b": [true, "x"], "c": [:], "d": []]
        let expected = """
            {
              "a": 1,
              "b": [
                true,
                "x"
              ],
              "c": {},
              "d": []
            }
            """
        #expect(JSON.prettyPrint(value) == expected)
        #expect(try JSON.parse(expected) == value)
    }
}

@Suite struct JSONObjectTests {
    @Test func settingAppendsReplacesAndRemoves() {
        var object: JSONObject = ["a": 1, "b": 2]
        object["c"] = 3
        object["a"] = 10
        object["b"] = nil
        #expect(object.keys == ["a", "c"])
        #expect(object["a"] == 10)
        #expect(object.count == 2)
        #expect(!object.isEmpty)
        #expect(Array(object.map(\.key)) == ["a", "c"])
    }

    @Test func largeObjectKeepsOrderThroughRemovals() {
        var object = JSONObject()
        for index in 0..<100 { object["k\(index)"] = .int(index) }
        for index in stride(from: 0, to: 100, by: 2) { object["k\(index)"] = nil }
        #expect(object.count == 50)
        #expect(object.keys.first == "k1")
        #expect(object["k51"] == 51)
        #expect(object["k50"] == nil)
        object["new"] = true
        #expect(object.keys.last == "new")
        #expect(object["new"] == true)
    }

    @Test func equalityIgnoresKeyOrder() {
        let first: JSONObject = ["a": 1, "b": 2]
        let second: JSONObject = ["b": 2, "a": 1]
        #expect(first == second)
        #expect(first.hashValue == second.hashValue)
        #expect(first != ["a": 1, "b": 3])
        #expect(first != ["a": 1])
    }

    @Test func accessorsReturnTypedValues() {
        let value: JSONValue = ["s": "x", "i": 3, "d": 2.0, "h": 2.5, "b": true, "n": nil, "a": [1], "o": ["k": 1]]
        let object = value.objectValue!
        #expect(object["s"]?.stringValue == "x")
        #expect(object["i"]?.intValue == 3)
        #expect(object["d"]?.intValue == 2)
        #expect(object["h"]?.intValue == nil)
        #expect(object["b"]?.boolValue == true)
        #expect(object["n"]?.isNull == true)
        #expect(object["a"]?.arrayValue == [1])
        #expect(object["o"]?.objectValue == ["k": 1])
        #expect(object["s"]?.intValue == nil)
    }
}

/// `JSON.parse(consuming:)`: the daemon parses received frames so, giving back the pages it has decoded past.
@Suite struct ConsumingParseTests {
    /// A CSV-upload-like call of about 2 MB: one long string with an escaped line break every row, then an array
    /// of short strings, as an AddDevices call carries them.
    static func largeMessage() -> [UInt8] {
        var csv = #"Device Serial Number,Windows Product ID,Hardware Hash\r\n"#
        for row in 0..<12_000 {
            csv += "SN-\(row),,\(String(repeating: "T0FBQUFBQ", count: 18))" + #"\r\n"#
        }
        let items = (0..<3_000).map { "\"item \($0) \\\"quoted\\\" \\u00e9\"" }.joined(separator: ",")
        return Array(#"{"method":"io.example.Upload","parameters":{"csv":"\#(csv)","items":[\#(items)]}}"#.utf8)
    }

    /// Runs `body` on `message` copied into fresh pages at an offset that is not page aligned, with marker bytes
    /// before and after it in the same mapping, and returns what `body` returned and the mapping's bytes after it.
    static func inMappedPages<R>(_ message: [UInt8], _ body: (UnsafeMutableRawBufferPointer) throws -> R)
        rethrows -> (R, before: [UInt8], frame: [UInt8], after: [UInt8])
    {
        let lead = 100, trail = 5_000
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: lead + message.count + trail, alignment: 4096)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xAB)
        message.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[lead...]).copyMemory(from: $0) }
        let result = try body(UnsafeMutableRawBufferPointer(rebasing: buffer[lead..<lead + message.count]))
        return (result, Array(buffer[..<lead]), Array(buffer[lead..<lead + message.count]),
                Array(buffer[(lead + message.count)...]))
    }

    @Test func largeInputDecodesAsUsualAndItsPassedPagesAreGivenBack() throws {
        let message = Self.largeMessage()
        #expect(message.count > 2_000_000)
        let expected = try JSON.parse(message)
        let (value, before, frame, after) = try Self.inMappedPages(message) { try JSON.parse(consuming: $0) }
        #expect(value == expected)
        // Nothing outside the input is touched.
        #expect(before.allSatisfy { $0 == 0xAB })
        #expect(after.allSatisfy { $0 == 0xAB })
        #if os(Linux)
        // Pages the parser passed read as zero now (given back with MADV_DONTNEED): most of the input.
        let zeroed = frame.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        #expect(zeroed > message.count / 2)
        #expect(frame[4_096..<8_192].allSatisfy { $0 == 0 })
        #endif
        // The page the parser stopped in, and what follows it, are left as they were.
        #expect(Array(frame.suffix(100)) == Array(message.suffix(100)))
    }

    @Test func smallInputIsLeftAsItWas() throws {
        let message = Array(#"{"method":"io.example.Ping","parameters":{"text":"a\nb","list":["x","y"]}}"#.utf8)
        let (value, _, frame, _) = try Self.inMappedPages(message) { try JSON.parse(consuming: $0) }
        #expect(value == (try JSON.parse(message)))
        #expect(frame == message)
    }

    @Test func malformedLargeInputIsStillRefusedWithItsOffset() throws {
        var message = Self.largeMessage()
        message.removeLast(2)   // the closing brackets: the parser runs out after releasing most of the input
        let expectedError = #expect(throws: JSONParseError.self) { try JSON.parse(message) }
        let (outcome, _, _, _) = Self.inMappedPages(message) { bytes in
            Result { () throws(JSONParseError) in try JSON.parse(consuming: bytes) }
        }
        guard case .failure(let error) = outcome else {
            Issue.record("a truncated message parsed")
            return
        }
        #expect(error.offset == expectedError?.offset)
        #expect(error.reason == expectedError?.reason)
    }
}

/// `JSON.parseMeasured`: what a decoded message holds, which the daemon counts against its limits instead of the
/// message's length, and the refusal of a message that would hold too much.
@Suite struct DecodedSizeTests {
    /// Parses `text` as a received frame (its bytes are given up) with `limit`.
    static func measure(_ text: String, limit: Int = .max) throws(JSONParseError) -> (value: JSONValue, decodedSize: Int) {
        var bytes = Array(text.utf8)
        let result = bytes.withUnsafeMutableBytes { buffer in
            Result { () throws(JSONParseError) in try JSON.parseMeasured(consuming: buffer, maxDecodedSize: limit) }
        }
        return try result.get()
    }

    static let shapes: [(name: String, text: String, elements: Int)] = [
        ("zeros", "[" + Array(repeating: "0", count: 50_000).joined(separator: ",") + "]", 50_000),
        ("small objects", "[" + Array(repeating: #"{"a":0}"#, count: 20_000).joined(separator: ",") + "]", 20_000),
        ("short strings", "[" + Array(repeating: #""abc""#, count: 20_000).joined(separator: ",") + "]", 20_000),
        ("empty lists", "[" + Array(repeating: "[]", count: 20_000).joined(separator: ",") + "]", 20_000),
        ("wide objects", "[" + Array(repeating: "{" + (0..<20).map { "\"key\($0)\":\($0)" }.joined(separator: ",") + "}",
                                      count: 1_000).joined(separator: ",") + "]", 21_000),
    ]

    @Test(arguments: shapes.map(\.name))
    func everyValueCountsAtLeastItsSlot(_ name: String) throws {
        let shape = try #require(Self.shapes.first { $0.name == name })
        let (value, size) = try Self.measure(shape.text)
        #expect(value == (try JSON.parse(shape.text)))
        #expect(size >= shape.elements * MemoryLayout<JSONValue>.stride, "\(name): \(size) bytes for \(shape.elements) values")
    }

    @Test func longStringsCountTheirBytesAndTextMostlyCountsOnce() throws {
        let long = String(repeating: "T0FBQUFBQ", count: 10_000)
        let (_, size) = try Self.measure(#"{"hash":"\#(long)"}"#)
        #expect(size >= long.utf8.count)
        // A message made of long strings (an upload) is estimated near its length: one of the largest frames fits.
        let upload = String(decoding: ConsumingParseTests.largeMessage(), as: UTF8.self)
        let (_, uploadSize) = try Self.measure(upload)
        #expect(uploadSize >= upload.utf8.count / 2 && uploadSize <= upload.utf8.count * 2, "\(uploadSize) for \(upload.utf8.count)")
    }

    @Test func aValueLargerThanTheLimitIsRefusedAndOneAtTheLimitIsNot() throws {
        let text = Self.shapes[1].text
        let (value, size) = try Self.measure(text)
        #expect(try Self.measure(text, limit: size).value == value)
        let error = #expect(throws: JSONParseError.self) { try Self.measure(text, limit: size - 1) }
        #expect(error?.reason.contains("more than \(size - 1) bytes of memory") == true, "\(String(describing: error))")
        // Refused as soon as the count passes the limit, not at the end of the input.
        let early = #expect(throws: JSONParseError.self) { try Self.measure(text, limit: 10_000) }
        #expect((early?.offset ?? .max) < text.utf8.count / 10, "\(String(describing: early))")
    }
}
