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
}
