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

/// A file under /tmp with the given bytes, removed by the caller.
func temporaryFile(_ bytes: [UInt8]) -> String {
    var template = Array("/tmp/devicecsv-XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    precondition(fd >= 0)
    bytes.withUnsafeBytes { _ = write(fd, $0.baseAddress, $0.count) }
    close(fd)
    return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
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
        let rows = try readAll(file)
        #expect(rows.map(\.line) == [2, 4, 5, 7, 8])
        #expect(try rows[0].result.get() == DeviceInput(serialNumber: "SN-001", hardwareHash: "QUJD", groupTag: "Sales"))
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

    @Test func miscapitalisedFixtureIsRefusedBeforeAnyRow() {
        let error = #expect(throws: DeviceCSVFile.FileError.self) {
            try DeviceCSVFile(path: fixture("miscapitalised.csv"))
        }
        guard case let .badHeader(_, header)? = error else { Issue.record("expected badHeader, got \(String(describing: error))"); return }
        #expect(header.reason.contains("'device serial number' should be 'Device Serial Number'"))
        #expect(error?.description.contains("line 1:") == true)
    }

    @Test func missingFileCannotBeOpened() {
        let error = #expect(throws: DeviceCSVFile.FileError.self) { try DeviceCSVFile(path: "/nonexistent/devices.csv") }
        guard case let .cannotOpen(_, code)? = error else { Issue.record("expected cannotOpen"); return }
        #expect(code == ENOENT)
    }

    @Test func emptyFileIsRefused() {
        let path = temporaryFile([])
        defer { unlink(path) }
        let error = #expect(throws: DeviceCSVFile.FileError.self) { try DeviceCSVFile(path: path) }
        guard case .empty? = error else { Issue.record("expected empty, got \(String(describing: error))"); return }
    }

    @Test func invalidUTF8RowIsALineError() throws {
        let path = temporaryFile(Array("Device Serial Number,Windows Product ID,Hardware Hash\nSN\u{1},,QUJD\n".utf8)
            + [0xFF, 0xFE, 0x2C, 0x2C, 0x0A] + Array("SN3,,QUJD\n".utf8))
        defer { unlink(path) }
        let rows = try readAll(try DeviceCSVFile(path: path))
        #expect(rows.map(\.line) == [2, 3, 4])
        guard case let .failure(error) = rows[1].result else { Issue.record("line 3 should fail"); return }
        #expect(error.reason.contains("UTF-8"))
        #expect(try rows[2].result.get().serialNumber == "SN3")
    }

    @Test func largeFileIsReadLineByLine() throws {
        var text = "Device Serial Number,Windows Product ID,Hardware Hash\n"
        let hash = String(repeating: "A", count: 4096)
        for i in 0..<3000 { text += "SN\(i),,\(hash)\n" }
        let path = temporaryFile(Array(text.utf8))
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
    }
}
