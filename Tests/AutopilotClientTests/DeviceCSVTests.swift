import AutopilotClient
import AutopilotDomain
import Testing

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

    @Test func miscapitalisedHeaderIsRefusedNamingTheColumn() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer Name,Device model")
        }
        #expect(error?.reason.contains("miscapitalised") == true)
        #expect(error?.reason.contains("'Manufacturer Name' should be 'Manufacturer name'") == true)
    }

    @Test func lowercaseHeaderIsRefused() {
        #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "device serial number,windows product id,hardware hash")
        }
    }

    @Test func everyMiscapitalisedColumnIsNamed() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer Name,Device Model")
        }
        #expect(error?.reason == "the header is miscapitalised: 'Manufacturer Name' should be 'Manufacturer name', "
            + "'Device Model' should be 'Device model' (headers are case-sensitive)")
    }

    @Test func extraColumnIsRefusedNamingIt() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model,Notes")
        }
        #expect(error?.reason.contains("extra column 'Notes'") == true)
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
    }

    @Test func headerErrorListsEveryExpectedHeader() {
        let error = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.detect(header: "Serial,Hash") }
        let text = error?.description ?? ""
        for format in DeviceCSV.Format.allCases { #expect(text.contains(format.header)) }
        #expect(error?.reason.contains("unknown column 'Serial'") == true)
    }

    @Test func spacesAroundHeaderNamesAreRefused() {
        #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "Device Serial Number, Windows Product ID, Hardware Hash")
        }
    }

    @Test func emptyAndQuotedHeadersAreRefused() {
        let empty = #expect(throws: DeviceCSV.HeaderError.self) { try DeviceCSV.detect(header: "") }
        #expect(empty?.reason == "the header line is empty")
        let quoted = #expect(throws: DeviceCSV.HeaderError.self) {
            try DeviceCSV.detect(header: "\"Device Serial Number\",\"Windows Product ID\",\"Hardware Hash\"")
        }
        #expect(quoted?.reason.contains("quotes") == true)
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
