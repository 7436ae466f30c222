import AutopilotDomain
import AutopilotInterface
import Varlink

/// Calls of `io.autopilotd.registry` over one ``VarlinkConnection``: one generic `call` for every method, taking
/// the method's declared parameters and returning its declared reply (`AutopilotInterface`).
///
/// Every call throws ``VarlinkClientError``: `.remote` carries the daemon's error (see
/// `RegistryErrors.explanation`); a reply that does not decode as the declared reply is a `.protocolError`.
public final class RegistryClient {
    /// The connection the calls go over.
    public let connection: VarlinkConnection

    /// Wraps an open connection.
    public init(connection: VarlinkConnection) { self.connection = connection }

    /// Connects to the daemon's socket. - Throws: `.cannotConnect` when nothing listens there.
    public convenience init(path: String) throws(VarlinkClientError) {
        self.init(connection: try VarlinkConnection(path: path))
    }

    /// Calls method `M` and returns its reply.
    public func call<M: MethodDeclaration>(_ method: M.Type, _ parameters: M.Parameters) throws(VarlinkClientError)
        -> M.Reply
    {
        try Self.decode(M.Reply.self, try connection.call(M.qualifiedName, parameters.parametersObject))
    }

    /// Calls method `M`, which takes no parameters.
    public func call<M: MethodDeclaration>(_ method: M.Type) throws(VarlinkClientError) -> M.Reply
    where M.Parameters == Empty {
        try call(method, Empty())
    }

    /// Calls streaming method `M` with `more`, handing each reply to `each` as it arrives; nothing is collected.
    /// - Throws: ``VarlinkClientError``, or what `each` throws (which stops the stream and closes the connection).
    public func stream<M: MethodDeclaration>(_ method: M.Type, _ parameters: M.Parameters,
                                             each: (M.Reply) throws -> Void) throws {
        try connection.callMore(M.qualifiedName, parameters.parametersObject) { reply in
            try each(try Self.decode(M.Reply.self, reply))
        }
    }

    /// Closes the connection.
    public func close() { connection.close() }

    /// A reply as the declared type, or a protocol error saying which member is missing or mistyped.
    static func decode<R: WireRecord>(_ type: R.Type, _ object: JSONObject) throws(VarlinkClientError) -> R {
        do {
            return try R(object: object, strict: false)
        } catch {
            throw .protocolError("unexpected reply from the daemon: \(RegistryErrors.explanation(error))")
        }
    }
}

extension WireRecord {
    /// The record as call parameters: members left out instead of sent as null, as clients usually write them.
    public var parametersObject: JSONObject {
        var keys: [String] = []
        var values: [JSONValue] = []
        for (key, value) in wireObject {
            if case .null = value { continue }
            keys.append(key)
            values.append(value)
        }
        return JSONObject(uniqueKeys: keys, values: values)
    }
}
