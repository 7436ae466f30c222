#if canImport(Glibc)
import Glibc
#endif
import AutopilotClient
import AutopilotDomain
import Testing

/// Reads fixture files next to this source file (no SwiftPM resources).
func fixture(_ name: String) -> String {
    let here = #filePath
    let directory = here[..<here.lastIndex(of: "/")!]
    return "\(directory)/Fixtures/\(name)"
}

/// The real device files of `../shared/realdata/` beside the package root (shared/realdata/README.md): read in place,
/// never copied into the repository.
func realData(_ name: String = "") -> String {
    var path = #filePath
    for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
    return "\(path)/../shared/realdata/\(name)"
}

/// The names of the files in `directory`.
func fileNames(in directory: String) -> [String] {
    guard let dir = opendir(directory) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}

/// The whole content of a file.
func contents(_ path: String) -> [UInt8] {
    guard let file = fopen(path, "rb") else { return [] }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        bytes += buffer[..<n]
    }
    return bytes
}

/// A file under /tmp with the given bytes, removed by the caller.
func temporaryFile(_ bytes: [UInt8]) -> String {
    var template = Array("/tmp/devicecsv-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0)
    bytes.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
    close(fd)
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `text` as UTF-16 with a byte order mark.
func utf16File(_ text: String, bigEndian: Bool = false) -> [UInt8] {
    var bytes: [UInt8] = []
    for unit in [0xFEFF] + Array(text.utf16) {
        bytes.append(UInt8(truncatingIfNeeded: bigEndian ? unit >> 8 : unit))
        bytes.append(UInt8(truncatingIfNeeded: bigEndian ? unit : unit >> 8))
    }
    return bytes
}

/// Field `column` (0-based) of line `line` (1-based) of a UTF-8 fixture, as the file has it; nil when empty.
func fixtureField(_ name: String, line: Int, column: Int) -> String? {
    let text = String(decoding: contents(fixture(name)), as: UTF8.self)
    let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
    let fields = lines[line - 1].split(separator: ",", omittingEmptySubsequences: false)
    let value = fields[column].trimmingPrefix(while: { $0 == " " })
    return value.isEmpty ? nil : String(value)
}

func readAll(_ file: DeviceCSVFile) throws -> [DeviceCSVFile.Row] {
    var rows: [DeviceCSVFile.Row] = []
    while let row = try file.next() { rows.append(row) }
    return rows
}

@Suite struct DeviceCSVFileTests {
    @Test func bomCrlfFileKeepsLineNumbersAcrossBlankAndBadLines() throws {
        let file = try DeviceCSVFile(path: fixture("intune-bom-crlf.csv"))
        #expect(file.format == .intuneWithGroupTag)
        #expect(file.encoding == .utf8WithBOM)
        let rows = try readAll(file)
        #expect(rows.map(\.line) == [2, 4, 5, 7, 8])
        #expect(try rows[0].result.get() == DeviceInput(
            serialNumber: "SN-001", hardwareHash: fixtureField("intune-bom-crlf.csv", line: 2, column: 2), groupTag: "Sales"))
        #expect(try rows[1].result.get() == DeviceInput(serialNumber: "SN-002", productKey: "00329-00000-0003-AA606"))
        guard case let .failure(columns) = rows[2].result else { Issue.record("line 5 should fail"); return }
        #expect(columns.line == 5)
        #expect(columns.reason.hasPrefix("has 3 columns, expected 4"))
        guard case let .failure(quote) = rows[3].result else { Issue.record("line 7 should fail"); return }
        #expect(quote.line == 7)
        #expect(try rows[4].result.get().groupTag == "Ops")
    }

    @Test func partnerCenterFixtureIsRead() throws {
        let file = try DeviceCSVFile(path: fixture("partner-center.csv"))
        #expect(file.format == .partnerCenter)
        let rows = try readAll(file)
        #expect(rows.count == 2)
        #expect(try rows.map { try $0.result.get().serialNumber } == ["PF-1", "PF-2"])
        #expect(try rows[1].result.get().model == "Laptop 7")
        #expect(file.size == file.bytesRead)
    }

    // Until the CSV rules moved to the domain, headers were case-sensitive and this fixture was refused as
    // miscapitalised; names now match ignoring case.
    @Test func miscapitalisedFixtureIsAccepted() throws {
        let file = try DeviceCSVFile(path: fixture("miscapitalised.csv"))
        #expect(file.format == .intune)
        #expect(file.header.hasPrefix("device serial number,"))
        let rows = try readAll(file)
        #expect(rows.map(\.line) == [2])
        #expect(try rows.first?.result.get().serialNumber == "SN-1")
    }

    @Test func badHeaderNamesThePathLineAndEncodingAndListsTheHeaders() {
        let path = temporaryFile(utf16File("Serial,Hash\r\nSN1,QUJD\r\n"))
        defer { unlink(path) }
        let error = #expect(throws: DeviceCSVFile.FileError.self) { try DeviceCSVFile(path: path) }
        guard case let .badHeader(errorPath, encoding, header)? = error else {
            Issue.record("expected badHeader, got \(String(describing: error))"); return
        }
        #expect(errorPath == path && encoding == .utf16LE)
        #expect(header.reason == "the header has an unknown column 'Serial'")
        let text = error?.description ?? ""
        #expect(text.hasPrefix("\(path), line 1: the header has an unknown column 'Serial' (read as UTF-16LE); "
            + "expected one of these header lines:\n"))
        for format in DeviceCSV.Format.allCases { #expect(text.contains("\n  \(format.header)")) }
    }

    @Test func missingFileCannotBeOpened() {
        let error = #expect(throws: DeviceCSVFile.FileError.self) { try DeviceCSVFile(path: "/nonexistent/devices.csv") }
        guard case let .cannotOpen(_, code)? = error else { Issue.record("expected cannotOpen"); return }
        #expect(code == ENOENT)
    }

    @Test(arguments: [[], [0xFF, 0xFE], [0xEF, 0xBB, 0xBF]] as [[UInt8]])
    func emptyFileIsRefused(bytes: [UInt8]) {
        let path = temporaryFile(bytes)
        defer { unlink(path) }
        let error = #expect(throws: DeviceCSVFile.FileError.self) { try DeviceCSVFile(path: path) }
        guard case .empty? = error else { Issue.record("expected empty, got \(String(describing: error))"); return }
        #expect(error?.description == "\(path) is empty; a device CSV file starts with a header line, "
            + "e.g. Device Serial Number,Windows Product ID,Hardware Hash")
    }

    @Test func onlyAHeaderGivesNoRows() throws {
        for bytes in [Array("Device Serial Number,Windows Product ID,Hardware Hash".utf8),
                      utf16File("Device Serial Number,Windows Product ID,Hardware Hash\r\n")] {
            let path = temporaryFile(bytes)
            defer { unlink(path) }
            let file = try DeviceCSVFile(path: path)
            #expect(try file.next() == nil)
            #expect(try file.nextLine() == nil)
            #expect(file.currentLine == 1)
        }
    }

    // Until text that is not valid UTF-8 was read as Windows-1252, this line was an "is not valid UTF-8" error.
    @Test func invalidUTF8RowIsReadAsWindows1252() throws {
        let path = temporaryFile(Array("Device Serial Number,Windows Product ID,Hardware Hash\nSN\u{1},,QUJD\n".utf8)
            + [0xFF, 0xFE, 0x2C, 0x2C, 0x0A] + Array("SN3,,QUJD\n".utf8))
        defer { unlink(path) }
        let file = try DeviceCSVFile(path: path)
        let rows = try readAll(file)
        #expect(rows.map(\.line) == [2, 3, 4])
        #expect(try rows[1].result.get().serialNumber == "ÿþ")
        #expect(try rows[2].result.get().serialNumber == "SN3")
        #expect(file.encoding == .utf8)
        #expect(file.encodingDescription == "UTF-8 (1 line as Windows-1252)")
    }

    @Test func windows1252FileKeepsAccentsEuroAndCurlyQuotes() throws {
        let path = temporaryFile(Array("Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\nSN-".utf8)
            + [0xE9] + Array(",,QUJD,".utf8) + [0x93, 0x80, 0x94] + Array("\r\n".utf8))
        defer { unlink(path) }
        let rows = try readAll(try DeviceCSVFile(path: path))
        #expect(try rows.map { try $0.result.get() }
            == [DeviceInput(serialNumber: "SN-é", hardwareHash: "QUJD", groupTag: "\u{201C}€\u{201D}")])
    }

    @Test(arguments: [false, true])
    func utf16FilesAreRead(bigEndian: Bool) throws {
        let path = temporaryFile(utf16File(
            "Device serial number,Windows product ID,Hardware hash,Manufacturer name,Device Model\r\n"
                + "SN-é,,QUJD,Contoso,Laptop 😀\r\n\r\nSN-2,,,Contoso,X", bigEndian: bigEndian))
        defer { unlink(path) }
        let file = try DeviceCSVFile(path: path)
        #expect(file.encoding == (bigEndian ? .utf16BE : .utf16LE))
        #expect(file.format == .partnerCenter)
        #expect(file.header == "Device serial number,Windows product ID,Hardware hash,Manufacturer name,Device Model")
        let rows = try readAll(file)
        #expect(rows.map(\.line) == [2, 4])
        #expect(try rows[0].result.get() == DeviceInput(serialNumber: "SN-é", hardwareHash: "QUJD", manufacturer: "Contoso",
                                                         model: "Laptop 😀"))
        #expect(file.bytesRead == file.size)
    }

    @Test func nextLineGivesEveryLineAsTextWithItsNumber() throws {
        let path = temporaryFile(utf16File("Device Serial Number,Windows Product ID,Hardware Hash\r\nA,,QUJD\r\n\r\n"
            + "B,,QUJD\rC,\"x\",QUJD\nD,,QUJD"))
        defer { unlink(path) }
        let file = try DeviceCSVFile(path: path)
        var lines: [CSVText.Line] = []
        while let line = try file.nextLine() { lines.append(line) }
        #expect(lines.map(\.number) == [2, 3, 4, 5, 6])
        #expect(lines.map(\.text) == ["A,,QUJD", "", "B,,QUJD", "C,\"x\",QUJD", "D,,QUJD"])
        #expect(lines[1].isBlank)
        #expect(file.currentLine == 6)
        // What the daemon makes of the same text gives the same numbers.
        let text = ([file.header] + lines.map(\.text)).joined(separator: "\n")
        let parsed = try DeviceCSV.parse(text: text)
        #expect(parsed.rows.map(\.line) == [2, 4, 5, 6])
    }

    @Test func largeFileIsReadLineByLine() throws {
        var text = "Device Serial Number,Windows Product ID,Hardware Hash\n"
        let hash = String(repeating: "A", count: 4096)
        for i in 0..<3000 { text += "SN\(i),,\(hash)\n" }
        for bytes in [Array(text.utf8), utf16File(text)] {
            let path = temporaryFile(bytes)
            defer { unlink(path) }
            let file = try DeviceCSVFile(path: path)
            var count = 0
            var lastLine = 0
            while let row = try file.next() {
                count += 1
                lastLine = row.line
                #expect(try row.result.get().hardwareHash?.utf8.count == 4096)
            }
            #expect(count == 3000)
            #expect(lastLine == 3001)
            #expect(file.bytesRead == Int64(bytes.count))
        }
    }

    @Test func aPipeIsReadToo() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let bytes = utf16File("Device Serial Number,Windows Product ID,Hardware Hash\r\nSN1,,QUJD\r\n")
        bytes.withUnsafeBytes { _ = write(fds[1], $0.baseAddress, $0.count) }
        close(fds[1])
        defer { close(fds[0]) }
        let file = try DeviceCSVFile(path: "/proc/self/fd/\(fds[0])")
        #expect(file.size == nil)
        #expect(try readAll(file).map { try $0.result.get().serialNumber } == ["SN1"])
    }
}

@Suite struct RealDeviceFileTests {
    static let importFiles = fileNames(in: realData()).filter { $0.hasSuffix(".csv") && !$0.contains("GRAPH-EXPORT") }

    @Test func elevenRealImportFilesArePresent() {
        #expect(Self.importFiles.count == 11)
    }

    @Test(arguments: importFiles)
    func realImportFileGivesItsOneDevice(name: String) throws {
        let path = realData(name)
        // What the file says, decoded independently: UTF-16LE after the byte order mark, CRLF lines.
        let bytes = contents(path)
        #expect(Array(bytes.prefix(2)) == [0xFF, 0xFE])
        let units = stride(from: 2, to: bytes.count - 1, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
        let lines = String(decoding: units, as: UTF16.self).split(separator: "\r\n")
        let fields = lines[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)

        let file = try DeviceCSVFile(path: path)
        #expect(file.encoding == .utf16LE)
        #expect(file.header == String(lines[0]))
        let rows = try readAll(file)
        #expect(rows.count == 1)
        let device = try #require(try rows.first?.result.get())
        #expect(rows.first?.line == 2)
        #expect(device.serialNumber == (fields[0].isEmpty ? nil : fields[0]))
        #expect(device.productKey == nil)
        #expect(device.hardwareHash == fields[2])
        #expect(device.hardwareHash?.utf8.count == 4000)
        if fields.count == 4 {
            #expect(file.format == .intuneWithGroupTag)
            #expect(device.groupTag == fields[3])
        } else {
            #expect(file.format == .intune)
        }
        #expect(file.bytesRead == file.size)
    }

    @Test func hexDKFileKeepsItsGroupTag() throws {
        let rows = try readAll(try DeviceCSVFile(path: realData("HexDK_SGRE_BG__AutopilotHWID.csv")))
        #expect(try rows.first?.result.get().groupTag == "SP001_STD01")
        #expect(try rows.first?.result.get().serialNumber == "F98059756E444D56")
    }

    @Test func graphExportIsRefusedAsAnExport() {
        let path = realData("ennnbeee_AutopilotGroupTagger__AutopilotDevices.GRAPH-EXPORT.csv")
        let error = #expect(throws: DeviceCSVFile.FileError.self) { try DeviceCSVFile(path: path) }
        guard case let .badHeader(_, encoding, header)? = error else {
            Issue.record("expected badHeader, got \(String(describing: error))"); return
        }
        #expect(encoding == .utf8)
        #expect(header.reason.hasPrefix("this looks like an Intune/Graph device export (quoted fields; columns "
            + "displayName, serialNumber, manufacturer, model,"))
        #expect(header.reason.contains("not an Autopilot import file"))
        let text = error?.description ?? ""
        #expect(text.hasPrefix("\(path), line 1: this looks like an Intune/Graph device export"))
        for format in DeviceCSV.Format.allCases { #expect(text.contains("\n  \(format.header)")) }
    }
}
