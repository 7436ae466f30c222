/// A varlink error reply: a fully qualified error name and its parameters.
///
/// Handlers throw or return it to answer a call with an error.
public struct VarlinkError: Error, Sendable, Hashable {
    /// Fully qualified name, e.g. `org.varlink.service.InvalidParameter`.
    public var name: String
    /// The error's parameters: a JSON object, empty for most.
    public var parameters: JSONObject

    /// An error with this name and parameters.
    public init(name: String, parameters: JSONObject = [:]) {
        self.name = name
        self.parameters = parameters
    }

    /// `org.varlink.service.InvalidParameter`: `parameter` is missing or has the wrong type or value.
    public static func invalidParameter(_ parameter: String) -> VarlinkError {
        VarlinkError(name: "org.varlink.service.InvalidParameter", parameters: ["parameter": .string(parameter)])
    }

    /// `org.varlink.service.MethodNotFound`: no such method.
    public static func methodNotFound(_ method: String) -> VarlinkError {
        VarlinkError(name: "org.varlink.service.MethodNotFound", parameters: ["method": .string(method)])
    }

    /// `org.varlink.service.InterfaceNotFound`: no such interface.
    public static func interfaceNotFound(_ interface: String) -> VarlinkError {
        VarlinkError(name: "org.varlink.service.InterfaceNotFound", parameters: ["interface": .string(interface)])
    }

    /// `org.varlink.service.MethodNotImplemented`: the interface declares the method but it is not implemented.
    public static func methodNotImplemented(_ method: String) -> VarlinkError {
        VarlinkError(name: "org.varlink.service.MethodNotImplemented", parameters: ["method": .string(method)])
    }

    /// `org.varlink.service.ExpectedMore`: the method streams and must be called with `more`.
    public static let expectedMore = VarlinkError(name: "org.varlink.service.ExpectedMore")

    /// `org.varlink.service.PermissionDenied`: the caller may not make this call.
    public static let permissionDenied = VarlinkError(name: "org.varlink.service.PermissionDenied")
}

extension VarlinkError: CustomStringConvertible {
    /// The name, followed by the parameters as JSON when there are any.
    public var description: String {
        parameters.isEmpty ? name : "\(name) \(JSON.serialize(.object(parameters)))"
    }
}

/// Typed access to call parameters; a missing or mistyped parameter throws
/// `org.varlink.service.InvalidParameter` naming the key.
extension JSONObject {
    /// The string at `key`. - Throws: `InvalidParameter(key)` when absent or not a string.
    public func string(_ key: String) throws(VarlinkError) -> String {
        guard let value = try optionalString(key) else { throw .invalidParameter(key) }
        return value
    }

    /// The string at `key`, nil when absent or null. - Throws: `InvalidParameter(key)` when of another type.
    public func optionalString(_ key: String) throws(VarlinkError) -> String? {
        switch self[key] {
        case nil, .null?: return nil
        case .string(let value)?: return value
        default: throw .invalidParameter(key)
        }
    }

    /// The boolean at `key`. - Throws: `InvalidParameter(key)` when absent or not a boolean.
    public func bool(_ key: String) throws(VarlinkError) -> Bool {
        guard let value = try optionalBool(key) else { throw .invalidParameter(key) }
        return value
    }

    /// The boolean at `key`, nil when absent or null. - Throws: `InvalidParameter(key)` when of another type.
    public func optionalBool(_ key: String) throws(VarlinkError) -> Bool? {
        switch self[key] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw .invalidParameter(key)
        }
    }

    /// The integer at `key`; an integral double is accepted.
    /// - Throws: `InvalidParameter(key)` when absent, not a number, fractional or out of `Int` range.
    public func int(_ key: String) throws(VarlinkError) -> Int {
        guard let value = try optionalInt(key) else { throw .invalidParameter(key) }
        return value
    }

    /// The integer at `key`, nil when absent or null. - Throws: `InvalidParameter(key)` when not an integer.
    public func optionalInt(_ key: String) throws(VarlinkError) -> Int? {
        switch self[key] {
        case nil, .null?: return nil
        case .int(let value)?: return value
        case .double(let value)?:
            guard let integer = Int(exactly: value) else { throw .invalidParameter(key) }
            return integer
        default: throw .invalidParameter(key)
        }
    }

    /// The array of strings at `key`. - Throws: `InvalidParameter(key)` when absent or not an array of strings.
    public func stringArray(_ key: String) throws(VarlinkError) -> [String] {
        guard let value = try optionalStringArray(key) else { throw .invalidParameter(key) }
        return value
    }

    /// The array of strings at `key`, nil when absent or null.
    /// - Throws: `InvalidParameter(key)` when not an array of strings.
    public func optionalStringArray(_ key: String) throws(VarlinkError) -> [String]? {
        switch self[key] {
        case nil, .null?: return nil
        case .array(let elements)?:
            var strings: [String] = []
            strings.reserveCapacity(elements.count)
            for element in elements {
                guard case .string(let string) = element else { throw .invalidParameter(key) }
                strings.append(string)
            }
            return strings
        default: throw .invalidParameter(key)
        }
    }

    /// The array of objects at `key`. - Throws: `InvalidParameter(key)` when absent or not an array of objects.
    public func objectArray(_ key: String) throws(VarlinkError) -> [JSONObject] {
        guard let value = try optionalObjectArray(key) else { throw .invalidParameter(key) }
        return value
    }

    /// The array of objects at `key`, nil when absent or null.
    /// - Throws: `InvalidParameter(key)` when not an array of objects.
    public func optionalObjectArray(_ key: String) throws(VarlinkError) -> [JSONObject]? {
        switch self[key] {
        case nil, .null?: return nil
        case .array(let elements)?:
            var objects: [JSONObject] = []
            objects.reserveCapacity(elements.count)
            for element in elements {
                guard case .object(let object) = element else { throw .invalidParameter(key) }
                objects.append(object)
            }
            return objects
        default: throw .invalidParameter(key)
        }
    }

    /// The object at `key`. - Throws: `InvalidParameter(key)` when absent or not an object.
    public func object(_ key: String) throws(VarlinkError) -> JSONObject {
        guard let value = try optionalObject(key) else { throw .invalidParameter(key) }
        return value
    }

    /// The object at `key`, nil when absent or null. - Throws: `InvalidParameter(key)` when not an object.
    public func optionalObject(_ key: String) throws(VarlinkError) -> JSONObject? {
        switch self[key] {
        case nil, .null?: return nil
        case .object(let value)?: return value
        default: throw .invalidParameter(key)
        }
    }
}
