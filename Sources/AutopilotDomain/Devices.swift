/// A device submission after the per-device rules: trimmed identifiers, the decoded hardware hash and what it says
/// about the machine, merged with the identifiers the submission gave.
public struct NormalizedDevice: Sendable, Hashable {
    /// The serial number: the submitted one, else the one inside the hardware hash (even a placeholder, so that a
    /// listing shows what the firmware reported).
    public var serialNumber: String?
    /// The product key (PKID): the submitted one, else the one inside the hardware hash.
    public var productKey: String?
    /// The manufacturer: the hash's when it has one (a submitted one must agree with it), else the submitted one.
    public var manufacturer: String?
    /// The model: the hash's when it has one (a submitted one must agree with it), else the submitted one.
    public var model: String?
    /// The decoded hardware hash bytes.
    public var hardwareHash: [UInt8]?
    /// What the hardware hash says about the machine.
    public var hashInfo: HardwareHashInfo?
    /// The group tag travelling with the device.
    public var groupTag: String?
    /// The assigned user's UPN, lowercased.
    public var assignedUser: String?
    /// The domain of `assignedUser`, which must belong to the tenant.
    public var assignedUserDomain: String?

    /// A device with these identifiers; the rest comes from `DeviceRules.normalize`.
    public init(serialNumber: String? = nil, productKey: String? = nil, manufacturer: String? = nil,
                model: String? = nil, hardwareHash: [UInt8]? = nil, hashInfo: HardwareHashInfo? = nil,
                groupTag: String? = nil, assignedUser: String? = nil, assignedUserDomain: String? = nil) {
        self.serialNumber = serialNumber; self.productKey = productKey; self.manufacturer = manufacturer
        self.model = model; self.hardwareHash = hardwareHash; self.hashInfo = hashInfo; self.groupTag = groupTag
        self.assignedUser = assignedUser; self.assignedUserDomain = assignedUserDomain
    }

    /// Whether manufacturer, model and serial number are all present and the serial number is not a placeholder:
    /// only then does the tuple name one machine (hardware-hash.md).
    public var tupleIdentifies: Bool {
        manufacturer != nil && model != nil && !SerialNumberPlaceholder.isPlaceholder(serialNumber)
    }
}

/// Why one submitted device cannot be registered: its per-device error and a message naming the rule it broke.
public struct DeviceRejection: Error, Sendable, Hashable {
    /// The per-device error code.
    public var code: DeviceErrorCode
    /// What was wrong, precisely enough to fix the row.
    public var message: String

    /// A rejection with `message`, or the code's general explanation.
    public init(_ code: DeviceErrorCode, _ message: String? = nil) {
        self.code = code
        self.message = message ?? code.explanation
    }
}

/// The per-device rules of domain.md ("Devices") and hardware-hash.md.
public enum DeviceRules {
    /// Most devices accepted in one `AddDevices` call.
    public static let maxDevicesPerCall = 1000
    /// Smallest and largest decoded hardware hash, in bytes (domain.md: a 4K hash decodes to about 3,000 bytes).
    public static let minHashBytes = 1024
    /// Largest decoded hardware hash, in bytes.
    public static let maxHashBytes = 16384
    /// Longest serial number, manufacturer, model, group tag.
    public static let maxFieldLength = 255
    /// Longest product key.
    public static let maxProductKeyLength = 64

    /// Applies the identifier rules for a partner of `kind`, and reads the machine out of the hardware hash.
    ///
    /// CSP partners may identify a device by hardware hash, product key (PKID), or manufacturer + model + serial.
    /// OEMs (Direct API) by the tuple or the PKID, never a hash (801). Nothing usable is 803 (a placeholder serial
    /// number names no machine); a hash that is not base64 of an Autopilot hardware hash is 802. Overlong fields, a
    /// malformed assigned user, and a serial number, manufacturer or model that contradicts the hash are 801.
    public static func normalize(_ input: DeviceInput, partnerKind kind: PartnerKind)
        -> Result<NormalizedDevice, DeviceRejection>
    {
        func clean(_ s: String?) -> String? {
            guard let s else { return nil }
            let t = Validate.trim(s)
            return t.isEmpty ? nil : t
        }
        var d = NormalizedDevice(
            serialNumber: clean(input.serialNumber), productKey: clean(input.productKey),
            manufacturer: clean(input.manufacturer), model: clean(input.model), hardwareHash: nil, hashInfo: nil,
            groupTag: clean(input.groupTag), assignedUser: clean(input.assignedUser), assignedUserDomain: nil)
        let fields: [(String, String?, Int)] = [
            ("serialNumber", d.serialNumber, maxFieldLength), ("productKey", d.productKey, maxProductKeyLength),
            ("manufacturer", d.manufacturer, maxFieldLength), ("model", d.model, maxFieldLength),
            ("groupTag", d.groupTag, maxFieldLength),
        ]
        for (name, value, limit) in fields {
            guard let value else { continue }
            if value.utf8.count > limit {
                return .failure(DeviceRejection(.invalidZtdRequestBody, "\(name) is longer than \(limit) bytes"))
            }
            if containsControl(value) {
                return .failure(DeviceRejection(.invalidZtdRequestBody, "\(name) contains control characters"))
            }
        }
        let hashText = clean(input.hardwareHash)
        if hashText != nil && kind == .oem {
            return .failure(DeviceRejection(.invalidZtdRequestBody, "an OEM registers devices by product key or "
                + "manufacturer, model and serial number, never by hardware hash"))
        }
        if let user = d.assignedUser {
            guard let parsed = try? Validate.upn(user) else {
                return .failure(DeviceRejection(.invalidZtdRequestBody, "assigned user '\(user)' is not a UPN (name@domain)"))
            }
            d.assignedUser = parsed.upn
            d.assignedUserDomain = parsed.domain
        }
        guard hashText != nil || d.productKey != nil || d.tupleIdentifies else {
            if let serial = d.serialNumber, d.manufacturer != nil, d.model != nil {
                return .failure(DeviceRejection(.missingZtdSerialNumberAndProductKey, "serial number '\(serial)' is a "
                    + "placeholder the firmware left, which names no machine: give a product key or the hardware hash"))
            }
            return .failure(DeviceRejection(.missingZtdSerialNumberAndProductKey))
        }
        guard let hashText else { return .success(d) }
        let decoded: (bytes: [UInt8], info: HardwareHashInfo)
        switch HardwareHash.decode(text: hashText) {
        case let .success(value): decoded = value
        case let .failure(problem):
            return .failure(DeviceRejection(.invalidZtdHardwareHash, "the hardware hash is \(problem.reason)"))
        }
        d.hardwareHash = decoded.bytes
        d.hashInfo = decoded.info
        return merge(&d, decoded.info).map { .failure($0) } ?? .success(d)
    }

    /// Fills the device's manufacturer, model, serial number and product key from what its hash says, and refuses a
    /// submitted value that contradicts it (compared ignoring case and surrounding spaces: a column typed as
    /// `Lenovo` for the hash's `LENOVO` is the same machine; a serial number in the model column is not).
    public static func merge(_ d: inout NormalizedDevice, _ info: HardwareHashInfo) -> DeviceRejection? {
        func agree(_ field: String, _ submitted: String?, _ inHash: String?) -> DeviceRejection? {
            guard let submitted, let inHash, !inHash.isEmpty else { return nil }
            if submitted.lowercased() == Validate.trim(inHash).lowercased() { return nil }
            return DeviceRejection(.invalidZtdRequestBody, "the \(field) '\(submitted)' contradicts the hardware hash, "
                + "which says '\(inHash)': are the columns mixed up, or is the hash another machine's?")
        }
        // A placeholder says nothing about the machine (hardware-hash.md). The hash's placeholder serial neither
        // contradicts nor replaces a submitted one, and a submitted placeholder serial contradicts nothing: the hash's
        // is kept. A manufacturer or model the firmware left empty (`SMBIOS_STRING_INDEX_0`) neither contradicts nor
        // replaces a submitted one, as a placeholder serial does not.
        let hashSerial = SerialNumberPlaceholder.isPlaceholder(info.serialNumber) ? nil : info.serialNumber
        let submittedSerial = SerialNumberPlaceholder.isPlaceholder(d.serialNumber) ? nil : d.serialNumber
        func said(_ s: String?) -> String? {
            guard let s, Validate.trim(s).lowercased() != SerialNumberPlaceholder.emptySMBIOSString.lowercased()
            else { return nil }
            return s
        }
        let hashManufacturer = said(info.manufacturer), hashModel = said(info.model)
        if let problem = agree("serial number", submittedSerial, hashSerial)
            ?? agree("manufacturer", d.manufacturer, hashManufacturer) ?? agree("model", d.model, hashModel)
        {
            return problem
        }
        func value(_ s: String?) -> String? {
            guard let s else { return nil }
            let t = Validate.trim(s)
            return t.isEmpty || t.utf8.count > maxFieldLength || containsControl(t) ? nil : t
        }
        d.manufacturer = value(hashManufacturer) ?? d.manufacturer ?? value(info.manufacturer)
        d.model = value(hashModel) ?? d.model ?? value(info.model)
        d.serialNumber = value(hashSerial) ?? submittedSerial ?? d.serialNumber ?? value(info.serialNumber)
        if d.productKey == nil, let key = info.productKeyID.flatMap(value), key.utf8.count <= maxProductKeyLength {
            d.productKey = key
        }
        return nil
    }

    /// Whether `s` holds a C0 or C1 control character (a Windows-1252 file's undefined bytes decode to C1 controls).
    static func containsControl(_ s: String) -> Bool {
        s.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
    }
}

/// The identifiers by which a submitted device is matched: against registered devices, and against the earlier
/// entries of the same submission. Two submissions are the same machine when any of them is equal.
public struct DeviceKeys: Sendable, Hashable {
    /// Lowercase hex SHA-256 of the decoded hardware hash.
    public var hashDigest: String?
    /// The product key, submitted or read from the hash.
    public var productKey: String?
    /// Manufacturer, model and serial number, compared case-sensitively; nil unless all three are known and the
    /// serial number is not a placeholder.
    public var tuple: DeviceTuple?

    /// The keys of a normalised device whose hash bytes have the SHA-256 `hashDigest`.
    public init(_ device: NormalizedDevice, hashDigest: String?) {
        self.hashDigest = hashDigest
        productKey = device.productKey
        if device.tupleIdentifies, let m = device.manufacturer, let mo = device.model, let s = device.serialNumber {
            tuple = DeviceTuple(manufacturer: m, model: mo, serialNumber: s)
        }
    }
}

/// Manufacturer + model + serial number: one of the three ways to name a device.
public struct DeviceTuple: Sendable, Hashable {
    /// The manufacturer's name.
    public var manufacturer: String
    /// The model name.
    public var model: String
    /// The serial number.
    public var serialNumber: String
    /// A tuple of the three identifiers.
    public init(manufacturer: String, model: String, serialNumber: String) {
        self.manufacturer = manufacturer; self.model = model; self.serialNumber = serialNumber
    }
}

/// Machines by the identifiers that make two submissions the same machine (interface.md, "Device identity"), each
/// with the position where it was first named: an entry of one call (`SubmissionTracker`), or a line of a file that
/// `autopilotctl` sends in parts.
public struct MachineIndex: Sendable {
    private var digests: [String: Int] = [:]
    private var productKeys: [String: Int] = [:]
    private var tuples: [DeviceTuple: Int] = [:]

    /// An index that knows no machine yet.
    public init() {}

    /// Whether it knows no machine.
    public var isEmpty: Bool { digests.isEmpty && productKeys.isEmpty && tuples.isEmpty }

    /// The first position that named a machine one of `keys` names, if any.
    public func firstPosition(naming keys: DeviceKeys) -> Int? {
        [keys.hashDigest.flatMap { digests[$0] }, keys.productKey.flatMap { productKeys[$0] },
         keys.tuple.flatMap { tuples[$0] }].compactMap { $0 }.min()
    }

    /// Remembers `keys` at `position` (an identifier already known keeps its first position) and returns the first
    /// position of a machine one of them named before, if any. One hash per new identifier, as a set's insert.
    @discardableResult
    public mutating func insert(_ keys: DeviceKeys, at position: Int) -> Int? {
        var first: Int?
        func note<Key: Hashable>(_ index: inout [Key: Int], _ key: Key?) {
            guard let key, let earlier = index.updateValue(position, forKey: key) else { return }
            index[key] = earlier
            first = min(first ?? earlier, earlier)
        }
        note(&digests, keys.hashDigest)
        note(&productKeys, keys.productKey)
        note(&tuples, keys.tuple)
        return first
    }
}

/// Remembers the devices of one submission (one `AddDevices` or `ValidateSubmission` call), so that a device
/// whose identifiers repeat an earlier entry gets `ZtdDeviceDuplicated`.
public struct SubmissionTracker: Sendable {
    private var seen = MachineIndex()
    private var entries = 0

    /// A tracker that has seen no device yet.
    public init() {}

    /// Records the device and tells whether any of its identifiers appeared in an earlier entry. A repeat's
    /// identifiers are remembered too: a device that shares a key with a repeat is the same device again.
    public mutating func isRepeat(_ keys: DeviceKeys) -> Bool {
        defer { entries += 1 }
        return seen.insert(keys, at: entries) != nil
    }
}

/// Lowercase hexadecimal text of bytes (a SHA-256 digest, as the registry stores and shows it).
public enum Hex {
    /// Two lowercase hex digits per byte.
    ///
    /// Inlinable so that it is specialised for the caller's sequence (a digest): called through the generic
    /// `Sequence` witnesses across modules, a 32-byte digest took 16,000 instructions.
    @inlinable
    public static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var chars = [UInt8]()
        chars.reserveCapacity(2 * Swift.max(bytes.underestimatedCount, 32))
        for b in bytes {
            chars.append(digit(b >> 4))
            chars.append(digit(b & 15))
        }
        return String(decoding: chars, as: UTF8.self)
    }

    /// The lowercase hex digit of a value below 16.
    @inlinable
    static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
    }
}

/// How `DeregisterDevice` names the device: exactly one of id, tuple or product key.
public enum DeregistrationTarget: Sendable, Hashable {
    case id(String)
    case tuple(DeviceTuple)
    case productKey(String)

    /// The one way of naming a device that the parameters give.
    /// - Throws: `invalidInput` when none or more than one is given, or the tuple is incomplete; `deviceError(803)`
    ///   for a tuple whose serial number is a placeholder.
    public static func from(device: String?, serialNumber: String?, manufacturer: String?, model: String?,
                            productKey: String?) throws(RegistryError) -> DeregistrationTarget {
        func clean(_ s: String?) -> String? {
            guard let s else { return nil }
            let t = Validate.trim(s)
            return t.isEmpty ? nil : t
        }
        let id = clean(device), pk = clean(productKey)
        let s = clean(serialNumber), m = clean(manufacturer), mo = clean(model)
        let tupleParts = [s, m, mo].compactMap { $0 }.count
        let ways = (id != nil ? 1 : 0) + (pk != nil ? 1 : 0) + (tupleParts > 0 ? 1 : 0)
        guard ways == 1 else {
            throw .invalidInput(field: "device", reason: "name the device in exactly one way: its id, its product key, or manufacturer, model and serial number")
        }
        if let id { return .id(id) }
        if let pk { return .productKey(pk) }
        guard let s, let m, let mo else {
            let missing = [("serialNumber", s), ("manufacturer", m), ("model", mo)].first { $0.1 == nil }!.0
            throw .invalidInput(field: missing, reason: "a device named by its tuple needs manufacturer, model and serial number")
        }
        // A placeholder serial number names no machine (hardware-hash.md), however many devices it matches: 803, as
        // when registering by it.
        if SerialNumberPlaceholder.isPlaceholder(s) { throw .deviceError(.missingZtdSerialNumberAndProductKey) }
        return .tuple(DeviceTuple(manufacturer: m, model: mo, serialNumber: s))
    }
}

/// A registered or deregistered device, as far as deregistration rules need it.
public struct DeviceOwnership: Sendable, Hashable {
    /// The tenant the device is registered to.
    public var tenant: String
    /// The partner that registered it.
    public var partner: String
    /// Whether it is still registered.
    public var status: DeviceStatus
    /// What the deregistration rules know of a device.
    public init(tenant: String, partner: String, status: DeviceStatus) {
        self.tenant = tenant; self.partner = partner; self.status = status
    }
}

extension DeviceRules {
    /// Refuses a partner of `kind` using `channel`: indirect resellers upload only, OEMs use the API only.
    /// - Throws: `channelNotAllowed`.
    public static func checkChannel(kind: PartnerKind, channel: Channel) throws(RegistryError) {
        guard kind.allowedChannels.contains(channel) else { throw .channelNotAllowed(kind: kind, channel: channel) }
    }

    /// Refuses an OEM that is not (or no longer) eligible for the OEM Direct API: the Direct API is how OEMs register,
    /// deregister and change devices, and only eligible OEMs may use it (domain.md, "OEM authorisation flow").
    /// Other kinds of partner are not concerned.
    /// - Throws: `oemNotEligible`.
    public static func checkDirectApiEligibility(_ partner: Partner) throws(RegistryError) {
        if partner.kind == .oem && !partner.oemDirectApi { throw .oemNotEligible(partner: partner.id) }
    }

    /// Bounds one call's devices: 1 to `maxDevicesPerCall`.
    /// - Throws: `invalidInput(devices)` for none, `batchTooLarge` beyond the limit.
    public static func checkCount(_ count: Int, allowEmpty: Bool = false) throws(RegistryError) {
        if count > maxDevicesPerCall { throw .batchTooLarge(limit: maxDevicesPerCall) }
        if count == 0 && !allowEmpty { throw .invalidInput(field: "devices", reason: "give at least one device") }
    }

    /// 801 when the device's assigned user is in a domain the tenant does not own.
    public static func checkAssignedUser(_ device: NormalizedDevice, tenantDomains: Set<String>) -> DeviceErrorCode? {
        guard let domain = device.assignedUserDomain else { return nil }
        return tenantDomains.contains(domain) ? nil : .invalidZtdRequestBody
    }

    /// What a device gets given the registered devices its identifiers match, as device id → tenant id:
    /// none is nil (it may be registered), several is 813, one in `tenant` is 806, one elsewhere is 808.
    public static func matchOutcome(_ matches: [String: String], tenant: String) -> DeviceErrorCode? {
        guard let (_, owner) = matches.first else { return nil }
        if matches.count > 1 { return .ztdDeviceIsNotUnique }
        return owner == tenant ? .ztdDeviceAlreadyAssigned : .ztdDeviceAssignedToOtherTenant
    }

    /// Whether `partner` may deregister `device`.
    ///
    /// A deregistered device, or one outside the tenant the caller named, is 807. The partner that registered a
    /// device may always remove it; any other partner needs an active grant for the device's tenant (811).
    public static func checkDeregistration(_ device: DeviceOwnership, partner: String, namedTenant: String?,
                                           hasGrant: Bool) throws(RegistryError) {
        try checkChangeable(device, tenant: namedTenant)
        guard device.partner == partner || hasGrant else { throw .deviceError(.ztdDeviceRegisteredByOtherTenant) }
    }
}

/// Standard base64 (RFC 4648 §4) with optional padding; nothing else is accepted.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    /// The URL-safe alphabet (RFC 4648 §5), as a set, for link tokens.
    public static let urlAlphabet: Set<UInt8> = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let decodeTable: [UInt8] = {
        var t = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }()

    /// Decodes standard base64; padding may be present (complete) or absent. Returns nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8(decode(utf8:))
    }

    /// Decodes four characters at a time from the text's own bytes: registering a device decodes a 4,000-character
    /// hash, and a byte-at-a-time loop over a copy of it was the largest cost of an import (docs/performance.md).
    static func decode(utf8 s: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        var count = s.count
        var padding = 0
        while count > 0 && s[count - 1] == UInt8(ascii: "=") { count -= 1; padding += 1 }
        guard padding <= 2, count % 4 != 1 else { return nil }
        if padding > 0 && (count + padding) % 4 != 0 { return nil }
        let tail = count % 4
        let outputCount = count / 4 * 3 + (tail == 0 ? 0 : tail - 1)
        var valid = true
        let out = decodeTable.withUnsafeBufferPointer { table in
            [UInt8](unsafeUninitializedCapacity: outputCount) { out, initialized in
                var i = 0, o = 0
                // A character outside the alphabet maps to 0xFF, so any of the top two bits marks the group invalid.
                while i + 4 <= count {
                    let a = table[Int(s[i])], b = table[Int(s[i + 1])], c = table[Int(s[i + 2])], d = table[Int(s[i + 3])]
                    if (a | b | c | d) & 0xC0 != 0 { valid = false; break }
                    out[o] = a << 2 | b >> 4
                    out[o + 1] = b << 4 | c >> 2
                    out[o + 2] = c << 6 | d
                    i += 4
                    o += 3
                }
                if valid && tail >= 2 {
                    let a = table[Int(s[i])], b = table[Int(s[i + 1])], c = tail == 3 ? table[Int(s[i + 2])] : 0
                    // Leftover bits must be zero for a canonical encoding.
                    if (a | b | c) & 0xC0 != 0 || (tail == 2 ? b & 0x0F : c & 0x03) != 0 {
                        valid = false
                    } else {
                        out[o] = a << 2 | b >> 4
                        o += 1
                        if tail == 3 {
                            out[o] = b << 4 | c >> 2
                            o += 1
                        }
                    }
                }
                initialized = valid ? o : 0
            }
        }
        return valid ? out : nil
    }

    /// Encodes with standard alphabet and padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        encode(bytes, alphabet: alphabet, pad: true)
    }

    /// Encodes with the URL-safe alphabet and no padding.
    public static func encodeURL(_ bytes: [UInt8]) -> String {
        encode(bytes, alphabet: Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8), pad: false)
    }

    static func encode(_ bytes: [UInt8], alphabet a: [UInt8], pad: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [a[Int(n >> 18 & 63)], a[Int(n >> 12 & 63)], a[Int(n >> 6 & 63)], a[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [a[Int(n >> 18 & 63)], a[Int(n >> 12 & 63)]]
            if pad { out += [61, 61] }
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [a[Int(n >> 18 & 63)], a[Int(n >> 12 & 63)], a[Int(n >> 6 & 63)]]
            if pad { out.append(61) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
