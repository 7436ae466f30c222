/// A message that breaks the varlink protocol; the connection it came from should be closed.
public struct VarlinkProtocolError: Error, Sendable, CustomStringConvertible {
    /// What is wrong with the message, for the log.
    public let reason: String

    /// The error for `reason`.
    public init(reason: String) {
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}

/// One varlink call: `{"method": …, "parameters": {…}, "more"?: true, "oneway"?: true, "upgrade"?: true}`.
public struct VarlinkCall: Sendable {
    /// Deepest container nesting accepted in a call frame.
    public static let maxNestingDepth = 64

    /// Fully qualified method name, e.g. `io.autopilotd.registry.GetStatus`.
    public var method: String
    /// The call's parameters; empty when the message has none.
    public var parameters: JSONObject
    /// The caller accepts several replies (all but the last with `continues`).
    public var more: Bool
    /// The caller wants no reply at all.
    public var oneway: Bool
    /// The caller wants to take over the connection after the reply (not supported by this server).
    public var upgrade: Bool

    /// A call as a client sends it; every flag defaults to off.
    public init(method: String, parameters: JSONObject = [:], more: Bool = false, oneway: Bool = false, upgrade: Bool = false) {
        self.method = method
        self.parameters = parameters
        self.more = more
        self.oneway = oneway
        self.upgrade = upgrade
    }

    /// Decodes one frame (the bytes before the NUL).
    ///
    /// - Throws: `VarlinkProtocolError` when the frame is not a JSON object with a string `method`, when
    ///   `parameters` is present and not an object, when `more`/`oneway`/`upgrade` are present and not
    ///   booleans, or when both `oneway` and `more` are set.
    public init(frame: UnsafeRawBufferPointer) throws(VarlinkProtocolError) {
        try self.init(message: decodeMessageObject(frame))
    }

    /// Decodes one frame whose bytes the caller gives up: the parser hands their pages back to the system as it
    /// decodes past them (`JSON.parse(consuming:)`), and they read as zero afterwards. The daemon decodes received
    /// frames so, in its receive buffer: the 4 MB of a large upload are not held while its 4 MB string is built.
    public init(consumingFrame frame: UnsafeMutableRawBufferPointer) throws(VarlinkProtocolError) {
        self = try Self.decode(consumingFrame: frame).call
    }

    /// ``init(consumingFrame:)``, which also says how many bytes the decoded call holds in memory (by
    /// `JSON.parseMeasured`'s estimate) and refuses a frame whose call would hold more than `maxDecodedSize`.
    public static func decode(consumingFrame frame: UnsafeMutableRawBufferPointer, maxDecodedSize: Int = .max)
        throws(VarlinkProtocolError) -> (call: VarlinkCall, decodedSize: Int)
    {
        let (value, size) = try messageValue { () throws(JSONParseError) in
            try JSON.parseMeasured(consuming: frame, maxDepth: maxNestingDepth, maxDecodedSize: maxDecodedSize)
        }
        return (try VarlinkCall(message: messageObject(value)), size)
    }

    private init(message: JSONObject) throws(VarlinkProtocolError) {
        guard case .string(let method)? = message["method"] else {
            throw VarlinkProtocolError(reason: "call has no string \"method\"")
        }
        self.method = method
        self.parameters = try decodeParameters(message)
        self.more = try decodeFlag(message, "more")
        self.oneway = try decodeFlag(message, "oneway")
        self.upgrade = try decodeFlag(message, "upgrade")
        if oneway && more {
            throw VarlinkProtocolError(reason: "call sets both \"oneway\" and \"more\"")
        }
    }

    /// Decodes one frame (the bytes before the NUL); see ``init(frame:)-(UnsafeRawBufferPointer)``.
    public init(frame: [UInt8]) throws(VarlinkProtocolError) {
        let result: Result<VarlinkCall, VarlinkProtocolError> = frame.withUnsafeBytes { raw in
            Result { () throws(VarlinkProtocolError) in try VarlinkCall(frame: raw) }
        }
        self = try result.get()
    }

    /// The JSON text of the call followed by the NUL terminator; false flags are omitted.
    public func encoded() -> [UInt8] {
        var message: JSONObject = ["method": .string(method), "parameters": .object(parameters)]
        if more { message["more"] = true }
        if oneway { message["oneway"] = true }
        if upgrade { message["upgrade"] = true }
        var bytes: [UInt8] = []
        JSON.serialize(.object(message), into: &bytes)
        bytes.append(0)
        return bytes
    }

    /// The interface part of the method: `io.autopilotd.registry` of `io.autopilotd.registry.GetStatus`.
    public var interfaceName: Substring {
        guard let dot = lastDot else { return method[method.startIndex..<method.startIndex] }
        return method[..<dot]
    }

    /// The member part of the method: `GetStatus` of `io.autopilotd.registry.GetStatus`.
    public var memberName: Substring {
        guard let dot = lastDot else { return method[...] }
        return method[method.utf8.index(after: dot)...]
    }

    /// The last `.` of the method, found among its UTF-8 bytes: searching its `Character`s cost about 7,000
    /// instructions a call (grapheme breaking), a tenth of a `WhoAmI`, and stepping back through its `utf8` view
    /// about 800 a lookup, three a call (docs/performance.md); its contiguous bytes are searched instead.
    private var lastDot: String.Index? {
        var contiguous = method
        let offset = contiguous.withUTF8 { bytes in bytes.lastIndex(of: UInt8(ascii: ".")) }
        return offset.map { method.utf8.index(method.utf8.startIndex, offsetBy: $0) }
    }
}

/// One varlink reply: `{"parameters": {…}}`, `{"error": name, "parameters": {…}}`, with `"continues": true`
/// on all but the last reply of a `more` call.
public struct VarlinkReply: Sendable, Hashable {
    /// The reply's parameters, or an error's parameters.
    public var parameters: JSONObject
    /// More replies to the same call follow.
    public var continues: Bool
    /// Fully qualified error name when the reply is an error.
    public var error: String?

    /// A successful reply; `continues` when more replies to the same call follow.
    public init(parameters: JSONObject = [:], continues: Bool = false) {
        self.parameters = parameters
        self.continues = continues
        self.error = nil
    }

    /// The final error reply for `error`.
    public init(error: VarlinkError) {
        self.parameters = error.parameters
        self.continues = false
        self.error = error.name
    }

    /// Appends the JSON text of the reply and the NUL terminator; `continues` and `error` only when set.
    public func encode(into buffer: inout [UInt8]) {
        let parameters = self.parameters
        Self.encode(error: error, continues: continues, into: &buffer) { $0.write(.object(parameters)) }
    }

    /// Appends a successful reply whose parameters are JSON text already (an object) and the NUL terminator: the
    /// same text `encode(into:)` writes for those parameters.
    public static func encode(parametersText: [UInt8], continues: Bool, into buffer: inout [UInt8]) {
        encode(error: nil, continues: continues, into: &buffer) { $0.writeRaw(parametersText) }
    }

    /// The one writer of a reply's envelope: `error` (when set), `parameters` as `writeParameters` writes them,
    /// `continues` (when set), in that order, then the NUL terminator.
    private static func encode(error: String?, continues: Bool, into buffer: inout [UInt8],
                               writeParameters: (inout JSONOutput) -> Void) {
        var output = JSONOutput(buffer: buffer)
        buffer = []
        output.writeRaw(UInt8(ascii: "{"))
        if let error {
            output.writeString("error")
            output.writeRaw(UInt8(ascii: ":"))
            output.writeString(error)
            output.writeRaw(UInt8(ascii: ","))
        }
        output.writeString("parameters")
        output.writeRaw(UInt8(ascii: ":"))
        writeParameters(&output)
        if continues {
            output.writeRaw(UInt8(ascii: ","))
            output.writeString("continues")
            output.writeRaw(UInt8(ascii: ":"))
            output.writeBool(true)
        }
        output.writeRaw(UInt8(ascii: "}"))
        output.writeRaw(0)
        buffer = output.buffer
    }

    /// The JSON text of the reply followed by the NUL terminator.
    public func encoded() -> [UInt8] {
        var buffer: [UInt8] = []
        encode(into: &buffer)
        return buffer
    }

    /// Decodes one reply frame (the bytes before the NUL).
    ///
    /// - Throws: `VarlinkProtocolError` when the frame is not a JSON object, `parameters` is not an
    ///   object, `continues` is not a boolean or `error` is not a string.
    public init(frame: [UInt8]) throws(VarlinkProtocolError) {
        let result: Result<JSONObject, VarlinkProtocolError> = frame.withUnsafeBytes { raw in
            Result { () throws(VarlinkProtocolError) in try decodeMessageObject(raw) }
        }
        let message = try result.get()
        self.parameters = try decodeParameters(message)
        self.continues = try decodeFlag(message, "continues")
        switch message["error"] {
        case nil: self.error = nil
        case .string(let name)?: self.error = name
        default: throw VarlinkProtocolError(reason: "reply \"error\" is not a string")
        }
    }

    /// The error carried by the reply, if it is an error reply.
    public var varlinkError: VarlinkError? {
        error.map { VarlinkError(name: $0, parameters: parameters) }
    }
}

private func decodeMessageObject(_ frame: UnsafeRawBufferPointer) throws(VarlinkProtocolError) -> JSONObject {
    try messageObject { () throws(JSONParseError) in try JSON.parse(frame, maxDepth: VarlinkCall.maxNestingDepth) }
}

/// The message object `parse` yields; a parse error or another kind of value is a protocol error.
private func messageObject(_ parse: () throws(JSONParseError) -> JSONValue) throws(VarlinkProtocolError) -> JSONObject {
    try messageObject(messageValue(parse))
}

/// What `parse` yields; a parse error is a protocol error.
private func messageValue<Parsed>(_ parse: () throws(JSONParseError) -> Parsed) throws(VarlinkProtocolError) -> Parsed {
    do {
        return try parse()
    } catch {
        throw VarlinkProtocolError(reason: error.description)
    }
}

/// The message object `value` holds; another kind of value is a protocol error.
private func messageObject(_ value: JSONValue) throws(VarlinkProtocolError) -> JSONObject {
    guard case .object(let message) = value else {
        throw VarlinkProtocolError(reason: "message is not a JSON object")
    }
    return message
}

private func decodeParameters(_ message: JSONObject) throws(VarlinkProtocolError) -> JSONObject {
    switch message["parameters"] {
    case nil: return JSONObject()
    case .object(let parameters)?: return parameters
    default: throw VarlinkProtocolError(reason: "\"parameters\" is not an object")
    }
}

private func decodeFlag(_ message: JSONObject, _ key: String) throws(VarlinkProtocolError) -> Bool {
    switch message[key] {
    case nil: return false
    case .bool(let flag)?: return flag
    default: throw VarlinkProtocolError(reason: "\"\(key)\" is not a boolean")
    }
}
