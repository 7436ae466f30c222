import Varlink

/// The contract of interface.md, written out again for the abuse and permission tests so that they check the daemon
/// against the document, not against the daemon's own tables (RegistryMethod, MethodPolicy): a mistake there is
/// caught here.
enum InterfaceTable {
    /// A parameter type of the interface.
    indirect enum ParameterType: Sendable {
        case string, bool, int
        case enumeration([String])
        case stringArray
        case deviceInputArray
    }

    struct Parameter: Sendable {
        var name: String
        var type: ParameterType
        var optional: Bool
    }

    struct Method: Sendable {
        var name: String
        var parameters: [Parameter]
        /// Answered as a stream; a call without `more` gets ExpectedMore.
        var streams: Bool = false
        /// A stream that never ends by itself (WatchConsent): its first reply, with no record, confirms it.
        var openEnded: Bool = false
        var qualified: String { "io.autopilotd.registry." + name }
    }

    private static func p(_ name: String, _ type: ParameterType) -> Parameter { Parameter(name: name, type: type, optional: false) }
    private static func o(_ name: String, _ type: ParameterType) -> Parameter { Parameter(name: name, type: type, optional: true) }

    /// Every method of the "Methods" table, with its parameters.
    static let methods: [Method] = [
        Method(name: "CreateTenant", parameters: [p("name", .string), p("domain", .string), o("id", .string)]),
        Method(name: "AddTenantDomain", parameters: [p("tenant", .string), p("domain", .string)]),
        Method(name: "AddAccount", parameters: [p("tenant", .string), p("upn", .string), p("roles", .stringArray)]),
        Method(name: "SetAccountRoles", parameters: [p("upn", .string), p("roles", .stringArray)]),
        Method(name: "RemoveAccount", parameters: [p("upn", .string)]),
        Method(name: "GetTenant", parameters: [p("tenant", .string)]),
        Method(name: "ListTenants", parameters: []),
        Method(name: "RegisterPartner", parameters: [
            p("name", .string), p("kind", .enumeration(["directCsp", "indirectProvider", "indirectReseller", "oem"])),
            o("provider", .string), o("oemDirectApi", .bool), o("id", .string),
        ]),
        Method(name: "SetOemEligibility", parameters: [p("partner", .string), p("eligible", .bool)]),
        Method(name: "GetPartner", parameters: [p("partner", .string)]),
        Method(name: "ListPartners", parameters: []),
        Method(name: "RequestResellerRelationship", parameters: [
            p("partner", .string), p("delegatedAdmin", .bool), o("roles", .stringArray), o("dapDays", .int),
        ]),
        Method(name: "IssueOemLink", parameters: [p("partner", .string)]),
        Method(name: "RevokeLink", parameters: [p("link", .string)]),
        Method(name: "DescribeLink", parameters: [p("link", .string)]),
        // `account` may be omitted by a tenant caller bound to an account; the operator these tables call as must name
        // it (omitting it is InvalidParameter), so for it the parameter is required.
        Method(name: "AcceptLink", parameters: [p("link", .string), p("account", .string)]),
        Method(name: "ListCustomers", parameters: [p("partner", .string)]),
        Method(name: "ListGrants", parameters: [
            o("tenant", .string), o("partner", .string), o("status", .enumeration(["active", "ended", "revoked"])),
        ]),
        Method(name: "ValidateSubmission", parameters: [p("partner", .string), p("tenant", .string), o("devices", .deviceInputArray)]),
        Method(name: "RemoveDelegatedAdmin", parameters: [p("partner", .string), p("account", .string)]),
        // Without account, EndRelationship is the partner's side and names the tenant (InvalidInput(tenant) without).
        Method(name: "EndRelationship", parameters: [p("partner", .string), o("account", .string), o("tenant", .string)]),
        Method(name: "FileRevocationRequest", parameters: [p("partner", .string), p("account", .string), p("reason", .string)]),
        Method(name: "ListRevocationRequests", parameters: [
            o("status", .enumeration(["open", "approved", "rejected", "withdrawn"])),
        ]),
        Method(name: "DecideRevocationRequest", parameters: [p("request", .string), p("approve", .bool), o("note", .string)]),
        Method(name: "WithdrawRevocationRequest", parameters: [p("request", .string), p("account", .string)]),
        Method(name: "WatchConsent", parameters: [o("partner", .string), o("tenant", .string), o("after", .int)],
               streams: true, openEnded: true),
        Method(name: "CreateDeviceBatch", parameters: [
            p("partner", .string), p("tenant", .string), p("name", .string), p("channel", .enumeration(["api", "upload"])),
        ]),
        Method(name: "AddDevices", parameters: [p("batch", .string), p("devices", .deviceInputArray), o("updateExisting", .bool)]),
        Method(name: "UploadDeviceCsv", parameters: [
            p("batch", .string), p("csv", .string), o("line", .int), o("updateExisting", .bool),
        ]),
        Method(name: "GetBatch", parameters: [p("batch", .string)]),
        Method(name: "ListBatches", parameters: [o("partner", .string), o("tenant", .string)]),
        Method(name: "ListDevices", parameters: [
            o("tenant", .string), o("partner", .string), o("batch", .string), o("serialNumber", .string),
            o("includeDeregistered", .bool),
        ], streams: true),
        // "Lifecycle after day one": partner and account are both optional; the operator these tables call as names
        // one of them (naming neither is InvalidInput(partner)), so neither is required of it alone.
        Method(name: "DeregisterDevice", parameters: [
            o("partner", .string), o("account", .string), o("device", .string), o("serialNumber", .string),
            o("manufacturer", .string), o("model", .string), o("productKey", .string), o("tenant", .string),
        ]),
        Method(name: "UpdateDevice", parameters: [
            p("device", .string), o("account", .string), o("groupTag", .string), o("assignedUser", .string),
            o("displayName", .string), o("purchaseOrder", .string),
        ]),
        Method(name: "AddAccessRule", parameters: [
            o("uid", .int), o("gid", .int), p("role", .enumeration(["operator", "auditor", "partner", "tenant"])),
            o("partner", .string), o("tenant", .string), o("account", .string),
        ]),
        Method(name: "RemoveAccessRule", parameters: [p("rule", .string)]),
        Method(name: "ListAccessRules", parameters: []),
        Method(name: "ListAuditEvents", parameters: [o("after", .int), o("limit", .int)], streams: true),
        Method(name: "VerifyAudit", parameters: [o("head", .string)]),
        Method(name: "GetAuditHead", parameters: []),
        Method(name: "Backup", parameters: [p("path", .string)]),
        Method(name: "GetStatus", parameters: []),
        Method(name: "WhoAmI", parameters: []),
    ]

    /// The fields of a DeviceInput.
    static let deviceInputFields = ["serialNumber", "productKey", "hardwareHash", "manufacturer", "model", "groupTag",
                                    "assignedUser"]

    /// The methods of org.varlink.service, which every caller may use.
    static let serviceMethods = ["org.varlink.service.GetInfo", "org.varlink.service.GetInterfaceDescription"]

    /// Every error a caller may receive: the "Errors" table, plus the org.varlink.service errors it names.
    static let declaredErrors: Set<String> = Set([
        "PermissionDenied", "NotFound", "AlreadyExists", "InvalidInput", "GlobalAdminRequired",
        "CloudNativeAccountRequired", "LinkExpired", "LinkRevoked", "NotAllowedForPartnerKind", "OemNotEligible",
        "ConsentRequired", "ChannelNotAllowed", "OemRemovalRequiresRequest", "AlreadyDecided", "BatchTooLarge",
        "DeviceError", "StorageFull", "AccountRoleRequired",
    ].map { "io.autopilotd.registry." + $0 } + [
        "org.varlink.service.InvalidParameter", "org.varlink.service.MethodNotFound",
        "org.varlink.service.InterfaceNotFound", "org.varlink.service.ExpectedMore",
    ])

    static func method(_ name: String) -> Method { methods.first { $0.name == name }! }

    /// The roles of "Who may call what".
    enum Role: String, Sendable, CaseIterable {
        case `operator`, auditor, partner, tenant, none
    }

    /// How far a role reaches with a method: not at all, only its own partner's or tenant's records, or any.
    enum Reach: Sendable, Equatable { case no, own, any }

    /// The table "Who may call what", one entry per method.
    ///
    /// Readings of its cells: "own" for a partner means its own partner id, its customers' tenants, its links and its
    /// batches and devices; for a tenant its own tenant, its own accounts, the partners holding its consent and the
    /// batches and devices registered to it. "List only" (auditor) allows ListCustomers and ListAccessRules but not
    /// ValidateSubmission or Backup. DescribeLink's "yes" for tenants means any link: it is the consent page.
    static func reach(_ method: String, _ role: Role) -> Reach {
        if role == .operator { return .any }
        let (auditor, partner, tenant): (Bool, Reach, Reach)
        switch method {
        case "CreateTenant", "AddTenantDomain", "AddAccount", "SetAccountRoles", "RemoveAccount", "RegisterPartner",
             "SetOemEligibility",
             "AddAccessRule", "RemoveAccessRule", "IssueOemLink", "DecideRevocationRequest":
            (auditor, partner, tenant) = (false, .no, .no)
        case "GetTenant", "ListTenants", "GetPartner", "ListPartners":
            (auditor, partner, tenant) = (true, .own, .own)
        case "ListAccessRules": (auditor, partner, tenant) = (true, .no, .no)
        case "Backup": (auditor, partner, tenant) = (false, .no, .no)
        case "RequestResellerRelationship", "RevokeLink": (auditor, partner, tenant) = (false, .own, .no)
        case "DescribeLink": (auditor, partner, tenant) = (true, .own, .any)
        case "AcceptLink", "RemoveDelegatedAdmin", "FileRevocationRequest", "WithdrawRevocationRequest":
            (auditor, partner, tenant) = (false, .no, .own)
        case "EndRelationship": (auditor, partner, tenant) = (false, .own, .own)
        case "WatchConsent": (auditor, partner, tenant) = (true, .own, .own)
        case "ListCustomers": (auditor, partner, tenant) = (true, .own, .no)
        case "ValidateSubmission": (auditor, partner, tenant) = (false, .own, .no)
        case "ListGrants", "ListRevocationRequests": (auditor, partner, tenant) = (true, .own, .own)
        case "CreateDeviceBatch", "AddDevices", "UploadDeviceCsv":
            (auditor, partner, tenant) = (false, .own, .no)
        // A partner's own devices, and those of tenants that gave it consent; a tenant's person, as a device
        // administrator account of its own tenant.
        case "DeregisterDevice", "UpdateDevice": (auditor, partner, tenant) = (false, .own, .own)
        case "GetBatch", "ListBatches", "ListDevices": (auditor, partner, tenant) = (true, .own, .own)
        case "ListAuditEvents", "VerifyAudit", "GetAuditHead": (auditor, partner, tenant) = (true, .no, .no)
        case "GetStatus", "WhoAmI", "org.varlink.service.GetInfo", "org.varlink.service.GetInterfaceDescription":
            return .any
        default:
            fatalError("\(method) is not in the table")
        }
        switch role {
        case .auditor: return auditor ? .any : .no
        case .partner: return partner
        case .tenant: return tenant
        case .none, .operator: return .no
        }
    }
}
