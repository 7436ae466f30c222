/// The role a caller of the registry holds, decided from its peer credentials and the access rules.
public enum CallerRole: String, Sendable, CaseIterable, Codable {
    case `operator`, auditor, partner, tenant, none
}

/// The four kinds of partner that act for customers (see domain.md, "Partner kinds").
public enum PartnerKind: String, Sendable, CaseIterable {
    case directCsp, indirectProvider, indirectReseller, oem

    /// Channels this kind of partner may register devices through.
    public var allowedChannels: Set<Channel> {
        switch self {
        case .directCsp, .indirectProvider: [.api, .upload]
        case .indirectReseller: [.upload]
        case .oem: [.api]
        }
    }

    /// Whether this kind asks customers directly with a reseller-relationship link.
    public var mayRequestResellerRelationship: Bool {
        self == .directCsp || self == .indirectReseller
    }
}

/// How devices reach the registry: the partner API (OEM Direct API / Partner Center API) or a CSV upload.
public enum Channel: String, Sendable, CaseIterable {
    case api, upload
}

/// Directory roles of tenant accounts. The same names are the admin roles a DAP request may ask for.
public enum AccountRole: String, Sendable, CaseIterable, Comparable {
    case globalAdministrator = "GlobalAdministrator"
    case globalReader = "GlobalReader"
    case intuneAdministrator = "IntuneAdministrator"
    case cloudDeviceAdministrator = "CloudDeviceAdministrator"
    case helpdeskAdministrator = "HelpdeskAdministrator"
    case userAdministrator = "UserAdministrator"
    case billingAdministrator = "BillingAdministrator"
    case securityAdministrator = "SecurityAdministrator"

    /// Orders roles as they are declared, Global Administrator first, so that lists of roles read the same everywhere.
    public static func < (lhs: AccountRole, rhs: AccountRole) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The list of valid names, for error messages.
    public static let namesList = allCases.map(\.rawValue).joined(separator: ", ")
}

/// Whether a link asks for a reseller relationship (CSP) or is an OEM's consent link.
public enum LinkKind: String, Sendable, CaseIterable { case resellerRelationship, oemConsent }
/// Whether a link can still be accepted.
public enum LinkStatus: String, Sendable, CaseIterable { case active, revoked, expired }
/// How a partner holds a grant: its own link, an indirect reseller's acceptance, or an OEM link.
public enum GrantBasis: String, Sendable, CaseIterable { case direct, viaReseller, oem }
/// Whether a grant is in force, ended by the tenant, or revoked by the operator.
public enum GrantStatus: String, Sendable, CaseIterable { case active, ended, revoked }
/// Where a revocation request stands.
public enum RevocationStatus: String, Sendable, CaseIterable { case open, approved, rejected, withdrawn }

/// What happened to a grant, as `WatchConsent` reports it (`consent_events.kind`).
public enum ConsentEventKind: String, Sendable, CaseIterable {
    /// A tenant accepted a link and the grant began.
    case granted
    /// A tenant accepted a link asking for more than the active grant gave (DAP, roles, or a longer DAP).
    case extended
    /// The tenant removed the partner's delegated admin privileges.
    case dapRemoved
    /// DAP reached the end the link's `dapDays` gave it.
    case dapExpired
    /// The grant ended: the tenant or the partner ended the relationship, or the reseller grant it came through ended.
    case ended
    /// The operator approved a revocation request.
    case revoked
}
/// Where a batch stands: no devices yet, or its results final.
public enum BatchStatus: String, Sendable, CaseIterable { case processing, finished, finishedWithErrors }
/// Whether a device is registered now.
public enum DeviceStatus: String, Sendable, CaseIterable { case registered, deregistered }
/// The outcome of one submitted device: `updated` when an upload with `updateExisting` changed a device already
/// registered to the same tenant instead of failing it with 806.
public enum DeviceResultStatus: String, Sendable, CaseIterable { case registered, valid, failed, updated }
