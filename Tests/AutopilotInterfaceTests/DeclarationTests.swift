import AutopilotDomain
import AutopilotInterface
import Foundation
import Testing
import Varlink

/// The declarations are the interface: every record encodes and decodes through its one member list, parameters
/// refuse what they do not declare, the description is generated from them, and the wire stays what it was.
@Suite struct DeclarationTests {
    /// Every record the interface has: declared types, and every method's parameters and reply.
    static let records: [(String, any WireRecord.Type)] =
        RegistryInterface.types.map { ($0.typeName, $0 as any WireRecord.Type) }
        + RegistryInterface.methods.flatMap { [("\($0.name).Parameters", $0.parametersType), ("\($0.name).Reply", $0.replyType)] }

    /// Problems of one record type's codec: encoding writes exactly the declared members, decoding reads them all
    /// back (strictly, as parameters are), a missing required member or a mistyped one is InvalidParameter naming it,
    /// and an undeclared member is refused only when strict.
    static func problems<R: WireRecord>(_ type: R.Type) -> [String] {
        var found: [String] = []
        let object = R().wireObject
        let names = R.fields.map(\.name)
        if object.keys != names { found.append("encodes \(object.keys), declares \(names)") }
        do {
            let again = try R(object: object, strict: true)
            if again.wireObject != object { found.append("does not survive a round trip") }
        } catch {
            found.append("refuses its own encoding: \(error)")
        }
        for field in R.fields {
            var missing = object
            missing[field.name] = nil
            let refused = refusal { _ = try R(object: missing, strict: true) }
            if field.type.isOptional, refused != nil { found.append("refuses \(field.name) absent: \(refused!)") }
            if !field.type.isOptional, refused != field.name { found.append("takes \(field.name) absent (\(String(describing: refused)))") }
            var mistyped = object
            mistyped[field.name] = wrongValue(field.type)
            if refusal({ _ = try R(object: mistyped, strict: true) }) != field.name {
                found.append("takes a mistyped \(field.name)")
            }
        }
        var extra = object
        extra["surelyUndeclared"] = .int(1)
        if refusal({ _ = try R(object: extra, strict: true) }) != "surelyUndeclared" {
            found.append("takes an undeclared member as parameters")
        }
        if refusal({ _ = try R(object: extra, strict: false) }) != nil { found.append("refuses an undeclared member in a reply") }
        return found
    }

    /// A JSON value no value of `type` can be: a number for a record, an object for anything else.
    static func wrongValue(_ type: IDLType) -> JSONValue {
        switch type {
        case let .optional(wrapped): wrongValue(wrapped)
        case .named: .int(1)
        default: .object([:])
        }
    }

    /// The parameter an `InvalidParameter` names, or nil when `body` succeeds.
    static func refusal(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as VarlinkError {
            return error.name == "org.varlink.service.InvalidParameter" ? error.parameters["parameter"]?.stringValue : error.name
        } catch {
            return "\(error)"
        }
    }

    @Test(arguments: records.map(\.0))
    func everyRecordEncodesAndDecodesThroughItsOneMemberList(_ name: String) {
        let type = Self.records.first { $0.0 == name }!.1
        #expect(Self.problems(type) == [], "\(name)")
    }

    @Test func methodNamesAreUniqueAndEveryNamedTypeIsDeclared() {
        let names = RegistryInterface.methods.map { $0.name }
        #expect(Set(names).count == names.count)
        let declared = Set(RegistryInterface.types.map { $0.typeName })
        func named(_ type: IDLType) -> [String] {
            switch type {
            case let .named(n): [n]
            case let .array(t), let .optional(t): named(t)
            default: []
            }
        }
        for method in RegistryInterface.methods {
            for field in method.parametersType.fieldTypes + method.replyType.fieldTypes {
                for n in named(field) { #expect(declared.contains(n), "\(method.name) uses undeclared type \(n)") }
            }
        }
    }

    @Test func onlyListsAndTheWatchStreamAndOnlyChangesAreRecordedWhenTheySucceed() {
        let streams = RegistryInterface.methods.filter { $0.kind == .stream }.map { $0.name }
        #expect(streams == ["WatchConsent", "ListDevices", "ListAuditEvents"])
        for method in RegistryInterface.methods where method.kind == .change {
            #expect(method.policy.auditor == false, "\(method.name): an auditor never changes state")
        }
    }

    /// The description's members without their comments, one per line: what the wire is.
    static func signatures(_ text: String) -> String {
        var out: [String] = []
        var current = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") { continue }
            if trimmed.isEmpty {
                if !current.isEmpty { out.append(current); current = "" }
                continue
            }
            current += trimmed.hasPrefix(")") || current.hasSuffix("(") || current.isEmpty ? trimmed : " " + trimmed
        }
        if !current.isEmpty { out.append(current) }
        return out.joined(separator: "\n") + "\n"
    }

    @Test func theWireIsTheOneRecordedInInterfaceSignatures() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("InterfaceSignatures.txt")
        let generated = Self.signatures(RegistryInterface.description)
        // UPDATE_INTERFACE_SIGNATURES=1 swift test --filter theWireIsTheOneRecorded writes the file anew.
        if ProcessInfo.processInfo.environment["UPDATE_INTERFACE_SIGNATURES"] != nil {
            try generated.write(to: file, atomically: true, encoding: .utf8)
        }
        let recorded = try String(contentsOf: file, encoding: .utf8)
        // A change to the wire must be deliberate: update InterfaceSignatures.txt (and shared/interface.md's clients).
        #expect(generated == recorded, "the interface's members changed:\n\(generated)")
    }

    @Test func everyMemberHasACommentOrIsPlainlyNamed() {
        #expect(RegistryInterface.description.contains("# Windows Autopilot customer consent"))
        for type in RegistryInterface.types { #expect(!type.doc.isEmpty, "\(type.typeName)") }
        for method in RegistryInterface.methods { #expect(!method.doc.isEmpty, "\(method.name)") }
        for error in RegistryErrorName.allCases { #expect(!error.doc.isEmpty, "\(error.rawValue)") }
    }
}

/// The one error table: every error the registry answers is declared, with the parameters it sends, and reads back.
@Suite struct ErrorTableTests {
    /// One of each `RegistryError` case; the test below fails when a declared error has none here.
    static let samples: [RegistryError] = [
        .permissionDenied(method: "AcceptLink", role: .tenant), .notFound(kind: "tenant", id: "x"),
        .alreadyExists(kind: "tenant", id: "x"), .invalidInput(field: "domain", reason: "why"),
        .globalAdminRequired(account: "a@b.onmicrosoft.com"), .cloudNativeAccountRequired(account: "a@b.com"),
        .linkExpired(link: "l"), .linkRevoked(link: "l"), .notAllowedForPartnerKind(kind: .oem, action: "ask"),
        .oemNotEligible(partner: "p"), .consentRequired(partner: "p", tenant: "t"),
        .channelNotAllowed(kind: .oem, channel: .upload), .oemRemovalRequiresRequest(partner: "p"),
        .alreadyDecided(request: "r"), .batchTooLarge(limit: 1000), .deviceError(.ztdDeviceIsNotRegistered),
        .deviceError(.ztdDeviceDuplicated), .storageFull,
        .accountRoleRequired(account: "desk@b.onmicrosoft.com", roles: [.globalAdministrator, .intuneAdministrator]),
    ]

    @Test func everyErrorSendsItsDeclaredParametersAndReadsBack() {
        var covered = Set<String>()
        for error in Self.samples {
            let wire = RegistryErrors.varlink(error)
            guard let declared = RegistryErrorName.allCases.first(where: { $0.qualifiedName == wire.name }) else {
                Issue.record("\(wire.name) is not declared")
                continue
            }
            covered.insert(declared.rawValue)
            #expect(wire.parameters.keys == declared.members.map(\.name), "\(wire.name)")
            #expect(RegistryErrors.registryError(wire) == error, "\(wire.name)")
        }
        #expect(covered.union(["InternalError"]) == Set(RegistryErrorName.allCases.map(\.rawValue)))
        #expect(RegistryErrors.internalError.name == RegistryErrorName.internalError.qualifiedName)
    }
}

extension WireRecord {
    /// The members' types, for code holding the record as an existential.
    static var fieldTypes: [IDLType] { fields.map(\.type) }
}
