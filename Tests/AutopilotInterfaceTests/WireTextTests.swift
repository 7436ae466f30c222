import AutopilotDomain
import AutopilotInterface
import Testing
import Varlink

/// The daemon writes its replies member by member (`writeWire`) instead of building a `JSONObject` and serializing
/// it; the text must be exactly what the tree would serialize to, for every record, with every member set.
@Suite struct WireTextTests {
    /// Values a member of `type` may take, tried in turn until the record accepts one: strings that need escaping
    /// first, then a time and the names enums and roles use.
    static func candidates(_ type: IDLType) -> [JSONValue] {
        switch type {
        case .bool: [true]
        case .int: [4_294_967_295, 806, 1]
        case .string:
            ["Contoso \"EMEA\" \\ Büro\n\tÜ 😀 \u{1}", "2026-11-25T10:46:00.123Z", "GlobalAdministrator", "a@contoso.com"]
        case let .enumeration(cases): cases.reversed().map { .string($0) }
        case let .optional(wrapped): candidates(wrapped)
        case let .array(element): candidates(element).map { .array([$0, $0]) }
        case let .named(name):
            RegistryInterface.types.first { $0.typeName == name }.map { [.object(filledObject($0))] } ?? []
        }
    }

    /// The object of a filled record of a type known only at run time (a nested record's member).
    static func filledObject(_ type: any WireRecord.Type) -> JSONObject {
        filled(type).wireObject
    }

    /// A record with each member set to the first candidate it accepts (left as `R()` has it when none fits).
    static func filled<R: WireRecord>(_ type: R.Type) -> R {
        var record = R()
        for field in R.fields {
            for candidate in candidates(field.type) {
                var object = record.wireObject
                object[field.name] = candidate
                if let accepted = try? R(object: object, strict: true) {
                    record = accepted
                    break
                }
            }
        }
        return record
    }

    /// Where `R`'s written text differs from its tree's, empty and filled.
    static func problems<R: WireRecord>(_ type: R.Type) -> [String] {
        var found: [String] = []
        for (label, record) in [("empty", R()), ("filled", filled(R.self))] {
            let text = String(decoding: record.wireText, as: UTF8.self)
            let tree = JSON.serialize(record.wire)
            if text != tree { found.append("\(label): writes \(text), the tree serializes to \(tree)") }
        }
        return found
    }

    @Test(arguments: DeclarationTests.records.map(\.0))
    func everyRecordWritesTheTextItsTreeSerializesTo(_ name: String) {
        let type = DeclarationTests.records.first { $0.0 == name }!.1
        #expect(Self.problems(type) == [], "\(name)")
    }

    /// The samples reach what the writer must get right: escapes, nested records, arrays of them, set optionals.
    @Test func theFilledSamplesHoldEscapesNestedRecordsAndLists() {
        let grant = String(decoding: Self.filled(Grant.self).wireText, as: UTF8.self)
        #expect(grant.contains(#"\"EMEA\" \\ Büro\n\t"#) && grant.contains(#"\u0001"#))
        #expect(grant.contains(#""roles":["GlobalAdministrator","GlobalAdministrator"]"#))
        #expect(grant.contains(#""endedAt":"2026-11-25T10:46:00.123Z""#))
        // A reply that lists records (ListCustomers, say) holds two of them, each with its members set.
        let replies = RegistryInterface.methods.map { String(decoding: Self.filledText($0.replyType), as: UTF8.self) }
        #expect(replies.contains { $0.contains(#"[{"#) && $0.contains(#"},{"#) })
    }

    /// The text of a filled record of a type known only at run time.
    static func filledText(_ type: any WireRecord.Type) -> [UInt8] {
        filled(type).wireText
    }
}
