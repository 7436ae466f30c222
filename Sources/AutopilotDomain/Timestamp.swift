/// A point in time with millisecond precision, written as RFC 3339 UTC (`2026-11-25T10:46:00.000Z`).
///
/// The domain never reads a clock: callers pass the current `Timestamp` in, so rules are pure and testable.
/// The text form sorts lexicographically in time order, which is why the store keeps it as TEXT.
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var millisecondsSinceEpoch: Int64

    /// The time this many milliseconds after the Unix epoch (negative: before it).
    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    /// Earlier first: times compare by their milliseconds.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    /// This time plus a number of seconds.
    public func adding(seconds: Int64) -> Timestamp {
        Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + seconds * 1000)
    }

    /// The RFC 3339 UTC text, always with three fractional digits.
    ///
    /// Written digit by digit into the string's storage: every grant and device in a reply carries one or two, and
    /// building them from `String(Int)` pieces cost about 8,000 instructions each (docs/performance.md).
    public var rfc3339: String {
        let ms = millisecondsSinceEpoch
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let msOfDay = ms - days * 86_400_000
        let (y, m, d) = Self.civil(fromDays: days)
        // A year outside 0...9999 (which this registry never writes, but a timestamp may hold) is written in full.
        var longYear = ""
        if !(0...9999).contains(y) { Self.pad(&longYear, y, 4) }
        let t = longYear.isEmpty ? 4 : longYear.utf8.count
        return String(unsafeUninitializedCapacity: t + 20) { out in
            func digits(_ value: Int64, _ width: Int, at start: Int) {
                var v = value
                for i in stride(from: start + width - 1, through: start, by: -1) {
                    out[i] = UInt8(ascii: "0") + UInt8(v % 10)
                    v /= 10
                }
            }
            if longYear.isEmpty { digits(y, 4, at: 0) } else { _ = out.initialize(from: longYear.utf8) }
            out[t] = UInt8(ascii: "-"); digits(m, 2, at: t + 1); out[t + 3] = UInt8(ascii: "-")
            digits(d, 2, at: t + 4); out[t + 6] = UInt8(ascii: "T")
            digits(msOfDay / 3_600_000, 2, at: t + 7); out[t + 9] = UInt8(ascii: ":")
            digits((msOfDay / 60_000) % 60, 2, at: t + 10); out[t + 12] = UInt8(ascii: ":")
            digits((msOfDay / 1000) % 60, 2, at: t + 13); out[t + 15] = UInt8(ascii: ".")
            digits(msOfDay % 1000, 3, at: t + 16); out[t + 19] = UInt8(ascii: "Z")
            return t + 20
        }
    }

    /// The RFC 3339 text, as `rfc3339` writes it.
    public var description: String { rfc3339 }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only, as this registry writes it). Returns nil otherwise.
    public init?(rfc3339 text: String) {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var v: Int64 = 0
            for i in from..<(from + count) {
                let c = b[i]
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
              let y = num(0, 4), let mo = num(5, 2), let d = num(8, 2),
              let h = num(11, 2), let mi = num(14, 2), let s = num(17, 2),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 60
        else { return nil }
        var i = 19
        var frac: Int64 = 0
        if b[i] == 46 {
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 3 { frac = frac * 10 + Int64(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            while digits < 3 { frac *= 10; digits += 1 }
        }
        guard i == b.count - 1, b[i] == 90 || b[i] == 122 else { return nil }
        let days = Self.days(fromCivil: y, mo, d)
        millisecondsSinceEpoch = ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + frac
    }

    private static func pad(_ out: inout String, _ value: Int64, _ width: Int) {
        let s = String(value)
        if s.count < width { out += String(repeating: "0", count: width - s.count) }
        out += s
    }

    // Howard Hinnant's days-from-civil algorithms (public-domain arithmetic).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
