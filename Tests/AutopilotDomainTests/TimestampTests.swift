import AutopilotDomain
import Testing

@Suite struct TimestampTests {
    @Test func formatsEpochAndKnownInstants() {
        #expect(Timestamp(millisecondsSinceEpoch: 0).rfc3339 == "1970-01-01T00:00:00.000Z")
        // 2026-11-25T10:46:00.000Z, the example of interface.md.
        #expect(Timestamp(millisecondsSinceEpoch: 1_795_603_560_000).rfc3339 == "2026-11-25T10:46:00.000Z")
        #expect(Timestamp(millisecondsSinceEpoch: 951_782_400_123).rfc3339 == "2000-02-29T00:00:00.123Z")
        #expect(Timestamp(millisecondsSinceEpoch: -1).rfc3339 == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp(millisecondsSinceEpoch: 253_402_300_799_999).rfc3339 == "9999-12-31T23:59:59.999Z")
        #expect(Timestamp(millisecondsSinceEpoch: -62_167_219_200_000).rfc3339 == "0000-01-01T00:00:00.000Z")
    }

    @Test func yearsBeyondFourDigitsStillFormat() {
        #expect(Timestamp(millisecondsSinceEpoch: 253_402_300_800_000).rfc3339 == "10000-01-01T00:00:00.000Z")
        #expect(Timestamp(millisecondsSinceEpoch: -62_167_219_200_001).rfc3339.hasSuffix("12-31T23:59:59.999Z"))
    }

    @Test func parsesWhatItWritesForManyInstants() {
        var ms: Int64 = -86_400_000 * 400
        while ms < 86_400_000 * 365 * 200 {
            let t = Timestamp(millisecondsSinceEpoch: ms)
            #expect(Timestamp(rfc3339: t.rfc3339) == t)
            ms += 7_777_777_777
        }
    }

    @Test func parsesFractionsOfOtherLengthsAndRejectsOffsets() {
        #expect(Timestamp(rfc3339: "2026-11-25T10:46:00Z")?.millisecondsSinceEpoch == 1_795_603_560_000)
        #expect(Timestamp(rfc3339: "2026-11-25T10:46:00.5Z")?.millisecondsSinceEpoch == 1_795_603_560_500)
        #expect(Timestamp(rfc3339: "2026-11-25T10:46:00.123456Z")?.millisecondsSinceEpoch == 1_795_603_560_123)
        #expect(Timestamp(rfc3339: "2026-11-25T10:46:00+01:00") == nil)
        #expect(Timestamp(rfc3339: "2026-13-25T10:46:00Z") == nil)
        #expect(Timestamp(rfc3339: "2026-11-25 10:46:00Z") == nil)
        #expect(Timestamp(rfc3339: "") == nil)
    }

    @Test func textOrderIsTimeOrder() {
        let a = Timestamp(millisecondsSinceEpoch: 1_000), b = Timestamp(millisecondsSinceEpoch: 1_795_603_560_000)
        #expect(a < b)
        #expect(a.rfc3339 < b.rfc3339)
        #expect(a.adding(seconds: 90 * 86_400).millisecondsSinceEpoch == 1_000 + 90 * 86_400_000)
    }
}
