import Foundation
import Testing
@testable import AutopilotStore

@Suite struct IdentifierTests {
    @Test func generatedIdsAreDistinctLowercaseVersionFourUUIDs() {
        var seen = Set<String>()
        for _ in 0..<1000 {
            let id = newID()
            let characters = Array(id)
            #expect(UUID(uuidString: id)?.uuidString.lowercased() == id, "\(id)")
            #expect(characters.count == 36 && characters[14] == "4" && "89ab".contains(characters[19]), "\(id)")
            #expect(seen.insert(id).inserted, "\(id) repeated")
        }
    }
}
