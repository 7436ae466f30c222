import AutopilotDomain
import Testing

@Suite struct Base64Tests {
    @Test func roundTripsEveryLengthWithAndWithoutPadding() {
        var bytes: [UInt8] = []
        for n in 0..<40 {
            let encoded = Base64.encode(bytes)
            #expect(Base64.decode(encoded) == bytes)
            var unpadded = encoded
            while unpadded.hasSuffix("=") { unpadded.removeLast() }
            #expect(Base64.decode(unpadded) == bytes)
            bytes.append(UInt8(truncatingIfNeeded: n &* 37 &+ 11))
        }
    }

    @Test func knownVectors() {
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.decode("Zm8") == Array("fo".utf8))
        #expect(Base64.encodeURL([0xFB, 0xFF]) == "-_8")
    }

    @Test func decodesAHashSizedTextAndRejectsOneBadCharacterDeepInIt() {
        let bytes = (0..<3000).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) }
        let encoded = Base64.encode(bytes)
        #expect(encoded.count == 4000)
        #expect(Base64.decode(encoded) == bytes)
        var broken = Array(encoded.utf8)
        broken[3001] = UInt8(ascii: "*")
        #expect(Base64.decode(String(decoding: broken, as: UTF8.self)) == nil)
    }

    @Test func rejectsAnythingElse() {
        for bad in ["Zm9v YmFy", "Zm9v\nYmFy", "Zm9vY", "Zm8==", "Zm===", "Zm-_", "Zm8=Zm8=", "Zm9=", "é"] {
            #expect(Base64.decode(bad) == nil, "accepted \(bad)")
        }
    }
}
