@testable import AutopilotDomain
import AutopilotTestSupport
import Foundation
import Testing

/// The eleven real device files of ../shared/realdata (UTF-16LE with a BOM, CRLF, one data row each).
enum RealDeviceFile {
    /// ../shared/realdata, beside the package root.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("shared/realdata").path

    /// The columns of the file's one data row.
    static func row(_ name: String) throws -> [String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        let text = try #require(String(data: data, encoding: .utf16), "\(name) is not UTF-16")
        let lines = text.split(whereSeparator: \.isNewline)
        try #require(lines.count == 2, "\(name) has \(lines.count) lines")
        return lines[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
    }

    /// The hash of the file's data row, as text.
    static func hash(_ name: String) throws -> String { try row(name)[2] }
}

/// What realdata/README.md (and hardware-hash.md) say is inside one real hash.
struct RealHash: Sendable, CustomTestStringConvertible {
    var file: String
    var manufacturer: String
    var model: String
    var serialNumber: String
    var productKeyID: String?
    var hasTPM: Bool
    var testDescription: String { file }

    static let all: [RealHash] = [
        RealHash(file: "ChinwikeOnyia26_ModernEndpoints-Deployment-Scripts__AutopilotHWID.csv", manufacturer: "LENOVO",
                 model: "21R3001BUK", serialNumber: "PF5MT6SC", productKeyID: "3556252318653", hasTPM: true),
        RealHash(file: "HexDK_SGRE_BG__AutopilotHWID.csv", manufacturer: "VMware, Inc.", model: "VMware20,1",
                 serialNumber: "F98059756E444D56", hasTPM: true),
        RealHash(file: "Pmedley26_PowerShell__AutopilotHWID@6cc4304.csv", manufacturer: "LENOVO", model: "21G2001VUS",
                 serialNumber: "PF5NRH33", productKeyID: "3556252499682", hasTPM: true),
        RealHash(file: "Pmedley26_PowerShell__AutopilotHWID@a5f2af5.csv", manufacturer: "QEMU",
                 model: "Standard PC (Q35 + ICH9, 2009)", serialNumber: "SMBIOS_STRING_INDEX_0", hasTPM: false),
        RealHash(file: "Pmedley26_PowerShell__AutopilotHWID@8ec586a.csv", manufacturer: "QEMU",
                 model: "Standard PC (Q35 + ICH9, 2009)", serialNumber: "SMBIOS_STRING_INDEX_0", hasTPM: true),
        RealHash(file: "Pmedley26_PowerShell__AutopilotHWID@dd069fa.csv", manufacturer: "HP",
                 model: "HP EliteBook 840 G8 Notebook PC", serialNumber: "5CG1457YL8", productKeyID: "3305404496774",
                 hasTPM: true),
        RealHash(file: "churlbap_ponise__AutopilotHWID.csv", manufacturer: "HP",
                 model: "HP EliteBook 650 15.6 inch G10 Notebook PC", serialNumber: "5CD349G8VJ",
                 productKeyID: "3556129472828", hasTPM: true),
        RealHash(file: "M3sterKw0n_class13__HWID.csv", manufacturer: "VMware, Inc.", model: "VMware20,1",
                 serialNumber: "VMware-56 4d 8d 37 93 fe f5 0e-88 0c 3d 23 2b a1 5a 41", hasTPM: false),
        RealHash(file: "brtfem001_Intune__computers.csv", manufacturer: "Microsoft Corporation", model: "Virtual Machine",
                 serialNumber: "4895-7167-4584-3623-0974-4308-48", hasTPM: true),
        RealHash(file: "Novosad-Hayes-Associates_NHA-AutoPilotHelper__HashPuller_Output_compHash.csv",
                 manufacturer: "VMware, Inc.", model: "VMware7,1",
                 serialNumber: "VMware-42 28 6c 53 13 80 4c 13-16 e2 d5 99 a1 ec 7a 15", hasTPM: false),
        RealHash(file: "tklawun_PowerShell__MyComputer.csv", manufacturer: "LENOVO", model: "20K5S0B700",
                 serialNumber: "PC0NVWSH", productKeyID: "3305063324918", hasTPM: true),
    ]
}

/// Hash bytes built by hand, for the refusals: `OA`, `T` (the records' end unless given), the records, zeros.
private func handmade(_ records: [[UInt8]], end: Int? = nil, size: Int = 3000, trailer: Bool = true) -> [UInt8] {
    let body = records.flatMap { $0 }
    let t = end ?? 4 + body.count
    var bytes: [UInt8] = [0x4F, 0x41, UInt8(t & 0xFF), UInt8(t >> 8)] + body
    // The checksum record real hashes end their records with, unless the test gives T itself.
    if trailer && end == nil { bytes += [0x43, 0x53, 36, 0] + sha256(bytes) }
    bytes += [UInt8](repeating: 0, count: max(0, size - bytes.count))
    return bytes
}

/// One record: type, length (its data's plus 4 unless given), data.
private func record(_ type: UInt16, _ data: [UInt8], length: Int? = nil) -> [UInt8] {
    let l = length ?? data.count + 4
    return [UInt8(type & 0xFF), UInt8(type >> 8), UInt8(l & 0xFF), UInt8(l >> 8)] + data
}

/// A string record's data: UTF-8 and a NUL.
private func text(_ s: String) -> [UInt8] { Array(s.utf8) + [0] }

/// The problem decoding `bytes` gives, or nil when it decodes.
private func problem(_ bytes: [UInt8]) -> HardwareHashProblem? {
    if case let .failure(problem) = HardwareHash.decode(bytes: bytes) { return problem }
    return nil
}

@Suite struct HardwareHashRealDataTests {
    @Test(arguments: RealHash.all)
    func everyRealHashDecodesToTheMachineItWasCapturedOn(_ real: RealHash) throws {
        let text = try RealDeviceFile.hash(real.file)
        #expect(text.utf8.count == 4000 && !text.hasSuffix("="))
        let decoded = try HardwareHash.decode(text: text).get()
        #expect(decoded.bytes.count == 3000)
        let info = decoded.info
        #expect(info.manufacturer == real.manufacturer)
        #expect(info.model == real.model)
        #expect(info.serialNumber == real.serialNumber)
        #expect(info.productKeyID == real.productKeyID)
        #expect(info.hasTPM == real.hasTPM)
        #expect(info.tpm?.hasPrefix("TPM-Version:2.0 ") ?? true, "\(info.tpm ?? "")")
        let version = try #require(info.windowsVersion)
        #expect(version.wholeMatch(of: /10\.0\.\d{5}\.\d{1,5}/) != nil, "\(version)")
        #expect(info.cpuVendor != nil && info.cpuModel != nil && info.firmwareVendor != nil)
        #expect(info.recordTypes.prefix(2) == [1, 2] && info.recordTypes.contains(14))
        #expect(try HardwareHash.decode(bytes: decoded.bytes).get() == info)
    }

    @Test func realHashesSayMoreThanTheMachine() throws {
        let hp = try HardwareHash.decode(text: RealDeviceFile.hash("churlbap_ponise__AutopilotHWID.csv")).get().info
        #expect(hp.windowsVersion == "10.0.22621.2506")
        #expect(hp.cpuVendor == "GenuineIntel" && hp.cpuModel == "13th Gen Intel(R) Core(TM) i7-1355U")
        #expect(hp.tpm == "TPM-Version:2.0 -Level:0-Revision:1.59-VendorID:'NTC '-Firmware:458754.196609")
        #expect(hp.firmwareVendor == "HP" && hp.sku == "967W5ET#ABU" && hp.family == "103C_5336AN HP EliteBook")
        #expect(hp.systemVersion == "SBKPF" && hp.baseboardManufacturer == "HP" && hp.baseboardProduct == "8B8C")
        #expect(hp.baseboardVersion == "KBC Version 52.2D.00")
        let oldest = try HardwareHash.decode(text: RealDeviceFile.hash("tklawun_PowerShell__MyComputer.csv")).get().info
        #expect(oldest.windowsVersion == "10.0.16299.492")
        #expect(oldest.family == "ThinkPad X270 W10DG")
        let qemu = try HardwareHash.decode(text: RealDeviceFile.hash("Pmedley26_PowerShell__AutopilotHWID@a5f2af5.csv"))
            .get().info
        #expect(qemu.firmwareVendor == "EFI Development Kit II / OVMF" && qemu.systemVersion == "pc-q35-7.2")
        #expect(qemu.tpm == nil && !qemu.recordTypes.contains(13) && qemu.baseboardManufacturer == nil)
    }

    @Test(arguments: RealHash.all)
    func theSerialColumnIsTheHashsSerialOrEmptyWhenThatIsAPlaceholder(_ real: RealHash) throws {
        let row = try RealDeviceFile.row(real.file)
        let info = try HardwareHash.decode(text: row[2]).get().info
        if SerialNumberPlaceholder.isPlaceholder(info.serialNumber) {
            #expect(row[0].isEmpty)
        } else {
            #expect(row[0] == info.serialNumber)
        }
    }

    @Test(arguments: RealHash.all)
    func realHashesEndTheirRecordsWithTheDigestTheGeneratorWrites(_ real: RealHash) throws {
        let bytes = try HardwareHash.decode(text: RealDeviceFile.hash(real.file)).get().bytes
        let end = Int(bytes[2]) | Int(bytes[3]) << 8
        #expect(bytes[end..<(end + 4)] == [0x43, 0x53, 36, 0])
        #expect(Array(bytes[(end + 4)..<(end + 36)]) == sha256(Array(bytes[..<end])))
        #expect(bytes[(end + 36)...].allSatisfy { $0 == 0 })
    }
}

@Suite struct HardwareHashRefusalTests {
    @Test func textThatIsNotBase64IsRefusedAsSuch() {
        let good = SyntheticHardwareHash(seed: 1, serialNumber: "SN-1").text()
        for bad in ["not base64!", String(good.dropLast()) + "-", " " + good, good + "===", String(good.dropLast(3))] {
            guard case let .failure(problem) = HardwareHash.decode(text: bad) else {
                Issue.record("decoded \(bad.prefix(20))…")
                continue
            }
            #expect(problem.kind == .notBase64)
            #expect(problem.reason.hasPrefix("not base64 text"))
        }
    }

    @Test func sizesOutsideTheBoundsAreTooShortOrTooLong() {
        #expect(problem(handmade([record(14, text("X"))], size: 812))
                == HardwareHashProblem(.tooShort, "too short: it decodes to 812 bytes; a hardware hash decodes to 1024 to 16384 bytes"))
        #expect(problem([])?.kind == .tooShort)
        #expect(problem(handmade([record(14, text("X"))], size: DeviceRules.minHashBytes - 1))?.kind == .tooShort)
        #expect(problem(handmade([record(14, text("X"))], size: DeviceRules.minHashBytes)) == nil)
        #expect(problem(handmade([record(14, text("X"))], size: DeviceRules.maxHashBytes)) == nil)
        let long = problem(handmade([record(14, text("X"))], size: DeviceRules.maxHashBytes + 1))
        #expect(long?.kind == .tooLong && long?.reason.hasPrefix("too long: it decodes to 16385 bytes") == true)
    }

    @Test func bytesWithoutTheOAHeaderAreNotAHardwareHash() {
        var bytes = SyntheticHardwareHash(seed: 2, serialNumber: "SN-2").bytes()
        bytes[1] = 0x42
        #expect(problem(bytes) == HardwareHashProblem(.notAHardwareHash, "not an Autopilot hardware hash: no OA header"))
        #expect(problem([UInt8](repeating: 0, count: 3000))?.kind == .notAHardwareHash)
        #expect(problem((0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 131) })?.kind == .notAHardwareHash)
    }

    @Test func aRecordsEndOutsideTheBytesOrInsideTheHeaderIsDamage() throws {
        let past = problem(handmade([], end: 3001))
        #expect(past == HardwareHashProblem(.damaged, "damaged: its header says its records end at byte 3001, past the end of its 3000 bytes"))
        #expect(problem(handmade([], end: 3000)).map(\.kind) == .damaged)  // zeros as records: length 0
        for end in 0..<4 {
            #expect(problem(handmade([], end: end))?.reason.contains("inside the header itself") == true, "T = \(end)")
        }
        // No records at all is a structure, if a useless one.
        #expect(try HardwareHash.decode(bytes: handmade([])).get().recordTypes.isEmpty)
    }

    @Test func recordsWithoutTheirChecksumTrailerAreDamage() throws {
        let records = [record(14, text("SN")), record(16, text("HP"))]
        let missing = problem(handmade(records, trailer: false))
        #expect(missing?.kind == .damaged && missing?.reason.hasPrefix("damaged: no checksum follows its records at byte 18") == true)
        var wrongType = handmade(records)
        wrongType[18] = 0x44
        #expect(problem(wrongType)?.reason.hasPrefix("damaged: no checksum") == true)
        // The trailer must fit in the bytes.
        let cut = Array(handmade(records, size: 3000).prefix(18 + 20))
        #expect(cut.withUnsafeBufferPointer { HardwareHash.decodeStructure($0) }.failureValue?.reason.hasPrefix("damaged: no checksum") == true)
    }

    @Test func theChecksumIsComparedWithTheDigestOfTheRecords() throws {
        let bytes = handmade([record(14, text("SN-1")), record(16, text("HP"))])
        let info = try HardwareHash.decode(bytes: bytes).get()
        #expect(info.recordsEnd == 20 && info.checksum == sha256(bytes[..<20]))
        #expect(HardwareHash.checksumProblem(info, digest: sha256(bytes[..<20])) == nil)
        var edited = bytes
        edited[11] = UInt8(ascii: "2")  // SN-1 becomes SN-2; the trailer still holds SN-1's digest.
        let editedInfo = try HardwareHash.decode(bytes: edited).get()
        #expect(editedInfo.serialNumber == "SN-2")
        let problem = HardwareHash.checksumProblem(editedInfo, digest: sha256(edited[..<20]))
        #expect(problem?.kind == .damaged && problem?.reason.contains("checksum does not match") == true)
        // Every real hash's checksum matches.
        for real in RealHash.all {
            let decoded = try HardwareHash.decode(text: RealDeviceFile.hash(real.file)).get()
            #expect(HardwareHash.checksumProblem(decoded.info, digest: sha256(decoded.bytes[..<decoded.info.recordsEnd])) == nil)
        }
    }

    @Test func aRecordRunningPastTheEndIsDamage() {
        let bytes = handmade([record(1, [UInt8](repeating: 7, count: 24)), record(9, [1, 2, 3], length: 16)])
        #expect(problem(bytes) == HardwareHashProblem(
            .damaged, "damaged: record 9 (the 2nd, at byte 32) runs past the end of the records at byte 39"))
        // Also when it would still fit in the bytes after the records.
        let overlong = handmade([record(14, text("SN")), record(16, text("HP"), length: 200)], size: 3000)
        #expect(problem(overlong)?.reason.hasPrefix("damaged: record 16 (the 2nd, at byte 11) runs past the end") == true)
    }

    @Test func aRecordShorterThanItsOwnHeaderIsDamage() {
        for length in 0..<4 {
            let bytes = handmade([record(14, text("SN")), record(3, [], length: length), record(16, text("HP"))])
            #expect(problem(bytes) == HardwareHashProblem(
                .damaged, "damaged: record 3 (the 2nd, at byte 11) has length \(length), less than its own 4-byte header"))
        }
    }

    @Test func recordsThatDoNotTileExactlyToTheEndAreDamage() {
        let records = [record(14, text("SN")), record(16, text("HP"))]
        let body = records.flatMap { $0 }.count
        for stray in 1...3 {
            let bytes = handmade(records + [[UInt8](repeating: 0xAB, count: stray)])
            #expect(problem(bytes) == HardwareHashProblem(.damaged, "damaged: the 3rd record, at byte \(4 + body), is "
                + "cut off: only \(stray) bytes are left before the records end at byte \(4 + body + stray)"))
        }
        // T one short of the last record's end.
        #expect(problem(handmade(records, end: 4 + body - 1))?.reason.contains("record 16 (the 2nd") == true)
    }

    @Test func truncatedHashesAreRefused() throws {
        let text = try RealDeviceFile.hash("churlbap_ponise__AutopilotHWID.csv")
        let bytes = try #require(Base64.decode(text))
        let end = Int(bytes[2]) | Int(bytes[3]) << 8
        #expect(end == 1155)
        // Cut inside the records but above the minimum size: T is past the end.
        #expect(problem(Array(bytes.prefix(end - 1))) == HardwareHashProblem(
            .damaged, "damaged: its header says its records end at byte 1155, past the end of its 1154 bytes"))
        #expect(problem(Array(bytes.prefix(1023)))?.kind == .tooShort)
        // Cut text: a real hash missing its last quarter of zeros is still a whole structure; missing more is not.
        for characters in [3000, 1000, 4, 1] {
            let outcome = HardwareHash.decode(text: String(text.prefix(characters)))
            switch characters {
            case 3000: #expect((try? outcome.get().info.serialNumber) == "5CD349G8VJ")
            case 1: #expect(outcome.failureKind == .notBase64)
            default: #expect(outcome.failureKind == .tooShort, "\(characters) characters")
            }
        }
    }
}

@Suite struct HardwareHashRecordTests {
    @Test func stringsEndAtTheirNULAndNeverRunIntoTheNextRecord() throws {
        let bytes = handmade([
            record(14, Array("SN-1".utf8) + [0, 0x41, 0x42]),  // bytes after the NUL are not the string's
            record(16, Array("HP".utf8)),  // no NUL at all: the record's data
            record(17, [0]), record(18, []),
            record(24, text("3556129472828")),
        ])
        let info = try HardwareHash.decode(bytes: bytes).get()
        #expect(info.serialNumber == "SN-1" && info.manufacturer == "HP" && info.model == "" && info.sku == "")
        #expect(info.productKeyID == "3556129472828" && info.tpm == nil && info.windowsVersion == nil)
        #expect(info.recordTypes == [14, 16, 17, 18, 24])
    }

    @Test func bytesThatAreNotUTF8AreRepairedNotTrusted() throws {
        let info = try HardwareHash.decode(bytes: handmade([record(14, [0x53, 0xFF, 0xC0, 0x4E, 0])])).get()
        #expect(info.serialNumber == "S\u{FFFD}\u{FFFD}N")
    }

    @Test func unknownRecordTypesAreListedAndOtherwiseIgnoredAndTheFirstOfATypeCounts() throws {
        let info = try HardwareHash.decode(bytes: handmade([
            record(0xBEEF, [1, 2, 3, 4, 5]), record(14, text("first")), record(34, [2, 1, 2, 0]),
            record(14, text("second")), record(0, []),
        ])).get()
        #expect(info.serialNumber == "first" && info.recordTypes == [0xBEEF, 14, 34, 14, 0])
    }

    @Test func windowsVersionIsTheFirstOfRecordOne() throws {
        let versions: [UInt8] = [0x00, 0x00, 0x0A, 0x00, 0x19, 0x1E, 0xF4, 0x65, 0x00, 0x00, 0x0A, 0x00, 0xA0, 0x1E, 0xF4, 0x65]
        let info = try HardwareHash.decode(bytes: handmade([record(1, versions + [UInt8](repeating: 9, count: 8))])).get()
        #expect(info.windowsVersion == "10.0.26100.7705")
        let short = try HardwareHash.decode(bytes: handmade([record(1, Array(versions.prefix(7)))])).get()
        #expect(short.windowsVersion == nil && short.recordTypes == [1])
    }
}

@Suite struct SerialNumberPlaceholderTests {
    @Test func theListedPlaceholdersNameNoMachineWhateverTheirCaseAndSpaces() {
        #expect(SerialNumberPlaceholder.values.count == 10)
        for value in SerialNumberPlaceholder.values {
            #expect(SerialNumberPlaceholder.isPlaceholder(value), "\(value)")
            #expect(SerialNumberPlaceholder.isPlaceholder("  \(value.uppercased())\t"), "\(value)")
            #expect(SerialNumberPlaceholder.isPlaceholder(value.lowercased()), "\(value)")
        }
        for value in [nil, "", "   ", "smbios_string_index_0", "to be filled by o.e.m.", " none "] as [String?] {
            #expect(SerialNumberPlaceholder.isPlaceholder(value), "\(value ?? "nil")")
        }
    }

    @Test func aPlaceholderSaysNothingOnEitherSideOfAHash() throws {
        func normalized(_ input: DeviceInput) -> Result<NormalizedDevice, DeviceRejection> {
            DeviceRules.normalize(input, partnerKind: .directCsp)
        }
        let machine = SyntheticHardwareHash(seed: 7, serialNumber: "5CD349G8VJ", manufacturer: "HP",
                                            model: "HP EliteBook 650 15.6 inch G10 Notebook PC")
        // A placeholder typed in the serial column contradicts nothing: the hash's serial number is the machine's.
        let typed = try normalized(DeviceInput(serialNumber: "None", hardwareHash: machine.text())).get()
        #expect(typed.serialNumber == "5CD349G8VJ" && typed.tupleIdentifies)
        // A manufacturer or model the firmware left empty neither contradicts nor replaces the submitted one...
        var blank = machine
        blank.model = "SMBIOS_STRING_INDEX_0"
        let given = try normalized(DeviceInput(serialNumber: "5CD349G8VJ", hardwareHash: blank.text(), manufacturer: "HP",
                                               model: "HP EliteBook 650 15.6 inch G10 Notebook PC")).get()
        #expect(given.model == "HP EliteBook 650 15.6 inch G10 Notebook PC" && given.manufacturer == "HP")
        // ...and stays as the hash says when nothing else is known, as before.
        #expect(try normalized(DeviceInput(hardwareHash: blank.text())).get().model == "SMBIOS_STRING_INDEX_0")
        // A real value on both sides must still agree.
        guard case let .failure(contradiction) = normalized(DeviceInput(serialNumber: "5CG1457YL8",
                                                                        hardwareHash: machine.text()))
        else { Issue.record("a real serial number that is not the hash's must be 801"); return }
        #expect(contradiction.code == .invalidZtdRequestBody && contradiction.message.contains("serial number"))
    }

    @Test func aTupleWithAPlaceholderSerialNamesNoDeviceToRemove() {
        for serial in ["SMBIOS_STRING_INDEX_0", " none ", "To Be Filled By O.E.M."] {
            #expect(throws: RegistryError.deviceError(.missingZtdSerialNumberAndProductKey)) {
                _ = try DeregistrationTarget.from(device: nil, serialNumber: serial, manufacturer: "QEMU",
                                                  model: "Standard PC (Q35 + ICH9, 2009)", productKey: nil)
            }
        }
        #expect(throws: Never.self) {
            _ = try DeregistrationTarget.from(device: nil, serialNumber: "PF5MT6SC", manufacturer: "LENOVO",
                                              model: "21R3001BUK", productKey: nil)
        }
    }

    @Test func realSerialNumbersAreNotPlaceholders() {
        for serial in ["PF5MT6SC", "5CD349G8VJ", "VMware-56 4d 8d 37 93 fe f5 0e-88 0c 3d 23 2b a1 5a 41", "00",
                       "1234567890", "12345678", "None1", "Default", "O.E.M."] {
            #expect(!SerialNumberPlaceholder.isPlaceholder(serial), "\(serial)")
        }
    }
}

@Suite struct SyntheticHardwareHashTests {
    @Test func aGeneratedHashDecodesToWhatWasPutIn() throws {
        var made = SyntheticHardwareHash(seed: 42, serialNumber: "5CG1457YL8", manufacturer: "HP",
                                         model: "HP EliteBook 840 G8 Notebook PC", productKeyID: "3305404496774",
                                         windowsBuild: 19045, windowsRevision: 3803)
        made.cpuModel = "11th Gen Intel(R) Core(TM) i5-1145G7 @ 2.60GHz"
        made.sku = "479G1UC#ABA"
        made.family = "103C_5336AN HP EliteBook"
        let text = made.text()
        #expect(text.utf8.count == 4000 && !text.contains("="))
        let decoded = try HardwareHash.decode(text: text).get()
        #expect(decoded.bytes == made.bytes())
        let info = decoded.info
        #expect(info.manufacturer == "HP" && info.model == "HP EliteBook 840 G8 Notebook PC")
        #expect(info.serialNumber == "5CG1457YL8" && info.productKeyID == "3305404496774")
        #expect(info.tpm == SyntheticHardwareHash.typicalTPM && info.windowsVersion == "10.0.19045.3803")
        #expect(info.cpuModel == made.cpuModel && info.sku == "479G1UC#ABA" && info.family == "103C_5336AN HP EliteBook")
        #expect(info.firmwareVendor == "HP" && info.baseboardManufacturer == "HP" && info.systemVersion == made.model)
        #expect(info.recordTypes == [1, 2, 5, 3, 4, 6, 7, 8, 8, 9, 27, 10, 13, 25, 11, 12, 14, 15, 16, 17, 18, 19, 23,
                                     20, 21, 22, 24, 26, 28, 29, 30])
    }

    @Test func aGeneratedHashHasTheLayoutOfARealOne() {
        for seed in 0..<50 as Range<UInt64> {
            let made = SyntheticHardwareHash(seed: seed, serialNumber: "SN-\(seed)")
            let bytes = made.bytes()
            let end = Int(bytes[2]) | Int(bytes[3]) << 8
            #expect(end == made.recordsEnd && (900...1300).contains(end), "seed \(seed): T = \(end)")
            #expect(bytes.count == 3000 && bytes[..<2] == [0x4F, 0x41])
            #expect(bytes[end..<(end + 4)] == [0x43, 0x53, 36, 0])
            #expect(Array(bytes[(end + 4)..<(end + 36)]) == sha256(Array(bytes[..<end])))
            #expect(bytes[(end + 36)...].allSatisfy { $0 == 0 })
        }
    }

    @Test func theSameValuesGiveTheSameHashAndAnotherCaptureOfTheMachineDiffers() throws {
        let machine = SyntheticHardwareHash(seed: 9, serialNumber: "PF5MT6SC", manufacturer: "LENOVO", model: "21R3001BUK")
        #expect(machine.text() == machine.text())
        var updated = machine
        updated.windowsRevision = 7840
        var later = machine
        later.capture = 1
        let captures = [machine, updated, later].map { $0.bytes() }
        #expect(Set(captures).count == 3)
        let infos = try captures.map { try HardwareHash.decode(bytes: $0).get() }
        #expect(Set(infos.map { [$0.manufacturer, $0.model, $0.serialNumber] }).count == 1)
        #expect(infos.map(\.windowsVersion) == ["10.0.26100.7705", "10.0.26100.7840", "10.0.26100.7705"])
        // Another machine of the same model differs in its binary records too.
        let other = SyntheticHardwareHash(seed: 10, serialNumber: "PF5MT6SC", manufacturer: "LENOVO", model: "21R3001BUK")
        #expect(other.bytes() != captures[0])
    }

    @Test func sizeTPMAndProductKeyAreChosen() throws {
        let small = SyntheticHardwareHash(seed: 1, serialNumber: "S", tpm: nil, byteCount: DeviceRules.minHashBytes)
        let smallInfo = try HardwareHash.decode(text: small.text()).get().info
        #expect(!smallInfo.hasTPM && smallInfo.productKeyID == nil && !smallInfo.recordTypes.contains(25))
        #expect(Base64.decode(small.text())?.count == 1024 && small.text().utf8.count == 1366)
        let large = SyntheticHardwareHash(seed: 1, serialNumber: "S", byteCount: DeviceRules.maxHashBytes)
        #expect(try HardwareHash.decode(bytes: large.bytes()).get().hasTPM)
        #expect(SyntheticHardwareHash.base64([1, 2, 3, 4]) == "AQIDBA" && SyntheticHardwareHash.base64([]) == "")
        for n in 0..<12 {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 77 &+ 5) }
            #expect(SyntheticHardwareHash.base64(bytes) == Base64.encode(bytes).filter { $0 != "=" })
        }
    }

    @Test func splitMix64IsTheReferenceSequence() {
        var random = AutopilotTestSupport.SplitMix64(seed: 1234567)
        // The first outputs of the reference implementation (Vigna, splitmix64.c) for seed 1234567.
        #expect((0..<3).map { _ in random.next() } == [6457827717110365317, 3203168211198807973, 9817491932198370423])
        var a = AutopilotTestSupport.SplitMix64(seed: 7), b = AutopilotTestSupport.SplitMix64(seed: 7)
        #expect(a.bytes(13) == b.bytes(13))
    }
}


extension Result where Failure == HardwareHashProblem {
    /// The kind of problem, or nil on success.
    var failureKind: HardwareHashProblem.Kind? {
        if case let .failure(problem) = self { return problem.kind }
        return nil
    }
}

extension Result {
    /// The error, when this is a failure.
    fileprivate var failureValue: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }
}
