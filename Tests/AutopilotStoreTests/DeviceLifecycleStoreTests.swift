import AutopilotDomain
import AutopilotInterface
@testable import AutopilotStore
import AutopilotTestSupport
import Foundation
import GRDB
import Testing

private let contoso = DeviceWorld.contoso, fabrikam = DeviceWorld.fabrikam
private let csp = DeviceWorld.csp, provider = DeviceWorld.provider, oem = DeviceWorld.oem

/// Contoso's people besides its Global Administrator: an Intune Administrator, a Cloud Device Administrator and a
/// Global Reader (who may read but not manage devices).
private let intuneAdmin = "intune@contoso.onmicrosoft.com", deviceAdmin = "devices@contoso.onmicrosoft.com"
private let reader = "reader@contoso.onmicrosoft.com"

/// The rows of `sql`, each as its columns' values in order (NULL for null) joined with spaces.
func lines(_ store: RegistryStore, _ sql: String) async throws -> [String] {
    try await store.queryForTesting { db in
        try Row.fetchAll(db, sql: sql).map { row in
            row.databaseValues.map { value in value.isNull ? "NULL" : String(describing: value.storage.value!) }
                .joined(separator: " ")
        }
    }
}

extension DeviceWorld {
    /// Adds Contoso's device administrators and reader, and a custom domain for assigned users.
    func addContosoPeople() async throws {
        for (upn, role) in [(intuneAdmin, "IntuneAdministrator"), (deviceAdmin, "CloudDeviceAdministrator"),
                            (reader, "GlobalReader")] {
            _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: Self.contoso, upn: upn, roles: [role])
        }
        _ = try await store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: Self.contoso, domain: "contoso.com")
    }

    /// A call made by a Unix user bound to a tenant account, as the dispatcher hands it to the store.
    static func asTenant(_ tenant: String, account: String, _ method: MethodInfo) -> OperationContext {
        OperationContext(caller: Caller(uid: 2000, gid: 2000, pid: 1, role: .tenant, tenant: tenant, account: account),
                         method: method)
    }

    /// A call made by a partner's person.
    static func asPartner(_ partner: String, _ method: MethodInfo) -> OperationContext {
        OperationContext(caller: Caller(uid: 3000, gid: 3000, pid: 1, role: .partner, partner: partner), method: method)
    }

    /// UpdateDevice as `context`'s caller, acting as `account` when given.
    @discardableResult
    func update(_ device: String?, as context: OperationContext = asOperator(Registry.UpdateDevice.info),
                account: String? = nil, groupTag: String? = nil, assignedUser: String? = nil, displayName: String? = nil,
                purchaseOrder: String? = nil) async throws -> Device {
        try await store.updateDevice(context, device: device ?? "", account: account, groupTag: groupTag,
                                     assignedUser: assignedUser, displayName: displayName, purchaseOrder: purchaseOrder)
    }

    /// The device history rows, oldest first, as `property old→new by method`.
    func history() async throws -> [String] {
        try await lines(store, """
            SELECT property || ' ' || ifnull(old_value, '-') || '→' || ifnull(new_value, '-') || ' ' || method
            FROM device_change_history ORDER BY change_id
            """)
    }

    /// One UploadDeviceCsv call of `csv` into `batch`.
    func upload(_ batch: String, _ csv: String, updateExisting: Bool) async throws -> BatchResults {
        try await store.uploadDeviceCsv(asOperator(Registry.UploadDeviceCsv.info), batch: batch, csv: csv, line: nil,
                                        updateExisting: updateExisting)
    }

    /// The device with this id, read back.
    func device(_ id: String?) async throws -> Device? {
        try await list(DeviceFilter(includeDeregistered: true, device: id)).devices.first
    }
}

/// UpdateDevice in the store: who may change a device, what values it takes, and the history every change leaves.
@Suite struct DeviceUpdateStoreTests {
    @Test func aDeviceAdministratorOfTheTenantChangesPropertiesAndEachChangeIsRecordedWithItsEvent() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(csp, contoso)
        let id = try #require(try await world.register(csp, contoso, [.byHash(1)])[0].device)

        let context = DeviceWorld.asTenant(contoso, account: intuneAdmin, Registry.UpdateDevice.info)
        let changed = try await world.update(id, as: context, account: intuneAdmin, groupTag: "  Kiosk ",
                                             assignedUser: "Alice@Contoso.com", displayName: "CTS-KIOSK-01")
        #expect(changed.groupTag == "Kiosk" && changed.assignedUser == "alice@contoso.com")
        #expect(changed.displayName == "CTS-KIOSK-01")
        #expect(try await world.device(id) == changed)
        // The purchase order is the partner's to state; the tenant's admins read it.
        await expectInvalid("purchaseOrder") {
            try await world.update(id, as: context, account: intuneAdmin, groupTag: "Lobby", purchaseOrder: "PO-2026-118")
        }
        let ordered = try await world.update(id, as: DeviceWorld.asPartner(csp, Registry.UpdateDevice.info),
                                             purchaseOrder: "PO-2026-118")
        #expect(ordered.purchaseOrder == "PO-2026-118" && ordered.groupTag == "Kiosk")

        // The same values again change nothing and add no history; an empty string clears one property.
        try await world.update(id, as: context, account: intuneAdmin, groupTag: "Kiosk")
        let cleared = try await world.update(id, as: DeviceWorld.asTenant(contoso, account: deviceAdmin, Registry.UpdateDevice.info),
                                             account: deviceAdmin, displayName: "")
        #expect(cleared.displayName == nil && cleared.groupTag == "Kiosk" && cleared.purchaseOrder == "PO-2026-118")
        #expect(try await world.history() == [
            "group_tag -→Kiosk UpdateDevice", "assigned_user -→alice@contoso.com UpdateDevice",
            "display_name -→CTS-KIOSK-01 UpdateDevice", "purchase_order -→PO-2026-118 UpdateDevice",
            "display_name CTS-KIOSK-01→- UpdateDevice",
        ])
        // Each change names the audit event of its call, and that event its actor and the account acted as.
        let rows = try await lines(world.store, """
            SELECT h.changed_by, h.actor_role, e.method, e.outcome, instr(e.target, 'device:\(id)') > 0
            FROM device_change_history h JOIN audit_events e ON e.seq = h.audit_seq ORDER BY h.change_id
            """)
        #expect(rows == Array(repeating: "\(intuneAdmin) tenant UpdateDevice ok 1", count: 3)
            + ["\(csp) partner UpdateDevice ok 1", "\(deviceAdmin) tenant UpdateDevice ok 1"])
        let events = try await world.store.auditEventsForTesting().filter { $0.method == "UpdateDevice" }
        #expect(events.map(\.outcome) == ["ok", "InvalidInput", "ok", "ok", "ok"])
    }

    @Test func anAccountWithoutADeviceRoleIsAccountRoleRequiredAndNothingChanges() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(csp, contoso)
        let id = try #require(try await world.register(csp, contoso, [.byTuple(1)])[0].device)
        let roles: [AccountRole] = [.globalAdministrator, .intuneAdministrator, .cloudDeviceAdministrator]
        await expectError(.accountRoleRequired(account: reader, roles: roles)) {
            try await world.update(id, as: DeviceWorld.asTenant(contoso, account: reader, Registry.UpdateDevice.info),
                                   account: reader, groupTag: "Sales")
        }
        // The Global Administrator needs no other role.
        try await world.update(id, as: DeviceWorld.asTenant(contoso, account: DeviceWorld.admin(contoso), Registry.UpdateDevice.info),
                               account: DeviceWorld.admin(contoso), displayName: "SALES-7")
        #expect(try await world.history() == ["display_name -→SALES-7 UpdateDevice"])
        let outcomes = try await world.store.auditEventsForTesting().filter { $0.method == "UpdateDevice" }.map(\.outcome)
        #expect(outcomes == ["AccountRoleRequired", "ok"])
    }

    @Test func aTenantReachesOnlyItsOwnTenantsDevices() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(csp, fabrikam)
        let theirs = try #require(try await world.register(csp, fabrikam, [.byProductKey(1)])[0].device)
        await expectError(.permissionDenied(method: "UpdateDevice", role: .tenant)) {
            try await world.update(theirs, as: DeviceWorld.asTenant(contoso, account: intuneAdmin, Registry.UpdateDevice.info),
                                   account: intuneAdmin, groupTag: "Mine now")
        }
        // An operator acting as Contoso's account finds the device outside that tenant.
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) {
            try await world.update(theirs, account: intuneAdmin, groupTag: "Mine now")
        }
        #expect(try await world.device(theirs)?.groupTag == nil)
        let refusal = try #require(try await world.store.auditEventsForTesting().last { $0.method == "UpdateDevice" &&
            $0.outcome == "PermissionDenied" })
        #expect(refusal.target?.contains("device:\(theirs)") == true && refusal.actor.contains("account=\(intuneAdmin)"))
    }

    @Test func aPartnerNeedsAnActiveGrantForTheDevicesTenant() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(provider, contoso)
        let id = try #require(try await world.register(csp, contoso, [.byProductKey(1)])[0].device)
        // Another partner with consent from the tenant may change it; one without is not reaching its own.
        try await world.update(id, as: DeviceWorld.asPartner(provider, Registry.UpdateDevice.info), groupTag: "Retail")
        await expectError(.permissionDenied(method: "UpdateDevice", role: .partner)) {
            try await world.update(id, as: DeviceWorld.asPartner(oem, Registry.UpdateDevice.info), groupTag: "OEM")
        }
        // Its own device, once the tenant ended its consent: ConsentRequired.
        try await world.endConsent(csp, contoso)
        await expectError(.consentRequired(partner: csp, tenant: contoso)) {
            try await world.update(id, as: DeviceWorld.asPartner(csp, Registry.UpdateDevice.info), groupTag: "Gone")
        }
        #expect(try await world.device(id)?.groupTag == "Retail")
        let outcomes = try await world.store.auditEventsForTesting().filter { $0.method == "UpdateDevice" }.map(\.outcome)
        #expect(outcomes == ["ok", "PermissionDenied", "ConsentRequired"])
    }

    @Test func valuesFollowTheRegistrationRulesAndADisplayNameIsAComputerName() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(csp, contoso)
        let id = try #require(try await world.register(csp, contoso, [.byProductKey(1)])[0].device)
        await expectInvalid("displayName") { try await world.update(id, displayName: "LAPTOP-0123456789") }
        await expectInvalid("displayName") { try await world.update(id, displayName: "Sales laptop") }
        await expectInvalid("displayName") { try await world.update(id, displayName: "12345") }
        await expectInvalid("assignedUser") { try await world.update(id, assignedUser: "eve@fabrikam.onmicrosoft.com") }
        await expectInvalid("assignedUser") { try await world.update(id, assignedUser: "not a upn") }
        await expectInvalid("groupTag") { try await world.update(id, groupTag: String(repeating: "x", count: 256)) }
        await expectInvalid("groupTag") { try await world.update(id, groupTag: "a\u{1}b") }
        await expectInvalid("purchaseOrder") { try await world.update(id, purchaseOrder: "PO\n1") }
        await expectInvalid("device") { try await world.update(id) }
        await expectError(.notFound(kind: "device", id: "ghost")) { try await world.update("ghost", groupTag: "x") }
        // At the limits.
        let limits = try await world.update(id, groupTag: String(repeating: "é", count: 127) + "x",
                                            assignedUser: "bob@contoso.com", displayName: "A23456789012345")
        #expect(limits.displayName == "A23456789012345" && limits.groupTag?.utf8.count == 255)
        // A deregistered device cannot be changed.
        try await world.deregister(csp, device: id)
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) { try await world.update(id, groupTag: "late") }
        #expect(try await world.device(id)?.assignedUser == "bob@contoso.com")
    }
}

/// DeregisterDevice from the tenant's side, and the history a deregistration leaves on either side.
@Suite struct TenantDeregistrationStoreTests {
    func deregister(_ world: DeviceWorld, as account: String, device: String? = nil, tuple: DeviceTuple? = nil,
                    productKey: String? = nil, partner: String? = nil, caller: OperationContext? = nil) async throws -> Device {
        try await world.store.deregisterDevice(
            caller ?? DeviceWorld.asTenant(contoso, account: account, Registry.DeregisterDevice.info), partner: partner,
            account: account, device: device, serialNumber: tuple?.serialNumber, manufacturer: tuple?.manufacturer,
            model: tuple?.model, productKey: productKey, tenant: nil)
    }

    @Test func aDeviceAdministratorRemovesAnyDeviceOfItsTenantWhoeverRegisteredIt() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(csp, contoso)
        try await world.consent(oem, contoso)
        let byCSP = try await world.register(csp, contoso, [.byHash(1), .byProductKey(2)])
        try await world.register(oem, contoso, [.byTuple(3)])
        // The partner's consent has ended: the tenant still removes its devices itself.
        try await world.endConsent(csp, contoso)

        let first = try await deregister(world, as: deviceAdmin, device: byCSP[0].device)
        #expect(first.status == .deregistered && first.partner == csp)
        _ = try await deregister(world, as: intuneAdmin, productKey: sampleProductKey(2))
        let tuple = DeviceTuple(manufacturer: "Contoso", model: "Laptop 7", serialNumber: "SN-T3")
        _ = try await deregister(world, as: DeviceWorld.admin(contoso), tuple: tuple)
        #expect(try await world.list().devices.isEmpty)

        let who = try await lines(world.store, """
            SELECT ifnull(deregistered_by, '-'), deregistered_by_account FROM device_registrations
            """)
        #expect(Set(who) == ["- \(deviceAdmin)", "- \(intuneAdmin)", "- \(DeviceWorld.admin(contoso))"])
        #expect(try await world.history() == Array(repeating: "status registered→deregistered DeregisterDevice", count: 3))
        #expect(try await lines(world.store, "SELECT changed_by FROM device_change_history ORDER BY change_id")
            == [deviceAdmin, intuneAdmin, DeviceWorld.admin(contoso)])
    }

    @Test func theTenantsSideRefusesWhatIsNotItsOwnToRemove() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(csp, contoso)
        try await world.consent(csp, fabrikam)
        let mine = try #require(try await world.register(csp, contoso, [.byTuple(1)])[0].device)
        let theirs = try await world.register(csp, fabrikam, [.byTuple(2), .byProductKey(3)])

        let roles: [AccountRole] = [.globalAdministrator, .intuneAdministrator, .cloudDeviceAdministrator]
        await expectError(.accountRoleRequired(account: reader, roles: roles)) {
            _ = try await deregister(world, as: reader, device: mine)
        }
        // The account's roles are checked before the device's state: by identifiers that match nothing, the same.
        await expectError(.accountRoleRequired(account: reader, roles: roles)) {
            _ = try await deregister(world, as: reader, tuple: DeviceTuple(manufacturer: "Contoso", model: "Laptop 7",
                                                                           serialNumber: "NOPE"))
        }
        await expectInvalid("partner") { _ = try await deregister(world, as: deviceAdmin, device: mine, partner: csp) }
        // Another tenant's device: by id, refused; by its identifiers, not found among Contoso's.
        await expectError(.permissionDenied(method: "DeregisterDevice", role: .tenant)) {
            _ = try await deregister(world, as: deviceAdmin, device: theirs[0].device)
        }
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) {
            _ = try await deregister(world, as: deviceAdmin, tuple: DeviceTuple(manufacturer: "Contoso", model: "Laptop 7",
                                                                                serialNumber: "SN-T2"))
        }
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) {
            _ = try await deregister(world, as: deviceAdmin, productKey: sampleProductKey(3))
        }
        // An operator acting as Contoso's account, by id: 807.
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) {
            _ = try await deregister(world, as: deviceAdmin, device: theirs[1].device,
                                     caller: asOperator(Registry.DeregisterDevice.info))
        }
        _ = try await deregister(world, as: deviceAdmin, device: mine)
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) { _ = try await deregister(world, as: deviceAdmin, device: mine) }
        #expect(try await world.list().devices.count == 2)
        let outcomes = try await world.store.auditEventsForTesting().filter { $0.method == "DeregisterDevice" }.map(\.outcome)
        #expect(outcomes == ["AccountRoleRequired", "AccountRoleRequired", "InvalidInput", "PermissionDenied",
                             "DeviceError", "DeviceError", "DeviceError", "ok", "DeviceError"])
    }

    @Test func aCallNamingNeitherSideIsInvalidInputAndRecorded() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let id = try #require(try await world.register(csp, contoso, [.byProductKey(1)])[0].device)
        await expectInvalid("partner") {
            _ = try await world.store.deregisterDevice(asOperator(Registry.DeregisterDevice.info), partner: nil, account: nil,
                                                       device: id, serialNumber: nil, manufacturer: nil, model: nil,
                                                       productKey: nil, tenant: nil)
        }
        #expect(try await world.list().devices.count == 1)
        #expect(try await world.store.auditEventsForTesting().last?.outcome == "InvalidInput")
    }

    @Test func anOemWithoutDirectApiEligibilityNeitherDeregistersNorChangesItsDevices() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(oem, contoso)
        let ids = try await world.register(oem, contoso, [.byTuple(1), .byProductKey(2)]).map(\.device)
        let (first, second) = (try #require(ids[0]), try #require(ids[1]))
        _ = try await world.store.setOemEligibility(asOperator(Registry.SetOemEligibility.info), partner: oem, eligible: false)

        let asOem = { (method: MethodInfo) in DeviceWorld.asPartner(oem, method) }
        await expectError(.oemNotEligible(partner: oem)) {
            try await world.update(first, as: asOem(Registry.UpdateDevice.info), groupTag: "Kiosk")
        }
        await expectError(.oemNotEligible(partner: oem)) {
            _ = try await world.store.deregisterDevice(asOem(Registry.DeregisterDevice.info), partner: oem, device: first,
                                                       serialNumber: nil, manufacturer: nil, model: nil, productKey: nil,
                                                       tenant: nil)
        }
        // The operator acting on the OEM's side is held to the same rule, whichever way the device is named.
        await expectError(.oemNotEligible(partner: oem)) {
            _ = try await world.deregister(oem, tuple: DeviceTuple(manufacturer: "Contoso", model: "Laptop 7",
                                                                   serialNumber: "SN-T1"))
        }
        #expect(try await lines(world.store, "SELECT status, ifnull(group_tag, '-') FROM devices ORDER BY id")
            == ["registered -", "registered -"])
        #expect(try await world.history().isEmpty)
        let refused = try await world.store.auditEventsForTesting().filter {
            $0.method == "UpdateDevice" || $0.method == "DeregisterDevice"
        }
        #expect(refused.map(\.outcome) == Array(repeating: "OemNotEligible", count: 3))

        // The tenant's own admins still remove what the OEM registered; eligible again, the OEM acts again.
        _ = try await deregister(world, as: deviceAdmin, device: second)
        _ = try await world.store.setOemEligibility(asOperator(Registry.SetOemEligibility.info), partner: oem, eligible: true)
        try await world.update(first, as: asOem(Registry.UpdateDevice.info), groupTag: "Kiosk")
        #expect(try await world.deregister(oem, device: first).status == .deregistered)
        #expect(try await world.history() == ["status registered→deregistered DeregisterDevice",
                                              "group_tag -→Kiosk UpdateDevice",
                                              "status registered→deregistered DeregisterDevice"])
    }

    @Test func aPartnersDeregistrationIsInTheHistoryToo() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let id = try #require(try await world.register(csp, contoso, [.byProductKey(1)])[0].device)
        try await world.deregister(csp, device: id)
        #expect(try await lines(world.store, """
            SELECT changed_by, property, old_value, new_value, device_id FROM device_change_history
            """) == ["uid=0 status registered deregistered \(id)"])
        #expect(try await lines(world.store, "SELECT deregistered_by, deregistered_by_account FROM devices") == ["\(csp) NULL"])
    }

    @Test func theHistoryIsAppendOnly() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let id = try #require(try await world.register(csp, contoso, [.byProductKey(1)])[0].device)
        try await world.update(id, groupTag: "A")
        try await world.store.withDatabaseForTesting { db in
            for sql in ["UPDATE device_changes SET new_value = 'B'", "DELETE FROM device_changes"] {
                #expect(throws: DatabaseError.self) { try db.execute(sql: sql) }
            }
        }
    }
}

/// `updateExisting` on uploads: a device already registered to the same tenant takes the submitted group tag and
/// assigned user; anything else is what it was without it.
@Suite struct UpdateExistingStoreTests {
    @Test func aCSVWithGroupTagsReTagsRegisteredDevicesAndRegistersTheRest() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(csp, contoso)
        try await world.consent(csp, fabrikam)
        var tagged = DeviceInput.byHash(1); tagged.groupTag = "Old"; tagged.assignedUser = "ann@contoso.com"
        var second = DeviceInput.byHash(2); second.groupTag = "Old"
        let first = try await world.register(csp, contoso, [tagged, second])
        try await world.register(csp, fabrikam, [.byHash(3)])

        // A re-capture of machine 1 (another hash of the same machine), machine 2 with an empty tag cell, a new
        // machine, Fabrikam's machine, and machine 1 again.
        let recapture = SyntheticHardwareHash.base64(SyntheticHardwareHash.recapture(sampleHashBytes(1), revision: 2))
        let csv = """
            Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User
            SN-H1,,\(recapture),New,bob@contoso.com
            SN-H2,,\(sampleHash(2)),,
            SN-H4,,\(sampleHash(4)),New,
            SN-H3,,\(sampleHash(3)),New,
            SN-H1,,\(sampleHash(1)),Again,
            """
        let batch = try await world.openBatch(csp, contoso, channel: .upload, name: "re-tag")
        let reply = try await world.upload(batch.id, csv, updateExisting: true)
        #expect(reply.results.map(\.outcome) == ["updated", "updated", "registered", "ZtdDeviceAssignedToOtherTenant",
                                                "ZtdDeviceDuplicated"])
        #expect(reply.results[0].device == first[0].device && reply.results[1].device == first[1].device)
        #expect(reply.results.map(\.line) == [2, 3, 4, 5, 6])
        #expect(reply.batch.registered == 1 && reply.batch.updated == 2 && reply.batch.failed == 2 && reply.batch.submitted == 5)
        #expect(reply.batch.status == .finishedWithErrors)
        let one = try #require(try await world.device(first[0].device)), two = try #require(try await world.device(first[1].device))
        #expect(one.groupTag == "New" && one.assignedUser == "bob@contoso.com" && one.batch != batch.id)
        #expect(two.groupTag == nil && two.assignedUser == nil)
        // Stored as they were answered, and each change names the upload's batch.
        let stored = try await world.store.getBatch(asOperator(Registry.GetBatch.info), batch: batch.id)
        #expect(stored.results == reply.results && stored.batch == reply.batch)
        let sources = try await lines(world.store, """
            SELECT property, ifnull(old_value, '-'), ifnull(new_value, '-'), upload_batch_id, method
            FROM device_change_history ORDER BY change_id
            """)
        #expect(sources == ["group_tag Old New \(batch.id) UploadDeviceCsv",
                            "assigned_user ann@contoso.com bob@contoso.com \(batch.id) UploadDeviceCsv",
                            "group_tag Old - \(batch.id) UploadDeviceCsv"])
    }

    @Test func aFormWithoutTagColumnsLeavesTagsAloneAndWithoutTheFlagNothingChanges() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        var input = DeviceInput.byTuple(1); input.groupTag = "Keep"
        try await world.register(csp, contoso, [input])
        let csv = "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model\nSN-T1,,,Contoso,Laptop 7\n"
        let batch = try await world.openBatch(csp, contoso, channel: .upload)
        let without = try await world.upload(batch.id, csv, updateExisting: false)
        #expect(without.results.map(\.outcome) == ["ZtdDeviceAlreadyAssigned"])
        let with = try await world.upload(batch.id, csv, updateExisting: true)
        #expect(with.results.map(\.outcome) == ["updated"] && with.batch.updated == 1 && with.batch.failed == 1)
        #expect(try await world.list().devices.map(\.groupTag) == ["Keep"])
        #expect(try await world.history().isEmpty)
    }

    @Test func overTheAPIAnOmittedMemberStaysAndAnEmptyOneClears() async throws {
        let world = try await DeviceWorld()
        try await world.addContosoPeople()
        try await world.consent(csp, contoso)
        var a = DeviceInput.byProductKey(1); a.groupTag = "A"; a.assignedUser = "ann@contoso.com"
        var b = DeviceInput.byProductKey(2); b.groupTag = "B"; b.assignedUser = "bob@contoso.com"
        try await world.register(csp, contoso, [a, b])
        var newA = DeviceInput.byProductKey(1); newA.groupTag = "A2"
        var newB = DeviceInput.byProductKey(2); newB.groupTag = ""; newB.assignedUser = "eve@fabrikam.onmicrosoft.com"
        let batch = try await world.openBatch(csp, contoso)
        let reply = try await world.store.addDevices(asOperator(Registry.AddDevices.info), batch: batch.id,
                                                     devices: [newA, newB], updateExisting: true)
        // An assigned user outside the tenant is refused as at registration (801), and the device stays as it was.
        #expect(reply.results.map(\.outcome) == ["updated", "InvalidZtdRequestBody"])
        let devices = try await world.list().devices.sorted { $0.productKey! < $1.productKey! }
        #expect(devices.map(\.groupTag) == ["A2", "B"] && devices.map(\.assignedUser) == ["ann@contoso.com", "bob@contoso.com"])
    }
}

extension UpdateExistingStoreTests {
    @Test func twoRowsNamingOneRegisteredDeviceByDifferentIdentifiersUpdateItOnce() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        var both = DeviceInput.byTuple(1); both.productKey = sampleProductKey(1)
        try await world.register(csp, contoso, [both])
        var byKey = DeviceInput.byProductKey(1); byKey.groupTag = "First"
        var byTuple = DeviceInput.byTuple(1); byTuple.groupTag = "Second"
        let batch = try await world.openBatch(csp, contoso)
        let reply = try await world.store.addDevices(asOperator(Registry.AddDevices.info), batch: batch.id,
                                                     devices: [byKey, byTuple], updateExisting: true)
        #expect(reply.results.map(\.outcome) == ["updated", "ZtdDeviceDuplicated"])
        #expect(reply.batch.updated == 1 && reply.batch.failed == 1)
        #expect(try await world.list().devices.map(\.groupTag) == ["First"])
        // The upload's event names its batch, not every device it updated.
        let event = try #require(try await world.store.auditEventsForTesting().last)
        #expect(event.method == "AddDevices" && event.target?.contains("device:") == false)
    }
}

/// Batch names are unique per partner and tenant.
@Suite struct BatchNameStoreTests {
    @Test func aSecondBatchOfTheSameNameIsAlreadyExistsIgnoringCaseAndSurroundingSpaces() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(csp, fabrikam)
        try await world.consent(provider, contoso)
        _ = try await world.openBatch(csp, contoso, name: "March laptops")
        for name in ["March laptops", "  march LAPTOPS "] {
            await expectError(.alreadyExists(kind: "batch", id: Validate.trim(name))) {
                _ = try await world.openBatch(csp, contoso, name: name)
            }
        }
        // Another tenant, another partner, or another name is another batch.
        _ = try await world.openBatch(csp, fabrikam, name: "March laptops")
        _ = try await world.openBatch(provider, contoso, name: "March laptops")
        _ = try await world.openBatch(csp, contoso, name: "March  laptops")
        #expect(try await world.rowCounts().batches == 4)
        let outcomes = try await world.store.auditEventsForTesting().filter { $0.method == "CreateDeviceBatch" }.map(\.outcome)
        #expect(outcomes == ["ok", "AlreadyExists", "AlreadyExists", "ok", "ok", "ok"])
    }
}

/// Upgrading a database of schema 9, which may hold batches of one name, to the device lifecycle schema.
@Suite struct DeviceLifecycleUpgradeTests {
    @Test func duplicateBatchNamesSurviveTheUpgradeMarkedAndNewOnesAreRefused() async throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("lifecycle-upgrade-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        let upTo = try #require(embeddedMigrations.firstIndex { $0.name.hasPrefix("0010") })
        #expect(upTo == 9)
        for migration in embeddedMigrations.prefix(upTo) {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.sql) }
        }
        try migrator.migrate(queue)
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO tenants (id, name, created_at) VALUES ('contoso', 'Contoso', '2026-01-01T00:00:00.000Z');
                INSERT INTO tenant_domains (domain, tenant_id, is_initial, added_at)
                    VALUES ('contoso.onmicrosoft.com', 'contoso', 1, '2026-01-01T00:00:00.000Z');
                INSERT INTO partners (id, name, kind, oem_direct_api, created_at)
                    VALUES ('woodgrove', 'Woodgrove', 'directCsp', 0, '2026-01-01T00:00:00.000Z'),
                           ('tailspin', 'Tailspin', 'indirectProvider', 0, '2026-01-01T00:00:00.000Z');
                INSERT INTO batches (id, name, partner_id, tenant_id, channel, created_at, submitted, registered, failed) VALUES
                    ('b1', 'March', 'woodgrove', 'contoso', 'api', '2026-03-01T00:00:00.000Z', 2, 1, 1),
                    ('b2', 'march', 'woodgrove', 'contoso', 'upload', '2026-03-02T00:00:00.000Z', 0, 0, 0),
                    ('b3', 'April', 'woodgrove', 'contoso', 'api', '2026-04-01T00:00:00.000Z', 0, 0, 0),
                    ('b4', 'March', 'woodgrove', 'contoso', 'api', '2026-03-03T00:00:00.000Z', 0, 0, 0),
                    ('b5', 'March', 'tailspin', 'contoso', 'api', '2026-03-01T00:00:00.000Z', 0, 0, 0);
                INSERT INTO devices (id, tenant_id, partner_id, batch_id, product_key, registered_at)
                    VALUES ('d1', 'contoso', 'woodgrove', 'b1', 'PK-1', '2026-03-01T00:00:01.000Z');
                INSERT INTO device_results (batch_id, idx, status, device_id, error_code, error_name, message, line) VALUES
                    ('b1', 0, 'registered', 'd1', NULL, NULL, NULL, 2),
                    ('b1', 1, 'failed', NULL, 806, 'ZtdDeviceAlreadyAssigned', 'already', 3);
                """)
        }
        try queue.close()

        let store = try RegistryStore(configuration: StoreConfiguration(path: path))
        defer { try? store.close() }
        #expect(try await lines(store, "SELECT id, name, duplicate_name_of FROM batches ORDER BY rowid") == [
            "b1 March NULL", "b2 march b1", "b3 April NULL", "b4 March b1", "b5 March NULL",
        ])
        // Everything else kept: the results (with their lines), the counts, and the devices' batch.
        let old = try await store.getBatch(asOperator(Registry.GetBatch.info), batch: "b1")
        #expect(old.batch.submitted == 2 && old.batch.registered == 1 && old.batch.failed == 1 && old.batch.updated == 0)
        #expect(old.results.map(\.line) == [2, 3] && old.results.map(\.outcome) == ["registered", "ZtdDeviceAlreadyAssigned"])
        #expect(try await store.listBatches(asOperator(Registry.ListBatches.info), partner: "woodgrove", tenant: nil).map(\.id)
            == ["b1", "b2", "b4", "b3"])
        // The schema around the rebuilt tables is whole: indexes, triggers, views and foreign keys.
        #expect(try await lines(store, """
            SELECT type, name FROM sqlite_master
            WHERE tbl_name IN ('batches', 'device_results', 'device_changes', 'device_registrations', 'device_change_history')
            ORDER BY type, name
            """) == [
            "index batches_by_partner", "index batches_by_tenant", "index batches_unique_name",
            "index device_changes_by_device", "index device_changes_by_event", "index sqlite_autoindex_batches_1",
            "table batches", "table device_changes", "table device_results",
            "trigger device_changes_no_delete", "trigger device_changes_no_update",
            "view device_change_history", "view device_registrations",
        ])
        #expect(try await lines(store, "PRAGMA foreign_key_check").isEmpty)
        #expect(try await lines(store, "SELECT batch_name FROM device_registrations") == ["March"])

        // A new batch may take no name an earlier batch of the partner and tenant has, duplicates included.
        _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso",
                                       upn: "admin@contoso.onmicrosoft.com", roles: ["GlobalAdministrator"])
        let link = try await store.requestResellerRelationship(asOperator(Registry.RequestResellerRelationship.info),
                                                               partner: "woodgrove", delegatedAdmin: false, roles: [])
        _ = try await store.acceptLink(asOperator(Registry.AcceptLink.info), link: link.link.url!,
                                       account: "admin@contoso.onmicrosoft.com")
        func create(_ name: String) async throws -> Batch {
            try await store.createDeviceBatch(asOperator(Registry.CreateDeviceBatch.info), partner: "woodgrove",
                                              tenant: "contoso", name: name, channel: .api)
        }
        await expectError(.alreadyExists(kind: "batch", id: "MARCH")) { _ = try await create("MARCH") }
        await expectError(.alreadyExists(kind: "batch", id: "april")) { _ = try await create("april") }
        #expect(try await create("May").name == "May")
    }
}
