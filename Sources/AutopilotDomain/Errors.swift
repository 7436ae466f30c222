/// Per-device error codes of the real registration service (domain.md, "Devices").
public enum DeviceErrorCode: String, Error, Sendable, CaseIterable, Hashable {
    case invalidZtdRequestBody = "InvalidZtdRequestBody"
    case invalidZtdHardwareHash = "InvalidZtdHardwareHash"
    case missingZtdSerialNumberAndProductKey = "MissingZtdSerialNumberAndProductKey"
    case ztdDeviceAlreadyAssigned = "ZtdDeviceAlreadyAssigned"
    case ztdDeviceIsNotRegistered = "ZtdDeviceIsNotRegistered"
    case ztdDeviceAssignedToOtherTenant = "ZtdDeviceAssignedToOtherTenant"
    case ztdDeviceRegisteredByOtherTenant = "ZtdDeviceRegisteredByOtherTenant"
    case ztdDeviceIsNotUnique = "ZtdDeviceIsNotUnique"
    case ztdDeviceDuplicated = "ZtdDeviceDuplicated"

    /// The numeric code, or nil for `ZtdDeviceDuplicated`, which has no public number.
    public var code: Int? {
        switch self {
        case .invalidZtdRequestBody: 801
        case .invalidZtdHardwareHash: 802
        case .missingZtdSerialNumberAndProductKey: 803
        case .ztdDeviceAlreadyAssigned: 806
        case .ztdDeviceIsNotRegistered: 807
        case .ztdDeviceAssignedToOtherTenant: 808
        case .ztdDeviceRegisteredByOtherTenant: 811
        case .ztdDeviceIsNotUnique: 813
        case .ztdDeviceDuplicated: nil
        }
    }

    /// The error with this numeric code (801, 802, …); nil for a number the registry does not use.
    public init?(code: Int) {
        guard let match = Self.allCases.first(where: { $0.code == code }) else { return nil }
        self = match
    }

    /// The error's name, such as `ZtdDeviceAlreadyAssigned`, as interface errors and reports give it.
    public var name: String { rawValue }

    /// A plain-language explanation for people reading import reports.
    public var explanation: String {
        switch self {
        case .invalidZtdRequestBody: "the identifiers given are not a combination this channel accepts"
        case .invalidZtdHardwareHash: "the hardware hash is not valid base64 of the expected size"
        case .missingZtdSerialNumberAndProductKey: "no usable identifier: give a hardware hash, a product key, or manufacturer, model and serial number"
        case .ztdDeviceAlreadyAssigned: "the device is already registered to this tenant"
        case .ztdDeviceIsNotRegistered: "the device is not registered"
        case .ztdDeviceAssignedToOtherTenant: "the device is registered to another tenant"
        case .ztdDeviceRegisteredByOtherTenant: "the device was registered by someone else and you hold no consent for its tenant"
        case .ztdDeviceIsNotUnique: "the identifiers match more than one registered device"
        case .ztdDeviceDuplicated: "the same device appears earlier in this upload"
        }
    }
}

/// Every failure the registry reports to a caller. One table (in AutopilotInterface) maps these to varlink errors.
public enum RegistryError: Error, Sendable, Hashable {
    case permissionDenied(method: String, role: CallerRole)
    case notFound(kind: String, id: String)
    case alreadyExists(kind: String, id: String)
    case invalidInput(field: String, reason: String)
    case globalAdminRequired(account: String)
    case cloudNativeAccountRequired(account: String)
    case linkExpired(link: String)
    case linkRevoked(link: String)
    case notAllowedForPartnerKind(kind: PartnerKind, action: String)
    case oemNotEligible(partner: String)
    case consentRequired(partner: String, tenant: String)
    case channelNotAllowed(kind: PartnerKind, channel: Channel)
    case oemRemovalRequiresRequest(partner: String)
    case alreadyDecided(request: String)
    case batchTooLarge(limit: Int)
    case deviceError(DeviceErrorCode)
    case storageFull
    /// The tenant account holds none of `roles`, which the call needs (managing the tenant's devices).
    case accountRoleRequired(account: String, roles: [AccountRole])

    /// The short error name, as written in the audit log's `outcome` and after `io.autopilotd.registry.`.
    public var name: String {
        switch self {
        case .permissionDenied: "PermissionDenied"
        case .notFound: "NotFound"
        case .alreadyExists: "AlreadyExists"
        case .invalidInput: "InvalidInput"
        case .globalAdminRequired: "GlobalAdminRequired"
        case .cloudNativeAccountRequired: "CloudNativeAccountRequired"
        case .linkExpired: "LinkExpired"
        case .linkRevoked: "LinkRevoked"
        case .notAllowedForPartnerKind: "NotAllowedForPartnerKind"
        case .oemNotEligible: "OemNotEligible"
        case .consentRequired: "ConsentRequired"
        case .channelNotAllowed: "ChannelNotAllowed"
        case .oemRemovalRequiresRequest: "OemRemovalRequiresRequest"
        case .alreadyDecided: "AlreadyDecided"
        case .batchTooLarge: "BatchTooLarge"
        case .deviceError: "DeviceError"
        case .storageFull: "StorageFull"
        case .accountRoleRequired: "AccountRoleRequired"
        }
    }

    /// A sentence fit for the person who made the call.
    public var message: String {
        switch self {
        case let .permissionDenied(method, role):
            "a caller with role '\(role.rawValue)' may not call \(method) for that partner or tenant"
        case let .notFound(kind, id) where kind == "grant" && id.contains("/"):
            "partner \(id.prefix { $0 != "/" }) holds no active consent from tenant \(id.drop { $0 != "/" }.dropFirst()): "
                + "it was never given, or it has ended or been revoked"
        case let .notFound(kind, id): "no \(kind) '\(id)'"
        case let .alreadyExists(kind, id) where kind == "request":
            "the tenant already has an open revocation request for this partner, '\(id)'; it may withdraw it, or wait for the operator's decision"
        case let .alreadyExists(kind, id): "a \(kind) '\(id)' already exists"
        case let .invalidInput(field, reason): "\(field): \(reason)"
        case let .globalAdminRequired(account):
            "\(account) is not a Global Administrator; only a Global Administrator of the tenant can do this"
        case let .cloudNativeAccountRequired(account):
            "\(account) is not a cloud-native account; OEM consent needs a Global Administrator whose UPN ends in the tenant's .onmicrosoft.com domain"
        case let .linkExpired(link): "link \(link) has expired; ask the partner for a new one"
        case let .linkRevoked(link): "link \(link) was revoked; ask the partner for a new one"
        case let .notAllowedForPartnerKind(kind, action): "a partner of kind \(kind.rawValue) may not \(action)"
        case let .oemNotEligible(partner): "OEM \(partner) is not eligible for the OEM Direct API"
        case let .consentRequired(partner, tenant): "partner \(partner) holds no active consent from tenant \(tenant)"
        case let .channelNotAllowed(kind, channel):
            "devices cannot go through the \(channel.rawValue) channel here: a partner of kind \(kind.rawValue) "
                + "registers through \(kind.allowedChannels.map(\.rawValue).sorted().joined(separator: " or ")), and a "
                + "batch takes devices only through its own channel (api: AddDevices; upload: UploadDeviceCsv)"
        case let .oemRemovalRequiresRequest(partner):
            "an OEM's consent cannot be ended by the tenant; file a revocation request for \(partner) instead"
        case let .alreadyDecided(request): "revocation request \(request) was already decided"
        case let .batchTooLarge(limit): "at most \(limit) devices may be sent in one call"
        case let .deviceError(code):
            (code.code.map { "\($0) " } ?? "") + "\(code.name): \(code.explanation)"
        case .storageFull: "the registry's storage is full; reads still work, writes resume when space is freed"
        case let .accountRoleRequired(account, roles):
            "\(account) holds none of the roles this needs (\(roles.map(\.rawValue).joined(separator: ", "))); ask the "
                + "tenant's Global Administrator for one of them"
        }
    }
}

extension RegistryError {
    /// `NotFound(kind: "grant")` for a tenant-side call naming a partner that holds no active grant from the tenant;
    /// the id is `<partner>/<tenant>`, which `message` reads back in words.
    public static func noActiveGrant(partner: String, tenant: String) -> RegistryError {
        .notFound(kind: "grant", id: "\(partner)/\(tenant)")
    }
}
