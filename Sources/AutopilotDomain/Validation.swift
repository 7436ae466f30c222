/// Value rules for identifiers, names, domains and UPNs. Each function returns the normalised value or throws
/// `RegistryError.invalidInput` naming the field.
public enum Validate {
    /// Longest caller-supplied id.
    public static let maxIDLength = 64
    /// Longest display name (tenant, partner, batch).
    public static let maxNameLength = 200
    /// Longest free text (revocation reason, decision note).
    public static let maxTextLength = 2000

    /// A caller-supplied id: 1–64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
    public static func id(_ value: String, field: String = "id") throws(RegistryError) -> String {
        let b = Array(value.utf8)
        guard !b.isEmpty, b.count <= maxIDLength else {
            throw .invalidInput(field: field, reason: "must be 1 to \(maxIDLength) characters")
        }
        for (i, c) in b.enumerated() {
            let alnum = (c >= 97 && c <= 122) || (c >= 48 && c <= 57)
            guard alnum || (i > 0 && (c == 46 || c == 95 || c == 45)) else {
                throw .invalidInput(field: field, reason: "use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit")
            }
        }
        return value
    }

    /// A display name: trimmed, 1–200 characters, no control characters.
    public static func name(_ value: String, field: String = "name") throws(RegistryError) -> String {
        try text(value, field: field, max: maxNameLength)
    }

    /// Free text: trimmed, 1 to `max` characters, no control characters other than none at all.
    public static func text(_ value: String, field: String, max: Int = maxTextLength) throws(RegistryError) -> String {
        let trimmed = trim(value)
        guard !trimmed.isEmpty else { throw .invalidInput(field: field, reason: "must not be empty") }
        guard trimmed.count <= max else { throw .invalidInput(field: field, reason: "must be at most \(max) characters") }
        guard !trimmed.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw .invalidInput(field: field, reason: "must not contain control characters")
        }
        return trimmed
    }

    /// A DNS name, lowercased: at least two labels of `a-z 0-9 -`, each 1–63 characters not starting or ending with
    /// '-', 253 characters at most, top-level label not all digits.
    public static func dnsName(_ value: String, field: String = "domain") throws(RegistryError) -> String {
        let lower = value.lowercased()
        guard !lower.isEmpty, lower.utf8.count <= 253 else {
            throw .invalidInput(field: field, reason: "'\(value)' is not a DNS name (1 to 253 characters)")
        }
        let labels = lower.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else {
            throw .invalidInput(field: field, reason: "'\(value)' is not a DNS name (needs at least two labels, like contoso.com)")
        }
        for label in labels {
            let u = Array(label.utf8)
            guard !u.isEmpty, u.count <= 63, u.first != 45, u.last != 45,
                  u.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 })
            else {
                throw .invalidInput(field: field, reason: "'\(value)' is not a DNS name (labels are 1 to 63 of a-z, 0-9, '-', not starting or ending with '-')")
            }
        }
        if labels.last!.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            throw .invalidInput(field: field, reason: "'\(value)' is not a DNS name (the last label cannot be numeric)")
        }
        return lower
    }

    /// The suffix of every tenant's initial, cloud-native domain.
    public static let cloudNativeSuffix = ".onmicrosoft.com"

    /// A tenant's initial domain: exactly `<label>.onmicrosoft.com`.
    public static func initialDomain(_ value: String) throws(RegistryError) -> String {
        let domain = try dnsName(value)
        guard isCloudNativeDomain(domain) else {
            throw .invalidInput(field: "domain", reason: "a tenant's initial domain must be <label>.onmicrosoft.com, got '\(value)'")
        }
        return domain
    }

    /// A custom domain added to a tenant: a DNS name outside onmicrosoft.com.
    public static func customDomain(_ value: String) throws(RegistryError) -> String {
        let domain = try dnsName(value)
        guard domain != "onmicrosoft.com", !domain.hasSuffix(cloudNativeSuffix) else {
            throw .invalidInput(field: "domain", reason: "onmicrosoft.com domains are only a tenant's initial domain; a custom domain is one the tenant owns, like contoso.com")
        }
        return domain
    }

    /// Whether a (normalised) domain is a single label under onmicrosoft.com.
    public static func isCloudNativeDomain(_ domain: String) -> Bool {
        guard domain.hasSuffix(cloudNativeSuffix) else { return false }
        let label = domain.dropLast(cloudNativeSuffix.count)
        return !label.isEmpty && !label.contains(".")
    }

    /// A user principal name `local@domain`, lowercased. Returns the UPN and its domain.
    public static func upn(_ value: String, field: String = "upn") throws(RegistryError) -> (upn: String, domain: String) {
        let lower = value.lowercased()
        let parts = lower.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw .invalidInput(field: field, reason: "'\(value)' is not a UPN (expected name@domain)")
        }
        let local = Array(parts[0].utf8)
        let allowedPunctuation: Set<UInt8> = Set("._-+'%".utf8)
        guard !local.isEmpty, local.count <= 64, local.first != 46, local.last != 46,
              local.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || allowedPunctuation.contains($0) })
        else {
            throw .invalidInput(field: field, reason: "'\(value)' is not a UPN (the part before @ is 1 to 64 of a-z, 0-9 and . _ - + ' %)")
        }
        let domain = try dnsName(String(parts[1]), field: field)
        return (lower, domain)
    }

    /// Directory role names; unknown names are refused, duplicates dropped, order normalised.
    public static func roles(_ names: [String], field: String = "roles") throws(RegistryError) -> [AccountRole] {
        var result = Set<AccountRole>()
        for name in names {
            guard let role = AccountRole(rawValue: name) else {
                throw .invalidInput(field: field, reason: "unknown role '\(name)'; valid roles: \(AccountRole.namesList)")
            }
            result.insert(role)
        }
        return result.sorted()
    }

    /// A Unix uid or gid as an access rule names it: 0 to 4294967295.
    /// - Throws: `invalidInput` naming `field`.
    public static func unixID(_ value: Int, field: String) throws(RegistryError) -> UInt32 {
        guard let id = UInt32(exactly: value) else { throw .invalidInput(field: field, reason: "must be 0 to 4294967295") }
        return id
    }

    /// The form a tenant-side call's acting account is looked up and recorded in: trimmed and lowercased, not yet
    /// validated (an unknown or malformed UPN is still recorded as the caller gave it).
    public static func accountKey(_ upn: String) -> String { trim(upn).lowercased() }

    /// Trims ASCII and Unicode whitespace at both ends.
    public static func trim(_ value: String) -> String {
        // Most values begin and end with a printable ASCII byte, and then there is nothing to trim: no extended
        // grapheme cluster that starts or ends with such a byte is whitespace. Walking the ends by `Character` costs
        // grapheme breaking, about 1,600 instructions a value, and a submitted device trims a dozen of them.
        let bytes = value.utf8
        guard let first = bytes.first, let last = bytes.last else { return value }
        if isPrintableASCII(first) && isPrintableASCII(last) { return value }
        var s = Substring(value)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }

    /// A byte that is a whole ASCII character and not whitespace (`!` to `~`).
    private static func isPrintableASCII(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
}

/// Rules for registering partners.
public enum PartnerRules {
    /// Checks a new partner's kind, provider and OEM eligibility. `provider` is the named provider when one is given.
    /// - Throws: `invalidInput` when a reseller lacks a provider, a non-reseller names one, the provider is not an
    ///   indirect provider, or a non-OEM is marked Direct-API eligible.
    public static func checkRegistration(kind: PartnerKind, providerID: String?, provider: Partner?,
                                         oemDirectApi: Bool) throws(RegistryError) {
        if kind == .indirectReseller {
            guard let providerID else {
                throw .invalidInput(field: "provider", reason: "an indirect reseller must name its indirect provider")
            }
            guard let provider else { throw .notFound(kind: "partner", id: providerID) }
            guard provider.kind == .indirectProvider else {
                throw .invalidInput(field: "provider", reason: "'\(providerID)' is a \(provider.kind.rawValue), not an indirectProvider")
            }
        } else if providerID != nil {
            throw .invalidInput(field: "provider", reason: "only an indirect reseller has a provider")
        }
        try checkOemEligibility(kind: kind, eligible: oemDirectApi)
    }

    /// Only OEMs can be eligible for the OEM Direct API.
    public static func checkOemEligibility(kind: PartnerKind, eligible: Bool) throws(RegistryError) {
        if eligible && kind != .oem {
            throw .invalidInput(field: "oemDirectApi", reason: "only an OEM can be eligible for the OEM Direct API")
        }
    }
}
