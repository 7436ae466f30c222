/// The consent rules of domain.md ("CSP authorisation flow", "OEM authorisation flow"), as pure functions.
public enum ConsentRules {
    /// Default lifetime of a reseller-relationship link: 90 days.
    public static let defaultResellerLinkLifetimeSeconds: Int64 = 90 * 86_400

    /// Checks a reseller-relationship request and returns the normalised admin roles.
    /// - Throws: `notAllowedForPartnerKind` for indirect providers and OEMs; `invalidInput(roles)` for roles without
    ///   DAP, unknown roles, or DAP without roles.
    public static func checkResellerRequest(partner: Partner, delegatedAdmin: Bool, roles: [String],
                                            dapDays: Int? = nil) throws(RegistryError) -> [AccountRole] {
        guard partner.kind.mayRequestResellerRelationship else {
            throw .notAllowedForPartnerKind(kind: partner.kind, action: "request a reseller relationship")
        }
        try checkDapDays(dapDays, delegatedAdmin: delegatedAdmin)
        let parsed = try Validate.roles(roles)
        if !delegatedAdmin && !parsed.isEmpty {
            throw .invalidInput(field: "roles", reason: "admin roles can only be requested together with delegatedAdmin")
        }
        if delegatedAdmin && parsed.isEmpty {
            throw .invalidInput(field: "roles", reason: "a delegated admin request must name at least one admin role")
        }
        return parsed
    }

    /// The longest DAP a link may ask for, in days: two years, as GDAP relationships allow.
    public static let maximumDapDays = 730

    /// Checks a link's `dapDays`: 1 to 730, and only with delegated admin.
    /// - Throws: `invalidInput(dapDays)`.
    public static func checkDapDays(_ days: Int?, delegatedAdmin: Bool) throws(RegistryError) {
        guard let days else { return }
        guard delegatedAdmin else {
            throw .invalidInput(field: "dapDays", reason: "a DAP duration can only be given together with delegatedAdmin")
        }
        guard (1...maximumDapDays).contains(days) else {
            throw .invalidInput(field: "dapDays", reason: "expected 1 to \(maximumDapDays) days, got \(days)")
        }
    }

    /// When DAP accepted at `acceptedAt` from a link asking for `days` ends; nil (never) without a duration.
    public static func dapExpiry(acceptedAt: Timestamp, days: Int?) -> Timestamp? {
        days.map { acceptedAt.adding(seconds: Int64($0) * 86_400) }
    }

    /// Whether DAP stored as given is in force at `now`: it was given and not removed, and its end, if any, is later.
    /// Every read decides it this way, so DAP ends at its instant with nothing running to end it.
    public static func dapInForce(given: Bool, expiresAt: Timestamp?, now: Timestamp) -> Bool {
        given && (expiresAt.map { now < $0 } ?? true)
    }

    /// What accepting a link does to the partner's active grant when it asks for more than the grant gives: DAP the
    /// grant does not have in force, admin roles it lacks, or DAP that lasts longer (no end, or a later one). Nil when
    /// it asks for nothing more: the grant is returned unchanged.
    ///
    /// A link already accepted into the grant (the one it came from, or one that extended it) gives nothing more:
    /// accepting it again returns the grant as it is (interface.md: "accepting while a grant from it is active returns
    /// that grant and creates nothing"). Otherwise each acceptance of a link with `dapDays` would move DAP's end
    /// later, and a time-limited DAP would never end; lasting longer takes a new request from the partner.
    public static func extensionOnAcceptance(grant: Grant, plan: GrantPlan, dapDays: Int?, now: Timestamp,
                                             linkAcceptedBefore: Bool) -> GrantExtension? {
        guard plan.delegatedAdmin, !linkAcceptedBefore else { return nil }
        let asked = dapExpiry(acceptedAt: now, days: dapDays)
        guard grant.delegatedAdmin else {
            return GrantExtension(roles: plan.roles, dapExpiresAt: asked, newDapPeriod: true)
        }
        let lacking = plan.roles.filter { !grant.roles.contains($0) }
        let longer: Bool
        switch (grant.dapExpiresAt, asked) {
        case (nil, _): longer = false
        case (.some, nil): longer = true
        case let (.some(current), .some(asked)): longer = asked > current
        }
        guard !lacking.isEmpty || longer else { return nil }
        return GrantExtension(roles: (grant.roles + lacking).sorted(), dapExpiresAt: longer ? asked : grant.dapExpiresAt,
                              newDapPeriod: false)
    }

    /// Checks that an OEM may receive a consent link.
    public static func checkOemLink(partner: Partner) throws(RegistryError) {
        guard partner.kind == .oem else {
            throw .notAllowedForPartnerKind(kind: partner.kind, action: "receive an OEM consent link")
        }
        guard partner.oemDirectApi else { throw .oemNotEligible(partner: partner.id) }
    }

    /// The status of a link at `now`: revoked wins, then expiry.
    public static func status(revokedAt: Timestamp?, expiresAt: Timestamp?, now: Timestamp) -> LinkStatus {
        if revokedAt != nil { return .revoked }
        if let expiresAt, now >= expiresAt { return .expired }
        return .active
    }

    /// Checks an acceptance in the documented order: the acting account (Global Administrator, then cloud-native for
    /// OEM links), then the link's state, then, for an OEM link, that the OEM is still eligible for the Direct API
    /// (an OEM that lost eligibility keeps its link on record, but no new customer can consent through it).
    public static func checkAcceptance(link: Link, partner: Partner, account: Account) throws(RegistryError) {
        guard account.isGlobalAdministrator else { throw .globalAdminRequired(account: account.upn) }
        if link.kind == .oemConsent && !account.cloudNative {
            throw .cloudNativeAccountRequired(account: account.upn)
        }
        switch link.status {
        case .revoked: throw .linkRevoked(link: link.id)
        case .expired: throw .linkExpired(link: link.id)
        case .active: break
        }
        if link.kind == .oemConsent && !partner.oemDirectApi { throw .oemNotEligible(partner: partner.id) }
    }

    /// Checks that a tenant-side call is made by a Global Administrator.
    public static func checkTenantAdmin(_ account: Account) throws(RegistryError) {
        guard account.isGlobalAdministrator else { throw .globalAdminRequired(account: account.upn) }
    }

    /// The grant basis a partner of this kind receives when its own link is accepted.
    public static func basis(for kind: PartnerKind) -> GrantBasis {
        kind == .oem ? .oem : .direct
    }

    /// The email a partner sends with a reseller-relationship link. `provider` is an indirect reseller's indirect
    /// provider, which accepting also authorises (and which receives the same delegated admin privileges).
    public static func invitationEmail(partner: Partner, provider: Partner? = nil, url: String, delegatedAdmin: Bool,
                                       roles: [AccountRole], dapDays: Int? = nil) -> String {
        var lines = [
            "Subject: \(partner.name) requests a reseller relationship",
            "",
            "Hello,",
            "",
            "\(partner.name) would like to become your Cloud Solution Provider so that it can register your Windows Autopilot devices.",
            "A Global Administrator of your organisation can review and accept the request here:",
            "",
            "    \(url)",
            "",
        ]
        if let provider {
            lines += [
                "\(partner.name) is an indirect reseller: accepting also authorises its indirect provider, \(provider.name), to register your devices.",
                "",
            ]
        }
        if delegatedAdmin {
            lines += [
                "This request also asks for delegated administrator privileges (DAP)"
                    + (provider.map { ", for \(partner.name) and \($0.name)," } ?? "") + " with these admin roles:",
                "",
            ] + roles.map { "    - \($0.rawValue)" } + [
                "",
                dapDays.map { "These privileges end by themselves \($0) day\($0 == 1 ? "" : "s") after you accept; the relationship itself stays." }
                    ?? "These privileges last until you remove them.",
                "",
                "We recommend granting only what is needed: if you prefer, ask us for the request without delegated administration; device registration works without it, and you can remove DAP at any time.",
            ]
        } else {
            lines.append("This request does not ask for delegated administrator privileges (DAP), following the least-privilege practice we recommend.")
        }
        lines += ["", "Accepting takes effect immediately.", "", "\(partner.name)"]
        return lines.joined(separator: "\n")
    }

    /// Extracts the token from a whole consent URL (`…/consent/<token>`) or a bare token.
    /// - Throws: `invalidInput(link)` when no base64url token is found.
    public static func token(fromLink value: String) throws(RegistryError) -> String {
        var candidate = Substring(Validate.trim(value))
        while candidate.hasSuffix("/") { candidate = candidate.dropLast() }
        if candidate.contains("/") {
            let parts = candidate.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[parts.count - 2] == "consent" else {
                throw .invalidInput(field: "link", reason: "expected a consent link URL (…/consent/<token>) or its token")
            }
            candidate = parts[parts.count - 1]
        }
        guard candidate.utf8.count >= 22, candidate.utf8.count <= 128,
              candidate.utf8.allSatisfy({ Base64.urlAlphabet.contains($0) })
        else {
            throw .invalidInput(field: "link", reason: "expected a consent link URL or its token")
        }
        return String(candidate)
    }
}

/// Why a grant stopped being active (`grants.end_reason`).
public enum GrantEndReason: String, Sendable, CaseIterable {
    /// The tenant ended the relationship.
    case endedByTenant
    /// The partner ended its relationship with the tenant.
    case endedByPartner
    /// The reseller grant this provider grant came through ended or was revoked.
    case endedWithReseller
    /// The operator approved a revocation request.
    case revokedByRequest
}

/// How a `link` parameter names a link: by its id (not a secret) or by its token (the secret in the URL).
public enum LinkReference: Sendable, Hashable {
    case id(String)
    case token(String)
}

/// A grant that accepting a link creates, before it has an id.
public struct GrantPlan: Sendable, Hashable {
    /// The partner the grant authorises: the link's, or an indirect reseller's provider.
    public var partner: String
    /// Direct, via the reseller, or OEM.
    public var basis: GrantBasis
    /// Whether the grant gives DAP (never to an OEM).
    public var delegatedAdmin: Bool
    /// The admin roles DAP gives; empty without DAP.
    public var roles: [AccountRole]
    /// A planned grant.
    public init(partner: String, basis: GrantBasis, delegatedAdmin: Bool, roles: [AccountRole]) {
        self.partner = partner; self.basis = basis; self.delegatedAdmin = delegatedAdmin; self.roles = roles
    }
}

/// How accepting a richer link changes an active grant: DAP in force with these roles until `dapExpiresAt`.
public struct GrantExtension: Sendable, Hashable {
    /// Every admin role DAP gives after the extension.
    public var roles: [AccountRole]
    /// When DAP ends; nil: until the tenant removes it.
    public var dapExpiresAt: Timestamp?
    /// Whether DAP was not in force before (never given, removed or expired): its roles then start afresh, and the
    /// roles of an earlier DAP do not come back.
    public var newDapPeriod: Bool
    /// An extension as `ConsentRules.extensionOnAcceptance` decides it.
    public init(roles: [AccountRole], dapExpiresAt: Timestamp?, newDapPeriod: Bool) {
        self.roles = roles; self.dapExpiresAt = dapExpiresAt; self.newDapPeriod = newDapPeriod
    }
}

/// What `RequestResellerRelationship` hands back: the new link (with its URL) and the email to send with it.
public struct ResellerInvitation: Sendable, Hashable {
    /// The new link, with its URL (shown only in this answer).
    public var link: Link
    /// The email text the partner sends the customer with the link.
    public var email: String
    /// A new link and its email.
    public init(link: Link, email: String) { self.link = link; self.email = email }
}

/// What the consent page shows: the link (without its URL), the partner asking and, for an indirect reseller, the
/// indirect provider that accepting also authorises.
public struct ConsentPage: Sendable, Hashable {
    /// The link, without its URL.
    public var link: Link
    /// The partner asking.
    public var partner: Partner
    /// For an indirect reseller, its indirect provider, which accepting also authorises; nil otherwise.
    public var provider: Partner?
    /// What the page for `link` shows.
    public init(link: Link, partner: Partner, provider: Partner? = nil) {
        self.link = link; self.partner = partner; self.provider = provider
    }
}

extension ConsentRules {
    /// Random bytes in a link token: 256 bits, well above the 128 the interface requires.
    public static let tokenByteCount = 32

    /// A new link token: `tokenByteCount` bytes from `randomBytes`, base64url without padding, drawn again while it
    /// would start with `-`. A bare token given on a command line (`autopilotctl consent accept <token>`) is otherwise
    /// read as an option, one token in 64; skipping them costs log2(64/63), about 0.02, of the 256 bits.
    public static func newLinkToken(randomBytes: () -> [UInt8]) -> String {
        while true {
            let token = Base64.encodeURL(randomBytes())
            if token.utf8.first != UInt8(ascii: "-") { return token }
        }
    }

    /// The consent URL for a token: `<base>/consent/<token>`, whatever trailing slashes `base` has.
    public static func linkURL(base: String, token: String) -> String {
        var base = Substring(base)
        while base.hasSuffix("/") { base = base.dropLast() }
        return "\(base)/consent/\(token)"
    }

    /// When a reseller-relationship link created at `now` stops being accepted.
    public static func resellerLinkExpiry(now: Timestamp, lifetimeSeconds: Int64) -> Timestamp {
        now.adding(seconds: lifetimeSeconds)
    }

    /// Whether `value` has the shape of a link id (a lowercase UUID). Tokens are longer, so the two never collide.
    public static func isLinkID(_ value: String) -> Bool {
        let b = Array(value.utf8)
        guard b.count == 36 else { return false }
        for (i, c) in b.enumerated() {
            if i == 8 || i == 13 || i == 18 || i == 23 {
                guard c == 45 else { return false }
            } else {
                guard (c >= 48 && c <= 57) || (c >= 97 && c <= 102) else { return false }
            }
        }
        return true
    }

    /// Reads a `link` parameter: a whole consent URL or a bare token, or, where `allowID` (RevokeLink,
    /// DescribeLink), a link id. Accepting a link needs the URL or token: the id is not a secret.
    /// - Throws: `invalidInput(link)` for anything else, and for a link id when `allowID` is false.
    public static func reference(fromLink value: String, allowID: Bool) throws(RegistryError) -> LinkReference {
        let trimmed = Validate.trim(value)
        if isLinkID(trimmed) {
            guard allowID else {
                throw .invalidInput(field: "link", reason: "a link id cannot be used to accept consent; open the consent URL the partner sent, or give its token")
            }
            return .id(trimmed)
        }
        return .token(try token(fromLink: trimmed))
    }

    /// The id shown for a link named by an unknown token: `sha256:` and the first 8 hex digits of the token's
    /// SHA-256, so errors and audit events never repeat the secret.
    public static func tokenReference(digest: String) -> String {
        "sha256:" + digest.prefix(8)
    }

    /// The grants accepting `link` creates: the partner's own (`direct`, or `oem` without DAP), then, for an indirect
    /// reseller, its provider's implicit grant (`viaReseller`, pointing at the first), with the same DAP request.
    public static func grantsOnAcceptance(link: Link, partner: Partner) -> [GrantPlan] {
        let basis = basis(for: partner.kind)
        let dap = basis != .oem && link.delegatedAdmin
        let roles = dap ? link.roles : []
        var plans = [GrantPlan(partner: partner.id, basis: basis, delegatedAdmin: dap, roles: roles)]
        if partner.kind == .indirectReseller, let provider = partner.provider {
            plans.append(GrantPlan(partner: provider, basis: .viaReseller, delegatedAdmin: dap, roles: roles))
        }
        return plans
    }

    /// Checks that a tenant may end a partner's consent itself.
    /// - Throws: `oemRemovalRequiresRequest` for an OEM: only the operator, on request, removes an OEM.
    public static func checkEnd(partner: Partner) throws(RegistryError) {
        if partner.kind == .oem { throw .oemRemovalRequiresRequest(partner: partner.id) }
    }

    /// A revocation request's reason: trimmed, 1 to 2,000 characters, no control characters.
    /// - Throws: `invalidInput(reason)`.
    public static func revocationReason(_ value: String) throws(RegistryError) -> String {
        try Validate.text(value, field: "reason")
    }

    /// An operator's decision note: absent or blank means none; otherwise at most 2,000 characters.
    /// - Throws: `invalidInput(note)`.
    public static func decisionNote(_ value: String?) throws(RegistryError) -> String? {
        guard let value, !Validate.trim(value).isEmpty else { return nil }
        return try Validate.text(value, field: "note")
    }

    /// Checks that a revocation request can still be decided or withdrawn.
    /// - Throws: `alreadyDecided` when it was approved, rejected or withdrawn before.
    public static func checkDecision(_ request: RevocationRequest) throws(RegistryError) {
        guard request.status == .open else { throw .alreadyDecided(request: request.id) }
    }

    /// How a deciding operator is named in `decidedBy`: its Unix identity, `uid=0`.
    public static func decider(_ caller: Caller) -> String {
        "uid=\(caller.uid)"
    }
}
