import AutopilotDomain
import Varlink

/// The methods of `io.autopilotd.registry`, one declaration each (see `MethodDeclaration`).
public enum Registry {}

// Reply shapes several methods share, and the domain's own results as replies. Each lists its members once.

extension Registry {
    /// `(tenant: Tenant)`.
    public struct TenantReply: WireRecord {
        /// The tenant.
        public var tenant = Tenant()
        /// An empty reply, for decoding to fill.
        public init() {}
        /// The reply for `tenant`.
        public init(_ tenant: Tenant) { self.tenant = tenant }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("tenant", \.tenant, "")]
    }

    /// `(account: Account)`.
    public struct AccountReply: WireRecord {
        /// The account.
        public var account = Account()
        /// An empty reply, for decoding to fill.
        public init() {}
        /// The reply for `account`.
        public init(_ account: Account) { self.account = account }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("account", \.account, "")]
    }

    /// `(partner: Partner)`.
    public struct PartnerReply: WireRecord {
        /// The partner.
        public var partner = Partner()
        /// An empty reply, for decoding to fill.
        public init() {}
        /// The reply for `partner`.
        public init(_ partner: Partner) { self.partner = partner }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("partner", \.partner, "")]
    }

    /// `(link: Link)`.
    public struct LinkReply: WireRecord {
        /// The link.
        public var link = Link()
        /// An empty reply, for decoding to fill.
        public init() {}
        /// The reply for `link`.
        public init(_ link: Link) { self.link = link }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("link", \.link, "")]
    }

    /// `(grants: []Grant)`.
    public struct GrantsReply: WireRecord {
        /// The grants.
        public var grants: [Grant] = []
        /// An empty reply, for decoding to fill.
        public init() {}
        /// The reply for `grants`.
        public init(_ grants: [Grant]) { self.grants = grants }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("grants", \.grants, "")]
    }

    /// `(request: RevocationRequest)`.
    public struct RequestReply: WireRecord {
        /// The revocation request.
        public var request = RevocationRequest()
        /// An empty reply, for decoding to fill.
        public init() {}
        /// The reply for `request`.
        public init(_ request: RevocationRequest) { self.request = request }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("request", \.request, "")]
    }
}

extension ResellerInvitation: WireRecord {
    /// An empty invitation, for decoding to fill.
    public init() { self.init(link: Link(), email: "") }
    /// `(link: Link, email: string)`.
    public static let fields: [WireField<Self>] = [.init("link", \.link, ""), .init("email", \.email, "")]
}

extension ConsentPage: WireRecord {
    /// An empty page, for decoding to fill.
    public init() { self.init(link: Link(), partner: Partner()) }
    /// `(link: Link, partner: Partner, provider: ?Partner)`.
    public static let fields: [WireField<Self>] = [
        .init("link", \.link, ""), .init("partner", \.partner, ""), .init("provider", \.provider, ""),
    ]
}

extension SubmissionCheck: WireRecord {
    /// An empty answer, for decoding to fill.
    public init() { self.init(consented: false, grant: nil, results: []) }
    /// `(consented: bool, grant: ?Grant, results: []DeviceResult)`.
    public static let fields: [WireField<Self>] = [
        .init("consented", \.consented, ""), .init("grant", \.grant, ""), .init("results", \.results, ""),
    ]
}

extension BatchResults: WireRecord {
    /// An empty answer, for decoding to fill.
    public init() { self.init(batch: Batch(), results: []) }
    /// `(batch: Batch, results: []DeviceResult)`.
    public static let fields: [WireField<Self>] = [.init("batch", \.batch, ""), .init("results", \.results, "")]
}

extension AuditVerification: WireRecord {
    /// An empty answer, for decoding to fill.
    public init() { self.init(ok: false, events: 0, firstBroken: nil) }
    /// `(ok: bool, events: int, firstBroken: ?int, headMissing: ?bool)`.
    public static let fields: [WireField<Self>] = [
        .init("ok", \.ok, ""), .init("events", \.events, ""), .init("firstBroken", \.firstBroken, ""),
        .init("headMissing", \.headMissing,
              "With head: true when event SEQ with that hash is no longer in the log (events were cut from its end, or "
                + "the chain was rewritten), and ok is then false; null without head."),
    ]
}

extension BackupResult: WireRecord {
    /// An empty answer, for decoding to fill.
    public init() { self.init(path: "", bytes: 0) }
    /// `(path: string, bytes: int)`.
    public static let fields: [WireField<Self>] = [.init("path", \.path, ""), .init("bytes", \.bytes, "")]
}
