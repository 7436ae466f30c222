/// A JSON value as carried in varlink messages.
///
/// Numbers keep the distinction the text had: an integer literal that fits in `Int` is `.int`,
/// anything with a fraction or exponent (or too large for `Int`) is `.double`.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

extension JSONValue {
    /// The string, when this is `.string`.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, when this is `.int` or a `.double` with an integral value that fits in `Int`.
    public var intValue: Int? {
        switch self {
        case .int(let value):
            return value
        case .double(let value):
            return Int(exactly: value)
        default:
            return nil
        }
    }

    /// The number as a `Double`, when this is `.int` or `.double`.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// The boolean, when this is `.bool`.
    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The elements, when this is `.array`.
    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The object, when this is `.object`.
    public var objectValue: JSONObject? {
        if case .object(let value) = self { return value }
        return nil
    }

    /// Whether this is JSON `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByStringInterpolation {
    /// The literal as a JSON string.
    public init(stringLiteral value: String) {
        self = .string(value)
    }

    /// An interpolated literal as a JSON string.
    public init(stringInterpolation: DefaultStringInterpolation) {
        self = .string(String(stringInterpolation: stringInterpolation))
    }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    /// The literal as a JSON integer.
    public init(integerLiteral value: Int) {
        self = .int(value)
    }
}

extension JSONValue: ExpressibleByFloatLiteral {
    /// The literal as a JSON double.
    public init(floatLiteral value: Double) {
        self = .double(value)
    }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    /// The literal as a JSON boolean.
    public init(booleanLiteral value: Bool) {
        self = .bool(value)
    }
}

extension JSONValue: ExpressibleByArrayLiteral {
    /// The literal's elements as a JSON array.
    public init(arrayLiteral elements: JSONValue...) {
        self = .array(elements)
    }
}

extension JSONValue: ExpressibleByNilLiteral {
    /// `nil` as JSON `null`.
    public init(nilLiteral: ()) {
        self = .null
    }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// The literal's pairs as a JSON object, in order (a repeated key keeps its last value).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact JSON text of the value.
    public var description: String {
        JSON.serialize(self)
    }
}

/// A JSON object whose keys keep their insertion order.
///
/// Lookup is a linear scan for small objects (the common case in varlink parameters) and goes
/// through a hash index once an object grows past ``indexThreshold`` keys.
///
/// Equality ignores key order, as JSON does: `{"a":1,"b":2}` equals `{"b":2,"a":1}`.
public struct JSONObject: Sendable {
    /// Above this many keys, lookups use a dictionary index instead of a linear scan.
    public static let indexThreshold = 16

    @usableFromInline var storedKeys: [String]
    @usableFromInline var storedValues: [JSONValue]
    @usableFromInline var index: [String: Int]?

    /// An empty object.
    public init() {
        storedKeys = []
        storedValues = []
        index = nil
    }

    /// An object with the given pairs in order; a repeated key keeps its first position and its last value.
    public init(_ pairs: [(String, JSONValue)]) {
        self.init()
        storedKeys.reserveCapacity(pairs.count)
        storedValues.reserveCapacity(pairs.count)
        for (key, value) in pairs {
            self[key] = value
        }
    }

    /// Builds an object from parallel arrays the caller guarantees hold distinct keys (a record's members), without
    /// checking each key against the others as `init(_:)` does.
    public init(uniqueKeys keys: [String], values: [JSONValue]) {
        self.init(uncheckedKeys: keys, values: values)
    }

    /// Builds an object from parallel arrays the caller guarantees hold distinct keys.
    init(uncheckedKeys keys: [String], values: [JSONValue]) {
        storedKeys = keys
        storedValues = values
        index = nil
        buildIndexIfLarge()
    }

    /// The keys in insertion order.
    public var keys: [String] { storedKeys }

    /// The values in insertion order.
    public var values: [JSONValue] { storedValues }

    /// The number of keys.
    public var count: Int { storedKeys.count }

    /// Whether the object has no keys.
    public var isEmpty: Bool { storedKeys.isEmpty }

    /// The position of `key`, if present.
    @inlinable
    public func position(of key: String) -> Int? {
        if let index { return index[key] }
        return storedKeys.firstIndex(of: key)
    }

    /// The value for `key`; setting `nil` removes the key, setting a new key appends it.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let position = position(of: key) else { return nil }
            return storedValues[position]
        }
        set {
            if let newValue {
                if let position = position(of: key) {
                    storedValues[position] = newValue
                } else {
                    storedKeys.append(key)
                    storedValues.append(newValue)
                    if index != nil {
                        index![key] = storedKeys.count - 1
                    } else {
                        buildIndexIfLarge()
                    }
                }
            } else if let position = position(of: key) {
                storedKeys.remove(at: position)
                storedValues.remove(at: position)
                if index != nil {
                    index = nil
                    buildIndexIfLarge()
                }
            }
        }
    }

    /// Whether two keys are equal, checked by building the index or scanning. Used by the parser.
    var hasDuplicateKeys: Bool {
        if storedKeys.count > Self.indexThreshold {
            return index?.count != storedKeys.count
        }
        for i in storedKeys.indices {
            for j in storedKeys.index(after: i)..<storedKeys.endIndex where storedKeys[i] == storedKeys[j] {
                return true
            }
        }
        return false
    }

    private mutating func buildIndexIfLarge() {
        guard storedKeys.count > Self.indexThreshold else { return }
        var built = [String: Int](minimumCapacity: storedKeys.count)
        for (position, key) in storedKeys.enumerated() where built[key] == nil {
            built[key] = position
        }
        index = built
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// The literal's pairs in order (a repeated key keeps its first position and its last value).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}

extension JSONObject: Sequence {
    /// Iterates the pairs in insertion order.
    public struct Iterator: IteratorProtocol {
        let object: JSONObject
        var position = 0

        /// The next pair, or nil after the last.
        public mutating func next() -> (key: String, value: JSONValue)? {
            guard position < object.storedKeys.count else { return nil }
            defer { position += 1 }
            return (object.storedKeys[position], object.storedValues[position])
        }
    }

    /// An iterator from the first pair.
    public func makeIterator() -> Iterator {
        Iterator(object: self)
    }

    /// The number of pairs, which is exact.
    public var underestimatedCount: Int { count }
}

extension JSONObject: Hashable {
    /// Equal when both hold the same keys with equal values, in any order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.storedKeys == rhs.storedKeys { return lhs.storedValues == rhs.storedValues }
        for (key, value) in lhs {
            guard let other = rhs[key], other == value else { return false }
        }
        return true
    }

    /// Hashes the pairs without regard to their order, as `==` compares them.
    public func hash(into hasher: inout Hasher) {
        // Order-independent, to agree with ==.
        var combined = 0
        for (key, value) in self {
            var pairHasher = Hasher()
            pairHasher.combine(key)
            pairHasher.combine(value)
            combined &+= pairHasher.finalize()
        }
        hasher.combine(count)
        hasher.combine(combined)
    }
}

extension JSONObject: CustomStringConvertible {
    /// The compact JSON text of the object.
    public var description: String {
        JSON.serialize(.object(self))
    }
}
