import ArgumentParser
import AutopilotClient
import AutopilotDomain

/// How records look in human output: `key: value` blocks for one record, table rows for lists.
enum Render {
    static func text(_ value: String?) -> String { value ?? "-" }
    static func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }
    static func roles(_ roles: [AccountRole]) -> String { roles.isEmpty ? "-" : roles.map(\.rawValue).joined(separator: ",") }

    /// A partner kind in words, with its article: "an indirect CSP reseller".
    static func kindInWords(_ kind: PartnerKind) -> String {
        switch kind {
        case .directCsp: "a direct CSP partner"
        case .indirectProvider: "an indirect CSP provider"
        case .indirectReseller: "an indirect CSP reseller"
        case .oem: "an OEM"
        }
    }

    static func block(_ tenant: Tenant) -> KeyValueBlock {
        KeyValueBlock([
            ("id", tenant.id), ("name", tenant.name), ("domain", tenant.domain),
            ("domains", tenant.domains.joined(separator: ", ")), ("created", tenant.createdAt.rfc3339),
        ])
    }

    static func block(_ account: Account) -> KeyValueBlock {
        KeyValueBlock([
            ("upn", account.upn), ("tenant", account.tenant), ("roles", roles(account.roles)),
            ("cloud-native", yesNo(account.cloudNative)),
        ])
    }

    static func block(_ partner: Partner) -> KeyValueBlock {
        KeyValueBlock([
            ("id", partner.id), ("name", partner.name), ("kind", partner.kind.rawValue),
            ("provider", text(partner.provider)), ("oem direct api", yesNo(partner.oemDirectApi)),
            ("created", partner.createdAt.rfc3339),
        ])
    }

    static func block(_ link: Link) -> KeyValueBlock {
        var b = KeyValueBlock([("id", link.id)])
        b.append("url", link.url, ifPresent: true)
        b.append("partner", link.partner)
        b.append("kind", link.kind.rawValue)
        b.append("delegated admin", yesNo(link.delegatedAdmin))
        if link.delegatedAdmin { b.append("roles", roles(link.roles)) }
        b.append("status", link.status.rawValue)
        b.append("created", link.createdAt.rfc3339)
        b.append("expires", link.expiresAt?.rfc3339 ?? "never")
        b.append("revoked", link.revokedAt?.rfc3339, ifPresent: true)
        b.append("dap days", link.dapDays.map(String.init), ifPresent: true)
        return b
    }

    static func block(_ grant: Grant) -> KeyValueBlock {
        var b = KeyValueBlock([
            ("id", grant.id), ("tenant", grant.tenant), ("partner", grant.partner), ("basis", grant.basis.rawValue),
        ])
        b.append("via", grant.via, ifPresent: true)
        b.append("delegated admin", yesNo(grant.delegatedAdmin))
        if grant.delegatedAdmin { b.append("roles", roles(grant.roles)) }
        if let ends = grant.dapExpiresAt, grant.status == .active {
            b.append(grant.delegatedAdmin ? "dap ends" : "dap ended", ends.rfc3339)
        }
        b.append("granted by", grant.grantedBy)
        b.append("granted", grant.grantedAt.rfc3339)
        b.append("status", grant.status.rawValue)
        b.append("ended", grant.endedAt?.rfc3339, ifPresent: true)
        return b
    }

    static let grantHeaders = ["ID", "TENANT", "PARTNER", "BASIS", "DAP", "ROLES", "DAP ENDS", "STATUS", "GRANTED BY",
                               "GRANTED", "ENDED"]
    static func row(_ g: Grant) -> [String] {
        [g.id, g.tenant, g.partner, g.basis.rawValue, yesNo(g.delegatedAdmin), roles(g.roles), dapEnds(g), g.status.rawValue,
         g.grantedBy, g.grantedAt.rfc3339, text(g.endedAt?.rfc3339)]
    }

    /// When an active grant's DAP ends by itself ("-" when it does not, or the grant ended), or "ended <time>" once
    /// past.
    static func dapEnds(_ g: Grant) -> String {
        guard let ends = g.dapExpiresAt, g.status == .active else { return "-" }
        return g.delegatedAdmin ? ends.rfc3339 : "ended \(ends.rfc3339)"
    }

    static func block(_ request: RevocationRequest) -> KeyValueBlock {
        var b = KeyValueBlock([
            ("id", request.id), ("tenant", request.tenant), ("partner", request.partner),
            ("requested by", request.requestedBy), ("reason", request.reason), ("status", request.status.rawValue),
            ("created", request.createdAt.rfc3339),
        ])
        b.append("decided by", request.decidedBy, ifPresent: true)
        b.append("decided", request.decidedAt?.rfc3339, ifPresent: true)
        b.append("note", request.note, ifPresent: true)
        return b
    }

    static func block(_ batch: Batch) -> KeyValueBlock {
        KeyValueBlock([
            ("id", batch.id), ("name", batch.name), ("partner", batch.partner), ("tenant", batch.tenant),
            ("channel", batch.channel.rawValue), ("status", batch.status.rawValue), ("created", batch.createdAt.rfc3339),
            ("submitted", String(batch.submitted)), ("registered", String(batch.registered)),
            ("updated", String(batch.updated)), ("failed", String(batch.failed)),
        ])
    }

    static func block(_ device: Device) -> KeyValueBlock {
        var b = KeyValueBlock([("id", device.id), ("tenant", device.tenant), ("partner", device.partner),
                               ("batch", device.batch)])
        b.append("serial number", text(device.serialNumber))
        b.append("product key", text(device.productKey))
        b.append("manufacturer", text(device.manufacturer))
        b.append("model", text(device.model))
        b.append("hardware hash sha256", text(device.hardwareHashSha256))
        b.append("group tag", text(device.groupTag))
        b.append("assigned user", text(device.assignedUser))
        b.append("display name", text(device.displayName))
        b.append("purchase order", text(device.purchaseOrder))
        b.append("status", device.status.rawValue)
        b.append("registered", device.registeredAt.rfc3339)
        b.append("deregistered", device.deregisteredAt?.rfc3339, ifPresent: true)
        return b
    }

    static let deviceHeaders = ["ID", "SERIAL", "MANUFACTURER", "MODEL", "PRODUCT KEY", "GROUP TAG", "ASSIGNED USER",
                                "DISPLAY NAME", "PURCHASE ORDER", "TENANT", "PARTNER", "STATUS", "REGISTERED"]
    static func row(_ d: Device) -> [String] {
        [d.id, text(d.serialNumber), text(d.manufacturer), text(d.model), text(d.productKey), text(d.groupTag),
         text(d.assignedUser), text(d.displayName), text(d.purchaseOrder), d.tenant, d.partner, d.status.rawValue,
         d.registeredAt.rfc3339]
    }

    /// Columns of a batch's results; LINE is the row's file line for uploads, `-` for devices sent by the API.
    static let resultHeaders = ["INDEX", "LINE", "STATUS", "DEVICE", "CODE", "NAME", "MESSAGE"]
    static func row(_ r: DeviceResult) -> [String] {
        [String(r.index), r.line.map(String.init) ?? "-", r.status.rawValue, text(r.device),
         r.error?.code.map(String.init) ?? "-", text(r.error?.name), text(r.message)]
    }

    /// `<ErrorName> (<code>): <explanation>` for a failed device, preferring the daemon's message.
    static func failure(_ r: DeviceResult) -> String {
        guard let error = r.error else { return "failed: \(r.message ?? "no reason given")" }
        let code = error.code.map { " (\($0))" } ?? ""
        return "\(error.name)\(code): \(r.message ?? error.explanation)"
    }

    static func print(_ block: KeyValueBlock) { Output.write(block.render()) }

    static func print(_ table: TextTable) { Output.write(table.render()) }
}

extension PartnerKind: ExpressibleByArgument {}
extension Channel: ExpressibleByArgument {}
extension GrantStatus: ExpressibleByArgument {}
extension RevocationStatus: ExpressibleByArgument {}

/// Role names given as repeated options, each possibly comma-separated: `--role A --role B` or `--roles A,B`.
func splitRoles(_ values: [String]) -> [String] {
    values.flatMap { $0.split(separator: ",") }.map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
