import AutopilotDomain
import Varlink

/// The varlink interface `io.autopilotd.registry` (shared/interface.md): its declared types, methods and errors, and
/// the description text `org.varlink.service.GetInterfaceDescription` serves, generated from them.
public enum RegistryInterface {
    /// The interface's name.
    public static let name = "io.autopilotd.registry"

    /// The comment above the `interface` line.
    static let doc = """
        Windows Autopilot customer consent and device registration.

        Partners (CSPs and OEMs) register a customer's Autopilot devices only after the customer's Global \
        Administrator consented. Ids are lowercase UUIDs unless the operator chose one; times are RFC 3339 UTC with \
        milliseconds; enums are camelCase strings; optional inputs may be omitted, and parameters a method does not \
        declare are refused (InvalidParameter). Callers are identified by their Unix credentials (SO_PEERCRED); \
        access rules give them a role.
        """

    /// Every type the interface declares by name, in the order the description lists them.
    public static let types: [any NamedWireRecord.Type] = [
        Tenant.self, Account.self, Partner.self, Link.self, Grant.self, Customer.self, RevocationRequest.self,
        ConsentEvent.self, DeviceInput.self, DeviceResult.self, Batch.self, Device.self, AccessRule.self, AuditEvent.self,
    ]

    /// Every method, in the order the description lists them.
    public static let methods: [any MethodDeclaration.Type] = directoryMethods + consentMethods + deviceMethods
        + accessMethods + serviceMethods

    /// The method declared under `name`, if any; one hash lookup.
    public static func method(named name: Substring) -> (any MethodDeclaration.Type)? { byName[name] }

    private static let byName: [Substring: any MethodDeclaration.Type] =
        Dictionary(uniqueKeysWithValues: methods.map { (Substring($0.name), $0) })

    /// The description text, generated from the declarations: a comment above every type, member, method and error.
    public static let description: String = {
        var text = comment(doc, indent: "") + "interface \(name)\n"
        for type in types {
            text += "\n" + comment(type.doc, indent: "") + "type \(type.typeName) " + record(type.members) + "\n"
        }
        for method in methods {
            text += "\n" + comment(method.documentation, indent: "")
            let head = "method \(method.name)" + record(method.parameterMembers, after: "method \(method.name)")
            let lastLine = head.split(separator: "\n").last ?? ""
            text += head + " -> " + record(method.replyMembers, after: String(lastLine) + " -> ") + "\n"
        }
        for error in RegistryErrorName.allCases {
            text += "\n" + comment(error.doc, indent: "") + "error \(error.rawValue) " + record(error.members) + "\n"
        }
        return text
    }()

    /// A member list: on one line when no member has a comment and the line stays within 116 columns after
    /// `prefix`, else one member per line, under its comment.
    static func record(_ members: [(name: String, type: IDLType, doc: String)], after prefix: String = "")
        -> String
    {
        let inline = "(" + members.map { "\($0.name): \($0.type)" }.joined(separator: ", ") + ")"
        if members.allSatisfy({ $0.doc.isEmpty }) && prefix.count + inline.count <= 116 { return inline }
        let lines = members.map { comment($0.doc, indent: "  ") + "  \($0.name): \($0.type)" }
        return "(\n" + lines.joined(separator: ",\n") + "\n)"
    }

    /// `text` as `#` comment lines of at most 116 columns (paragraphs kept), or nothing for no text.
    static func comment(_ text: String, indent: String) -> String {
        guard !text.isEmpty else { return "" }
        var out = ""
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = indent + "#"
            if paragraph.isEmpty { out += line + "\n"; continue }
            for word in paragraph.split(separator: " ") {
                if line.count + 1 + word.count > 116 && line.count > indent.count + 1 {
                    out += line + "\n"
                    line = indent + "#"
                }
                line += " " + word
            }
            out += line + "\n"
        }
        return out
    }
}

extension NamedWireRecord {
    /// The members as the description writes them.
    static var members: [(name: String, type: IDLType, doc: String)] { fields.map { ($0.name, $0.type, $0.doc) } }
}

extension MethodDeclaration {
    static var parameterMembers: [(name: String, type: IDLType, doc: String)] {
        Parameters.fields.map { ($0.name, $0.type, $0.doc) }
    }
    static var replyMembers: [(name: String, type: IDLType, doc: String)] {
        Reply.fields.map { ($0.name, $0.type, $0.doc) }
    }

    /// The method's comment, with who may call it and the errors it may answer.
    static var documentation: String {
        var text = doc
        if !errors.isEmpty { text += "\nErrors: " + errors.map(\.rawValue).joined(separator: ", ") + "." }
        return text
    }
}
