import AutopilotDomain
import Varlink

/// A type as a varlink interface description writes it: `string`, `?[]Grant`, `(api, upload)`.
public indirect enum IDLType: Sendable, Hashable, CustomStringConvertible {
    case bool, int, string
    /// A type declared by name in the interface (`Grant`).
    case named(String)
    /// An enum, written inline as its cases.
    case enumeration([String])
    case array(IDLType)
    case optional(IDLType)

    /// The type as the description writes it.
    public var description: String {
        switch self {
        case .bool: "bool"
        case .int: "int"
        case .string: "string"
        case let .named(name): name
        case let .enumeration(cases): "(" + cases.joined(separator: ", ") + ")"
        case let .array(element): "[]" + element.description
        case let .optional(wrapped): "?" + wrapped.description
        }
    }

    /// Whether a value of this type may be absent (or null).
    public var isOptional: Bool {
        if case .optional = self { return true }
        return false
    }
}

/// A value that crosses the wire: its type in the interface description and its JSON form, both ways.
///
/// Decoding is strict about types: a value of the wrong JSON type, an unknown enum case or a malformed time is
/// `InvalidParameter` naming the member (`name`), which is how the daemon answers a mistyped parameter.
public protocol WireValue: Sendable {
    /// How the interface description writes this type.
    static var idlType: IDLType { get }
    /// The value as JSON.
    var wire: JSONValue { get }
    /// Appends the value's JSON text: the text `JSON.serialize(wire)` writes, without building `wire` (a reply is
    /// written this way, member by member).
    func writeWire(to output: inout JSONOutput)
    /// Reads the value from JSON; `name` is the member it came in, for `InvalidParameter`.
    init(wire: JSONValue, name: String) throws(VarlinkError)
}

extension String: WireValue {
    /// `string`.
    public static var idlType: IDLType { .string }
    /// The string.
    public var wire: JSONValue { .string(self) }
    /// The string, quoted.
    public func writeWire(to output: inout JSONOutput) { output.writeString(self) }
    /// A JSON string.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        guard case let .string(value) = wire else { throw .invalidParameter(name) }
        self = value
    }
}

extension Int: WireValue {
    /// `int`.
    public static var idlType: IDLType { .int }
    /// The number.
    public var wire: JSONValue { .int(self) }
    /// The number.
    public func writeWire(to output: inout JSONOutput) { output.writeInteger(self) }
    /// A JSON integer (or a number with an integral value).
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        guard let value = wire.intValue else { throw .invalidParameter(name) }
        self = value
    }
}

extension Int64: WireValue {
    /// `int`.
    public static var idlType: IDLType { .int }
    /// The number.
    public var wire: JSONValue { .int(Int(self)) }
    /// The number.
    public func writeWire(to output: inout JSONOutput) { output.writeInteger(Int(self)) }
    /// A JSON integer.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        self = Int64(try Int(wire: wire, name: name))
    }
}

extension UInt32: WireValue {
    /// `int`.
    public static var idlType: IDLType { .int }
    /// The number.
    public var wire: JSONValue { .int(Int(self)) }
    /// The number.
    public func writeWire(to output: inout JSONOutput) { output.writeInteger(Int(self)) }
    /// A JSON integer from 0 to 4294967295.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        guard let value = UInt32(exactly: try Int(wire: wire, name: name)) else { throw .invalidParameter(name) }
        self = value
    }
}

extension Bool: WireValue {
    /// `bool`.
    public static var idlType: IDLType { .bool }
    /// The boolean.
    public var wire: JSONValue { .bool(self) }
    /// The boolean.
    public func writeWire(to output: inout JSONOutput) { output.writeBool(self) }
    /// A JSON boolean.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        guard case let .bool(value) = wire else { throw .invalidParameter(name) }
        self = value
    }
}

extension Timestamp: WireValue {
    /// A time is a `string`: RFC 3339 UTC with milliseconds.
    public static var idlType: IDLType { .string }
    /// `2026-11-25T10:46:00.000Z`.
    public var wire: JSONValue { .string(rfc3339) }
    /// The RFC 3339 string, quoted.
    public func writeWire(to output: inout JSONOutput) { output.writeString(rfc3339) }
    /// An RFC 3339 string.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        guard let time = Timestamp(rfc3339: try String(wire: wire, name: name)) else { throw .invalidParameter(name) }
        self = time
    }
}

extension Optional: WireValue where Wrapped: WireValue {
    /// `?T`.
    public static var idlType: IDLType { .optional(Wrapped.idlType) }
    /// The value, or null.
    public var wire: JSONValue { self?.wire ?? .null }
    /// The value, or null.
    public func writeWire(to output: inout JSONOutput) {
        if let self { self.writeWire(to: &output) } else { output.writeNull() }
    }
    /// Null is nil; anything else must be a `Wrapped`.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        if case .null = wire { self = nil } else { self = try Wrapped(wire: wire, name: name) }
    }
}

extension Array: WireValue where Element: WireValue {
    /// `[]T`.
    public static var idlType: IDLType { .array(Element.idlType) }
    /// The elements as a JSON array.
    public var wire: JSONValue { .array(map(\.wire)) }
    /// The elements, bracketed.
    public func writeWire(to output: inout JSONOutput) {
        output.writeRaw(UInt8(ascii: "["))
        for (position, element) in enumerated() {
            if position > 0 { output.writeRaw(UInt8(ascii: ",")) }
            element.writeWire(to: &output)
        }
        output.writeRaw(UInt8(ascii: "]"))
    }
    /// A JSON array whose every element is an `Element`.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        guard case let .array(values) = wire else { throw .invalidParameter(name) }
        var elements: [Element] = []
        elements.reserveCapacity(values.count)
        for value in values { elements.append(try Element(wire: value, name: name)) }
        self = elements
    }
}

/// An enum sent as its raw string; the interface writes it as its cases, `(api, upload)`.
public protocol WireEnum: WireValue, RawRepresentable, CaseIterable where RawValue == String {}

extension WireEnum {
    /// The cases, inline.
    public static var idlType: IDLType { .enumeration(allCases.map(\.rawValue)) }
    /// The raw value.
    public var wire: JSONValue { .string(rawValue) }
    /// The raw value, quoted.
    public func writeWire(to output: inout JSONOutput) { output.writeString(rawValue) }
    /// One of the cases' raw values.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        guard let value = Self(rawValue: try String(wire: wire, name: name)) else { throw .invalidParameter(name) }
        self = value
    }
}

extension WireValue {
    /// Writes `wire`; the types the daemon's replies are made of write themselves directly.
    public func writeWire(to output: inout JSONOutput) {
        output.write(wire)
    }
}

/// One member of a record: its name and comment in the interface description, its type, and how it is read from and
/// written to a Swift value. Records list their members once, in `WireRecord.fields`; both directions and the
/// description come from that list. A class, so that a record writing its members takes one reference to each rather
/// than copying its names, type and closures.
public final class WireField<Root>: Sendable {
    /// The member's name on the wire.
    public let name: String
    /// Its comment in the interface description.
    public let doc: String
    /// Its type in the interface description.
    public let type: IDLType
    let encode: @Sendable (Root) -> JSONValue
    @usableFromInline let decode: @Sendable (inout Root, JSONValue, String) throws(VarlinkError) -> Void
    /// Writes the member's value as `encode` would make it.
    let write: @Sendable (Root, inout JSONOutput) -> Void
    /// `"name":`, as a record writes it before the value.
    let key: [UInt8]

    /// A member stored at `keyPath`; `type` overrides the value type's own description (an enum the interface writes
    /// with fewer cases, say).
    public init<Value: WireValue>(_ name: String, _ keyPath: WritableKeyPath<Root, Value> & Sendable, _ doc: String,
                                  type: IDLType? = nil) {
        self.name = name
        self.doc = doc
        self.type = type ?? Value.idlType
        // A stored property is read and written at its offset: projecting a key path goes through the runtime's
        // generic key-path code, which looks its types' metadata up in a shared table on every access; encoding a
        // Grant that way was a tenth of the daemon's CPU for a consent check (docs/performance.md). The offset is
        // what `MemoryLayout.offset(of:)` documents it for; a key path with no offset (a computed property, a
        // class's property) is projected as before.
        key = Self.key(name)
        if let offset = MemoryLayout<Root>.offset(of: keyPath) {
            encode = { root in
                withUnsafeBytes(of: root) { ($0.baseAddress! + offset).assumingMemoryBound(to: Value.self).pointee.wire }
            }
            write = { root, output in
                withUnsafeBytes(of: root) { bytes in
                    (bytes.baseAddress! + offset).assumingMemoryBound(to: Value.self).pointee.writeWire(to: &output)
                }
            }
            decode = { (root: inout Root, value: JSONValue, name: String) throws(VarlinkError) in
                let decoded = try Value(wire: value, name: name)
                withUnsafeMutableBytes(of: &root) { bytes in
                    (bytes.baseAddress! + offset).assumingMemoryBound(to: Value.self).pointee = decoded
                }
            }
        } else {
            encode = { $0[keyPath: keyPath].wire }
            write = { root, output in root[keyPath: keyPath].writeWire(to: &output) }
            decode = { (root: inout Root, value: JSONValue, name: String) throws(VarlinkError) in
                root[keyPath: keyPath] = try Value(wire: value, name: name)
            }
        }
    }

    /// A member computed from the value and read back by `set` (a wire member that is not one stored property).
    public init<Value: WireValue>(_ name: String, _ doc: String, type: IDLType? = nil,
                                  get: @escaping @Sendable (Root) -> Value,
                                  set: @escaping @Sendable (inout Root, Value) -> Void) {
        self.name = name
        self.doc = doc
        self.type = type ?? Value.idlType
        key = Self.key(name)
        encode = { get($0).wire }
        write = { root, output in get(root).writeWire(to: &output) }
        decode = { (root: inout Root, value: JSONValue, name: String) throws(VarlinkError) in
            set(&root, try Value(wire: value, name: name))
        }
    }
}

extension WireField {
    /// `"name":` as JSON text.
    static func key(_ name: String) -> [UInt8] {
        var output = JSONOutput()
        output.writeString(name)
        output.writeRaw(UInt8(ascii: ":"))
        return output.buffer
    }
}

/// A record of the interface: a declared type (`Grant`), or the parameters or reply of a method. Its members are the
/// one list `fields`; encoding, decoding and the description all follow it.
public protocol WireRecord: WireValue {
    /// The members, in the order the interface describes them.
    static var fields: [WireField<Self>] { get }
    /// A value that decoding then fills member by member (members it does not hold stay as this value has them).
    init()
    /// Refuses a decoded value its members' types allow but the interface does not (`InvalidParameter`).
    func validate() throws(VarlinkError)
}

extension WireRecord {
    /// A record that is a method's parameters or reply is written inline, member by member; the name is for messages.
    public static var idlType: IDLType { .named(String(describing: Self.self)) }

    /// Every value its members' types allow, unless the record says otherwise.
    public func validate() throws(VarlinkError) {}

    /// The record as a JSON object, every member present (absent optionals as null).
    public var wireObject: JSONObject {
        let fields = Self.fields
        var keys: [String] = []
        var values: [JSONValue] = []
        keys.reserveCapacity(fields.count)
        values.reserveCapacity(fields.count)
        for field in fields {
            keys.append(field.name)
            values.append(field.encode(self))
        }
        return JSONObject(uniqueKeys: keys, values: values)
    }

    /// The record as a JSON value.
    public var wire: JSONValue { .object(wireObject) }

    /// The record's JSON text, member by member: what `wireObject` serializes to, without building it.
    public func writeWire(to output: inout JSONOutput) {
        output.writeRaw(UInt8(ascii: "{"))
        for (position, field) in Self.fields.enumerated() {
            if position > 0 { output.writeRaw(UInt8(ascii: ",")) }
            output.writeRaw(field.key)
            field.write(self, &output)
        }
        output.writeRaw(UInt8(ascii: "}"))
    }

    /// The record's JSON text (`writeWire`).
    public var wireText: [UInt8] {
        var output = JSONOutput()
        output.buffer.reserveCapacity(1024)
        writeWire(to: &output)
        return output.buffer
    }

    /// Reads a record from a reply: members it does not know are ignored (a newer daemon may add some); a missing
    /// required member or a mistyped one is `InvalidParameter` naming it.
    public init(wire: JSONValue, name: String) throws(VarlinkError) {
        guard case let .object(object) = wire else { throw .invalidParameter(name) }
        try self.init(object: object, strict: false)
    }

    /// Reads a record from a JSON object. `strict` (a call's parameters) also refuses members the record does not
    /// declare, as `InvalidParameter` naming the first of them. Inlinable, so that the daemon's decoding of each
    /// method's parameters is specialised: run generically it looked up its members' type metadata on every call.
    @inlinable
    public init(object: JSONObject, strict: Bool) throws(VarlinkError) {
        self.init()
        let fields = Self.fields
        var matched = 0
        for field in fields {
            guard let value = object[field.name] else {
                if !field.type.isOptional { throw .invalidParameter(field.name) }
                continue
            }
            matched += 1
            try field.decode(&self, value, field.name)
        }
        if strict && matched < object.count {
            let known = Set(fields.map(\.name))
            throw .invalidParameter(object.keys.first { !known.contains($0) } ?? "")
        }
        try validate()
    }
}

/// A record the interface declares by name (`type Grant (…)`), with its comment.
public protocol NamedWireRecord: WireRecord {
    /// The name the interface declares it under.
    static var typeName: String { get }
    /// Its comment in the interface description.
    static var doc: String { get }
}

extension NamedWireRecord {
    /// Written by name.
    public static var idlType: IDLType { .named(typeName) }
}

/// A record with no members: the reply of a method that returns nothing.
public struct Empty: WireRecord {
    /// No members.
    public static var idlType: IDLType { .named("()") }
    /// No members.
    public static var fields: [WireField<Empty>] { [] }
    /// The empty record.
    public init() {}
}
