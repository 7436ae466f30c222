import Testing
import Varlink

@Suite struct VarlinkCallTests {
    private func decode(_ text: String) throws(VarlinkProtocolError) -> VarlinkCall {
        try VarlinkCall(frame: Array(text.utf8))
    }

    @Test func callDecodesMethodParametersAndFlags() throws {
        let call = try decode(#"{"method":"io.autopilotd.registry.GetStatus","parameters":{"x":1},"more":true}"#)
        #expect(call.method == "io.autopilotd.registry.GetStatus")
        #expect(call.interfaceName == "io.autopilotd.registry")
        #expect(call.memberName == "GetStatus")
        #expect(call.parameters == ["x": 1])
        #expect(call.more)
        #expect(!call.oneway)
        #expect(!call.upgrade)
    }

    @Test func absentParametersAreEmpty() throws {
        let call = try decode(#"{"method":"a.b.C","oneway":true}"#)
        #expect(call.parameters.isEmpty)
        #expect(call.oneway)
    }

    @Test func methodWithoutDotHasEmptyInterface() throws {
        let call = try decode(#"{"method":"Bare"}"#)
        #expect(call.interfaceName == "")
        #expect(call.memberName == "Bare")
    }

    @Test func nonASCIINamesSplitAtTheirLastDot() throws {
        let call = try decode(#"{"method":"ré.gis.tré.Ëxposé."}"#)
        #expect(call.interfaceName == "ré.gis.tré.Ëxposé")
        #expect(call.memberName == "")
        let other = try decode(#"{"method":"io.é\u0301.Ünïcode"}"#)
        #expect(other.interfaceName == "io.é\u{0301}")
        #expect(other.memberName == "Ünïcode")
    }

    @Test(arguments: [
        "[]", "\"x\"", "1", "null",  // not an object
        "{}", #"{"parameters":{}}"#,  // method missing
        #"{"method":1}"#, #"{"method":null}"#, #"{"method":["a.b.C"]}"#,  // method not a string
        #"{"method":"a.b.C","parameters":[]}"#, #"{"method":"a.b.C","parameters":"x"}"#,
        #"{"method":"a.b.C","parameters":null}"#,  // parameters not an object
        #"{"method":"a.b.C","more":1}"#, #"{"method":"a.b.C","oneway":"yes"}"#,  // flags not booleans
        #"{"method":"a.b.C","oneway":true,"more":true}"#,  // oneway with more
        #"{"method":"a.b.C"} trailing"#, "not json",
    ])
    func malformedCallIsAProtocolError(_ text: String) {
        #expect(throws: VarlinkProtocolError.self) { try decode(text) }
    }

    @Test func encodedCallEndsWithNulAndOmitsFalseFlags() throws {
        let plain = VarlinkCall(method: "a.b.C", parameters: ["k": "v"]).encoded()
        #expect(plain.last == 0)
        #expect(String(decoding: plain.dropLast(), as: UTF8.self) == #"{"method":"a.b.C","parameters":{"k":"v"}}"#)
        let streaming = VarlinkCall(method: "a.b.C", more: true).encoded()
        let decoded = try VarlinkCall(frame: Array(streaming.dropLast()))
        #expect(decoded.more && !decoded.oneway)
    }
}

@Suite struct VarlinkReplyTests {
    @Test func replyEncodesContinuesOnlyWhenSet() {
        let last = VarlinkReply(parameters: ["n": 1]).encoded()
        #expect(String(decoding: last.dropLast(), as: UTF8.self) == #"{"parameters":{"n":1}}"#)
        #expect(last.last == 0)
        let partial = VarlinkReply(parameters: [:], continues: true).encoded()
        #expect(String(decoding: partial.dropLast(), as: UTF8.self) == #"{"parameters":{},"continues":true}"#)
    }

    @Test func aReplyFromParameterTextIsTheReplyOfThoseParameters() throws {
        let parameters: JSONObject = ["grant": .object(["id": "g-1", "roles": .array(["a\"b"]), "via": .null]), "n": -3]
        let text = Array(JSON.serialize(.object(parameters)).utf8)
        for continues in [false, true] {
            var bytes: [UInt8] = []
            VarlinkReply.encode(parametersText: text, continues: continues, into: &bytes)
            #expect(bytes == VarlinkReply(parameters: parameters, continues: continues).encoded())
            #expect(try VarlinkReply(frame: Array(bytes.dropLast())) == VarlinkReply(parameters: parameters, continues: continues))
        }
    }

    @Test func errorReplyRoundTrips() throws {
        let reply = VarlinkReply(error: .invalidParameter("name"))
        let bytes = reply.encoded()
        #expect(String(decoding: bytes.dropLast(), as: UTF8.self)
            == #"{"error":"org.varlink.service.InvalidParameter","parameters":{"parameter":"name"}}"#)
        let decoded = try VarlinkReply(frame: Array(bytes.dropLast()))
        #expect(decoded == reply)
        #expect(decoded.varlinkError == .invalidParameter("name"))
    }

    @Test func plainReplyHasNoError() throws {
        let decoded = try VarlinkReply(frame: Array(#"{"parameters":{"a":[1]},"continues":true}"#.utf8))
        #expect(decoded.varlinkError == nil)
        #expect(decoded.continues)
        #expect(decoded.parameters == ["a": [1]])
    }

    @Test(arguments: ["[]", #"{"parameters":1}"#, #"{"continues":"no"}"#, #"{"error":5}"#])
    func malformedReplyIsAProtocolError(_ text: String) {
        #expect(throws: VarlinkProtocolError.self) { try VarlinkReply(frame: Array(text.utf8)) }
    }
}

@Suite struct TypedParameterTests {
    let parameters: JSONObject = [
        "name": "x", "flag": true, "count": 3, "whole": 4.0, "half": 4.5, "huge": 1e30, "none": nil,
        "names": ["a", "b"], "mixed": ["a", 1], "objects": [["k": 1]], "notObjects": [1],
    ]

    @Test func presentValuesOfTheRightTypeAreReturned() throws {
        #expect(try parameters.string("name") == "x")
        #expect(try parameters.bool("flag"))
        #expect(try parameters.int("count") == 3)
        #expect(try parameters.int("whole") == 4)
        #expect(try parameters.stringArray("names") == ["a", "b"])
        #expect(try parameters.objectArray("objects") == [["k": 1]])
    }

    @Test func optionalVariantsTreatAbsentAndNullAsNil() throws {
        #expect(try parameters.optionalString("missing") == nil)
        #expect(try parameters.optionalString("none") == nil)
        #expect(try parameters.optionalBool("none") == nil)
        #expect(try parameters.optionalInt("missing") == nil)
        #expect(try parameters.optionalStringArray("none") == nil)
        #expect(try parameters.optionalObjectArray("missing") == nil)
        #expect(try parameters.optionalInt("count") == 3)
    }

    @Test(arguments: [
        ("string", "missing"), ("string", "count"), ("string", "none"), ("optionalString", "flag"),
        ("bool", "name"), ("optionalBool", "count"), ("int", "half"), ("int", "huge"), ("int", "name"),
        ("optionalInt", "flag"), ("stringArray", "mixed"), ("optionalStringArray", "name"),
        ("objectArray", "notObjects"), ("optionalObjectArray", "count"), ("int", "none"),
    ])
    func wrongOrMissingValuesThrowInvalidParameterNamingTheKey(_ accessor: String, _ key: String) {
        let error = #expect(throws: VarlinkError.self) {
            switch accessor {
            case "string": _ = try parameters.string(key)
            case "optionalString": _ = try parameters.optionalString(key)
            case "bool": _ = try parameters.bool(key)
            case "optionalBool": _ = try parameters.optionalBool(key)
            case "int": _ = try parameters.int(key)
            case "optionalInt": _ = try parameters.optionalInt(key)
            case "stringArray": _ = try parameters.stringArray(key)
            case "optionalStringArray": _ = try parameters.optionalStringArray(key)
            case "objectArray": _ = try parameters.objectArray(key)
            case "optionalObjectArray": _ = try parameters.optionalObjectArray(key)
            default: Issue.record("unknown accessor \(accessor)")
            }
        }
        #expect(error == .invalidParameter(key))
        #expect(error?.name == "org.varlink.service.InvalidParameter")
        #expect(error?.parameters["parameter"] == .string(key))
    }
}
