import AutopilotDomain
import AutopilotInterface
import Varlink

/// What `ValidateSubmission` answers: whether consent exists, the grant, and what each device would get.
public struct SubmissionCheck: Sendable, Hashable {
    public var consented: Bool
    public var grant: Grant?
    public var results: [DeviceResult]
}

/// A batch with the results of its devices, in index order (`AddDevices`, `GetBatch`).
public struct BatchResults: Sendable, Hashable {
    public var batch: Batch
    public var results: [DeviceResult]
}

/// A new reseller-relationship link (its URL is shown only now) and the email to send with it.
public struct LinkRequest: Sendable, Hashable {
    public var link: Link
    public var email: String
}

/// A link with the partner it is for: what the customer sees on the consent page. `provider` is an indirect
/// reseller's indirect provider, which accepting also authorises (nil from daemons that predate it).
public struct LinkDescription: Sendable, Hashable {
    public var link: Link
    public var partner: Partner
    public var provider: Partner?
}

/// What `GetStatus` reports about the daemon.
public struct DaemonStatus: Sendable, Hashable {
    public var version: String
    public var schemaVersion: Int
    public var database: String
    public var startedAt: String
    public var counts: RegistryCounts
}

/// What the daemon sees of the caller (`WhoAmI`).
public struct CallerIdentity: Sendable, Hashable {
    public var uid: Int
    public var role: CallerRole
    public var partner: String?
    public var tenant: String?
}

/// The result of `Backup`.
public struct BackupResult: Sendable, Hashable {
    public var path: String
    public var bytes: Int
}

/// Filters of `ListDevices`; nil means no filter.
public struct DeviceFilter: Sendable, Hashable {
    public var tenant: String?
    public var partner: String?
    public var batch: String?
    public var serialNumber: String?
    public var includeDeregistered: Bool
    /// One device by id.
    public var device: String?
    public init(tenant: String? = nil, partner: String? = nil, batch: String? = nil, serialNumber: String? = nil,
                includeDeregistered: Bool = false, device: String? = nil) {
        self.tenant = tenant; self.partner = partner; self.batch = batch; self.serialNumber = serialNumber
        self.includeDeregistered = includeDeregistered; self.device = device
    }
}

/// How `DeregisterDevice` names the device.
public enum DeviceSelector: Sendable, Hashable {
    case id(String)
    case tuple(serialNumber: String, manufacturer: String, model: String)
    case productKey(String)
}

/// Typed calls of `io.autopilotd.registry` over one ``VarlinkConnection``: one function per method, taking and
/// returning domain types through the interface's wire codecs.
///
/// Every function throws ``VarlinkClientError``: `.remote` carries the daemon's error (see
/// `RegistryErrors.explanation`); a reply that does not decode is a `.protocolError`.
public final class RegistryClient {
    public let connection: VarlinkConnection
    /// The parameters of the most recent reply exactly as received (for streams: the current reply), for callers
    /// that show raw JSON.
    public private(set) var lastReply: JSONObject = [:]

    /// Wraps an open connection.
    public init(connection: VarlinkConnection) { self.connection = connection }

    /// Connects to the daemon's socket. - Throws: `.cannotConnect` when nothing listens there.
    public convenience init(path: String) throws(VarlinkClientError) {
        self.init(connection: try VarlinkConnection(path: path))
    }

    /// The fully qualified name of a method of the interface.
    public static func qualified(_ method: RegistryMethod) -> String { "\(RegistryInterface.name).\(method.rawValue)" }

    /// Calls a method and returns the reply parameters as received.
    @discardableResult
    public func raw(_ method: RegistryMethod, _ parameters: JSONObject = [:]) throws(VarlinkClientError) -> JSONObject {
        lastReply = try connection.call(Self.qualified(method), parameters)
        return lastReply
    }

    /// Calls a streaming method with `more`, handing each reply's parameters to `each` as it arrives.
    public func rawStream(_ method: RegistryMethod, _ parameters: JSONObject = [:], _ each: (JSONObject) throws -> Void) throws {
        try connection.callMore(Self.qualified(method), parameters) { reply in
            self.lastReply = reply
            try each(reply)
        }
    }

    /// Closes the connection.
    public func close() { connection.close() }

    /// Decodes part of a reply, turning a decoding failure into a protocol error.
    private func decode<T>(_ body: () throws(VarlinkError) -> T) throws(VarlinkClientError) -> T {
        do {
            return try body()
        } catch {
            throw .protocolError("unexpected reply from the daemon: \(RegistryErrors.explanation(error))")
        }
    }

    private func call<T>(_ method: RegistryMethod, _ parameters: JSONObject, _ body: (JSONObject) throws(VarlinkError) -> T)
        throws(VarlinkClientError) -> T
    {
        let reply = try raw(method, parameters)
        return try decode { () throws(VarlinkError) in try body(reply) }
    }

    // MARK: directory

    public func createTenant(name: String, domain: String, id: String? = nil) throws(VarlinkClientError) -> Tenant {
        try call(.createTenant, params(["name": .string(name), "domain": .string(domain)], ["id": id])) { o throws(VarlinkError) in try o.record("tenant") }
    }

    public func addTenantDomain(tenant: String, domain: String) throws(VarlinkClientError) -> Tenant {
        try call(.addTenantDomain, ["tenant": .string(tenant), "domain": .string(domain)]) { o throws(VarlinkError) in try o.record("tenant") }
    }

    public func addAccount(tenant: String, upn: String, roles: [String]) throws(VarlinkClientError) -> Account {
        try call(.addAccount, ["tenant": .string(tenant), "upn": .string(upn), "roles": strings(roles)]) { o throws(VarlinkError) in
            try o.record("account")
        }
    }

    public func setAccountRoles(upn: String, roles: [String]) throws(VarlinkClientError) -> Account {
        try call(.setAccountRoles, ["upn": .string(upn), "roles": strings(roles)]) { o throws(VarlinkError) in try o.record("account") }
    }

    public func getTenant(_ tenant: String) throws(VarlinkClientError) -> Tenant {
        try call(.getTenant, ["tenant": .string(tenant)]) { o throws(VarlinkError) in try o.record("tenant") }
    }

    public func listTenants() throws(VarlinkClientError) -> [Tenant] {
        try call(.listTenants, [:]) { o throws(VarlinkError) in try o.records("tenants") }
    }

    public func registerPartner(name: String, kind: PartnerKind, provider: String? = nil, oemDirectApi: Bool? = nil,
                                id: String? = nil) throws(VarlinkClientError) -> Partner {
        var p: JSONObject = ["name": .string(name), "kind": .string(kind.rawValue)]
        if let provider { p["provider"] = .string(provider) }
        if let oemDirectApi { p["oemDirectApi"] = .bool(oemDirectApi) }
        if let id { p["id"] = .string(id) }
        return try call(.registerPartner, p) { o throws(VarlinkError) in try o.record("partner") }
    }

    public func setOemEligibility(partner: String, eligible: Bool) throws(VarlinkClientError) -> Partner {
        try call(.setOemEligibility, ["partner": .string(partner), "eligible": .bool(eligible)]) { o throws(VarlinkError) in
            try o.record("partner")
        }
    }

    public func getPartner(_ partner: String) throws(VarlinkClientError) -> Partner {
        try call(.getPartner, ["partner": .string(partner)]) { o throws(VarlinkError) in try o.record("partner") }
    }

    public func listPartners() throws(VarlinkClientError) -> [Partner] {
        try call(.listPartners, [:]) { o throws(VarlinkError) in try o.records("partners") }
    }

    // MARK: consent

    public func requestResellerRelationship(partner: String, delegatedAdmin: Bool, roles: [String]? = nil)
        throws(VarlinkClientError) -> LinkRequest
    {
        var p: JSONObject = ["partner": .string(partner), "delegatedAdmin": .bool(delegatedAdmin)]
        if let roles { p["roles"] = strings(roles) }
        return try call(.requestResellerRelationship, p) { o throws(VarlinkError) in
            LinkRequest(link: try o.record("link"), email: try o.string("email"))
        }
    }

    public func issueOemLink(partner: String) throws(VarlinkClientError) -> Link {
        try call(.issueOemLink, ["partner": .string(partner)]) { o throws(VarlinkError) in try o.record("link") }
    }

    public func revokeLink(_ link: String) throws(VarlinkClientError) -> Link {
        try call(.revokeLink, ["link": .string(link)]) { o throws(VarlinkError) in try o.record("link") }
    }

    public func describeLink(_ link: String) throws(VarlinkClientError) -> LinkDescription {
        try call(.describeLink, ["link": .string(link)]) { o throws(VarlinkError) in
            LinkDescription(link: try o.record("link"), partner: try o.record("partner"),
                            provider: try o.optionalRecord("provider"))
        }
    }

    public func acceptLink(_ link: String, account: String) throws(VarlinkClientError) -> [Grant] {
        try call(.acceptLink, ["link": .string(link), "account": .string(account)]) { o throws(VarlinkError) in
            try o.records("grants")
        }
    }

    public func listCustomers(partner: String) throws(VarlinkClientError) -> [Customer] {
        try call(.listCustomers, ["partner": .string(partner)]) { o throws(VarlinkError) in try o.records("customers") }
    }

    public func listGrants(tenant: String? = nil, partner: String? = nil, status: GrantStatus? = nil)
        throws(VarlinkClientError) -> [Grant]
    {
        try call(.listGrants, params([:], ["tenant": tenant, "partner": partner, "status": status?.rawValue])) {
            o throws(VarlinkError) in try o.records("grants")
        }
    }

    /// Checks consent and, given devices (at most 1,000), what each would get; writes nothing.
    public func validateSubmission(partner: String, tenant: String, devices: [DeviceInput]? = nil)
        throws(VarlinkClientError) -> SubmissionCheck
    {
        var p: JSONObject = ["partner": .string(partner), "tenant": .string(tenant)]
        if let devices { p["devices"] = devices.wire }
        return try call(.validateSubmission, p) { o throws(VarlinkError) in
            SubmissionCheck(consented: try o.bool("consented"), grant: try o.optionalRecord("grant"),
                            results: try o.records("results"))
        }
    }

    public func removeDelegatedAdmin(partner: String, account: String) throws(VarlinkClientError) -> Grant {
        try call(.removeDelegatedAdmin, ["partner": .string(partner), "account": .string(account)]) { o throws(VarlinkError) in
            try o.record("grant")
        }
    }

    public func endRelationship(partner: String, account: String) throws(VarlinkClientError) -> [Grant] {
        try call(.endRelationship, ["partner": .string(partner), "account": .string(account)]) { o throws(VarlinkError) in
            try o.records("grants")
        }
    }

    public func fileRevocationRequest(partner: String, account: String, reason: String)
        throws(VarlinkClientError) -> RevocationRequest
    {
        try call(.fileRevocationRequest, ["partner": .string(partner), "account": .string(account), "reason": .string(reason)]) {
            o throws(VarlinkError) in try o.record("request")
        }
    }

    public func listRevocationRequests(status: RevocationStatus? = nil) throws(VarlinkClientError) -> [RevocationRequest] {
        try call(.listRevocationRequests, params([:], ["status": status?.rawValue])) { o throws(VarlinkError) in
            try o.records("requests")
        }
    }

    public func decideRevocationRequest(_ request: String, approve: Bool, note: String? = nil)
        throws(VarlinkClientError) -> RevocationRequest
    {
        try call(.decideRevocationRequest, params(["request": .string(request), "approve": .bool(approve)], ["note": note])) {
            o throws(VarlinkError) in try o.record("request")
        }
    }

    // MARK: devices

    public func createDeviceBatch(partner: String, tenant: String, name: String, channel: Channel)
        throws(VarlinkClientError) -> Batch
    {
        try call(.createDeviceBatch, ["partner": .string(partner), "tenant": .string(tenant), "name": .string(name),
                                      "channel": .string(channel.rawValue)]) { o throws(VarlinkError) in try o.record("batch") }
    }

    /// Submits 1 to 1,000 devices to a batch.
    public func addDevices(batch: String, devices: [DeviceInput]) throws(VarlinkClientError) -> BatchResults {
        try call(.addDevices, ["batch": .string(batch), "devices": devices.wire]) { o throws(VarlinkError) in
            BatchResults(batch: try o.record("batch"), results: try o.records("results"))
        }
    }

    /// Sends the text of a device CSV (its header line, then 1 to 1,000 data rows) to an upload batch; `line` is the
    /// file line of the header, so that results carry the file lines of their rows.
    public func uploadDeviceCsv(batch: String, csv: String, line: Int? = nil) throws(VarlinkClientError) -> BatchResults {
        var p: JSONObject = ["batch": .string(batch), "csv": .string(csv)]
        if let line { p["line"] = .int(line) }
        return try call(.uploadDeviceCsv, p) { o throws(VarlinkError) in
            BatchResults(batch: try o.record("batch"), results: try o.records("results"))
        }
    }

    /// A batch and its results: all of them, or `limit` from index `from`.
    public func getBatch(_ batch: String, from: Int? = nil, limit: Int? = nil) throws(VarlinkClientError) -> BatchResults {
        var p: JSONObject = ["batch": .string(batch)]
        if let from { p["from"] = .int(from) }
        if let limit { p["limit"] = .int(limit) }
        return try call(.getBatch, p) { o throws(VarlinkError) in
            BatchResults(batch: try o.record("batch"), results: try o.records("results"))
        }
    }

    public func listBatches(partner: String? = nil, tenant: String? = nil) throws(VarlinkClientError) -> [Batch] {
        try call(.listBatches, params([:], ["partner": partner, "tenant": tenant])) { o throws(VarlinkError) in
            try o.records("batches")
        }
    }

    /// Streams the matching devices to `each` as they arrive; nothing is collected.
    /// - Throws: ``VarlinkClientError``, or what `each` throws (which stops the stream and closes the connection).
    public func listDevices(_ filter: DeviceFilter = DeviceFilter(), each: (Device) throws -> Void) throws {
        var p = params([:], ["tenant": filter.tenant, "partner": filter.partner, "batch": filter.batch,
                             "serialNumber": filter.serialNumber, "device": filter.device])
        if filter.includeDeregistered { p["includeDeregistered"] = true }
        try rawStream(.listDevices, p) { reply in
            if let device = try decode({ () throws(VarlinkError) in try reply.optionalRecord("device", Device.self) }) {
                try each(device)
            }
        }
    }

    public func deregisterDevice(partner: String, _ selector: DeviceSelector, tenant: String? = nil)
        throws(VarlinkClientError) -> Device
    {
        var p = params(["partner": .string(partner)], ["tenant": tenant])
        switch selector {
        case let .id(id): p["device"] = .string(id)
        case let .tuple(serial, manufacturer, model):
            p["serialNumber"] = .string(serial); p["manufacturer"] = .string(manufacturer); p["model"] = .string(model)
        case let .productKey(key): p["productKey"] = .string(key)
        }
        return try call(.deregisterDevice, p) { o throws(VarlinkError) in try o.record("device") }
    }

    // MARK: access

    /// Adds a rule for exactly one of `uid` or `gid`.
    public func addAccessRule(uid: UInt32? = nil, gid: UInt32? = nil, role: CallerRole, partner: String? = nil,
                              tenant: String? = nil) throws(VarlinkClientError) -> AccessRule {
        var p = params(["role": .string(role.rawValue)], ["partner": partner, "tenant": tenant])
        if let uid { p["uid"] = .int(Int(uid)) }
        if let gid { p["gid"] = .int(Int(gid)) }
        return try call(.addAccessRule, p) { o throws(VarlinkError) in try o.record("rule") }
    }

    public func removeAccessRule(_ rule: String) throws(VarlinkClientError) {
        try raw(.removeAccessRule, ["rule": .string(rule)])
    }

    public func listAccessRules() throws(VarlinkClientError) -> [AccessRule] {
        try call(.listAccessRules, [:]) { o throws(VarlinkError) in try o.records("rules") }
    }

    // MARK: audit and service

    /// Streams audit events after `after` (at most `limit`) to `each` as they arrive.
    public func listAuditEvents(after: Int? = nil, limit: Int? = nil, each: (AuditEvent) throws -> Void) throws {
        var p = JSONObject()
        if let after { p["after"] = .int(after) }
        if let limit { p["limit"] = .int(limit) }
        try rawStream(.listAuditEvents, p) { reply in
            if let event = try decode({ () throws(VarlinkError) in try reply.optionalRecord("event", AuditEvent.self) }) {
                try each(event)
            }
        }
    }

    public func verifyAudit() throws(VarlinkClientError) -> AuditVerification {
        try call(.verifyAudit, [:]) { o throws(VarlinkError) in
            AuditVerification(ok: try o.bool("ok"), events: try o.int("events"),
                              firstBroken: try o.optionalInt("firstBroken").map(Int64.init))
        }
    }

    /// Asks the daemon to copy its database to `path`, which must be absolute.
    public func backup(path: String) throws(VarlinkClientError) -> BackupResult {
        try call(.backup, ["path": .string(path)]) { o throws(VarlinkError) in
            BackupResult(path: try o.string("path"), bytes: try o.int("bytes"))
        }
    }

    public func status() throws(VarlinkClientError) -> DaemonStatus {
        try call(.getStatus, [:]) { o throws(VarlinkError) in
            DaemonStatus(version: try o.string("version"), schemaVersion: try o.int("schemaVersion"),
                         database: try o.string("database"), startedAt: try o.string("startedAt"),
                         counts: RegistryCounts(tenants: try o.int("tenants"), partners: try o.int("partners"),
                                                grants: try o.int("grants"), devices: try o.int("devices")))
        }
    }

    public func whoAmI() throws(VarlinkClientError) -> CallerIdentity {
        try call(.whoAmI, [:]) { o throws(VarlinkError) in
            CallerIdentity(uid: try o.int("uid"), role: try o.enumeration("role"), partner: try o.optionalString("partner"),
                           tenant: try o.optionalString("tenant"))
        }
    }

    // MARK: helpers

    /// `base` plus the optional string parameters that are set.
    private func params(_ base: JSONObject, _ optional: KeyValuePairs<String, String?>) -> JSONObject {
        var p = base
        for (key, value) in optional { if let value { p[key] = .string(value) } }
        return p
    }

    private func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
}
