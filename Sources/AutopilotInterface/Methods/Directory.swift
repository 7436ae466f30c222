import AutopilotDomain
import Varlink

extension RegistryInterface {
    /// The directory's methods: tenants, their domains and accounts, partners.
    static let directoryMethods: [any MethodDeclaration.Type] = [
        Registry.CreateTenant.self, Registry.AddTenantDomain.self, Registry.AddAccount.self, Registry.SetAccountRoles.self,
        Registry.RemoveAccount.self, Registry.GetTenant.self, Registry.ListTenants.self, Registry.RegisterPartner.self,
        Registry.SetOemEligibility.self,
        Registry.GetPartner.self, Registry.ListPartners.self,
    ]
}

extension Registry {
    /// Creates a tenant.
    public enum CreateTenant: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "CreateTenant", "Creates a tenant with its initial <label>.onmicrosoft.com domain. Operator only.",
            policy: .operatorOnly, kind: .change,
            errors: [.permissionDenied, .alreadyExists, .invalidInput])
        /// The tenant.
        public typealias Reply = TenantReply

        /// `(name: string, domain: string, id: ?string)`.
        public struct Parameters: WireRecord {
            /// Display name.
            public var name = ""
            /// The initial domain, `<label>.onmicrosoft.com`.
            public var domain = ""
            /// The tenant's id; a new UUID when omitted.
            public var id: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(name: String, domain: String, id: String? = nil) { self.name = name; self.domain = domain; self.id = id }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("name", \.name, ""), .init("domain", \.domain, ""), .init("id", \.id, ""),
            ]
        }
    }

    /// Adds a custom domain to a tenant.
    public enum AddTenantDomain: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "AddTenantDomain", "Adds a custom domain (a DNS name not under onmicrosoft.com, unique across tenants). Operator only.",
            policy: .operatorOnly, kind: .change,
            errors: [.permissionDenied, .notFound, .alreadyExists, .invalidInput])
        /// The tenant.
        public typealias Reply = TenantReply

        /// `(tenant: string, domain: string)`.
        public struct Parameters: WireRecord {
            /// The tenant's id.
            public var tenant = ""
            /// The custom domain.
            public var domain = ""
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(tenant: String, domain: String) { self.tenant = tenant; self.domain = domain }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("tenant", \.tenant, ""), .init("domain", \.domain, "")]
        }
    }

    /// Adds an account to a tenant.
    public enum AddAccount: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "AddAccount", "Adds an account; its UPN's domain must be one of the tenant's domains. Operator only.",
            policy: .operatorOnly, kind: .change,
            errors: [.permissionDenied, .notFound, .alreadyExists, .invalidInput])
        /// The account.
        public typealias Reply = AccountReply

        /// `(tenant: string, upn: string, roles: []string)`.
        public struct Parameters: WireRecord {
            /// The tenant's id.
            public var tenant = ""
            /// The account's UPN.
            public var upn = ""
            /// Its directory roles, by name (an unknown name is `InvalidInput(roles)`).
            public var roles: [String] = []
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(tenant: String, upn: String, roles: [String]) { self.tenant = tenant; self.upn = upn; self.roles = roles }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("tenant", \.tenant, ""), .init("upn", \.upn, ""), .init("roles", \.roles, ""),
            ]
        }
    }

    /// Replaces an account's directory roles.
    public enum SetAccountRoles: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "SetAccountRoles", "Replaces an account's directory roles. Operator only.",
            policy: .operatorOnly, kind: .change,
            errors: [.permissionDenied, .notFound, .invalidInput])
        /// The account.
        public typealias Reply = AccountReply

        /// `(upn: string, roles: []string)`.
        public struct Parameters: WireRecord {
            /// The account's UPN.
            public var upn = ""
            /// Its new directory roles.
            public var roles: [String] = []
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(upn: String, roles: [String]) { self.upn = upn; self.roles = roles }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("upn", \.upn, ""), .init("roles", \.roles, "")]
        }
    }

    /// Removes the account of someone who left.
    public enum RemoveAccount: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "RemoveAccount",
            "Removes an account (someone left the organisation), and the access rules bound to it, in one transaction. "
                + "Grants, revocation requests and audit events keep the UPN they recorded; the account no longer "
                + "exists for any call. Operator only.",
            policy: .operatorOnly, kind: .change, errors: [.permissionDenied, .notFound])
        /// Nothing.
        public typealias Reply = Empty

        /// `(upn: string)`.
        public struct Parameters: WireRecord {
            /// The account's UPN.
            public var upn = ""
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(upn: String) { self.upn = upn }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("upn", \.upn, "")]
        }
    }

    /// One tenant.
    public enum GetTenant: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "GetTenant", "Returns a tenant. Partners see their customers; tenants themselves.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .read,
            errors: [.permissionDenied, .notFound])
        /// The tenant.
        public typealias Reply = TenantReply

        /// `(tenant: string)`.
        public struct Parameters: WireRecord {
            /// The tenant's id.
            public var tenant = ""
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(tenant: String) { self.tenant = tenant }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("tenant", \.tenant, "")]
        }
    }

    /// The tenants the caller may see.
    public enum ListTenants: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListTenants", "Lists the tenants the caller may see.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .read)
        /// No parameters.
        public typealias Parameters = Empty

        /// `(tenants: []Tenant)`.
        public struct Reply: WireRecord {
            /// The tenants, oldest first.
            public var tenants: [Tenant] = []
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `tenants`.
            public init(_ tenants: [Tenant]) { self.tenants = tenants }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("tenants", \.tenants, "")]
        }
    }

    /// Registers a partner.
    public enum RegisterPartner: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "RegisterPartner", "Registers a partner. An indirect reseller names its indirect provider; only OEMs may be "
            + "Direct API eligible. Operator only.",
            policy: .operatorOnly, kind: .change,
            errors: [.permissionDenied, .notFound, .alreadyExists, .invalidInput])
        /// The partner.
        public typealias Reply = PartnerReply

        /// `(name: string, kind: (…), provider: ?string, oemDirectApi: ?bool, id: ?string)`.
        public struct Parameters: WireRecord {
            /// Display name, unique regardless of case.
            public var name = ""
            /// The partner's kind.
            public var kind = PartnerKind.directCsp
            /// An indirect reseller's indirect provider.
            public var provider: String?
            /// Whether an OEM is eligible for the OEM Direct API (default no).
            public var oemDirectApi: Bool?
            /// The partner's id; a new UUID when omitted.
            public var id: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(name: String, kind: PartnerKind, provider: String? = nil, oemDirectApi: Bool? = nil, id: String? = nil) {
                self.name = name; self.kind = kind; self.provider = provider; self.oemDirectApi = oemDirectApi; self.id = id
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("name", \.name, ""), .init("kind", \.kind, ""), .init("provider", \.provider, ""),
                .init("oemDirectApi", \.oemDirectApi, ""), .init("id", \.id, ""),
            ]
        }
    }

    /// Marks an OEM eligible for the OEM Direct API, or not.
    public enum SetOemEligibility: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "SetOemEligibility", "Marks an OEM eligible (or not) for the OEM Direct API. Operator only.",
            policy: .operatorOnly, kind: .change,
            errors: [.permissionDenied, .notFound, .invalidInput])
        /// The partner.
        public typealias Reply = PartnerReply

        /// `(partner: string, eligible: bool)`.
        public struct Parameters: WireRecord {
            /// The OEM's id.
            public var partner = ""
            /// Whether it is eligible.
            public var eligible = false
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(partner: String, eligible: Bool) { self.partner = partner; self.eligible = eligible }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("partner", \.partner, ""), .init("eligible", \.eligible, "")]
        }
    }

    /// One partner.
    public enum GetPartner: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "GetPartner", "Returns a partner. Partners see themselves; tenants see partners they consented to.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .read,
            errors: [.permissionDenied, .notFound])
        /// The partner.
        public typealias Reply = PartnerReply

        /// `(partner: string)`.
        public struct Parameters: WireRecord {
            /// The partner's id.
            public var partner = ""
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(partner: String) { self.partner = partner }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("partner", \.partner, "")]
        }
    }

    /// The partners the caller may see.
    public enum ListPartners: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListPartners", "Lists the partners the caller may see.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .read)
        /// No parameters.
        public typealias Parameters = Empty

        /// `(partners: []Partner)`.
        public struct Reply: WireRecord {
            /// The partners, oldest first.
            public var partners: [Partner] = []
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `partners`.
            public init(_ partners: [Partner]) { self.partners = partners }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("partners", \.partners, "")]
        }
    }
}
