import AutopilotDomain
import Varlink

/// Conversion between domain records and their varlink wire form, one pair of functions per type of the interface.
/// Optional fields are always present on the wire, as null when absent.
public protocol WireCodable {
    /// The record as the interface's JSON object.
    var wire: JSONObject { get }
    /// Reads the record from a reply; throws `InvalidParameter` naming the field that is missing or mistyped.
    init(wire: JSONObject) throws(VarlinkError)
}

extension Optional where Wrapped == String {
    var json: JSONValue { self.map(JSONValue.string) ?? .null }
}
extension Optional where Wrapped == Timestamp {
    var json: JSONValue { self.map { .string($0.rfc3339) } ?? .null }
}

extension JSONObject {
    /// A required timestamp.
    public func timestamp(_ key: String) throws(VarlinkError) -> Timestamp {
        guard let t = Timestamp(rfc3339: try string(key)) else { throw .invalidParameter(key) }
        return t
    }

    /// An optional timestamp.
    public func optionalTimestamp(_ key: String) throws(VarlinkError) -> Timestamp? {
        guard let s = try optionalString(key) else { return nil }
        guard let t = Timestamp(rfc3339: s) else { throw .invalidParameter(key) }
        return t
    }

    /// A required enum value; an unknown value is a mistyped parameter.
    public func enumeration<E: RawRepresentable>(_ key: String, _ type: E.Type = E.self) throws(VarlinkError) -> E
    where E.RawValue == String {
        guard let v = E(rawValue: try string(key)) else { throw .invalidParameter(key) }
        return v
    }

    /// An optional enum value.
    public func optionalEnumeration<E: RawRepresentable>(_ key: String, _ type: E.Type = E.self) throws(VarlinkError) -> E?
    where E.RawValue == String {
        guard let s = try optionalString(key) else { return nil }
        guard let v = E(rawValue: s) else { throw .invalidParameter(key) }
        return v
    }

    /// Role names; unknown names are kept out (the daemon only sends known ones).
    func roles(_ key: String) throws(VarlinkError) -> [AccountRole] {
        try stringArray(key).compactMap(AccountRole.init(rawValue:))
    }

    /// A required nested record.
    public func record<T: WireCodable>(_ key: String, _ type: T.Type = T.self) throws(VarlinkError) -> T {
        guard case let .object(o)? = self[key] else { throw .invalidParameter(key) }
        return try T(wire: o)
    }

    /// An optional nested record.
    public func optionalRecord<T: WireCodable>(_ key: String, _ type: T.Type = T.self) throws(VarlinkError) -> T? {
        switch self[key] {
        case nil, .null?: return nil
        case let .object(o)?: return try T(wire: o)
        default: throw .invalidParameter(key)
        }
    }

    /// A required array of records.
    public func records<T: WireCodable>(_ key: String, _ type: T.Type = T.self) throws(VarlinkError) -> [T] {
        var out: [T] = []
        for o in try objectArray(key) { out.append(try T(wire: o)) }
        return out
    }
}

extension Array where Element: WireCodable {
    /// The records as a JSON array.
    public var wire: JSONValue { .array(map { .object($0.wire) }) }
}

extension Array where Element == AccountRole {
    var wire: JSONValue { .array(map { .string($0.rawValue) }) }
}

extension Tenant: WireCodable {
    public var wire: JSONObject {
        ["id": .string(id), "name": .string(name), "domain": .string(domain),
         "domains": .array(domains.map(JSONValue.string)), "createdAt": .string(createdAt.rfc3339)]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(id: try o.string("id"), name: try o.string("name"), domain: try o.string("domain"),
                  domains: try o.stringArray("domains"), createdAt: try o.timestamp("createdAt"))
    }
}

extension Account: WireCodable {
    public var wire: JSONObject {
        ["tenant": .string(tenant), "upn": .string(upn), "roles": roles.wire, "cloudNative": .bool(cloudNative)]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(tenant: try o.string("tenant"), upn: try o.string("upn"), roles: try o.roles("roles"),
                  cloudNative: try o.bool("cloudNative"))
    }
}

extension Partner: WireCodable {
    public var wire: JSONObject {
        ["id": .string(id), "name": .string(name), "kind": .string(kind.rawValue), "provider": provider.json,
         "oemDirectApi": .bool(oemDirectApi), "createdAt": .string(createdAt.rfc3339)]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(id: try o.string("id"), name: try o.string("name"), kind: try o.enumeration("kind"),
                  provider: try o.optionalString("provider"), oemDirectApi: try o.bool("oemDirectApi"),
                  createdAt: try o.timestamp("createdAt"))
    }
}

extension Link: WireCodable {
    public var wire: JSONObject {
        ["id": .string(id), "url": url.json, "partner": .string(partner), "kind": .string(kind.rawValue),
         "delegatedAdmin": .bool(delegatedAdmin), "roles": roles.wire, "status": .string(status.rawValue),
         "createdAt": .string(createdAt.rfc3339), "expiresAt": expiresAt.json, "revokedAt": revokedAt.json]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(id: try o.string("id"), url: try o.optionalString("url"), partner: try o.string("partner"),
                  kind: try o.enumeration("kind"), delegatedAdmin: try o.bool("delegatedAdmin"),
                  roles: try o.roles("roles"), status: try o.enumeration("status"),
                  createdAt: try o.timestamp("createdAt"), expiresAt: try o.optionalTimestamp("expiresAt"),
                  revokedAt: try o.optionalTimestamp("revokedAt"))
    }
}

extension Grant: WireCodable {
    public var wire: JSONObject {
        ["id": .string(id), "tenant": .string(tenant), "partner": .string(partner), "basis": .string(basis.rawValue),
         "via": via.json, "delegatedAdmin": .bool(delegatedAdmin), "roles": roles.wire,
         "grantedBy": .string(grantedBy), "grantedAt": .string(grantedAt.rfc3339), "status": .string(status.rawValue),
         "endedAt": endedAt.json, "link": .string(link)]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(id: try o.string("id"), tenant: try o.string("tenant"), partner: try o.string("partner"),
                  basis: try o.enumeration("basis"), via: try o.optionalString("via"),
                  link: try o.optionalString("link") ?? "", delegatedAdmin: try o.bool("delegatedAdmin"),
                  roles: try o.roles("roles"), grantedBy: try o.string("grantedBy"),
                  grantedAt: try o.timestamp("grantedAt"), status: try o.enumeration("status"),
                  endedAt: try o.optionalTimestamp("endedAt"))
    }
}

extension Customer: WireCodable {
    public var wire: JSONObject { ["tenant": .object(tenant.wire), "grant": .object(grant.wire)] }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(tenant: try o.record("tenant"), grant: try o.record("grant"))
    }
}

extension RevocationRequest: WireCodable {
    public var wire: JSONObject {
        ["id": .string(id), "tenant": .string(tenant), "partner": .string(partner), "requestedBy": .string(requestedBy),
         "reason": .string(reason), "status": .string(status.rawValue), "createdAt": .string(createdAt.rfc3339),
         "decidedBy": decidedBy.json, "decidedAt": decidedAt.json, "note": note.json]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(id: try o.string("id"), tenant: try o.string("tenant"), partner: try o.string("partner"),
                  requestedBy: try o.string("requestedBy"), reason: try o.string("reason"),
                  status: try o.enumeration("status"), createdAt: try o.timestamp("createdAt"),
                  decidedBy: try o.optionalString("decidedBy"), decidedAt: try o.optionalTimestamp("decidedAt"),
                  note: try o.optionalString("note"))
    }
}

extension DeviceInput: WireCodable {
    /// Only the fields that are set, so a 1,000-device call stays small.
    public var wire: JSONObject {
        var o = JSONObject()
        if let serialNumber { o["serialNumber"] = .string(serialNumber) }
        if let productKey { o["productKey"] = .string(productKey) }
        if let hardwareHash { o["hardwareHash"] = .string(hardwareHash) }
        if let manufacturer { o["manufacturer"] = .string(manufacturer) }
        if let model { o["model"] = .string(model) }
        if let groupTag { o["groupTag"] = .string(groupTag) }
        if let assignedUser { o["assignedUser"] = .string(assignedUser) }
        return o
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(serialNumber: try o.optionalString("serialNumber"), productKey: try o.optionalString("productKey"),
                  hardwareHash: try o.optionalString("hardwareHash"), manufacturer: try o.optionalString("manufacturer"),
                  model: try o.optionalString("model"), groupTag: try o.optionalString("groupTag"),
                  assignedUser: try o.optionalString("assignedUser"))
    }
}

extension DeviceResult: WireCodable {
    public var wire: JSONObject {
        ["index": .int(index), "status": .string(status.rawValue), "device": device.json,
         "errorCode": error?.code.map(JSONValue.int) ?? .null, "errorName": error.map { .string($0.name) } ?? .null,
         "message": message.json, "line": line.map(JSONValue.int) ?? .null]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        let name = try o.optionalString("errorName")
        self.init(index: try o.int("index"), status: try o.enumeration("status"), device: try o.optionalString("device"),
                  error: name.flatMap(DeviceErrorCode.init(rawValue:)), message: try o.optionalString("message"),
                  line: try o.optionalInt("line"))
    }
}

extension Batch: WireCodable {
    public var wire: JSONObject {
        ["id": .string(id), "name": .string(name), "partner": .string(partner), "tenant": .string(tenant),
         "channel": .string(channel.rawValue), "status": .string(status.rawValue),
         "createdAt": .string(createdAt.rfc3339), "submitted": .int(submitted), "registered": .int(registered),
         "failed": .int(failed)]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(id: try o.string("id"), name: try o.string("name"), partner: try o.string("partner"),
                  tenant: try o.string("tenant"), channel: try o.enumeration("channel"),
                  createdAt: try o.timestamp("createdAt"), submitted: try o.int("submitted"),
                  registered: try o.int("registered"), failed: try o.int("failed"))
    }
}

extension Device: WireCodable {
    public var wire: JSONObject {
        ["id": .string(id), "tenant": .string(tenant), "partner": .string(partner), "batch": .string(batch),
         "serialNumber": serialNumber.json, "productKey": productKey.json, "manufacturer": manufacturer.json,
         "model": model.json, "hardwareHashSha256": hardwareHashSha256.json, "groupTag": groupTag.json,
         "assignedUser": assignedUser.json, "status": .string(status.rawValue),
         "registeredAt": .string(registeredAt.rfc3339), "deregisteredAt": deregisteredAt.json]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(id: try o.string("id"), tenant: try o.string("tenant"), partner: try o.string("partner"),
                  batch: try o.string("batch"), serialNumber: try o.optionalString("serialNumber"),
                  productKey: try o.optionalString("productKey"), manufacturer: try o.optionalString("manufacturer"),
                  model: try o.optionalString("model"), hardwareHashSha256: try o.optionalString("hardwareHashSha256"),
                  groupTag: try o.optionalString("groupTag"), assignedUser: try o.optionalString("assignedUser"),
                  status: try o.enumeration("status"), registeredAt: try o.timestamp("registeredAt"),
                  deregisteredAt: try o.optionalTimestamp("deregisteredAt"))
    }
}

extension AccessRule: WireCodable {
    public var wire: JSONObject {
        ["id": .string(id), "uid": uid.map { .int(Int($0)) } ?? .null, "gid": gid.map { .int(Int($0)) } ?? .null,
         "role": .string(role.rawValue), "partner": partner.json, "tenant": tenant.json,
         "createdAt": .string(createdAt.rfc3339)]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(id: try o.string("id"), uid: try o.optionalInt("uid").map { UInt32(truncatingIfNeeded: $0) },
                  gid: try o.optionalInt("gid").map { UInt32(truncatingIfNeeded: $0) }, role: try o.enumeration("role"),
                  partner: try o.optionalString("partner"), tenant: try o.optionalString("tenant"),
                  createdAt: try o.timestamp("createdAt"))
    }
}

extension AuditEvent: WireCodable {
    public var wire: JSONObject {
        ["seq": .int(Int(seq)), "at": .string(at.rfc3339), "actor": .string(actor), "method": .string(method),
         "target": target.json, "outcome": .string(outcome), "hash": .string(hash)]
    }
    public init(wire o: JSONObject) throws(VarlinkError) {
        self.init(seq: Int64(try o.int("seq")), at: try o.timestamp("at"), actor: try o.string("actor"),
                  method: try o.string("method"), target: try o.optionalString("target"),
                  outcome: try o.string("outcome"), hash: try o.string("hash"))
    }
}
