import Crypto
import AutopilotDomain

/// A made-up 4K hardware hash with the structure of a real one (hardware-hash.md), for tests and the benchmark:
/// the `OA` header, the records real hashes carry in their order and at their sizes, the 36-byte trailer (the
/// SHA-256 of everything before it, as in real hashes), zeros up to `byteCount`, base64 without padding.
///
/// The machine is `seed` (every binary record) and the strings; a capture is `windowsBuild`, `windowsRevision` and
/// `capture`: two captures of one machine differ in their bytes but say the same manufacturer, model and serial.
/// The same values always give the same bytes.
public struct SyntheticHardwareHash: Sendable, Hashable {
    /// Seeds the binary records (network adapters, disks, TPM key, …) and the record sizes that vary.
    public var seed: UInt64
    /// SMBIOS system serial number (record 14).
    public var serialNumber: String
    /// SMBIOS system manufacturer (record 16).
    public var manufacturer: String
    /// SMBIOS product name, the model (record 17).
    public var model: String
    /// Windows product key ID (record 24, with record 26 after it as on real machines); nil leaves both out.
    public var productKeyID: String?
    /// TPM description (record 13, with the 256-byte record 25 after it); nil for a machine without a TPM.
    public var tpm: String?
    /// Windows build of the capture (record 1).
    public var windowsBuild: UInt16
    /// Windows revision of the capture (record 1).
    public var windowsRevision: UInt16
    /// Distinguishes captures taken on the same Windows version (the last 8 bytes of record 1).
    public var capture: UInt64
    /// Decoded size: the records, trailer and zeros. Real hashes are 3,000 bytes.
    public var byteCount: Int
    /// CPU vendor (record 3).
    public var cpuVendor = "GenuineIntel"
    /// CPU model (record 4): at most 47 bytes are kept, in the 48-byte field real hashes have.
    public var cpuModel = "13th Gen Intel(R) Core(TM) i7-1355U"
    /// Firmware vendor (record 15); nil is the manufacturer.
    public var firmwareVendor: String?
    /// SKU (record 18); nil is made from the seed, like `967W5ET#ABU`.
    public var sku: String?
    /// Family (record 19); nil is the model.
    public var family: String?
    /// System version (record 23); nil is the model.
    public var systemVersion: String?
    /// Baseboard manufacturer (record 20); nil is the manufacturer.
    public var baseboardManufacturer: String?
    /// Baseboard product (record 21); nil is made from the seed, like `8B8C`.
    public var baseboardProduct: String?
    /// Baseboard version (record 22).
    public var baseboardVersion = "KBC Version 52.2D.00"

    /// The TPM description of a common laptop TPM.
    public static let typicalTPM = "TPM-Version:2.0 -Level:0-Revision:1.59-VendorID:'NTC '-Firmware:458754.262144"
    /// The size of a real hash's bytes (4,000 base64 characters).
    public static let realByteCount = 3000

    /// A hash of the machine `seed` named by manufacturer, model and serial number, captured on Windows
    /// 10.0.`windowsBuild`.`windowsRevision`.
    public init(seed: UInt64, serialNumber: String, manufacturer: String = "Contoso", model: String = "Laptop 7",
                productKeyID: String? = nil, tpm: String? = typicalTPM, windowsBuild: UInt16 = 26100,
                windowsRevision: UInt16 = 7705, capture: UInt64 = 0, byteCount: Int = realByteCount) {
        self.seed = seed
        self.serialNumber = serialNumber
        self.manufacturer = manufacturer
        self.model = model
        self.productKeyID = productKeyID
        self.tpm = tpm
        self.windowsBuild = windowsBuild
        self.windowsRevision = windowsRevision
        self.capture = capture
        self.byteCount = byteCount
    }

    /// The size of the header and records (`T`) these values give.
    public var recordsEnd: Int {
        var writer = Writer(capacity: 0, counting: true)
        write(into: &writer)
        return writer.offset
    }

    /// The smallest `byteCount` these values fit in: the records and the trailer.
    public var minimumByteCount: Int { recordsEnd + Self.trailerSize }

    /// The decoded bytes.
    /// - Precondition: `byteCount` holds the records and the trailer.
    public func bytes() -> [UInt8] {
        var writer = Writer(capacity: byteCount, counting: false)
        write(into: &writer)
        let end = writer.offset
        precondition(end + Self.trailerSize <= byteCount,
                     "a hash of these values needs \(end + Self.trailerSize) bytes; byteCount is \(byteCount)")
        var out = writer.bytes
        out[2] = UInt8(end & 0xFF)
        out[3] = UInt8(end >> 8)
        let digest = sha256(out[..<end])
        out[end] = 0x43  // "CS", 36: the trailer is a record of its own, holding the digest of all before it.
        out[end + 1] = 0x53
        out[end + 2] = UInt8(Self.trailerSize)
        out.replaceSubrange((end + 4)..<(end + Self.trailerSize), with: digest)
        return out
    }

    /// The hash as files carry it: base64 without padding (4,000 characters for 3,000 bytes).
    public func text() -> String {
        Self.base64(bytes())
    }

    /// Standard base64 without padding, as Get-WindowsAutopilotInfo writes a hash.
    public static func base64(_ bytes: [UInt8]) -> String {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        let rest = bytes.count % 3
        let count = bytes.count / 3 * 4 + (rest == 0 ? 0 : rest + 1)
        return String(unsafeUninitializedCapacity: count) { out in
            let a = alphabet.utf8Start
            bytes.withUnsafeBufferPointer { b in
                var i = 0, o = 0
                while i + 3 <= b.count {
                    let n = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
                    out[o] = a[Int(n >> 18)]
                    out[o + 1] = a[Int(n >> 12 & 63)]
                    out[o + 2] = a[Int(n >> 6 & 63)]
                    out[o + 3] = a[Int(n & 63)]
                    i += 3
                    o += 4
                }
                if rest > 0 {
                    let n = UInt32(b[i]) << 16 | (rest == 2 ? UInt32(b[i + 1]) << 8 : 0)
                    out[o] = a[Int(n >> 18)]
                    out[o + 1] = a[Int(n >> 12 & 63)]
                    if rest == 2 { out[o + 2] = a[Int(n >> 6 & 63)] }
                }
            }
            return count
        }
    }

    static let trailerSize = 36

    /// Writes the header and records in the order real hashes have them; `T` is patched in by the caller.
    private func write(into w: inout Writer) {
        var random = SplitMix64(seed: seed)
        // Sizes that vary from machine to machine (adapters, disks, …), within what real hashes show.
        let networkLength = 22 + Int(random.next() % 50)
        let record28Length = 23 + Int(random.next() % 50)
        let record30Length = 66 + Int(random.next() % 48)
        let identity = random.next()
        let digits = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ".utf8.map { $0 }
        func code(_ n: Int, _ salt: UInt64) -> String {
            var x = identity ^ salt
            return String(decoding: (0..<n).map { _ in
                defer { x /= UInt64(digits.count) }
                return digits[Int(x % UInt64(digits.count))]
            }, as: UTF8.self)
        }

        w.bytes16(0x414F)  // "OA"
        w.bytes16(0)  // T, patched once known
        // Record 1: two Windows versions (the capture's, then one revision on), then 8 bytes that differ per capture.
        w.record(1, 24) { data in
            var stamp = SplitMix64(seed: seed ^ (capture &* 0xD1B5_4A32_D192_ED03) ^ UInt64(windowsRevision) << 48)
            var words: [UInt32] = [0x000A_0000, UInt32(windowsBuild) << 16 | UInt32(windowsRevision),
                                   0x000A_0000, UInt32(windowsBuild) << 16 | UInt32(windowsRevision &+ 135)]
            let tail = stamp.next()
            words += [UInt32(truncatingIfNeeded: tail), UInt32(truncatingIfNeeded: tail >> 32)]
            for (i, word) in words.enumerated() {
                for j in 0..<4 { data[4 * i + j] = UInt8(truncatingIfNeeded: word >> (8 * UInt32(j))) }
            }
        }
        w.random(2, 12, &random)
        w.random(5, 21, &random)
        w.string(3, cpuVendor)
        w.field(4, cpuModel, size: 48)
        w.random(6, 12, &random)
        w.random(7, networkLength, &random)
        w.random(8, 22, &random)
        w.random(8, 22, &random)
        w.random(9, 12, &random)
        w.random(27, 4, &random)
        w.random(10, 5, &random)
        if let tpm {
            w.string(13, tpm)
            w.random(25, 256, &random)
        }
        w.random(11, 42, &random)
        w.random(12, 16, &random)
        w.string(14, serialNumber)
        w.string(15, firmwareVendor ?? manufacturer)
        w.string(16, manufacturer)
        w.string(17, model)
        w.string(18, sku ?? code(7, 0x5EED) + "#ABU")
        w.string(19, family ?? model)
        w.string(23, systemVersion ?? model)
        w.string(20, baseboardManufacturer ?? manufacturer)
        w.string(21, baseboardProduct ?? code(4, 0xB0A7D))
        w.string(22, baseboardVersion)
        if let productKeyID {
            w.string(24, productKeyID)
            w.string(26, "[TH]res-v3556")
        }
        w.random(28, record28Length, &random)
        w.random(29, 18, &random)
        w.random(30, record30Length, &random)
    }

    /// Writes records into a zeroed buffer of the final size, or only counts their bytes.
    private struct Writer {
        var bytes: [UInt8]
        var offset = 0
        let counting: Bool

        init(capacity: Int, counting: Bool) {
            bytes = [UInt8](repeating: 0, count: counting ? 0 : capacity)
            self.counting = counting
        }

        mutating func bytes16(_ value: UInt16) {
            if !counting {
                precondition(offset + 2 <= bytes.count, "byteCount \(bytes.count) is too small for the records")
                bytes[offset] = UInt8(value & 0xFF)
                bytes[offset + 1] = UInt8(value >> 8)
            }
            offset += 2
        }

        /// A record of `type` with `length` bytes of data, which `fill` writes into zeroed memory.
        mutating func record(_ type: UInt16, _ length: Int, _ fill: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
            precondition(length + 4 <= Int(UInt16.max), "record \(type) is too long")
            bytes16(type)
            bytes16(UInt16(length + 4))
            if !counting {
                precondition(offset + length <= bytes.count, "byteCount \(bytes.count) is too small for the records")
                let start = offset
                bytes.withUnsafeMutableBufferPointer { fill(UnsafeMutableBufferPointer(rebasing: $0[start..<(start + length)])) }
            }
            offset += length
        }

        mutating func random(_ type: UInt16, _ length: Int, _ generator: inout SplitMix64) {
            record(type, length) { generator.fill(UnsafeMutableRawBufferPointer($0)) }
        }

        /// A NUL-terminated string record, as long as the string needs.
        mutating func string(_ type: UInt16, _ value: String) {
            let utf8 = value.utf8
            record(type, utf8.count + 1) { data in _ = data.initialize(from: utf8) }
        }

        /// A NUL-padded string in a field of `size` bytes (the CPU brand string is always 48).
        mutating func field(_ type: UInt16, _ value: String, size: Int) {
            let utf8 = value.utf8.prefix(size - 1)
            record(type, size) { data in _ = data.initialize(from: utf8) }
        }
    }
}

extension SyntheticHardwareHash {
    /// The same machine captured again after a Windows update: `bytes` (a real or made-up hash whose first record is
    /// record 1) with another Windows revision in that record and its checksum written anew, as the capture tool would.
    public static func recapture(_ bytes: [UInt8], revision: Int) -> [UInt8] {
        precondition(bytes.count > 16 && bytes[4] == 1 && bytes[5] == 0, "the first record is not record 1")
        var copy = bytes
        // Record 1's data starts at byte 8: `major << 16 | minor`, then `build << 16 | revision`, little-endian.
        copy[12] = UInt8(revision & 0xFF)
        copy[13] = UInt8(revision >> 8 & 0xFF)
        let end = Int(copy[2]) | Int(copy[3]) << 8
        copy.replaceSubrange((end + 4)..<(end + 36), with: sha256(copy[..<end]))
        return copy
    }
}
