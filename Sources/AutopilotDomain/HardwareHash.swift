/// What a 4K hardware hash says about the machine it was captured on (hardware-hash.md).
///
/// A field is nil when the hash has no record of its type. Strings are as the firmware wrote them, up to their NUL
/// (not trimmed; bytes that are not UTF-8 read as U+FFFD); when a type appears twice, the first record counts.
public struct HardwareHashInfo: Sendable, Hashable {
    /// SMBIOS system manufacturer (record 16): `HP`, `LENOVO`, `VMware, Inc.`.
    public var manufacturer: String?
    /// SMBIOS product name (record 17), the model Windows reports: `HP EliteBook 840 G8 Notebook PC`, `21HF001NUS`.
    public var model: String?
    /// SMBIOS system serial number (record 14); may be a placeholder (see `SerialNumberPlaceholder`).
    public var serialNumber: String?
    /// The Windows product key ID (record 24, 13 digits), on machines that have one.
    public var productKeyID: String?
    /// The TPM's description (record 13): `TPM-Version:2.0 -Level:0-Revision:1.59-VendorID:'NTC '-…`.
    public var tpm: String?
    /// The Windows version the capture ran on, from the first of the two versions record 1 begins with:
    /// `10.0.26100.7705` (major.minor.build.revision).
    public var windowsVersion: String?
    /// CPU vendor (record 3): `GenuineIntel`.
    public var cpuVendor: String?
    /// CPU model (record 4): `13th Gen Intel(R) Core(TM) i7-1355U`.
    public var cpuModel: String?
    /// Firmware (BIOS) vendor (record 15).
    public var firmwareVendor: String?
    /// SMBIOS SKU (record 18).
    public var sku: String?
    /// SMBIOS family (record 19).
    public var family: String?
    /// SMBIOS system version (record 23).
    public var systemVersion: String?
    /// Baseboard manufacturer (record 20).
    public var baseboardManufacturer: String?
    /// Baseboard product (record 21).
    public var baseboardProduct: String?
    /// Baseboard version (record 22).
    public var baseboardVersion: String?
    /// The type of every record, in the order they appear (unknown types included).
    public var recordTypes: [UInt16] = []
    /// `T`: where the header and records end and the trailer begins.
    public var recordsEnd = 0
    /// The SHA-256 the trailer holds, of every byte before `recordsEnd`: the hash's own checksum, which
    /// `HardwareHash.checksumProblem` compares (the domain computes no digests).
    public var checksum: [UInt8] = []

    /// Whether the machine has a TPM: its hash has a TPM record.
    public var hasTPM: Bool { tpm != nil }

    /// Nothing known yet; `HardwareHash.decode` fills it in.
    public init() {}
}

/// Why bytes or text are not an Autopilot hardware hash, in words a person can act on.
public struct HardwareHashProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which rule of hardware-hash.md the input breaks.
    public enum Kind: Sendable, Hashable {
        /// The text is not standard base64.
        case notBase64
        /// It decodes to fewer than `DeviceRules.minHashBytes` bytes.
        case tooShort
        /// It decodes to more than `DeviceRules.maxHashBytes` bytes.
        case tooLong
        /// The bytes do not begin with the `OA` magic.
        case notAHardwareHash
        /// The header or a record length is inconsistent: the records do not tile exactly up to `T`, no checksum
        /// trailer follows them, or the checksum does not match.
        case damaged
    }

    /// Which rule is broken.
    public var kind: Kind
    /// The problem, phrased to follow "the hardware hash is …": `too short: it decodes to 812 bytes; …`.
    public var reason: String

    /// A problem of `kind` explained by `reason`.
    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}

/// Reads the structure of a 4K hardware hash (hardware-hash.md): the one place that knows its layout.
///
/// Decoding is one pass over the bytes that reads nothing outside them, whatever they hold, and allocates only the
/// strings it keeps: an import of 100,000 devices decodes every hash.
public enum HardwareHash {
    /// The two bytes every hash begins with: `OA`.
    static let magic: (UInt8, UInt8) = (0x4F, 0x41)
    /// The size of the header (magic, `T`) and of each record's header (type, length).
    static let headerSize = 4
    /// The type (`CS`) and size of the trailer record after the records.
    static let trailerType: (UInt8, UInt8) = (0x43, 0x53)
    static let trailerSize = 36

    /// Record types whose data is a NUL-terminated string, and the types of the other records read.
    enum RecordType {
        static let windowsVersions: UInt16 = 1
        static let cpuVendor: UInt16 = 3
        static let cpuModel: UInt16 = 4
        static let tpm: UInt16 = 13
        static let serialNumber: UInt16 = 14
        static let firmwareVendor: UInt16 = 15
        static let manufacturer: UInt16 = 16
        static let model: UInt16 = 17
        static let sku: UInt16 = 18
        static let family: UInt16 = 19
        static let baseboardManufacturer: UInt16 = 20
        static let baseboardProduct: UInt16 = 21
        static let baseboardVersion: UInt16 = 22
        static let systemVersion: UInt16 = 23
        static let productKeyID: UInt16 = 24
    }

    /// Decodes base64 text (padding optional, nothing else: trim it first), then the structure.
    /// - Returns: the decoded bytes, which the registry stores, and what they say; or why they are not a hash.
    public static func decode(text: String) -> Result<(bytes: [UInt8], info: HardwareHashInfo), HardwareHashProblem> {
        guard let bytes = Base64.decode(text) else {
            return .failure(HardwareHashProblem(
                .notBase64, "not base64 text (only A-Z, a-z, 0-9, + and /, with optional = padding)"))
        }
        return decode(bytes: bytes).map { (bytes, $0) }
    }

    /// Decodes the bytes of a hash: `DeviceRules.minHashBytes` to `maxHashBytes` of them, with the structure of
    /// hardware-hash.md.
    public static func decode(bytes: [UInt8]) -> Result<HardwareHashInfo, HardwareHashProblem> {
        bytes.withUnsafeBufferPointer { decode(buffer: $0) }
    }

    /// The size rules, then the structure.
    static func decode(buffer b: UnsafeBufferPointer<UInt8>) -> Result<HardwareHashInfo, HardwareHashProblem> {
        func sizes() -> String {
            "a hardware hash decodes to \(DeviceRules.minHashBytes) to \(DeviceRules.maxHashBytes) bytes"
        }
        if b.count < DeviceRules.minHashBytes {
            return .failure(HardwareHashProblem(.tooShort, "too short: it decodes to \(b.count) bytes; \(sizes())"))
        }
        if b.count > DeviceRules.maxHashBytes {
            return .failure(HardwareHashProblem(.tooLong, "too long: it decodes to \(b.count) bytes; \(sizes())"))
        }
        return decodeStructure(b)
    }

    /// The structure alone, at any size: magic, `T` within the bytes, records that tile exactly up to `T`.
    static func decodeStructure(_ b: UnsafeBufferPointer<UInt8>) -> Result<HardwareHashInfo, HardwareHashProblem> {
        guard b.count >= 2, b[0] == magic.0, b[1] == magic.1 else {
            return .failure(HardwareHashProblem(.notAHardwareHash, "not an Autopilot hardware hash: no OA header"))
        }
        guard b.count >= headerSize else {
            return .failure(damaged("it ends inside its 4-byte header"))
        }
        let end = Int(b[2]) | Int(b[3]) << 8
        if end < headerSize {
            return .failure(damaged("its header says its records end at byte \(end), inside the header itself"))
        }
        if end > b.count {
            return .failure(damaged("its header says its records end at byte \(end), past the end of its \(b.count) bytes"))
        }
        var info = HardwareHashInfo()
        info.recordTypes.reserveCapacity(48)
        var offset = headerSize
        var ordinal = 0
        while offset < end {
            ordinal += 1
            if end - offset < headerSize {
                return .failure(damaged("the \(nth(ordinal)) record, at byte \(offset), is cut off: only "
                    + "\(end - offset) bytes are left before the records end at byte \(end)"))
            }
            let type = UInt16(b[offset]) | UInt16(b[offset + 1]) << 8
            let length = Int(b[offset + 2]) | Int(b[offset + 3]) << 8
            // Built only for a refusal: string interpolation per record would cost more than the whole decode.
            func which() -> String { "record \(type) (the \(nth(ordinal)), at byte \(offset))" }
            if length < headerSize {
                return .failure(damaged("\(which()) has length \(length), less than its own 4-byte header"))
            }
            if length > end - offset {
                return .failure(damaged("\(which()) runs past the end of the records at byte \(end)"))
            }
            info.recordTypes.append(type)
            let data = UnsafeBufferPointer(rebasing: b[(offset + headerSize)..<(offset + length)])
            read(type, data, into: &info)
            offset += length
        }
        // The trailer, in every real hash: a record "CS" of 36 bytes holding the SHA-256 of the bytes before it.
        guard b.count - end >= trailerSize, b[end] == trailerType.0, b[end + 1] == trailerType.1,
              b[end + 2] == UInt8(trailerSize), b[end + 3] == 0
        else {
            return .failure(damaged("no checksum follows its records at byte \(end) (a hash ends its records with a "
                + "36-byte \"CS\" record holding their SHA-256)"))
        }
        info.recordsEnd = end
        info.checksum = Array(b[(end + headerSize)..<(end + trailerSize)])
        return .success(info)
    }

    /// The problem when `digest`, the SHA-256 of the bytes before `info.recordsEnd`, is not the checksum the hash
    /// holds: its bytes were changed after capture (a serial number edited by hand, a copy cut or damaged).
    public static func checksumProblem(_ info: HardwareHashInfo, digest: [UInt8]) -> HardwareHashProblem? {
        if info.checksum == digest { return nil }
        return damaged("its checksum does not match its content: its bytes were changed after it was captured")
    }

    /// Keeps what a record says when it is of a known type and the first of its type.
    private static func read(_ type: UInt16, _ data: UnsafeBufferPointer<UInt8>, into info: inout HardwareHashInfo) {
        func keep(_ field: inout String?) {
            if field == nil { field = string(data) }
        }
        switch type {
        case RecordType.windowsVersions:
            if info.windowsVersion == nil { info.windowsVersion = windowsVersion(data) }
        case RecordType.cpuVendor: keep(&info.cpuVendor)
        case RecordType.cpuModel: keep(&info.cpuModel)
        case RecordType.tpm: keep(&info.tpm)
        case RecordType.serialNumber: keep(&info.serialNumber)
        case RecordType.firmwareVendor: keep(&info.firmwareVendor)
        case RecordType.manufacturer: keep(&info.manufacturer)
        case RecordType.model: keep(&info.model)
        case RecordType.sku: keep(&info.sku)
        case RecordType.family: keep(&info.family)
        case RecordType.baseboardManufacturer: keep(&info.baseboardManufacturer)
        case RecordType.baseboardProduct: keep(&info.baseboardProduct)
        case RecordType.baseboardVersion: keep(&info.baseboardVersion)
        case RecordType.systemVersion: keep(&info.systemVersion)
        case RecordType.productKeyID: keep(&info.productKeyID)
        default: break
        }
    }

    /// The record's text up to its first NUL (all of it when there is none), decoded as UTF-8 with repairs.
    static func string(_ data: UnsafeBufferPointer<UInt8>) -> String {
        var count = 0
        while count < data.count && data[count] != 0 { count += 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: data[..<count]), as: UTF8.self)
    }

    /// The first version of record 1: two little-endian u32, `major << 16 | minor` and `build << 16 | revision`.
    /// (The second version, which follows, differs from it after some updates; hardware-hash.md.)
    static func windowsVersion(_ data: UnsafeBufferPointer<UInt8>) -> String? {
        guard data.count >= 8 else { return nil }
        func u16(_ i: Int) -> UInt16 { UInt16(data[i]) | UInt16(data[i + 1]) << 8 }
        return "\(u16(2)).\(u16(0)).\(u16(6)).\(u16(4))"
    }

    private static func damaged(_ what: String) -> HardwareHashProblem {
        HardwareHashProblem(.damaged, "damaged: \(what)")
    }

    /// 1st, 2nd, 3rd, 4th, …, 11th, 12th, 13th, …, 21st.
    private static func nth(_ n: Int) -> String {
        let suffix: String
        switch (n % 10, n % 100) {
        case (_, 11...13): suffix = "th"
        case (1, _): suffix = "st"
        case (2, _): suffix = "nd"
        case (3, _): suffix = "rd"
        default: suffix = "th"
        }
        return "\(n)\(suffix)"
    }
}

/// The serial numbers firmware leaves when it has none (hardware-hash.md), kept in one place: such a serial number
/// says nothing about which machine this is.
public enum SerialNumberPlaceholder {
    /// The placeholders, as they are usually written; compared ignoring case and surrounding spaces.
    public static let values: [String] = [
        "", emptySMBIOSString, "None", "Default string", "To Be Filled By O.E.M.", "System Serial Number",
        "Not Specified", "0", "123456789", "0123456789",
    ]

    /// What a hash's SMBIOS string reads when the firmware left it empty, in any record (hardware-hash.md).
    public static let emptySMBIOSString = "SMBIOS_STRING_INDEX_0"

    private static let folded: Set<String> = Set(values.map { $0.lowercased() })

    /// Whether `serial` names no machine: absent, empty, or one of `values` ignoring case and surrounding spaces.
    public static func isPlaceholder(_ serial: String?) -> Bool {
        guard let serial else { return true }
        return folded.contains(Validate.trim(serial).lowercased())
    }
}
