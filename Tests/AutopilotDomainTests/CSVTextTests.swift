import AutopilotDomain
import AutopilotTestSupport
import Testing

/// `text` as UTF-16 bytes, little- or big-endian, with or without a byte order mark.
func utf16(_ text: String, bigEndian: Bool = false, bom: Bool = true) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(2 * text.utf16.count + 2)
    for unit in (bom ? [0xFEFF] : []) + Array(text.utf16) {
        bytes.append(UInt8(truncatingIfNeeded: bigEndian ? unit >> 8 : unit))
        bytes.append(UInt8(truncatingIfNeeded: bigEndian ? unit : unit >> 8))
    }
    return bytes
}

/// `text` as UTF-8 bytes, with or without a byte order mark.
func utf8(_ text: String, bom: Bool = false) -> [UInt8] {
    (bom ? [0xEF, 0xBB, 0xBF] : []) + Array(text.utf8)
}

/// Lines of `bytes` decoded as one whole buffer: (number, text, decoding).
func decodeWhole(_ bytes: [UInt8]) -> (CSVText.Encoding, [CSVText.Line]) {
    let (encoding, lines) = CSVText.lines(of: bytes)
    return (encoding, lines)
}

/// Lines of `bytes` fed to a decoder in chunks of the given sizes (cycled), taking lines after every chunk.
func decodeChunked(_ bytes: [UInt8], sizes: [Int]) -> (CSVText.Encoding?, [CSVText.Line]) {
    var decoder = CSVText.LineDecoder()
    var lines: [CSVText.Line] = []
    var offset = 0
    var k = 0
    while offset < bytes.count {
        let n = min(sizes[k % sizes.count], bytes.count - offset)
        k += 1
        bytes[offset..<offset + n].withUnsafeBytes { decoder.append($0) }
        offset += n
        while let line = decoder.nextLine() { lines.append(line) }
    }
    decoder.finish()
    while let line = decoder.nextLine() { lines.append(line) }
    return (decoder.encoding, lines)
}

@Suite struct CSVTextEncodingTests {
    @Test func byteOrderMarksAreDetected() {
        #expect(CSVText.Encoding.detect([0xEF, 0xBB, 0xBF, 0x44], isComplete: false) == .utf8WithBOM)
        #expect(CSVText.Encoding.detect([0xFF, 0xFE, 0x44, 0x00], isComplete: false) == .utf16LE)
        #expect(CSVText.Encoding.detect([0xFE, 0xFF, 0x00, 0x44], isComplete: false) == .utf16BE)
        #expect(CSVText.Encoding.detect(Array("Device".utf8), isComplete: false) == .utf8)
    }

    @Test func partOfAByteOrderMarkWaitsForMoreBytesUnlessTheFileEnds() {
        for prefix: [UInt8] in [[], [0xEF], [0xEF, 0xBB], [0xFF], [0xFE]] {
            #expect(CSVText.Encoding.detect(prefix, isComplete: false) == nil, "\(prefix)")
            #expect(CSVText.Encoding.detect(prefix, isComplete: true) == .utf8, "\(prefix)")
        }
        // A first byte that starts no mark decides at once.
        #expect(CSVText.Encoding.detect([0xEF, 0x41], isComplete: false) == .utf8)
        #expect(CSVText.Encoding.detect([0xFF, 0x41], isComplete: false) == .utf8)
    }

    @Test func encodingNamesAreThoseMessagesUse() {
        #expect("\(CSVText.Encoding.utf16LE)" == "UTF-16LE")
        #expect("\(CSVText.Encoding.utf16BE)" == "UTF-16BE")
        #expect("\(CSVText.Encoding.utf8)" == "UTF-8")
    }

    @Test(arguments: [
        (utf8("SN-é😀,x\r\nB\r\n"), CSVText.Encoding.utf8),
        (utf8("SN-é😀,x\r\nB\r\n", bom: true), .utf8WithBOM),
        (utf16("SN-é😀,x\r\nB\r\n"), .utf16LE),
        (utf16("SN-é😀,x\r\nB\r\n", bigEndian: true), .utf16BE),
    ])
    func everyEncodingGivesTheSameLines(bytes: [UInt8], encoding: CSVText.Encoding) {
        let (detected, lines) = decodeWhole(bytes)
        #expect(detected == encoding)
        #expect(lines == [CSVText.Line(number: 1, text: "SN-é😀,x"), CSVText.Line(number: 2, text: "B")])
    }

    @Test func invalidUTF8LineWithoutByteOrderMarkIsReadAsWindows1252() {
        // "Café €5 “quoted” it’s" in Windows-1252, between two plain lines.
        let ansi: [UInt8] = Array("Caf".utf8) + [0xE9] + Array(" ".utf8) + [0x80] + Array("5 ".utf8) + [0x93]
            + Array("quoted".utf8) + [0x94] + Array(" it".utf8) + [0x92] + Array("s".utf8)
        let bytes = utf8("first\r\n") + ansi + utf8("\r\nSN-é\r\n")
        var decoder = CSVText.LineDecoder()
        decoder.append(contentsOf: bytes)
        decoder.finish()
        var lines: [CSVText.Line] = []
        while let line = decoder.nextLine() { lines.append(line) }
        #expect(decoder.encoding == .utf8)
        #expect(lines == [
            CSVText.Line(number: 1, text: "first"),
            CSVText.Line(number: 2, text: "Café €5 \u{201C}quoted\u{201D} it\u{2019}s", decoding: .windows1252),
            // Valid UTF-8 stays UTF-8 in the same file: the choice is per line.
            CSVText.Line(number: 3, text: "SN-é"),
        ])
        #expect(decoder.windows1252LineCount == 1)
    }

    @Test func windows1252TableIsTheRealOneAndUndefinedBytesBecomeC1Controls() {
        let expected: [UInt32] = [
            0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,
            0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
            0x0153, 0x9D, 0x017E, 0x0178,
        ]
        let bytes = Array(UInt8(0x80)...UInt8(0xFF))
        let (_, lines) = decodeWhole(bytes)
        #expect(lines.count == 1)
        #expect(lines.first?.decoding == .windows1252)
        let scalars = lines.first.map { $0.text.unicodeScalars.map(\.value) } ?? []
        #expect(scalars == expected + (0xA0...0xFF).map { UInt32($0) })
        #expect(decodeWhole([0x80, 0x99, 0x8A, 0x9F]).1.first?.text == "€™ŠŸ")
    }

    @Test func invalidBytesInAFileWithAUTF8ByteOrderMarkAreReplacedAndMarked() {
        let (encoding, lines) = decodeWhole(utf8("ok\n", bom: true) + [0x53, 0xE9, 0x4E, 0x0A] + utf8("next"))
        #expect(encoding == .utf8WithBOM)
        #expect(lines == [
            CSVText.Line(number: 1, text: "ok"),
            CSVText.Line(number: 2, text: "S\u{FFFD}N", decoding: .replaced),
            CSVText.Line(number: 3, text: "next"),
        ])
        #expect(lines[1].decoding.problem(in: encoding)?.contains("not valid UTF-8 with a byte order mark text") == true)
    }
}

@Suite struct CSVTextLineTests {
    @Test(arguments: [
        ("a,b\r\nc\r\nd\r\n", "CRLF"), ("a,b\nc\nd\n", "LF"), ("a,b\r\nc\nd\r\n", "mixed"), ("a,b\nc\r\nd", "no final newline"),
        ("a,b\rc\rd\r", "lone CR"), ("a,b\rc\r\nd", "lone CR and CRLF"),
    ])
    func everyLineEndingGivesTheSameLines(text: String, name: String) {
        let want = [CSVText.Line(number: 1, text: "a,b"), CSVText.Line(number: 2, text: "c"),
                    CSVText.Line(number: 3, text: "d")]
        for bytes in [utf8(text), utf8(text, bom: true), utf16(text), utf16(text, bigEndian: true)] {
            #expect(decodeWhole(bytes).1 == want, "\(name)")
        }
    }

    @Test func blankLinesCountAndAFinalLineEndingStartsNoLine() {
        for bytes in [utf8("h\n\n \t\nx\n"), utf16("h\r\n\r\n \t\r\nx\r\n")] {
            let lines = decodeWhole(bytes).1
            #expect(lines.map(\.number) == [1, 2, 3, 4])
            #expect(lines.map(\.text) == ["h", "", " \t", "x"])
            #expect(lines.map(\.isBlank) == [false, true, true, false])
        }
    }

    @Test func emptyInputHasNoLinesAndOnlyAHeaderHasOne() {
        #expect(decodeWhole([]).1.isEmpty)
        #expect(decodeWhole([0xFF, 0xFE]).1.isEmpty)
        #expect(decodeWhole([0xEF, 0xBB, 0xBF]).1.isEmpty)
        #expect(decodeWhole(utf8("\n")).1 == [CSVText.Line(number: 1, text: "")])
        #expect(decodeWhole(utf16("Header")).1 == [CSVText.Line(number: 1, text: "Header")])
        #expect(decodeWhole(utf16("Header\r\n")).1 == [CSVText.Line(number: 1, text: "Header")])
    }

    @Test func aUTF16LineEndsAtTheCodeUnitNotAtA0ABytePartOfAnother() {
        // U+0D0A is the bytes 0A 0D (LE) or 0D 0A (BE); U+010A has a 0A byte too; U+0A0D the other way round.
        let text = "x\u{0D0A}y\u{010A}z\u{0A0D}w\r\nnext"
        for bigEndian in [false, true] {
            let lines = decodeWhole(utf16(text, bigEndian: bigEndian)).1
            #expect(lines.map(\.text) == ["x\u{0D0A}y\u{010A}z\u{0A0D}w", "next"])
        }
    }

    @Test func surrogatePairsDecodeAndUnpairedOnesBecomeReplacementCharacters() {
        let pair = decodeWhole(utf16("a😀b\n𝄞")).1
        #expect(pair == [CSVText.Line(number: 1, text: "a😀b"), CSVText.Line(number: 2, text: "𝄞")])

        // A high surrogate before a letter, a low surrogate alone, a high surrogate at the very end.
        let units: [UInt16] = [0x61, 0xD83D, 0x62, 0x0A, 0xDE00, 0x63, 0x0A, 0x64, 0xD83D]
        for bigEndian in [false, true] {
            var bytes: [UInt8] = bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE]
            for u in units {
                bytes += bigEndian ? [UInt8(u >> 8), UInt8(u & 0xFF)] : [UInt8(u & 0xFF), UInt8(u >> 8)]
            }
            let lines = decodeWhole(bytes).1
            #expect(lines == [
                CSVText.Line(number: 1, text: "a\u{FFFD}b", decoding: .replaced),
                CSVText.Line(number: 2, text: "\u{FFFD}c", decoding: .replaced),
                CSVText.Line(number: 3, text: "d\u{FFFD}", decoding: .replaced),
            ])
        }
    }

    @Test func anOddFinalByteInUTF16IsAReplacementCharacter() {
        let lines = decodeWhole(utf16("ab\r\ncd") + [0x65]).1
        #expect(lines == [CSVText.Line(number: 1, text: "ab"),
                          CSVText.Line(number: 2, text: "cd\u{FFFD}", decoding: .replaced)])
        #expect(decodeWhole(utf16("ab\r\n") + [0x65]).1.last == CSVText.Line(number: 2, text: "\u{FFFD}", decoding: .replaced))
        #expect(decodeWhole([0xFF, 0xFE, 0x41]).1 == [CSVText.Line(number: 1, text: "\u{FFFD}", decoding: .replaced)])
    }

    @Test func aLineLongerThanTheLimitIsMarkedAndTheNextLineKeepsItsNumber() {
        let max = CSVText.maxLineBytes
        let long = String(repeating: "A", count: max + 1)
        let exact = String(repeating: "B", count: max)
        let text = "h\r\n\(long)\r\nafter\r\n\(exact)\nend"
        for (bytes, exactFits) in [(utf8(text), true), (utf16(text), false), (utf16(text, bigEndian: true), false)] {
            for sizes in [[bytes.count], [65536], [4097, 1]] {
                let lines = decodeChunked(bytes, sizes: sizes).1
                #expect(lines.map(\.number) == [1, 2, 3, 4, 5])
                #expect(lines[1] == CSVText.Line(number: 2, text: "", decoding: .tooLong))
                #expect(lines[1].isBlank == false)
                #expect(lines[2].text == "after")
                // In UTF-16 a line of `max` characters is 2 * max bytes: too long as well.
                #expect(lines[3].decoding == (exactFits ? .exact : .tooLong))
                #expect(lines[4].text == "end")
            }
        }
    }

    @Test func memoryStaysBoundedWhileALongLineIsSkipped() {
        var decoder = CSVText.LineDecoder()
        let chunk = [UInt8](repeating: UInt8(ascii: "A"), count: 65536)
        var lines: [CSVText.Line] = []
        var largest = 0
        for _ in 0..<64 {
            chunk.withUnsafeBytes { decoder.append($0) }
            largest = max(largest, decoder.bufferedByteCount)
            while let line = decoder.nextLine() { lines.append(line) }
        }
        decoder.append(contentsOf: utf8("\nnext"))
        decoder.finish()
        while let line = decoder.nextLine() { lines.append(line) }
        #expect(lines.map(\.decoding) == [.tooLong, .exact])
        #expect(lines.last?.text == "next" && lines.last?.number == 2)
        #expect(largest <= CSVText.maxLineBytes + 2 * chunk.count)
    }
}

@Suite struct CSVTextChunkingTests {
    /// Inputs whose chunk boundaries can fall inside a UTF-16 code unit, a surrogate pair, a CRLF, a UTF-8
    /// sequence, a byte order mark and a Windows-1252 line.
    static let inputs: [(String, [UInt8])] = {
        let text = "Device Serial Number,Windows Product ID,Hardware Hash\r\nSN-é😀,,QUJDRA==\r\n\r\nx\ny\rz\r\n"
            + "\u{0D0A}\u{010A}𝄞,,\(String(repeating: "T0GXBAEAHAAA", count: 40))\nlast"
        return [
            ("UTF-8", utf8(text)), ("UTF-8 BOM", utf8(text, bom: true)), ("UTF-16LE", utf16(text)),
            ("UTF-16BE", utf16(text, bigEndian: true)),
            ("Windows-1252", utf8("a\r\n") + [0x43, 0x61, 0x66, 0xE9, 0x80, 0x0D, 0x0A, 0x93, 0x0D] + utf8("\nb\r")),
            ("UTF-16 odd and unpaired", utf16("ab\r\n") + [0x3D, 0xD8, 0x0D, 0x00, 0x0A, 0x00, 0x00, 0xDC, 0x41]),
        ]
    }()

    @Test func oneByteAtATimeGivesWhatTheWholeBufferGives() {
        for (name, bytes) in Self.inputs {
            let whole = decodeWhole(bytes)
            let chunked = decodeChunked(bytes, sizes: [1])
            #expect(chunked.0 == whole.0, "\(name)")
            #expect(chunked.1 == whole.1, "\(name)")
        }
    }

    @Test func randomChunkSizesGiveWhatTheWholeBufferGives() {
        var random = SplitMix64(seed: 20_250_601)
        for (name, bytes) in Self.inputs {
            let whole = decodeWhole(bytes)
            for _ in 0..<200 {
                let sizes = (0..<8).map { _ in Int.random(in: 1...23, using: &random) }
                let chunked = decodeChunked(bytes, sizes: sizes)
                #expect(chunked.1 == whole.1, "\(name), chunk sizes \(sizes)")
            }
        }
    }

    @Test func everySplitPointInACRLFGivesNoExtraLine() {
        for bytes in [utf8("a\r\nb"), utf16("a\r\nb"), utf16("a\r\nb", bigEndian: true)] {
            for cut in 1..<bytes.count {
                let chunked = decodeChunked(bytes, sizes: [cut, bytes.count])
                #expect(chunked.1.map(\.text) == ["a", "b"], "cut at \(cut)")
            }
        }
    }
}
