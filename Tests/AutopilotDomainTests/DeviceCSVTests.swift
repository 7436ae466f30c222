import AutopilotDomain
import Testing

/// The header of the Intune/Graph export in shared/realdata (`ennnbeee_…GRAPH-EXPORT.csv`), as its first line reads.
let graphExportHeader = "\"displayName\",\"serialNumber\",\"manufacturer\",\"model\",\"enrolmentState\","
    + "\"enrolmentProfile\",\"enrolmentType\",\"groupTag\",\"Id\""

/// What a file reader does with `bytes`: decode, detect the header, parse every data line.
func parseFile(_ bytes: [UInt8]) throws(DeviceCSV.HeaderError) -> (CSVText.Encoding, DeviceCSV.Format, [DeviceCSV.Row]) {
    var decoder = CSVText.LineDecoder()
    decoder.append(contentsOf: bytes)
    decoder.finish()
    guard let header = decoder.nextLine() else { throw DeviceCSV.HeaderError(reason: "empty") }
    let format = try DeviceCSV.detect(header: header)
    var rows: [DeviceCSV.Row] = []
    while let row = decoder.withNextLine({ format.row($0, number: $0.number) }) {
        if let row { rows.append(row) }
    }
    return (decoder.encoding ?? .utf8, format, rows)
}

@Suite struct DeviceCSVHeaderTests {
    @Test(arguments: [
        ("Device Serial Number,Windows Product ID,Hardware Hash", DeviceCSV.Format.intune),
        ("Device Serial Number,Windows Product ID,Hardware Hash,Group Tag", .intuneWithGroupTag),
        ("Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User", .intuneWithGroupTagAndUser),
        ("Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model", .partnerCenter),
    ])
    func eachAcceptedHeaderIsDetected(header: String, format: DeviceCSV.Format) throws {
        #expect(try DeviceCSV.detect(header: header) == format)
        #expect(format.header == header)
    }

    @Test func byteOrderMarkBeforeHeaderIsIgnored() throws {
        #expect(try DeviceCSV.detect(header: "\u{FEFF}Device Serial Number,Windows Product ID,Hardware Hash") == .intune)
    }

    @Test func crlfHeaderIsAccepted() throws {
        let header = "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model\r"
        #expect(try DeviceCSV.detect(header: header) == .partnerCenter)
        #expect(try DeviceCSV.detect(header: "\u{FEFF}Device Serial Number,Windows Product ID,Hardware Hash\r") == .intune)
    }

    // Until the CSV rules moved to the domain, headers were case-sensitive and this was refused as miscapitalised.
    @Test func miscapitalisedHeaderIsAccepted() throws {
        let header = "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer Name,Device model"
        #expect(try DeviceCSV.detect(header: header) == .partnerCenter)
    }

    @Test func lowercaseAndUppercaseHeadersAreAccepted() throws {
        #expect(try DeviceCSV.detect(header: "device serial number,windows product id,hardware hash") == .intune)
        #expect(try DeviceCSV.detect(header: "DEVICE SERIAL NUMBER,WINDOWS PRODUCT ID,HARDWARE HASH,GROUP TAG") == .intuneWithGroupTag)
    }

    @Test func mspTemplateSpellingIsThePartnerCenterForm() throws {
        let header = "Device serial number,Windows product ID,Hardware hash,Manufacturer name,Device Model"
        #expect(try DeviceCSV.detect(header: header) == .partnerCenter)
        // The canonical spelling, which export writes, does not change.
        #expect(DeviceCSV.Format.partnerCenter.header
            == "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model")
    }

    @Test func spacesAndTabsAroundHeaderNamesAreIgnored() throws {
        #expect(try DeviceCSV.detect(header: "Device Serial Number, Windows Product ID, Hardware Hash") == .intune)
        #expect(try DeviceCSV.detect(header: "  Device Serial Number\t,\tWindows Product ID ,Hardware Hash\t\r") == .intune)
        #expect(try DeviceCSV.detect(header: "\u{FEFF} device serial number , windows product id , hardware hash , "
            + "group tag , assigned user ") == .intuneWithGroupTagAndUser)
    }

    @Test func spacesInsideANameStillMatter() {
        let joined = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "DeviceSerialNumber,Windows Product ID,Hardware Hash")
        }
        #expect(joined?.reason == "the header has an unknown column 'DeviceSerialNumber'")
        #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device  Serial Number,Windows Product ID,Hardware Hash")
        }
    }

    @Test func nonASCIILettersDoNotPassForASCIIOnes() {
        // U+212A KELVIN SIGN lowercases to "k" in Unicode; header names compare ASCII case only.
        #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\u{212A}")
        }
    }

    @Test func columnsMustBeInOrder() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Windows Product ID,Device Serial Number,Hardware Hash")
        }
        #expect(error?.reason.contains("not in an accepted order") == true)
    }

    @Test func extraColumnIsRefusedNamingIt() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model,Notes")
        }
        #expect(error?.reason.contains("extra column 'Notes'") == true)
        let lower = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "device serial number,windows product id,hardware hash,notes")
        }
        #expect(lower?.reason == "the header has an extra column 'notes' after the Intune/customer form")
    }

    @Test func trailingCommaIsRefusedAsAnEmptyColumn() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Hardware Hash,,")
        }
        #expect(error?.reason.contains("ends with 2 empty columns") == true)
    }

    @Test func missingColumnIsRefusedNamingIt() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID")
        }
        #expect(error?.reason.contains("missing column 'Hardware Hash'") == true)

        let partial = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name")
        }
        #expect(partial?.reason.contains("missing column 'Device model'") == true)

        let two = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.detect(header: "Device Serial Number") }
        #expect(two?.reason.contains("missing columns 'Windows Product ID', 'Hardware Hash'") == true)

        let lower = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.detect(header: "device serial number") }
        #expect(lower?.reason.contains("missing columns 'Windows Product ID', 'Hardware Hash'") == true)
    }

    @Test func headerErrorListsEveryExpectedHeader() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.detect(header: "Serial,Hash") }
        let text = error?.description ?? ""
        for format in DeviceCSV.Format.allCases { #expect(text.contains("\n  \(format.header)")) }
        #expect(text.contains("expected one of these header lines:\n"))
        #expect(error?.reason.contains("unknown column 'Serial'") == true)
    }

    @Test func emptyAndQuotedHeadersAreRefused() {
        let empty = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.detect(header: "") }
        #expect(empty?.reason == "the header line is empty")
        let quoted = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "\"Device Serial Number\",\"Windows Product ID\",\"Hardware Hash\"")
        }
        #expect(quoted?.reason.contains("quotes") == true)
        #expect(quoted?.reason.hasPrefix("this looks like a CSV export (quoted fields; columns Device Serial Number, "
            + "Windows Product ID, Hardware Hash), not an Autopilot import file") == true)
    }

    @Test func graphExportHeaderIsRefusedSayingWhatTheFileLooksLike() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.detect(header: graphExportHeader) }
        #expect(error?.reason == "this looks like an Intune/Graph device export (quoted fields; columns displayName, "
            + "serialNumber, manufacturer, model, enrolmentState, enrolmentProfile, enrolmentType, groupTag, Id), "
            + "not an Autopilot import file")
        for format in DeviceCSV.Format.allCases { #expect(error?.description.contains(format.header) == true) }
    }

    @Test func graphColumnsWithoutQuotesAreAnExportToo() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "id,serialNumber,manufacturer,model,groupTag,purchaseOrderIdentifier")
        }
        #expect(error?.reason.hasPrefix("this looks like an Intune/Graph device export (columns id, serialNumber,") == true)
    }

    @Test func anImportHeaderWithAWrongNameIsNotCalledAnExport() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer,Model")
        }
        #expect(error?.reason == "the header has extra columns 'Manufacturer', 'Model' after the Intune/customer form")
    }

    @Test func semicolonsAndTabsAsSeparatorsAreNamed() {
        let semicolons = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number;Windows Product ID;Hardware Hash")
        }
        #expect(semicolons?.reason.contains("unknown column 'Device Serial Number;Windows Product ID;Hardware Hash'") == true)
        #expect(semicolons?.reason.contains("separated by semicolons") == true)
        let tabs = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number\tWindows Product ID\tHardware Hash")
        }
        #expect(tabs?.reason.contains("separated by tabs") == true)
        // A tab after the only name is space around it, not a separator.
        let one = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.detect(header: "Device Serial Number\t") }
        #expect(one?.reason.contains("missing columns 'Windows Product ID', 'Hardware Hash'") == true)
    }

    @Test func utf16WithoutByteOrderMarkIsNamed() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "D\0e\0v\0i\0c\0e\0")
        }
        #expect(error?.reason.contains("UTF-16 without a byte order mark") == true)
    }

    @Test func duplicateColumnIsNamed() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Windows Product ID")
        }
        #expect(error?.reason == "the header names the column 'Windows Product ID' twice")
    }

    @Test func tooLongHeaderLineIsRefused() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: CSVText.Line(number: 1, text: "", decoding: .tooLong))
        }
        #expect(error?.reason.contains("longer than") == true)
    }
}

@Suite struct DeviceCSVRowTests {
    @Test func intuneRowBecomesDevice() throws {
        let d = try DeviceCSV.Format.intuneWithGroupTagAndUser.parse(line: "SN1,PK1,QUJD,Sales,bob@contoso.com", number: 2)
        #expect(d == DeviceInput(serialNumber: "SN1", productKey: "PK1", hardwareHash: "QUJD", groupTag: "Sales",
                                 assignedUser: "bob@contoso.com"))
    }

    @Test func partnerCenterRowFillsManufacturerAndModel() throws {
        let d = try DeviceCSV.Format.partnerCenter.parse(line: "SN1,,,Contoso,Laptop 7", number: 2)
        #expect(d == DeviceInput(serialNumber: "SN1", manufacturer: "Contoso", model: "Laptop 7"))
    }

    @Test func emptyFieldsBecomeNil() throws {
        let d = try #require(try DeviceCSV.Format.intuneWithGroupTag.parse(line: ",00329-00000-0003-AA606,,", number: 9))
        #expect(d.serialNumber == nil)
        #expect(d.productKey == "00329-00000-0003-AA606")
        #expect(d.hardwareHash == nil)
        #expect(d.groupTag == nil)
    }

    @Test func spacesAroundFieldsAreTrimmed() throws {
        let d = try DeviceCSV.Format.intune.parse(line: " SN1 ,  , QUJD", number: 2)
        #expect(d == DeviceInput(serialNumber: "SN1", hardwareHash: "QUJD"))
    }

    @Test func trailingCarriageReturnIsRemoved() throws {
        let d = try DeviceCSV.Format.intune.parse(line: "SN1,,QUJD\r", number: 2)
        #expect(d?.hardwareHash == "QUJD")
    }

    @Test(arguments: ["", "   ", "\r", " \t\r"])
    func blankLineIsSkipped(line: String) throws {
        #expect(try DeviceCSV.Format.partnerCenter.parse(line: line, number: 5) == nil)
    }

    @Test func tooFewColumnsIsALineErrorWithItsNumber() {
        let error = #expect(throws: DeviceCSV.LineError.self) {
            try DeviceCSV.Format.partnerCenter.parse(line: "SN1,,,Contoso", number: 17)
        }
        #expect(error?.line == 17)
        #expect(error?.reason.hasPrefix("has 4 columns, expected 5") == true)
        #expect(error?.description.hasPrefix("line 17: ") == true)
    }

    @Test func tooManyColumnsIsALineError() {
        let error = #expect(throws: DeviceCSV.LineError.self) {
            try DeviceCSV.Format.intune.parse(line: "SN1,,QUJD,extra", number: 3)
        }
        #expect(error?.line == 3)
        #expect(error?.reason.hasPrefix("has 4 columns, expected 3") == true)
    }

    @Test func commaInsideAFieldShowsAsWrongColumnCount() {
        #expect(throws: DeviceCSV.LineError.self) {
            try DeviceCSV.Format.partnerCenter.parse(line: "SN1,,,Contoso, Inc.,Laptop", number: 4)
        }
    }

    @Test func quotesAreALineError() {
        let error = #expect(throws: DeviceCSV.LineError.self) {
            try DeviceCSV.Format.intune.parse(line: "\"SN1\",,QUJD", number: 6)
        }
        #expect(error?.reason.contains("quote") == true)
    }

    @Test func curlyQuotesAreData() throws {
        let d = try DeviceCSV.Format.intuneWithGroupTag.parse(line: "SN1,,QUJD,\u{201C}Sales\u{201D}", number: 2)
        #expect(d?.groupTag == "\u{201C}Sales\u{201D}")
    }
}

@Suite struct DeviceCSVTextTests {
    static let header = "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag"

    @Test func lineNumbersCountBlankLinesFromTheHeaderLine() throws {
        let text = "\(Self.header)\nSN1,,QUJD,Sales\n\n   \nSN2,,QUJD\nSN3,,QUJD,Ops\n"
        let document = try DeviceCSV.parse(text: text)
        let rows = document.rows
        #expect(document.format == .intuneWithGroupTag)
        #expect(rows.map(\.line) == [2, 5, 6])
        #expect(try rows[0].result.get() == DeviceInput(serialNumber: "SN1", hardwareHash: "QUJD", groupTag: "Sales"))
        guard case let .failure(error) = rows[1].result else { Issue.record("line 5 should fail"); return }
        #expect(error.line == 5)
        #expect(error.reason.hasPrefix("has 3 columns, expected 4"))
        #expect(try rows[2].result.get().groupTag == "Ops")
    }

    @Test func headerLineShiftsEveryNumber() throws {
        let rows = try DeviceCSV.parse(text: "\(Self.header)\r\n\r\nSN1,,QUJD,\r\nSN2,,QUJD", headerLine: 1001).rows
        #expect(rows.map(\.line) == [1003, 1004])
        guard case let .failure(error) = rows[1].result else { Issue.record("line 1004 should fail"); return }
        #expect(error.line == 1004)
    }

    @Test func leadingByteOrderMarkAndAnyLineEndingAreAccepted() throws {
        for text in ["\u{FEFF}\(Self.header)\r\nSN1,,QUJD,G\r\n", "\(Self.header)\rSN1,,QUJD,G", "\(Self.header)\nSN1,,QUJD,G\n"] {
            let document = try DeviceCSV.parse(text: text)
            #expect(document.format == .intuneWithGroupTag)
            #expect(try document.rows.map { try $0.result.get() } == [DeviceInput(serialNumber: "SN1", hardwareHash: "QUJD", groupTag: "G")])
        }
    }

    /// An upload of a thousand rows is read a slice of 64 KiB at a time: lines that straddle a slice, and a CRLF
    /// whose CR ends one slice and whose LF begins the next, read as they would in one piece.
    @Test(arguments: 0..<3) func aLargeTextReadsTheSameWhereverItsSlicesFall(shift: Int) throws {
        let hash = String(repeating: "QUJD", count: 1000)
        var text = Self.header + "\r\n"
        var expected: [DeviceInput] = []
        for i in 0..<40 {
            // Row 16's serial number is padded so that its CR is byte 65,534, 65,535 or 65,536 of the text: the
            // CRLF inside the first 64 KiB slice, split across two, or wholly in the second.
            var serial = "SN\(i)"
            if i == 15 { serial += String(repeating: "0", count: 65_534 + shift - text.utf8.count - serial.utf8.count - 4_006) }
            text += "\(serial),,\(hash),G\(i)\r\n"
            expected.append(DeviceInput(serialNumber: serial, hardwareHash: hash, groupTag: "G\(i)"))
        }
        let crOfRow16 = text.utf8.enumerated().filter { $0.element == 13 }.map(\.offset)[16]
        #expect(crOfRow16 == 65_534 + shift)
        #expect(text.utf8.count > 2 * 65_536)
        let document = try DeviceCSV.parse(text: text)
        #expect(document.format == .intuneWithGroupTag)
        #expect(try document.rows.map { try $0.result.get() } == expected)
        #expect(document.rows.map(\.line) == Array(2...41))
    }

    @Test func onlyAHeaderGivesNoRows() throws {
        #expect(try DeviceCSV.parse(text: Self.header).rows.isEmpty)
        #expect(try DeviceCSV.parse(text: "\(Self.header)\r\n").rows.isEmpty)
        #expect(try DeviceCSV.parse(text: "\(Self.header)\n\n\n").rows.isEmpty)
    }

    @Test func headerIsCheckedWithTheSameRules() throws {
        let msp = "Device serial number,Windows product ID,Hardware hash,Manufacturer name,Device Model\nS,,,M,X"
        let document = try DeviceCSV.parse(text: msp)
        #expect(document.format == .partnerCenter)
        #expect(try document.rows.first?.result.get() == DeviceInput(serialNumber: "S", manufacturer: "M", model: "X"))

        let empty = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.parse(text: "") }
        #expect(empty?.reason.contains("empty") == true)
        let export = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.parse(text: "\(graphExportHeader)\r\n,\"0000\",\"Microsoft Corporation\",\"Virtual Machine\"")
        }
        #expect(export?.reason.hasPrefix("this looks like an Intune/Graph device export") == true)
    }

    @Test func aTooLongLineIsALineErrorAndTheRestIsRead() throws {
        let long = String(repeating: "A", count: CSVText.maxLineBytes + 10)
        let rows = try DeviceCSV.parse(text: "\(Self.header)\n\(long)\nSN2,,QUJD,G").rows
        #expect(rows.map(\.line) == [2, 3])
        guard case let .failure(error) = rows[0].result else { Issue.record("line 2 should fail"); return }
        #expect(error.reason.contains("longer than"))
        #expect(try rows[1].result.get().serialNumber == "SN2")
    }
}

@Suite struct DeviceCSVEncodingTests {
    static let text = "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\nPF-é1,,QUJD,Ventes €\r\n\r\nPF-2,,QUJD,"
    static let want = [
        DeviceCSV.Row(line: 2, result: .success(DeviceInput(serialNumber: "PF-é1", hardwareHash: "QUJD", groupTag: "Ventes €"))),
        DeviceCSV.Row(line: 4, result: .success(DeviceInput(serialNumber: "PF-2", hardwareHash: "QUJD"))),
    ]

    @Test(arguments: [
        (utf8(text), CSVText.Encoding.utf8), (utf8(text, bom: true), .utf8WithBOM), (utf16(text), .utf16LE),
        (utf16(text, bigEndian: true), .utf16BE),
    ])
    func everyEncodingGivesTheSameRows(bytes: [UInt8], encoding: CSVText.Encoding) throws {
        let (detected, format, rows) = try parseFile(bytes)
        #expect(detected == encoding)
        #expect(format == .intuneWithGroupTag)
        #expect(rows == Self.want)
    }

    @Test func windows1252FileGivesTheSameRows() throws {
        let bytes = utf8("Device Serial Number,Windows Product ID,Hardware Hash,Group Tag\r\nPF-") + [0xE9]
            + utf8("1,,QUJD,Ventes ") + [0x80] + utf8("\r\n\r\nPF-2,,QUJD,")
        let (encoding, _, rows) = try parseFile(bytes)
        #expect(encoding == .utf8)
        #expect(rows == Self.want)
    }

    @Test func aLineInvalidInItsDeclaredEncodingIsALineError() throws {
        let bytes = utf16("Device Serial Number,Windows Product ID,Hardware Hash\r\n") + [0x3D, 0xD8, 0x2C, 0x00, 0x2C, 0x00]
            + utf16("\r\nSN2,,QUJD", bom: false)
        let (_, _, rows) = try parseFile(bytes)
        #expect(rows.map(\.line) == [2, 3])
        guard case let .failure(error) = rows[0].result else { Issue.record("line 2 should fail"); return }
        #expect(error.reason.contains("not valid UTF-16LE text"))
        #expect(try rows[1].result.get().serialNumber == "SN2")
    }
}

@Suite struct DeviceCSVWriterTests {
    @Test func exportRowLeavesHashEmptyAndParsesBack() throws {
        let device = Device(
            id: "d1", tenant: "t", partner: "p", batch: "b", serialNumber: "SN-9", productKey: "00329-00000-0003-AA606",
            manufacturer: "Contoso", model: "Laptop 7", hardwareHashSha256: String(repeating: "ab", count: 32),
            groupTag: "Sales", assignedUser: nil, status: .registered,
            registeredAt: Timestamp(millisecondsSinceEpoch: 0), deregisteredAt: nil)
        let row = try DeviceCSV.exportRow(device)
        #expect(row == "SN-9,00329-00000-0003-AA606,,Contoso,Laptop 7")
        #expect(try DeviceCSV.detect(header: DeviceCSV.exportHeader) == .partnerCenter)
        let parsed = try DeviceCSV.Format.partnerCenter.parse(line: row, number: 2)
        #expect(parsed == DeviceInput(serialNumber: "SN-9", productKey: "00329-00000-0003-AA606",
                                      manufacturer: "Contoso", model: "Laptop 7"))
    }

    @Test(arguments: DeviceCSV.Format.allCases)
    func everyFormatRoundTrips(format: DeviceCSV.Format) throws {
        let full = DeviceInput(serialNumber: "S", productKey: "P", hardwareHash: "QUJD", manufacturer: "M", model: "X",
                               groupTag: "G", assignedUser: "u@contoso.com")
        let row = try format.row(for: full)
        #expect(row.split(separator: ",", omittingEmptySubsequences: false).count == format.columns.count)
        let back = try #require(try format.parse(line: row, number: 2))
        #expect(back.serialNumber == "S" && back.productKey == "P" && back.hardwareHash == "QUJD")
        switch format {
        case .intune: #expect(back.groupTag == nil && back.manufacturer == nil)
        case .intuneWithGroupTag: #expect(back.groupTag == "G" && back.assignedUser == nil)
        case .intuneWithGroupTagAndUser: #expect(back.groupTag == "G" && back.assignedUser == "u@contoso.com")
        case .partnerCenter: #expect(back.manufacturer == "M" && back.model == "X" && back.groupTag == nil)
        }
    }

    @Test func exportRefusesADeviceKnownOnlyByItsHash() throws {
        func device(serial: String?, key: String?, manufacturer: String?, model: String?) -> Device {
            Device(id: "d1", tenant: "t", partner: "p", batch: "b", serialNumber: serial, productKey: key,
                   manufacturer: manufacturer, model: model, hardwareHashSha256: String(repeating: "ab", count: 32),
                   groupTag: nil, assignedUser: nil, status: .registered,
                   registeredAt: Timestamp(millisecondsSinceEpoch: 0), deregisteredAt: nil)
        }
        for hashOnly in [device(serial: "SN-1", key: nil, manufacturer: nil, model: nil),
                         device(serial: "SN-1", key: nil, manufacturer: "HP", model: nil)] {
            let error = #expect(throws: DeviceCSV.ExportError.self) { try DeviceCSV.exportRow(hashOnly) }
            #expect(error?.reason.contains("only by its hardware hash") == true)
        }
        // Whatever is written names the device in a way an upload accepts.
        #expect(try DeviceCSV.exportRow(device(serial: nil, key: "PK-1", manufacturer: nil, model: nil)) == ",PK-1,,,")
        let error = #expect(throws: DeviceCSV.ExportError.self) {
            try DeviceCSV.exportRow(device(serial: "S", key: nil, manufacturer: "Contoso, Inc.", model: "X"))
        }
        #expect(error?.reason.contains("Manufacturer name") == true)
    }

    @Test func fieldWithCommaCannotBeWritten() {
        let error = #expect(throws: DeviceCSV.WriteError.self) {
            try DeviceCSV.Format.partnerCenter.row(for: DeviceInput(serialNumber: "S", manufacturer: "Contoso, Inc."))
        }
        #expect(error?.column == "Manufacturer name")
    }
}
