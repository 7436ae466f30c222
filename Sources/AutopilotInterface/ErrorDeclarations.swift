import AutopilotDomain
import Varlink

/// The errors of `io.autopilotd.registry`, by name, each with its comment and parameters in the description.
/// `RegistryErrors` maps `RegistryError` to them (a test proves every case's parameters are the declared ones).
public enum RegistryErrorName: String, Sendable, CaseIterable {
    case permissionDenied = "PermissionDenied"
    case notFound = "NotFound"
    case alreadyExists = "AlreadyExists"
    case invalidInput = "InvalidInput"
    case globalAdminRequired = "GlobalAdminRequired"
    case cloudNativeAccountRequired = "CloudNativeAccountRequired"
    case linkExpired = "LinkExpired"
    case linkRevoked = "LinkRevoked"
    case notAllowedForPartnerKind = "NotAllowedForPartnerKind"
    case oemNotEligible = "OemNotEligible"
    case consentRequired = "ConsentRequired"
    case channelNotAllowed = "ChannelNotAllowed"
    case oemRemovalRequiresRequest = "OemRemovalRequiresRequest"
    case alreadyDecided = "AlreadyDecided"
    case batchTooLarge = "BatchTooLarge"
    case deviceError = "DeviceError"
    case storageFull = "StorageFull"
    case accountRoleRequired = "AccountRoleRequired"
    case internalError = "InternalError"

    /// The error's comment in the description.
    public var doc: String {
        switch self {
        case .permissionDenied: "The caller's role may not make this call, or not for that partner or tenant."
        case .notFound: "No such tenant, account, partner, link, grant, batch, device, request or access rule."
        case .alreadyExists: "A unique id, domain, UPN or name is taken."
        case .invalidInput: "A value breaks a rule; field names the parameter."
        case .globalAdminRequired: "The account lacks Global Administrator (the \"you need permission\" page)."
        case .cloudNativeAccountRequired: "OEM consent needs a cloud-native (onmicrosoft.com) account."
        case .linkExpired: "The link expired."
        case .linkRevoked: "The link was revoked."
        case .notAllowedForPartnerKind: "This kind of partner may not do this."
        case .oemNotEligible: "The OEM is not eligible for the OEM Direct API."
        case .consentRequired: "No active grant for this partner and tenant."
        case .channelNotAllowed:
            "This kind of partner may not use this channel, or the batch takes devices only through its own "
                + "(api: AddDevices; upload: UploadDeviceCsv)."
        case .oemRemovalRequiresRequest: "A tenant cannot end an OEM's consent itself; it files a revocation request."
        case .alreadyDecided: "The revocation request was already approved or rejected."
        case .batchTooLarge: "More than `limit` devices in one AddDevices or UploadDeviceCsv call."
        case .deviceError: "A single-device call failed with a per-device error (code is null for ZtdDeviceDuplicated)."
        case .storageFull: "The database cannot grow (disk full); reads keep working."
        case .accountRoleRequired:
            "The tenant account holds none of `roles`, one of which the call needs (managing the tenant's devices: "
                + "GlobalAdministrator, IntuneAdministrator or CloudDeviceAdministrator)."
        case .internalError: "An unexpected failure inside the daemon; details are in the daemon's log."
        }
    }

    /// The error's parameters in the description.
    public var members: [(name: String, type: IDLType, doc: String)] {
        func strings(_ names: String...) -> [(name: String, type: IDLType, doc: String)] { names.map { ($0, .string, "") } }
        switch self {
        case .permissionDenied: return strings("method", "role")
        case .notFound, .alreadyExists: return strings("kind", "id")
        case .invalidInput: return strings("field", "reason")
        case .globalAdminRequired, .cloudNativeAccountRequired: return strings("account")
        case .linkExpired, .linkRevoked: return strings("link")
        case .notAllowedForPartnerKind: return strings("kind", "action")
        case .oemNotEligible, .oemRemovalRequiresRequest: return strings("partner")
        case .consentRequired: return strings("partner", "tenant")
        case .channelNotAllowed: return strings("kind", "channel")
        case .alreadyDecided: return strings("request")
        case .batchTooLarge: return [("limit", .int, "")]
        case .deviceError: return [("code", .optional(.int), ""), ("name", .string, "")]
        case .storageFull, .internalError: return []
        case .accountRoleRequired: return [("account", .string, ""), ("roles", .array(.string), "")]
        }
    }

    /// The fully qualified name, `io.autopilotd.registry.<Name>`.
    public var qualifiedName: String { RegistryInterface.name + "." + rawValue }
}
