import AutopilotDomain
import GRDB

/// Devices after registration (interface.md, "Lifecycle after day one"): changing their properties, deregistering
/// them from the partner's side or the tenant's, and the history of every change (`device_changes`). Each call is one
/// transaction with its audit event, whatever its outcome.
extension RegistryStore {
    /// Sets the properties given on a registered device (nil leaves one, an empty string clears it) and returns it.
    ///
    /// The call acts on the tenant's side when `account` is given: the account (of the device's tenant) needs
    /// GlobalAdministrator, IntuneAdministrator or CloudDeviceAdministrator, and changes anything but the purchase
    /// order, which the tenant's admins only read. Otherwise a partner caller acts as itself
    /// and needs an active grant for the device's tenant; an operator may change any device. Every property that
    /// changes gets one `device_changes` row with its old and new value.
    /// - Throws, in this order: `PermissionDenied` (another tenant's account or device); `NotFound` (device,
    ///   account); `OemNotEligible` (a partner caller that is an OEM without Direct API eligibility);
    ///   `PermissionDenied` (a partner's reach to a device it neither registered nor holds a grant for);
    ///   `AccountRoleRequired`;
    ///   `DeviceError(807)` (deregistered, or outside the account's tenant); `ConsentRequired` (a device the partner
    ///   registered, in a tenant whose grant ended); `InvalidInput` (a value, or nothing to change).
    public func updateDevice(_ context: OperationContext, device id: String, account: String?, groupTag: String?,
                             assignedUser: String?, displayName: String?, purchaseOrder: String?) async throws -> Device {
        try await change(context) { tx in
            let acting = try account.map { try Self.actingAccount(tx, $0) }
            let found = try Self.requireDevice(tx, id)
            tx.target("tenant", found.tenant)
            try Self.requireTenantReach(tx, found)
            let partner = tx.caller.role == .partner ? tx.caller.partner : nil
            var partnerHasGrant = true
            if account == nil, let partner {
                try DeviceRules.checkDirectApiEligibility(try tx.requirePartner(partner))
                partnerHasGrant = try Fetch.hasActiveGrant(tx.db, partner: partner, tenant: found.tenant)
                // Another partner's device, in a tenant that gave this one nothing: not its own to reach.
                if !partnerHasGrant && found.partner != partner { throw tx.caller.refusal(tx.method) }
            }
            var actingTenant: String?
            if let account {
                let acct = try Self.existing(acting ?? nil, account)
                try DeviceRules.checkDeviceAdmin(acct)
                actingTenant = acct.tenant
            }
            try DeviceRules.checkChangeable(Self.ownership(found), tenant: actingTenant)
            if let partner, !partnerHasGrant { throw RegistryError.consentRequired(partner: partner, tenant: found.tenant) }

            let change = try DeviceRules.propertyChange(groupTag: groupTag, assignedUser: assignedUser,
                                                        displayName: displayName, purchaseOrder: purchaseOrder)
            if change.isEmpty {
                throw RegistryError.invalidInput(field: "device", reason: "nothing to change: give groupTag, "
                    + "assignedUser, displayName or purchaseOrder (an empty string clears one)")
            }
            if actingTenant != nil { try DeviceRules.checkTenantChange(change) }
            if case let .some(.some(user)) = change.assignedUser {
                try DeviceRules.checkAssignedUserDomain(user, tenantDomains: try Self.tenantDomains(tx.db, found.tenant))
            }
            var log = DeviceChangeLog(tx)
            return try log.apply(change, to: found, uploadBatch: nil)
        }
    }

    /// Deregisters one device, keeping its row (status, time, who) and recording the change in `device_changes`.
    ///
    /// On the partner's side (`partner`, no `account`): a partner may always deregister devices it registered (an OEM
    /// while it is eligible for the Direct API); any other device needs an active grant for its tenant (811). On the
    /// tenant's side (`account`, no `partner`): the account needs GlobalAdministrator, IntuneAdministrator or
    /// CloudDeviceAdministrator and removes a device of its own tenant, whoever registered it; a device named by tuple
    /// or product key is looked for in that tenant only.
    /// - Throws: `PermissionDenied` (another tenant's account or device); `NotFound` (partner, tenant, device id,
    ///   account); `OemNotEligible` (the partner's side, for an OEM without Direct API eligibility); `InvalidInput`
    ///   (not exactly one way of naming the device; a partner named on the tenant's side, or neither side named);
    ///   `AccountRoleRequired`; `DeviceError(807)` when no such device is registered (in the tenant named, or the
    ///   account's), `DeviceError(813)` when a tuple names several, `DeviceError(811)` when the partner neither
    ///   registered it nor holds consent for its tenant.
    public func deregisterDevice(_ context: OperationContext, partner: String?, account: String? = nil, device: String?,
                                 serialNumber: String?, manufacturer: String?, model: String?, productKey: String?,
                                 tenant: String?) async throws -> Device {
        try await change(context) { tx in
            let acting = try account.map { try Self.actingAccount(tx, $0) }
            if account != nil, partner != nil {
                throw RegistryError.invalidInput(field: "partner", reason: "a tenant account removes its tenant's own "
                    + "devices: name the account or the partner, not both")
            }
            if account == nil, partner == nil {
                throw RegistryError.invalidInput(field: "partner", reason: "name the partner (the partner's side) or "
                    + "the account (the tenant's side) the call acts as")
            }
            if let partner { try DeviceRules.checkDirectApiEligibility(try tx.requirePartner(partner)) }
            if let tenant { try Self.requireTenantExists(tx, tenant) }
            let target = try DeregistrationTarget.from(device: device, serialNumber: serialNumber,
                                                       manufacturer: manufacturer, model: model, productKey: productKey)
            var log = DeviceChangeLog(tx)
            if let account {
                let acct = try Self.existing(acting ?? nil, account)
                // Which error wins (interface.md): an id names a device that may not exist (NotFound) or be another
                // tenant's (PermissionDenied), both before the account's roles; a tuple or product key is looked for
                // among the tenant's registered devices, and finding none is the device's state (807), after them.
                var byID: Device?
                if case .id = target {
                    byID = try Self.locate(tx, target, inTenant: acct.tenant)
                    try Self.requireTenantReach(tx, byID!)
                }
                try DeviceRules.checkDeviceAdmin(acct)
                let found = try byID ?? Self.locate(tx, target, inTenant: acct.tenant)
                try Self.requireTenantReach(tx, found)
                try DeviceRules.checkChangeable(Self.ownership(found), tenant: acct.tenant)
                try DeviceRules.checkChangeable(Self.ownership(found), tenant: tenant)
                return try log.deregister(found, byPartner: nil, byAccount: acct.upn)
            }
            guard let partner else { throw RegistryError.invalidInput(field: "partner", reason: "name the partner") }
            let found = try Self.locate(tx, target, inTenant: nil)
            tx.target("tenant", found.tenant)
            let hasGrant = found.partner == partner
                ? true : try Fetch.hasActiveGrant(tx.db, partner: partner, tenant: found.tenant)
            try DeviceRules.checkDeregistration(Self.ownership(found), partner: partner, namedTenant: tenant, hasGrant: hasGrant)
            return try log.deregister(found, byPartner: partner, byAccount: nil)
        }
    }

    // MARK: shared pieces

    /// The device with this id, registered or not, or `NotFound(device)`; the audit event names it either way.
    static func requireDevice(_ tx: Transaction, _ id: String) throws -> Device {
        tx.target("device", id)
        guard let found = try fetchDevice(tx.db, id) else { throw RegistryError.notFound(kind: "device", id: id) }
        return found
    }

    /// The device with this id, registered or not.
    static func fetchDevice(_ db: Database, _ id: String) throws -> Device? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT \(deviceColumns) FROM devices WHERE id = ?"), arguments: [id])
            .map(device)
    }

    /// The device a deregistration names: by id, whatever its state (`NotFound` for an unknown id); by product key or
    /// tuple, the registered device, in `tenant` when one is given (807 when there is none, 813 when a tuple whose
    /// serial number is a placeholder names several).
    static func locate(_ tx: Transaction, _ target: DeregistrationTarget, inTenant tenant: String?) throws -> Device {
        let row: Row?
        switch target {
        case let .id(id):
            return try requireDevice(tx, id)
        case let .productKey(key):
            row = try Row.fetchOne(tx.db, sql: """
                SELECT \(deviceColumns) FROM devices
                WHERE product_key = ? AND status = 'registered' AND (?2 IS NULL OR tenant_id = ?2)
                """, arguments: [key, tenant])
        case let .tuple(t):
            let rows = try Row.fetchAll(tx.db, sql: """
                SELECT \(deviceColumns) FROM devices
                WHERE manufacturer = ? AND model = ? AND serial_number = ? AND status = 'registered'
                  AND (?4 IS NULL OR tenant_id = ?4)
                LIMIT 2
                """, arguments: [t.manufacturer, t.model, t.serialNumber, tenant])
            if rows.count > 1 { throw RegistryError.deviceError(.ztdDeviceIsNotUnique) }
            row = rows.first
        }
        guard let row else { throw RegistryError.deviceError(.ztdDeviceIsNotRegistered) }
        let found = device(row)
        tx.target("device", found.id)
        return found
    }

    /// Refuses a tenant caller reaching a device of another tenant (as it would another tenant's batch); names the
    /// device's tenant in the audit event.
    static func requireTenantReach(_ tx: Transaction, _ device: Device) throws {
        tx.target("tenant", device.tenant)
        try tx.caller.requireTenant(device.tenant, tx.method)
    }

    /// What the device rules need to know of a device.
    static func ownership(_ d: Device) -> DeviceOwnership {
        DeviceOwnership(tenant: d.tenant, partner: d.partner, status: d.status)
    }

    /// The domains a tenant owns.
    static func tenantDomains(_ db: Database, _ tenant: String) throws -> Set<String> {
        Set(try String.fetchAll(db.cachedStatement(sql: "SELECT domain FROM tenant_domains WHERE tenant_id = ?"),
                                arguments: [tenant]))
    }
}

/// Writes the changes of one transaction to registered devices, and one `device_changes` row per property changed,
/// each naming the audit event the transaction appends when it commits (its `seq`, known before: the store has one
/// writer, and the event is the transaction's last write).
struct DeviceChangeLog {
    let tx: Transaction
    private var auditSeq: Int64?

    init(_ tx: Transaction) { self.tx = tx }

    /// Applies `change` to `device` (one UPDATE of the properties that differ) and records each difference; an
    /// upload's batch is named as the change's source. Returns the device as it now is.
    mutating func apply(_ change: DevicePropertyChange, to device: Device, uploadBatch: String?) throws -> Device {
        let differences = change.differences(from: device)
        guard !differences.isEmpty else { return device }
        let assignments = differences.map { "\($0.property.rawValue) = ?" }.joined(separator: ", ")
        let values: [(any DatabaseValueConvertible)?] = differences.map { $0.new } + [device.id]
        try tx.db.execute(sql: "UPDATE devices SET \(assignments) WHERE id = ?", arguments: StatementArguments(values))
        for d in differences {
            try record(device.id, d.property, old: d.old, new: d.new, uploadBatch: uploadBatch)
        }
        return change.applied(to: device)
    }

    /// Marks a registered device deregistered by a partner or a tenant account, and records it.
    mutating func deregister(_ device: Device, byPartner partner: String?, byAccount account: String?) throws -> Device {
        try tx.db.execute(sql: """
            UPDATE devices SET status = 'deregistered', deregistered_at = ?, deregistered_by = ?,
                               deregistered_by_account = ?
            WHERE id = ?
            """, arguments: [tx.now.rfc3339, partner, account, device.id])
        try record(device.id, .status, old: DeviceStatus.registered.rawValue, new: DeviceStatus.deregistered.rawValue,
                   uploadBatch: nil)
        var d = device
        d.status = .deregistered
        d.deregisteredAt = tx.now
        return d
    }

    private mutating func record(_ device: String, _ property: DeviceProperty, old: String?, new: String?,
                                 uploadBatch: String?) throws {
        if auditSeq == nil {
            auditSeq = try Int64.fetchOne(tx.db, sql: "SELECT ifnull(max(seq), 0) + 1 FROM audit_events") ?? 1
        }
        try tx.db.cachedStatement(sql: """
            INSERT INTO device_changes (audit_seq, device_id, property, old_value, new_value, upload_batch_id)
            VALUES (?, ?, ?, ?, ?, ?)
            """).execute(arguments: [auditSeq, device, property.rawValue, old, new, uploadBatch])
    }
}
