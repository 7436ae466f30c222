import AutopilotDomain
import Varlink

// The types `io.autopilotd.registry` declares by name: the domain's records, with their wire members and comments.
// Each record's members are listed once; encoding, decoding and the interface description follow the list.

extension Tenant: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "Tenant"
    /// Its comment in the description.
    public static let doc = "A customer organisation (an Entra tenant)."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<Tenant>] = [
        .init("id", \.id, "Tenant id."),
        .init("name", \.name, "Display name."),
        .init("domain", \.domain, "Initial, cloud-native domain: <label>.onmicrosoft.com."),
        .init("domains", \.domains, "Every domain of the tenant, the initial one first."),
        .init("createdAt", \.createdAt, "When the tenant was created."),
    ]
}

extension Account: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "Account"
    /// Its comment in the description.
    public static let doc = "A user of a tenant."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<Account>] = [
        .init("tenant", \.tenant, "Tenant id."),
        .init("upn", \.upn, "User principal name, lowercased."),
        .init("roles", \.roles, "Directory roles: " + AccountRole.namesList + ".", type: .array(.string)),
        .init("cloudNative", \.cloudNative, "Whether the UPN is in the tenant's onmicrosoft.com domain."),
    ]
}

extension Partner: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "Partner"
    /// Its comment in the description.
    public static let doc = "A partner acting for customers."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<Partner>] = [
        .init("id", \.id, "Partner id."),
        .init("name", \.name, "Display name, unique regardless of case."),
        .init("kind", \.kind, "Direct CSP, indirect CSP provider, indirect CSP reseller, or OEM."),
        .init("provider", \.provider, "The indirect provider of an indirect reseller."),
        .init("oemDirectApi", \.oemDirectApi, "Whether an OEM is eligible for the OEM Direct API (OEMs only)."),
        .init("createdAt", \.createdAt, "When the partner was registered."),
    ]
}

extension Link: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "Link"
    /// Its comment in the description.
    public static let doc = "A consent link a partner sends to customers."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<Link>] = [
        .init("id", \.id, "Link id (not the secret token)."),
        .init("url", \.url, "<base>/consent/<token>; only in the reply that created the link, null elsewhere."),
        .init("partner", \.partner, "The partner that asks for consent."),
        .init("kind", \.kind, "A CSP's reseller-relationship request or an OEM's consent link."),
        .init("delegatedAdmin", \.delegatedAdmin, "Whether delegated admin privileges (DAP) are requested."),
        .init("roles", \.roles, "Admin roles requested with DAP.", type: .array(.string)),
        .init("status", \.status, "Whether the link can still be accepted."),
        .init("createdAt", \.createdAt, "When the link was created."),
        .init("expiresAt", \.expiresAt, "When a reseller link stops being accepted; null for OEM links, which do not expire."),
        .init("revokedAt", \.revokedAt, "When the link was revoked."),
        .init("dapDays", \.dapDays,
              "How many days DAP lasts once the link is accepted (1 to 730); null: until the tenant removes it."),
    ]
}

extension Grant: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "Grant"
    /// Its comment in the description.
    public static let doc = "A tenant's consent for one partner."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<Grant>] = [
        .init("id", \.id, "Grant id."),
        .init("tenant", \.tenant, "The consenting tenant."),
        .init("partner", \.partner, "The authorised partner."),
        .init("basis", \.basis, "direct: the partner's own link; viaReseller: an indirect provider's implicit consent; oem: an OEM's link."),
        .init("via", \.via, "For viaReseller: the id of the reseller's grant that produced this one."),
        .init("delegatedAdmin", \.delegatedAdmin, "Whether delegated admin privileges are held now (never for OEMs)."),
        .init("roles", \.roles, "Admin roles held with DAP; empty without DAP.", type: .array(.string)),
        .init("grantedBy", \.grantedBy, "UPN of the Global Administrator who accepted."),
        .init("grantedAt", \.grantedAt, "When consent was given."),
        .init("status", \.status, "active; ended by the tenant (or with the reseller grant it came through); revoked by the operator."),
        .init("endedAt", \.endedAt, "When the grant stopped being active."),
        .init("link", "The link that was accepted.", get: { $0.link as String? }, set: { $0.link = $1 ?? "" }),
        .init("dapExpiresAt", \.dapExpiresAt,
              "When DAP ends by itself (the accepted link's dapDays); null when it lasts until removed. Once past, "
                + "delegatedAdmin is false and this says when DAP ended."),
    ]
}

extension Customer: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "Customer"
    /// Its comment in the description.
    public static let doc = "A tenant that is a partner's customer, with the grant that makes it one."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<Customer>] = [
        .init("tenant", \.tenant, "The tenant."),
        .init("grant", \.grant, "The active grant."),
    ]
}

extension RevocationRequest: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "RevocationRequest"
    /// Its comment in the description.
    public static let doc = "A tenant's request that the operator remove a partner's consent (the only way for an OEM)."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<RevocationRequest>] = [
        .init("id", \.id, "Request id."),
        .init("tenant", \.tenant, "The requesting tenant."),
        .init("partner", \.partner, "The partner to remove."),
        .init("requestedBy", \.requestedBy, "UPN of the Global Administrator who filed it."),
        .init("reason", \.reason, "Why, in the tenant's words."),
        .init("status", \.status, "open until the operator approves or rejects it, or the tenant withdraws it."),
        .init("createdAt", \.createdAt, "When it was filed."),
        .init("decidedBy", \.decidedBy, "Who decided (the operator's Unix identity), or withdrew it (the tenant's Global Administrator)."),
        .init("decidedAt", \.decidedAt, "When it was decided."),
        .init("note", \.note, "The operator's note."),
    ]
}

extension ConsentEvent: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "ConsentEvent"
    /// Its comment in the description.
    public static let doc = "One change to a grant, as it committed; WatchConsent streams them."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<ConsentEvent>] = [
        .init("seq", \.seq, "Numbers the registry's consent events from 1 in commit order; never repeats, across restarts."),
        .init("at", \.at, "When it happened (for dapExpired, the moment DAP ended)."),
        .init("kind", \.kind,
              "granted: a link was accepted; extended: a richer link was accepted while the grant was active; "
                + "dapRemoved: the tenant removed DAP; dapExpired: DAP reached its end; ended: the tenant or the "
                + "partner ended the relationship, or the reseller grant it came through ended; revoked: the operator "
                + "approved a revocation request."),
        .init("grant", \.grant, "The grant as the change left it."),
        .init("actor", \.actor,
              "Who made the change: the tenant account (UPN), partner:<id>, the operator uid=N, or autopilotd for an expiry."),
    ]
}

extension DeviceInput: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "DeviceInput"
    /// Its comment in the description.
    public static let doc = "A device as a partner submits it. Which identifiers count depends on the partner: CSP partners give a hardware hash, a product key, or manufacturer + model + serialNumber; OEMs give the tuple or the product key, never a hash. Identity: two submissions are the same machine when their decoded hashes are identical, their product keys are equal, or their (manufacturer, model, serialNumber) are equal, whether given as fields or read from inside the hash, unless the serial number is a placeholder firmware leaves (None, SMBIOS_STRING_INDEX_0, To Be Filled By O.E.M., ...), which names no machine. So a second capture of a registered machine is 806 (same tenant) or 808."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<DeviceInput>] = [
        .init("serialNumber", \.serialNumber, "Serial number (part of the tuple). With a hash, it must agree with the hash's (else 801)."),
        .init("productKey", \.productKey, "Windows Product Key ID (PKID). Without one, a hash's own product key ID counts."),
        .init("hardwareHash", \.hardwareHash, "The 4K hardware hash: base64 (padding optional) of an Autopilot hardware hash, 1,024 to 16,384 bytes once decoded, which names the machine's manufacturer, model and serial number (802 when it is not one)."),
        .init("manufacturer", \.manufacturer, "Manufacturer name (part of the tuple). With a hash, it must agree with the hash's (else 801)."),
        .init("model", \.model, "Device model (part of the tuple). With a hash, it must agree with the hash's (else 801)."),
        .init("groupTag", \.groupTag,
              "Optional group tag. With updateExisting, a device already registered to the tenant takes it; an empty "
                + "string clears the device's, and omitting it leaves the device's as it is."),
        .init("assignedUser", \.assignedUser,
              "Optional assigned user (UPN); its domain must belong to the tenant. With updateExisting, as groupTag."),
    ]
}

extension DeviceResult: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "DeviceResult"
    /// Its comment in the description.
    public static let doc = "The outcome for one submitted device."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<DeviceResult>] = [
        .init("index", \.index, "Position in the batch, from 0, in submission order across all calls."),
        .init("status", \.status,
              "registered; valid (ValidateSubmission only: would register); failed; updated (updateExisting only: the "
                + "device was already registered to the tenant and took the submission's group tag and assigned user)."),
        .init("device", \.device, "The registered (or updated) device's id."),
        .init("errorCode", "Per-device error code (801, 802, 803, 806, 807, 808, 811, 813); null for ZtdDeviceDuplicated.",
              get: { $0.error?.code }, set: { _, _ in }),
        .init("errorName", "Per-device error name, such as ZtdDeviceAlreadyAssigned.", get: { $0.error?.name },
              set: { $0.error = $1.flatMap(DeviceErrorCode.init(rawValue:)) }),
        .init("message", \.message, "A plain-language explanation."),
        .init("line", \.line, "The file line of the row, for devices sent with UploadDeviceCsv; null for AddDevices."),
    ]
}

extension Batch: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "Batch"
    /// Its comment in the description.
    public static let doc = "A group of device submissions by one partner for one tenant."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<Batch>] = [
        .init("id", \.id, "Batch id."),
        .init("name", \.name,
              "Name chosen by the uploader, unique (ignoring ASCII case) among the partner's batches for the tenant."),
        .init("partner", \.partner, "The submitting partner."),
        .init("tenant", \.tenant, "The tenant the devices are registered to."),
        .init("channel", \.channel, "api (Partner Center API / OEM Direct API: AddDevices) or upload (CSV upload: UploadDeviceCsv)."),
        .init("status", "processing until devices arrive; then finished, or finishedWithErrors when any device failed.",
              get: { $0.status }, set: { _, _ in }),
        .init("createdAt", \.createdAt, "When the batch was created."),
        .init("submitted", \.submitted, "Devices submitted so far."),
        .init("registered", \.registered, "Devices registered."),
        .init("failed", \.failed, "Devices that failed."),
        .init("updated", \.updated,
              "Devices already registered to the tenant that an upload with updateExisting changed; submitted = "
                + "registered + updated + failed."),
    ]
}

extension Device: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "Device"
    /// Its comment in the description.
    public static let doc = "A registered (or formerly registered) device. The hash bytes are never sent back."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<Device>] = [
        .init("id", \.id, "Device id."),
        .init("tenant", \.tenant, "The tenant it is registered to."),
        .init("partner", \.partner, "The partner that registered it."),
        .init("batch", \.batch, "The batch it came in."),
        .init("serialNumber", \.serialNumber, "Serial number."),
        .init("productKey", \.productKey, "Product key (PKID)."),
        .init("manufacturer", \.manufacturer, "Manufacturer name."),
        .init("model", \.model, "Model."),
        .init("hardwareHashSha256", \.hardwareHashSha256, "Lowercase hex SHA-256 of the decoded hardware hash."),
        .init("groupTag", \.groupTag, "Group tag."),
        .init("assignedUser", \.assignedUser, "Assigned user (UPN)."),
        .init("status", \.status, "registered, or deregistered (the row is kept)."),
        .init("registeredAt", \.registeredAt, "When it was registered."),
        .init("deregisteredAt", \.deregisteredAt, "When it was deregistered."),
        .init("displayName", \.displayName,
              "The name Windows gives the machine during setup (a computer name: 1 to 15 letters, digits and hyphens)."),
        .init("purchaseOrder", \.purchaseOrder, "The purchase order it was bought under."),
    ]
}

extension AccessRule: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "AccessRule"
    /// Its comment in the description.
    public static let doc = "Binds a Unix uid or gid (as seen through SO_PEERCRED) to a role. root and the daemon's own uid are always operators; a caller no rule matches has role none. A uid rule wins over group rules."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<AccessRule>] = [
        .init("id", \.id, "Rule id."),
        .init("uid", \.uid, "The Unix user id, or null for a group rule."),
        .init("gid", \.gid, "The Unix group id, or null for a user rule."),
        .init("role", \.role, "The role the rule grants.", type: .enumeration(CallerRole.grantable.map(\.rawValue))),
        .init("partner", \.partner, "For partner rules: the one partner the caller acts for."),
        .init("tenant", \.tenant, "For tenant rules: the one tenant the caller acts for."),
        .init("createdAt", \.createdAt, "When the rule was added."),
        .init("account", \.account,
              "For tenant rules: the account the caller is, and acts as; null covers the whole tenant, for reads only."),
    ]
}

extension AuditEvent: NamedWireRecord {
    /// The name the description declares it under.
    public static let typeName = "AuditEvent"
    /// Its comment in the description.
    public static let doc = "One entry of the append-only, hash-chained audit log."
    /// The members, in the order the description lists them.
    public static let fields: [WireField<AuditEvent>] = [
        .init("seq", \.seq, "Sequence number, from 1, without gaps."),
        .init("at", \.at, "When it happened."),
        .init("actor", \.actor, "Who: uid, role, and the partner, tenant and tenant account acting."),
        .init("method", \.method, "The method called."),
        .init("target", \.target, "The ids involved, as kind:id separated by spaces."),
        .init("outcome", \.outcome, "ok, or the error's short name."),
        .init("hash", \.hash, "SHA-256 chained over the previous event's hash and this event's canonical content."),
    ]
}

extension Tenant {
    /// An empty tenant, for decoding to fill.
    public init() { self.init(id: "", name: "", domain: "", domains: [], createdAt: Timestamp(millisecondsSinceEpoch: 0)) }
}

extension Account {
    /// An empty account, for decoding to fill.
    public init() { self.init(tenant: "", upn: "", roles: [], cloudNative: false) }
}

extension Partner {
    /// An empty partner, for decoding to fill.
    public init() {
        self.init(id: "", name: "", kind: .directCsp, provider: nil, oemDirectApi: false,
                  createdAt: Timestamp(millisecondsSinceEpoch: 0))
    }
}

extension Link {
    /// An empty link, for decoding to fill.
    public init() {
        self.init(id: "", partner: "", kind: .resellerRelationship, delegatedAdmin: false, roles: [], status: .active,
                  createdAt: Timestamp(millisecondsSinceEpoch: 0), expiresAt: nil)
    }
}

extension Grant {
    /// An empty grant, for decoding to fill.
    public init() {
        self.init(id: "", tenant: "", partner: "", basis: .direct, via: nil, link: "", delegatedAdmin: false, roles: [],
                  grantedBy: "", grantedAt: Timestamp(millisecondsSinceEpoch: 0), status: .active, endedAt: nil)
    }
}

extension ConsentEvent {
    /// An empty event, for decoding to fill.
    public init() { self.init(seq: 0, at: Timestamp(millisecondsSinceEpoch: 0), kind: .granted, grant: Grant(), actor: "") }
}

extension Customer {
    /// An empty customer, for decoding to fill.
    public init() { self.init(tenant: Tenant(), grant: Grant()) }
}

extension RevocationRequest {
    /// An empty request, for decoding to fill.
    public init() {
        self.init(id: "", tenant: "", partner: "", requestedBy: "", reason: "", status: .open,
                  createdAt: Timestamp(millisecondsSinceEpoch: 0), decidedBy: nil, decidedAt: nil, note: nil)
    }
}

extension DeviceResult {
    /// An empty result, for decoding to fill.
    public init() { self.init(index: 0, status: .failed) }
}

extension Batch {
    /// An empty batch, for decoding to fill.
    public init() {
        self.init(id: "", name: "", partner: "", tenant: "", channel: .api, createdAt: Timestamp(millisecondsSinceEpoch: 0),
                  submitted: 0, registered: 0, failed: 0)
    }
}

extension Device {
    /// An empty device, for decoding to fill.
    public init() {
        self.init(id: "", tenant: "", partner: "", batch: "", serialNumber: nil, productKey: nil, manufacturer: nil,
                  model: nil, hardwareHashSha256: nil, groupTag: nil, assignedUser: nil, status: .registered,
                  registeredAt: Timestamp(millisecondsSinceEpoch: 0), deregisteredAt: nil)
    }
}

extension AccessRule {
    /// An empty rule, for decoding to fill.
    public init() {
        self.init(id: "", uid: nil, gid: nil, role: .none, partner: nil, tenant: nil,
                  createdAt: Timestamp(millisecondsSinceEpoch: 0))
    }
}

extension AuditEvent {
    /// An empty event, for decoding to fill.
    public init() {
        self.init(seq: 0, at: Timestamp(millisecondsSinceEpoch: 0), actor: "", method: "", target: nil, outcome: "", hash: "")
    }
}

extension PartnerKind: WireEnum {}
extension Channel: WireEnum {}
extension CallerRole: WireEnum {}
extension LinkKind: WireEnum {}
extension LinkStatus: WireEnum {}
extension GrantBasis: WireEnum {}
extension GrantStatus: WireEnum {}
extension RevocationStatus: WireEnum {}
extension ConsentEventKind: WireEnum {}
extension BatchStatus: WireEnum {}
extension DeviceStatus: WireEnum {}
extension DeviceResultStatus: WireEnum {}

extension AccountRole: WireEnum {
    /// Role names travel as plain strings (`[]string` in the description); an unknown one is still refused.
    public static var idlType: IDLType { .string }
}

extension CallerRole {
    /// The roles an access rule may grant: every role but `none`.
    public static var grantable: [CallerRole] { allCases.filter { $0 != .none } }
}

extension DeviceInput {
    /// No identifiers yet, for decoding to fill.
    public init() { self.init(serialNumber: nil, productKey: nil) }

    /// Only the members that are set: a call of 1,000 devices named by tuple or product key stays small.
    public var wire: JSONValue {
        var keys: [String] = []
        var values: [JSONValue] = []
        for field in Self.fields {
            let value = field.encode(self)
            if case .null = value { continue }
            keys.append(field.name)
            values.append(value)
        }
        return .object(JSONObject(uniqueKeys: keys, values: values))
    }

    /// Only the members that are set, as `wire`.
    public func writeWire(to output: inout JSONOutput) {
        output.write(wire)
    }
}
