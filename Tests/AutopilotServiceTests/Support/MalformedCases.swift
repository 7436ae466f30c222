import AutopilotService
import AutopilotTestSupport
import Foundation
import Varlink

/// One hostile input for the daemon's socket, and what the daemon must do with it.
struct MalformedCase {
    enum Expectation {
        /// Close the connection, after at most `answers` successful replies to valid calls sent before the bad bytes.
        case closed(answers: Int)
        /// Answer with exactly this error; for InvalidParameter, naming one of `parameters`.
        case error(String, parameters: Set<String>? = nil)
        /// Answer with success.
        case success
        /// Answer with success or an error of the interface (never InternalError, never InvalidParameter when
        /// `typed`); a stream ends with a reply without `continues`; `single` when exactly one reply is due.
        case answered(typed: Bool, single: Bool)
        /// Send nothing for a oneway call: the reply to the WhoAmI sent after it comes first.
        case silentThenWhoAmI
        /// A stream that never ends by itself: its first reply continues and carries no record (the subscription),
        /// or it is one error of the interface (never InvalidParameter when `typed`).
        case subscribed(typed: Bool)
    }

    var kind: String
    var bytes: [UInt8]
    var expect: Expectation
    /// Close the sending side after the bytes (a frame that never ends).
    var halfClose = false
    /// Send the bytes in pieces of this size.
    var chunkSize: Int?

    /// Sends the case on a new connection and returns what went wrong, or nil.
    func run(socket path: String) -> String? {
        let connection: RawSocket
        do { connection = try RawSocket(path: path) } catch { return "cannot connect: \(error)" }
        defer { connection.close() }
        var sent = true
        if let chunkSize {
            var offset = 0
            while sent && offset < bytes.count {
                sent = connection.send(Array(bytes[offset..<min(offset + chunkSize, bytes.count)]))
                offset += chunkSize
            }
        } else {
            sent = connection.send(bytes)
        }
        if halfClose { connection.shutdownWrite() }

        switch expect {
        case let .closed(answers):
            let (replies, end) = connection.read()
            guard end == .closed else { return "expected the connection to close, got \(end) after \(replies.count) replies" }
            if replies.count > answers || replies.contains(where: { $0.error != nil }) {
                return "expected at most \(answers) successful replies before the close, got \(replies)"
            }
            return nil
        default:
            guard sent else { return "the daemon closed the connection while the case was being sent" }
        }
        if case let .subscribed(typed) = expect {
            let (replies, end) = connection.read(anyReplies: 1)
            guard end == .complete, let first = replies.first else { return "expected a first reply, got \(end)" }
            if let error = first.error {
                guard InterfaceTable.declaredErrors.contains(error), !first.continues else { return "an undeclared error: \(first)" }
                if typed && error == "org.varlink.service.InvalidParameter" { return "well-typed call refused: \(first)" }
                return nil
            }
            guard first.continues, first.parameters.allSatisfy({ $0.value == .null }) else {
                return "expected a continued first reply without a record, got \(first)"
            }
            return nil
        }
        let (replies, end) = connection.read(finalReplies: 1)
        guard end == .complete, let last = replies.last else { return "expected an answer, got \(end) after \(replies)" }
        if replies.dropLast().contains(where: { !$0.continues }) { return "a stream's replies are not all continued" }
        switch expect {
        case .closed:
            return nil
        case let .error(name, parameters):
            guard replies.count == 1, last.error == name else { return "expected \(name), got \(replies)" }
            if let parameters, !parameters.contains(last.parameters["parameter"]?.stringValue ?? "") {
                return "expected \(name) naming one of \(parameters.sorted()), got \(last.parameters)"
            }
        case .success:
            guard replies.allSatisfy({ $0.error == nil }) else { return "expected success, got \(replies)" }
        case let .answered(typed, single):
            if let error = last.error {
                guard InterfaceTable.declaredErrors.contains(error) else { return "an undeclared error: \(last)" }
                if typed && error == "org.varlink.service.InvalidParameter" { return "well-typed call refused: \(last)" }
            }
            if single && replies.count != 1 { return "expected one reply, got \(replies.count)" }
        case .silentThenWhoAmI:
            guard replies.count == 1, last.error == nil, last.parameters["role"] == "operator" else {
                return "expected only the WhoAmI reply after a oneway call, got \(replies)"
            }
        case .subscribed:
            return nil
        }
        return nil
    }
}

/// Builds seeded malformed cases for the daemon's socket: truncated and oversized frames, invalid UTF-8 and JSON, bad
/// envelopes, wrong types, missing and unknown fields, huge arrays and strings, deep nesting, `more` and `oneway` on
/// every method, unknown methods, pipelined and chunked frames.
struct MalformedCaseGenerator {
    /// Records the cases may name (so that many calls get past NotFound), and a batch no case can take away.
    struct Targets {
        var strings: [String]
        var stableBatch: String
        var stablePartner: String
        var stableTenant: String
        var directory: String
    }

    let maxFrameSize: Int
    let targets: Targets
    var random: SplitMix64

    init(seed: UInt64, maxFrameSize: Int, targets: Targets) {
        random = SplitMix64(seed: seed)
        self.maxFrameSize = maxFrameSize
        self.targets = targets
    }

    static let registry = "io.autopilotd.registry."
    static let marker = "MARK7f3a"

    private mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &random)] }
    private mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &random) < p }
    private mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &random) }

    /// A structurally valid hardware hash of `bytes` bytes (some below the 1,024 allowed): a machine without a TPM,
    /// so that its records fit.
    static func hash(bytes: Int) -> String {
        SyntheticHardwareHash(seed: UInt64(bytes), serialNumber: "FUZZ-\(bytes)", tpm: nil, byteCount: bytes).text()
    }

    static func frame(_ message: JSONObject) -> [UInt8] {
        var bytes: [UInt8] = []
        JSON.serialize(.object(message), into: &bytes)
        return bytes + [0]
    }

    // MARK: values

    private mutating func randomText() -> String {
        switch int(0...6) {
        case 0: return ""
        case 1: return String((0..<int(1...40)).map { _ in Character(UnicodeScalar(UInt8(int(32...126)))) })
        case 2: return String(repeating: pick(["x", "é", "😀", "\\", "\""]), count: int(1...300))
        case 3: return String(String.UnicodeScalarView((0..<int(1...20)).compactMap { _ in UnicodeScalar(UInt32(int(0...0x10FFFF))) }))
        case 4: return pick([" ", "\t", "\u{1}", "\u{7F}", "a\nb", "null", "0", "-1", "/consent/", "@", "a@b", "x.onmicrosoft.com"])
        default: return pick(targets.strings)
        }
    }

    /// A value of the right type for `parameter` of `method`.
    private mutating func value(_ type: InterfaceTable.ParameterType, method: String, parameter: String) -> JSONValue {
        if method == "Backup" && parameter == "path" {
            // Never a path the daemon could write outside its directory.
            return .string(pick(["relative/backup.sqlite", "", "/nonexistent-autopilotd-fuzz/b.sqlite",
                                 targets.directory + "/no-such-dir/b.sqlite"]))
        }
        switch type {
        case .string: return .string(randomText())
        case .bool: return .bool(chance(0.5))
        case .int: return .int(pick([0, 1, -1, 42, Int.max, Int.min, int(-100_000...100_000)]))
        case let .enumeration(values): return .string(pick(values))
        case .stringArray:
            return .array((0..<int(0...4)).map { _ in
                .string(chance(0.5) ? pick(["GlobalAdministrator", "GlobalReader", "IntuneAdministrator"]) : randomText())
            })
        case .deviceInputArray:
            return .array((0..<int(0...3)).map { _ in
                var device = JSONObject()
                for field in InterfaceTable.deviceInputFields where chance(0.4) {
                    device[field] = .string(field == "hardwareHash" && chance(0.5)
                        ? Self.hash(bytes: int(1000...1200))
                        : randomText())
                }
                return .object(device)
            })
        }
    }

    /// Parameters of the right types; optional ones are sometimes left out or null.
    private mutating func parameters(_ method: InterfaceTable.Method) -> JSONObject {
        var parameters = JSONObject()
        for p in method.parameters {
            if p.optional && chance(0.4) {
                if chance(0.3) { parameters[p.name] = .null }
                continue
            }
            parameters[p.name] = value(p.type, method: method.name, parameter: p.name)
        }
        return parameters
    }

    /// A value of the wrong type for `type`, and the parameter names an InvalidParameter may then carry.
    private mutating func wrongValue(_ type: InterfaceTable.ParameterType, parameter: String) -> (JSONValue, Set<String>) {
        switch type {
        case .string: return (pick([.int(5), .double(1.5), .bool(true), .array([]), .object([:])]), [parameter])
        case .bool: return (pick([.string("true"), .int(1), .double(0), .array([.bool(true)]), .object([:])]), [parameter])
        case .int: return (pick([.string("1"), .bool(true), .double(1.5), .double(1e300), .array([.int(1)]), .object([:])]), [parameter])
        case let .enumeration(values):
            return (pick([.string("notAValue"), .string(values[0].uppercased()), .int(0), .bool(false), .array([])]), [parameter])
        case .stringArray:
            return (pick([.string("GlobalReader"), .array([.int(1)]), .array([.string("a"), .null]), .object([:]), .int(3)]), [parameter])
        case .deviceInputArray:
            if chance(0.5) {
                let field = pick(InterfaceTable.deviceInputFields)
                let bad: JSONValue = pick([.int(5), .bool(false), .array([]), .object([:])])
                return (.array([.object([:]), .object([field: bad])]), [field, parameter])
            }
            return (pick([.string("x"), .array([.int(1)]), .array([.array([])]), .object([:]), .array([.null])]), [parameter])
        }
    }

    private mutating func anyJSON(depth: Int) -> JSONValue {
        switch depth > 0 ? int(0...6) : int(0...3) {
        case 0: return .null
        case 1: return .bool(chance(0.5))
        case 2: return chance(0.5) ? .int(int(Int.min...Int.max)) : .double(Double(int(-1_000_000...1_000_000)) / 7)
        case 3: return .string(randomText())
        case 4, 5: return .array((0..<int(0...4)).map { _ in anyJSON(depth: depth - 1) })
        default:
            var o = JSONObject()
            for _ in 0..<int(0...4) { o["k\(int(0...99))"] = anyJSON(depth: depth - 1) }
            return .object(o)
        }
    }

    private mutating func anyMethod() -> InterfaceTable.Method { pick(InterfaceTable.methods) }

    /// What a well-typed call of `method` with `more` gets: an answer (one reply unless it streams), or for a stream
    /// that never ends, its subscription.
    static func answered(_ method: InterfaceTable.Method) -> MalformedCase.Expectation {
        method.openEnded ? .subscribed(typed: true) : .answered(typed: true, single: !method.streams)
    }

    private mutating func call(_ method: InterfaceTable.Method, more: Bool? = nil, oneway: Bool = false) -> JSONObject {
        var message: JSONObject = ["method": .string(Self.registry + method.name), "parameters": .object(parameters(method))]
        if more ?? method.streams { message["more"] = true }
        if oneway { message["oneway"] = true }
        return message
    }

    /// A valid call with `marker` as a string value, to be replaced by bad bytes.
    private mutating func markedCall() -> [UInt8] {
        switch int(0...2) {
        case 0: return Self.frame(["method": .string(Self.registry + Self.marker)])
        case 1: return Self.frame(["method": "io.autopilotd.registry.GetStatus", "parameters": ["p": .string(Self.marker)]])
        default: return Self.frame(["method": "io.autopilotd.registry.GetStatus", "parameters": .object(JSONObject([(Self.marker, 1)]))])
        }
    }

    private func replacing(_ bytes: [UInt8], _ target: String, with replacement: [UInt8]) -> [UInt8] {
        let needle = Array(target.utf8)
        guard let start = (0...(bytes.count - needle.count)).first(where: { Array(bytes[$0..<$0 + needle.count]) == needle }) else {
            fatalError("no \(target) in \(String(decoding: bytes, as: UTF8.self))")
        }
        return Array(bytes[..<start]) + replacement + Array(bytes[(start + needle.count)...])
    }

    // MARK: cases

    /// The next case; `kinds` lists the kinds in the order they are drawn from.
    static let kinds = ["truncated", "unterminated", "oversized", "atLimit", "invalidUTF8", "invalidJSON", "envelope",
                        "onewayAndMore", "deepNesting", "wrongType", "missing", "unknownFields", "validRandom", "more",
                        "oneway", "streamWithoutMore", "unknownMethod", "huge", "pipelined", "randomBytes", "chunked"]

    /// A large call that fits in a frame: answered, unless what it holds decoded passes the daemon's bound
    /// (`VarlinkServerLimits.maxDecodedCallSize`), when the daemon hangs up as for an oversized frame.
    private func closedWhenTooLargeDecoded(_ made: MalformedCase) -> MalformedCase {
        var limits = VarlinkServerLimits()
        limits.maxFrameSize = maxFrameSize
        var frame = Array(made.bytes.dropLast())
        let decoded = frame.withUnsafeMutableBytes { try? JSON.parseMeasured(consuming: $0).decodedSize }
        guard let decoded, decoded > limits.maxDecodedCallSize else { return made }
        return MalformedCase(kind: made.kind, bytes: made.bytes, expect: .closed(answers: 0))
    }

    /// One call of the "huge" kind: long lists and strings.
    private mutating func hugeCase(_ kind: String) -> MalformedCase {
        switch int(0...5) {
        case 0:
            return MalformedCase(kind: kind, bytes: Self.frame(["method": "io.autopilotd.registry.AddDevices", "parameters": [
                "batch": .string(targets.stableBatch), "devices": .array(Array(repeating: .object([:]), count: 1001)),
            ]]), expect: .error("io.autopilotd.registry.BatchTooLarge"))
        case 1:
            return MalformedCase(kind: kind, bytes: Self.frame(["method": "io.autopilotd.registry.ValidateSubmission", "parameters": [
                "partner": .string(targets.stablePartner), "tenant": .string(targets.stableTenant),
                "devices": .array(Array(repeating: .object(["serialNumber": "S"]), count: int(1001...20_000))),
            ]]), expect: .error("io.autopilotd.registry.BatchTooLarge"))
        case 2:
            return MalformedCase(kind: kind, bytes: Self.frame(["method": "io.autopilotd.registry.CreateTenant", "parameters": [
                "name": .string(String(repeating: "N", count: int(201...(maxFrameSize / 2)))), "domain": "huge.onmicrosoft.com",
            ]]), expect: .error("io.autopilotd.registry.InvalidInput"))
        case 3:
            return MalformedCase(kind: kind, bytes: Self.frame(["method": "io.autopilotd.registry.GetStatus", "parameters": [
                "x-array": .array((0..<int(1...(maxFrameSize / 10))).map { .int($0) }),
            ]]), expect: .error("org.varlink.service.InvalidParameter", parameters: ["x-array"]))
        case 4:
            return MalformedCase(kind: kind, bytes: Self.frame(["method": "io.autopilotd.registry.AddAccount", "parameters": [
                "tenant": .string(targets.stableTenant), "upn": .string("u@\(targets.stableTenant).onmicrosoft.com"),
                "roles": .array(Array(repeating: .string("NotARole"), count: int(1...(maxFrameSize / 16)))),
            ]]), expect: .error("io.autopilotd.registry.InvalidInput"))
        default:
            return MalformedCase(kind: kind, bytes: Self.frame(["method": "io.autopilotd.registry.ListDevices", "more": true,
                "parameters": ["serialNumber": .string(String(repeating: "S", count: maxFrameSize / 2))],
            ]), expect: .success)
        }
    }

    mutating func next() -> MalformedCase {
        // Frames of about the size limit are costly: draw them less often.
        var kind = pick(Self.kinds)
        if (kind == "oversized" || kind == "atLimit" || kind == "huge") && chance(0.7) { kind = "validRandom" }
        switch kind {
        case "truncated":
            let whole = Self.frame(call(anyMethod())).dropLast()
            return MalformedCase(kind: kind, bytes: Array(whole.prefix(int(0...(whole.count - 1)))) + [0], expect: .closed(answers: 0))
        case "unterminated":
            let whole = Self.frame(call(anyMethod())).dropLast()
            return MalformedCase(kind: kind, bytes: Array(whole.prefix(int(1...whole.count))), expect: .closed(answers: 0),
                                 halfClose: true)
        case "oversized":
            let length = maxFrameSize + int(1...4096)
            let head = Array(#"{"method":"io.autopilotd.registry.GetStatus","parameters":{"p":""#.utf8)
            var bytes = head + [UInt8](repeating: UInt8(ascii: "x"), count: length - head.count)
            if chance(0.5) { bytes += Array(#""}}"#.utf8) }
            let terminated = chance(0.5)
            return MalformedCase(kind: kind, bytes: terminated ? bytes + [0] : bytes, expect: .closed(answers: 0),
                                 halfClose: !terminated)
        case "atLimit":
            let head = Array(#"{"method":"io.autopilotd.registry.GetStatus""#.utf8)
            let bytes = head + [UInt8](repeating: UInt8(ascii: " "), count: maxFrameSize - head.count - 1) + Array("}".utf8)
            return MalformedCase(kind: kind, bytes: bytes + [0], expect: .success)
        case "invalidUTF8":
            let bad = pick([[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF8, 0x88, 0x80, 0x80, 0x80], [0x80],
                            [0xF4, 0x90, 0x80, 0x80], [0xC3], [0xFE, 0xFF]] as [[UInt8]])
            return MalformedCase(kind: kind, bytes: replacing(markedCall(), Self.marker, with: bad), expect: .closed(answers: 0))
        case "invalidJSON":
            return MalformedCase(kind: kind, bytes: invalidJSON(), expect: .closed(answers: 0))
        case "envelope":
            let bytes = Array(pick([
                "[]", #""io.autopilotd.registry.GetStatus""#, "42", "null", "true", "{}", #"{"method":5}"#,
                #"{"method":null}"#, #"{"method":["io.autopilotd.registry.GetStatus"]}"#,
                #"{"parameters":{},"more":true}"#,
                #"{"method":"io.autopilotd.registry.GetStatus","parameters":[]}"#,
                #"{"method":"io.autopilotd.registry.GetStatus","parameters":"x"}"#,
                #"{"method":"io.autopilotd.registry.GetStatus","parameters":5}"#,
                #"{"method":"io.autopilotd.registry.GetStatus","parameters":null}"#,
                #"{"method":"io.autopilotd.registry.ListDevices","more":"yes"}"#,
                #"{"method":"io.autopilotd.registry.ListDevices","more":1}"#,
                #"{"method":"io.autopilotd.registry.GetStatus","oneway":0}"#,
                #"{"method":"io.autopilotd.registry.GetStatus","oneway":null}"#,
                #"{"method":"io.autopilotd.registry.GetStatus","upgrade":"please"}"#,
            ]).utf8)
            return MalformedCase(kind: kind, bytes: bytes + [0], expect: .closed(answers: 0))
        case "onewayAndMore":
            var message = call(anyMethod(), more: true)
            message["oneway"] = true
            return MalformedCase(kind: kind, bytes: Self.frame(message), expect: .closed(answers: 0))
        case "deepNesting":
            let depth = int(40...140)
            var value: JSONValue = .int(1)
            for level in 0..<depth { value = level % 2 == 0 ? .array([value]) : .object(["d": value]) }
            let message: JSONObject = ["method": "io.autopilotd.registry.GetStatus", "parameters": ["x-deep": value]]
            // The message and its parameters are two levels; the limit is VarlinkCall.maxNestingDepth (64) in all.
            // Within it, the call is answered: GetStatus declares no parameter "x-deep".
            return MalformedCase(kind: kind, bytes: Self.frame(message), expect: 2 + depth > 64
                ? .closed(answers: 0) : .error("org.varlink.service.InvalidParameter", parameters: ["x-deep"]))
        case "wrongType", "missing":
            let method = pick(InterfaceTable.methods.filter { !$0.parameters.isEmpty })
            var message = call(method)
            var parameters = message["parameters"]!.objectValue!
            if kind == "missing", let required = method.parameters.filter({ !$0.optional }).randomElement(using: &random) {
                if chance(0.5) {
                    parameters[required.name] = .null
                } else {
                    parameters = JSONObject(parameters.filter { $0.key != required.name }.map { ($0.key, $0.value) })
                }
                message["parameters"] = .object(parameters)
                return MalformedCase(kind: kind, bytes: Self.frame(message),
                                     expect: .error("org.varlink.service.InvalidParameter", parameters: [required.name]))
            }
            let parameter = pick(method.parameters)
            let (bad, names) = wrongValue(parameter.type, parameter: parameter.name)
            parameters[parameter.name] = bad
            message["parameters"] = .object(parameters)
            return MalformedCase(kind: kind, bytes: Self.frame(message), expect: .error("org.varlink.service.InvalidParameter", parameters: names))
        case "unknownFields":
            // Parameters a method does not declare are refused, naming one of them; unknown members of the message
            // itself are ignored.
            let method = anyMethod()
            var message = call(method)
            var parameters = message["parameters"]!.objectValue!
            var unknown: Set<String> = []
            for _ in 0..<int(1...3) {
                let name = "x-\(int(0...999_999))"
                parameters[name] = anyJSON(depth: 6)
                unknown.insert(name)
            }
            message["parameters"] = .object(parameters)
            if chance(0.3) { message["x-envelope"] = anyJSON(depth: 3) }
            return MalformedCase(kind: kind, bytes: Self.frame(message),
                                 expect: .error("org.varlink.service.InvalidParameter", parameters: unknown))
        case "validRandom":
            let method = anyMethod()
            return MalformedCase(kind: kind, bytes: Self.frame(call(method)), expect: Self.answered(method))
        case "more":
            let method = anyMethod()
            return MalformedCase(kind: kind, bytes: Self.frame(call(method, more: true)),
                                 expect: Self.answered(method))
        case "oneway":
            let method = anyMethod()
            let bytes = Self.frame(call(method, more: false, oneway: true)) + Self.frame(["method": "io.autopilotd.registry.WhoAmI"])
            return MalformedCase(kind: kind, bytes: bytes, expect: .silentThenWhoAmI)
        case "streamWithoutMore":
            let method = pick(InterfaceTable.methods.filter(\.streams))
            return MalformedCase(kind: kind, bytes: Self.frame(call(method, more: false)), expect: .error("org.varlink.service.ExpectedMore"))
        case "unknownMethod":
            let known = Set(InterfaceTable.methods.map(\.name))
            var member = pick(["Nope", "getStatus", "GETSTATUS", "", "Get Status", "WhoAmI2", randomText()])
            if known.contains(member) || member == "GetInfo" || member == "GetInterfaceDescription" { member += "X" }
            let name = pick([Self.registry + member, "org.varlink.service." + member, "com.example.fuzz." + member, member,
                             "io.autopilotd.registry", "io.autopilotd.registry."])
            // varlink: the interface is everything before the last dot.
            let interface = name.lastIndex(of: ".").map { String(name[..<$0]) } ?? ""
            let expected = ["io.autopilotd.registry", "org.varlink.service"].contains(interface)
                ? "org.varlink.service.MethodNotFound" : "org.varlink.service.InterfaceNotFound"
            return MalformedCase(kind: kind, bytes: Self.frame(["method": .string(name)]), expect: .error(expected))
        case "huge":
            return closedWhenTooLargeDecoded(hugeCase(kind))
        case "pipelined":
            let valid = int(1...3)
            let bytes = (0..<valid).flatMap { _ in Self.frame(["method": "io.autopilotd.registry.WhoAmI"]) } + invalidJSON()
            return MalformedCase(kind: kind, bytes: bytes, expect: .closed(answers: valid))
        case "randomBytes":
            var bytes = (0..<int(1...200)).map { _ in UInt8(int(1...255)) }
            while [UInt8(ascii: "{"), 0x20, 0x09, 0x0A, 0x0D].contains(bytes[0]) { bytes[0] = UInt8(int(1...255)) }
            return MalformedCase(kind: kind, bytes: bytes + [0], expect: .closed(answers: 0))
        default:
            let method = anyMethod()
            return MalformedCase(kind: "chunked", bytes: Self.frame(call(method)),
                                 expect: Self.answered(method), chunkSize: int(1...7))
        }
    }

    /// `more`, `oneway`, and both together, on every method of the interface and of org.varlink.service.
    mutating func flagsOnEveryMethod() -> [MalformedCase] {
        let whoAmI = Self.frame(["method": "io.autopilotd.registry.WhoAmI"])
        var calls: [(message: JSONObject, method: InterfaceTable.Method?)] = InterfaceTable.methods.map { (call($0, more: false), $0) }
        calls += InterfaceTable.serviceMethods.map { (["method": .string($0), "parameters": ["interface": "io.autopilotd.registry"]], nil) }
        return calls.flatMap { message, method -> [MalformedCase] in
            var more = message, oneway = message, both = message
            more["more"] = true
            oneway["oneway"] = true
            both["more"] = true
            both["oneway"] = true
            return [
                MalformedCase(kind: "more", bytes: Self.frame(more),
                              expect: method.map(Self.answered) ?? .answered(typed: true, single: true)),
                MalformedCase(kind: "oneway", bytes: Self.frame(oneway) + whoAmI, expect: .silentThenWhoAmI),
                MalformedCase(kind: "onewayAndMore", bytes: Self.frame(both), expect: .closed(answers: 0)),
            ]
        }
    }

    /// A frame that is certainly not valid JSON.
    private mutating func invalidJSON() -> [UInt8] {
        let valid = Self.frame(["method": "io.autopilotd.registry.GetStatus", "parameters": ["p": .string(Self.marker), "n": 1]])
        let text = Array(valid.dropLast())
        let bytes: [UInt8]
        switch int(0...13) {
        case 0: bytes = Array(text.dropLast())
        case 1: bytes = [text[0]] + Array(",".utf8) + Array(text.dropFirst())
        case 2: bytes = replacing(text, ":", with: Array("=".utf8))
        case 3: bytes = text + Array(pick(["x", "{}", "]", ",", "1", "\"\""]).utf8)
        case 4: bytes = replacing(text, Self.marker, with: [pick([0x01, 0x0A, 0x1F, 0x09])])
        case 5: bytes = replacing(text, Self.marker, with: Array(pick(["\\ud800", "\\udc00x", "\\ud800\\u0041", "\\udfff\\ud800"]).utf8))
        case 6: bytes = replacing(text, Self.marker, with: Array(pick(["\\q", "\\x41", "\\u12", "\\U0041", "\\"]).utf8))
        case 7:
            bytes = replacing(text, "\"\(Self.marker)\"", with: Array(pick(
                ["01", "1.", "-", "1e", ".5", "+1", "NaN", "Infinity", "1e999", "-1e999", "0x10", "1_000", "--1"]).utf8))
        case 8: bytes = Array(#"{"method":"io.autopilotd.registry.GetStatus","method":"io.autopilotd.registry.WhoAmI"}"#.utf8)
        case 9: bytes = replacing(text, "\"\(Self.marker)\"", with: Array(pick(["tru", "nul", "True", "FALSE", "undefined", "'x'"]).utf8))
        case 10: bytes = Array(pick([#"{method:"io.autopilotd.registry.GetStatus"}"#, #"{'method':'io.autopilotd.registry.GetStatus'}"#]).utf8)
        case 11: bytes = Array(pick([#"{"method":"io.autopilotd.registry.GetStatus",}"#,
                                     #"{"method":"io.autopilotd.registry.GetStatus","parameters":{"a":[1,]}}"#]).utf8)
        case 12: bytes = Array(pick(["", " ", "\n\t"]).utf8)
        default: bytes = Array(#"{"method":"io.autopilotd.registry.GetStatus","parameters":{"a":1,"a":2}}"#.utf8)
        }
        return bytes + [0]
    }
}
