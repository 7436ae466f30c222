import AutopilotDomain
import AutopilotTestSupport
import Foundation
import Testing
@testable import AutopilotStore

@Suite struct IdentifierTests {
    @Test func generatedIdsAreDistinctLowercaseVersionSevenUUIDs() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = newID()
            let characters = Array(id)
            #expect(UUID(uuidString: id)?.uuidString.lowercased() == id, "\(id)")
            #expect(characters.count == 36 && characters[14] == "7" && "89ab".contains(characters[19]), "\(id)")
            #expect(seen.insert(id).inserted, "\(id) repeated")
        }
    }

    /// The first 48 bits are the Unix time in milliseconds, so ids made later sort after earlier ones as text
    /// (which keeps new rows at the end of the indexes over their ids).
    @Test func idsBeginWithTheirMillisecondAndSortByIt() {
        let millisecond: UInt64 = 1_764_892_800_123  // 2025-12-05T00:00:00.123Z
        let id = newID(milliseconds: millisecond)
        let hex = id.replacingOccurrences(of: "-", with: "")
        #expect(UInt64(hex.prefix(12), radix: 16) == millisecond, "\(id)")
        #expect(newID(milliseconds: millisecond + 1) > newID(milliseconds: millisecond))
        #expect(newID(milliseconds: millisecond + 86_400_000) > id)
        let now = currentUnixMilliseconds()
        #expect(UInt64(newID().replacingOccurrences(of: "-", with: "").prefix(12), radix: 16)! >= now)
    }

    /// One pass gives both digests of a submitted hash: of its records (its checksum) and of all its bytes (its key).
    @Test func aHashsTwoDigestsAreThoseOfItsRecordsAndOfAllItsBytes() throws {
        let bytes = SyntheticHardwareHash(seed: 7, serialNumber: "5CG1234XYZ").bytes()
        let info = try HardwareHash.decode(bytes: bytes).get()
        #expect(info.recordsEnd > 0 && info.recordsEnd < bytes.count)
        let digests = HashDigests(bytes, recordsEnd: info.recordsEnd)
        #expect(digests.records == sha256(bytes[..<info.recordsEnd]))
        #expect(digests.records == info.checksum)
        #expect(digests.whole == sha256(bytes).map { String(format: "%02x", $0) }.joined())
        #expect(checksumProblem(bytes, info) == nil)
        for end in [0, 1, bytes.count, bytes.count + 10] {
            let cut = HashDigests(bytes, recordsEnd: end)
            #expect(cut.records == sha256(bytes[..<min(end, bytes.count)]), "records end at \(end)")
            #expect(cut.whole == digests.whole, "records end at \(end)")
        }
        var edited = bytes
        edited[info.recordsEnd - 1] ^= 0x01
        #expect(checksumProblem(edited, info) != nil)
    }
}
