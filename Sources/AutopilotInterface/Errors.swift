import AutopilotDomain
import Varlink

/// The one table between domain errors and varlink errors (`io.autopilotd.registry.<Name>`).
public enum RegistryErrors {
    /// The fully qualified varlink name of an error.
    public static func qualifiedName(_ shortName: String) -> String { "\(RegistryInterface.name).\(shortName)" }

    /// The generic error for anything unexpected; details stay in the daemon's log.
    public static let internalError = VarlinkError(name: qualifiedName("InternalError"))

    /// The varlink error for a domain error.
    public static func varlink(_ error: RegistryError) -> VarlinkError {
        let parameters: JSONObject
        switch error {
        case let .permissionDenied(method, role): parameters = ["method": .string(method), "role": .string(role.rawValue)]
        case let .notFound(kind, id), let .alreadyExists(kind, id): parameters = ["kind": .string(kind), "id": .string(id)]
        case let .invalidInput(field, reason): parameters = ["field": .string(field), "reason": .string(reason)]
        case let .globalAdminRequired(account), let .cloudNativeAccountRequired(account):
            parameters = ["account": .string(account)]
        case let .linkExpired(link), let .linkRevoked(link): parameters = ["link": .string(link)]
        case let .notAllowedForPartnerKind(kind, action):
            parameters = ["kind": .string(kind.rawValue), "action": .string(action)]
        case let .oemNotEligible(partner), let .oemRemovalRequiresRequest(partner):
            parameters = ["partner": .string(partner)]
        case let .consentRequired(partner, tenant): parameters = ["partner": .string(partner), "tenant": .string(tenant)]
        case let .channelNotAllowed(kind, channel):
            parameters = ["kind": .string(kind.rawValue), "channel": .string(channel.rawValue)]
        case let .alreadyDecided(request): parameters = ["request": .string(request)]
        case let .batchTooLarge(limit): parameters = ["limit": .int(limit)]
        case let .deviceError(code):
            parameters = ["code": code.code.map(JSONValue.int) ?? .null, "name": .string(code.name)]
        case .storageFull: parameters = [:]
        case let .accountRoleRequired(account, roles):
            parameters = ["account": .string(account), "roles": .array(roles.map { .string($0.rawValue) })]
        }
        return VarlinkError(name: qualifiedName(error.name), parameters: parameters)
    }

    /// The domain error a varlink error stands for, when it is one of this interface's.
    public static func registryError(_ error: VarlinkError) -> RegistryError? {
        let prefix = RegistryInterface.name + "."
        guard error.name.hasPrefix(prefix) else { return nil }
        let p = error.parameters
        func s(_ k: String) -> String { p[k]?.stringValue ?? "" }
        switch String(error.name.dropFirst(prefix.count)) {
        case "PermissionDenied": return .permissionDenied(method: s("method"), role: CallerRole(rawValue: s("role")) ?? .none)
        case "NotFound": return .notFound(kind: s("kind"), id: s("id"))
        case "AlreadyExists": return .alreadyExists(kind: s("kind"), id: s("id"))
        case "InvalidInput": return .invalidInput(field: s("field"), reason: s("reason"))
        case "GlobalAdminRequired": return .globalAdminRequired(account: s("account"))
        case "CloudNativeAccountRequired": return .cloudNativeAccountRequired(account: s("account"))
        case "LinkExpired": return .linkExpired(link: s("link"))
        case "LinkRevoked": return .linkRevoked(link: s("link"))
        case "NotAllowedForPartnerKind":
            return PartnerKind(rawValue: s("kind")).map { .notAllowedForPartnerKind(kind: $0, action: s("action")) }
        case "OemNotEligible": return .oemNotEligible(partner: s("partner"))
        case "ConsentRequired": return .consentRequired(partner: s("partner"), tenant: s("tenant"))
        case "ChannelNotAllowed":
            guard let k = PartnerKind(rawValue: s("kind")), let c = Channel(rawValue: s("channel")) else { return nil }
            return .channelNotAllowed(kind: k, channel: c)
        case "OemRemovalRequiresRequest": return .oemRemovalRequiresRequest(partner: s("partner"))
        case "AlreadyDecided": return .alreadyDecided(request: s("request"))
        case "BatchTooLarge": return .batchTooLarge(limit: p["limit"]?.intValue ?? 0)
        case "DeviceError":
            return DeviceErrorCode(rawValue: s("name")).map { .deviceError($0) }
        case "StorageFull": return .storageFull
        case "AccountRoleRequired":
            let roles = p["roles"]?.arrayValue?.compactMap { $0.stringValue.flatMap(AccountRole.init(rawValue:)) } ?? []
            return .accountRoleRequired(account: s("account"), roles: roles)
        default: return nil
        }
    }

    /// A plain-language explanation of any error a client may receive.
    public static func explanation(_ error: VarlinkError) -> String {
        if let registry = registryError(error) { return registry.message }
        let p = error.parameters
        switch error.name {
        case "org.varlink.service.InvalidParameter":
            return "parameter '\(p["parameter"]?.stringValue ?? "?")' is missing or has the wrong type"
        case "org.varlink.service.MethodNotFound":
            return "the daemon does not know method \(p["method"]?.stringValue ?? "?") (is it an older version?)"
        case "org.varlink.service.ExpectedMore": return "this method streams its replies and must be called with more"
        case qualifiedName("InternalError"): return "the daemon hit an unexpected error; its log has the details"
        default: return "the daemon answered \(error.name)"
        }
    }
}
