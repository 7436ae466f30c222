import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Crypto
import Foundation
import GRDB
import Testing

private let contoso = DeviceWorld.contoso, fabrikam = DeviceWorld.fabrikam
private let csp = DeviceWorld.csp, provider = DeviceWorld.provider, reseller = DeviceWorld.reseller
private let oem = DeviceWorld.oem

/// The consent gate and the channel rules of CreateDeviceBatch and AddDevices.
@Suite struct DeviceConsentAndChannelTests {
    @Test func createDeviceBatchNeedsAnActiveGrant() async throws {
        let world = try await DeviceWorld()
        for partner in [csp, provider, reseller, oem] {
            await expectError(.consentRequired(partner: partner, tenant: contoso)) {
                _ = try await world.openBatch(partner, contoso)
            }
        }
        try await world.consent(csp, contoso)
        _ = try await world.openBatch(csp, contoso)
        // Consent is per tenant.
        await expectError(.consentRequired(partner: csp, tenant: fabrikam)) {
            _ = try await world.openBatch(csp, fabrikam)
        }
        await expectError(.notFound(kind: "partner", id: "ghost")) { _ = try await world.openBatch("ghost", contoso) }
        await expectError(.notFound(kind: "tenant", id: "ghost")) { _ = try await world.openBatch(csp, "ghost") }
        #expect(try await world.rowCounts().batches == 1)
    }

    @Test(arguments: [csp, provider, oem])
    func addDevicesIsRefusedOnceConsentHasEnded(partner: String) async throws {
        let world = try await DeviceWorld()
        try await world.consent(partner, contoso)
        let batch = try await world.openBatch(partner, contoso)
        _ = try await world.add(batch.id, [.byProductKey(1)])
        try await world.endConsent(partner, contoso)
        await expectError(.consentRequired(partner: partner, tenant: contoso)) {
            _ = try await world.add(batch.id, [.byProductKey(2)])
        }
        await expectError(.consentRequired(partner: partner, tenant: contoso)) {
            _ = try await world.openBatch(partner, contoso)
        }
        let after = try await world.store.getBatch(asOperator(Registry.GetBatch.info), batch: batch.id)
        #expect(after.batch.submitted == 1 && after.results.count == 1)
        #expect(try await world.rowCounts().devices == 1)
    }

    @Test func oemThatLostDirectApiEligibilityCannotRegister() async throws {
        let world = try await DeviceWorld()
        try await world.consent(oem, contoso)
        let batch = try await world.openBatch(oem, contoso)
        // The consent check, answered once from the database and then from the cache.
        #expect(try await world.validate(oem, contoso, []).consented)
        #expect(try await world.validate(oem, contoso, []).consented)
        _ = try await world.store.setOemEligibility(asOperator(Registry.SetOemEligibility.info), partner: oem, eligible: false)
        await expectError(.oemNotEligible(partner: oem)) { _ = try await world.add(batch.id, [.byProductKey(1)]) }
        await expectError(.oemNotEligible(partner: oem)) { _ = try await world.openBatch(oem, contoso) }
        // The check a partner makes before registering says so too, with devices or without, cached or not.
        for devices in [[], [DeviceInput.byProductKey(1)], []] {
            await expectError(.oemNotEligible(partner: oem)) { _ = try await world.validate(oem, contoso, devices) }
        }
        _ = try await world.store.setOemEligibility(asOperator(Registry.SetOemEligibility.info), partner: oem, eligible: true)
        #expect(try await world.validate(oem, contoso, [.byProductKey(1)]).results.map(\.status) == [.valid])
    }

    @Test(arguments: [
        (csp, Channel.api, true), (csp, .upload, true), (provider, .api, true), (provider, .upload, true),
        (reseller, .api, false), (reseller, .upload, true), (oem, .api, true), (oem, .upload, false),
    ])
    func channelsFollowThePartnerKind(partner: String, channel: Channel, allowed: Bool) async throws {
        let world = try await DeviceWorld()
        try await world.consent(partner, contoso)
        let kind = try await world.store.getPartner(asOperator(Registry.GetPartner.info), id: partner).kind
        if allowed {
            let batch = try await world.openBatch(partner, contoso, channel: channel)
            #expect(batch.channel == channel && batch.status == .processing)
        } else {
            await expectError(.channelNotAllowed(kind: kind, channel: channel)) {
                _ = try await world.openBatch(partner, contoso, channel: channel)
            }
            #expect(try await world.rowCounts().batches == 0)
        }
    }

    @Test func batchesBelongToTheirPartnerAndTenant() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(oem, contoso)
        let batch = try await world.openBatch(csp, contoso)
        let litware = Caller(uid: 1001, gid: 1001, pid: 1, role: .partner, partner: oem)
        await expectError(.permissionDenied(method: "AddDevices", role: .partner)) {
            _ = try await world.store.addDevices(OperationContext(caller: litware, method: Registry.AddDevices.info),
                                                 batch: batch.id, devices: [.byProductKey(1)])
        }
        await expectError(.permissionDenied(method: "GetBatch", role: .partner)) {
            _ = try await world.store.getBatch(OperationContext(caller: litware, method: Registry.GetBatch.info), batch: batch.id)
        }
        let fabrikamReader = Caller(uid: 1002, gid: 1002, pid: 1, role: .tenant, tenant: fabrikam)
        await expectError(.permissionDenied(method: "GetBatch", role: .tenant)) {
            _ = try await world.store.getBatch(OperationContext(caller: fabrikamReader, method: Registry.GetBatch.info), batch: batch.id)
        }
        let contosoReader = Caller(uid: 1003, gid: 1003, pid: 1, role: .tenant, tenant: contoso)
        #expect(try await world.store.getBatch(OperationContext(caller: contosoReader, method: Registry.GetBatch.info),
                                               batch: batch.id).batch.id == batch.id)
        await expectError(.notFound(kind: "batch", id: "ghost")) { _ = try await world.add("ghost", [.byProductKey(1)]) }
        #expect(try await world.rowCounts().devices == 0)
    }
}

/// Which identifiers each channel accepts, and the hash rules (801, 802, 803).
@Suite struct DeviceIdentifierTests {
    @Test func cspRegistersByHashProductKeyOrTuple() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let results = try await world.register(csp, contoso, [.byHash(1), .byProductKey(2), .byTuple(3)])
        #expect(results.map(\.outcome) == ["registered", "registered", "registered"])
        #expect(results.allSatisfy { $0.device != nil && $0.error == nil })
    }

    @Test func oemRegistersByTupleOrProductKeyButNeverByHash() async throws {
        let world = try await DeviceWorld()
        try await world.consent(oem, contoso)
        var withHash = DeviceInput.byTuple(4)
        withHash.hardwareHash = sampleHash(4, for: withHash)
        var keyAndHash = DeviceInput.byProductKey(5)
        keyAndHash.hardwareHash = sampleHash(5)
        let results = try await world.register(oem, contoso, [
            .byTuple(1), .byProductKey(2), .byHash(3), withHash, keyAndHash,
        ])
        #expect(results.map(\.outcome) == [
            "registered", "registered", "InvalidZtdRequestBody", "InvalidZtdRequestBody", "InvalidZtdRequestBody",
        ])
        #expect(results[2].error?.code == 801)
        #expect(results[2].message?.contains("never by hardware hash") == true)
    }

    @Test(arguments: [csp, oem])
    func nothingUsableIs803(partner: String) async throws {
        let world = try await DeviceWorld()
        try await world.consent(partner, contoso)
        let unusable: [DeviceInput] = [
            DeviceInput(serialNumber: "SN-1"),
            DeviceInput(serialNumber: "SN-2", manufacturer: "Contoso"),
            DeviceInput(serialNumber: "SN-3", model: "Laptop 7"),
            DeviceInput(manufacturer: "Contoso", model: "Laptop 7"),
            DeviceInput(serialNumber: "  ", productKey: "\t", hardwareHash: " ", manufacturer: "", model: ""),
            DeviceInput(groupTag: "Sales"),
        ]
        let results = try await world.register(partner, contoso, unusable)
        #expect(results.map(\.error) == Array(repeating: .missingZtdSerialNumberAndProductKey, count: unusable.count))
        #expect(results.allSatisfy { $0.error?.code == 803 && $0.status == .failed && $0.device == nil })
        #expect(try await world.rowCounts().devices == 0)
    }

    @Test func malformedHashesAre802() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let good = sampleHash(7)
        func replacing(_ offset: Int, with s: String) -> String {
            var chars = Array(good)
            chars.replaceSubrange(offset..<offset + 1, with: Array(s))
            return String(chars)
        }
        let bad = [
            "not base64 at all!",
            replacing(100, with: "-"),  // URL-safe alphabet is not the standard one
            replacing(100, with: " "),
            replacing(100, with: "="),
            good + "===",
            String(good.dropLast(4)) + "A",  // a length no base64 text can have
            "",
        ].enumerated().map { DeviceInput(productKey: sampleProductKey($0.offset), hardwareHash: $0.element.isEmpty ? "====" : $0.element) }
        let results = try await world.register(csp, contoso, bad)
        #expect(results.map(\.error) == Array(repeating: .invalidZtdHardwareHash, count: bad.count))
        #expect(results.allSatisfy { $0.error?.code == 802 })
        #expect(try await world.rowCounts() == DeviceRowCounts(batches: 1, devices: 0, results: bad.count, hashes: 0))
    }

    @Test func decodedHashSizeIsBoundedInclusively() async throws {
        #expect(DeviceRules.minHashBytes == 1024 && DeviceRules.maxHashBytes == 16384)
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let sizes = [DeviceRules.minHashBytes - 1, DeviceRules.minHashBytes, DeviceRules.maxHashBytes,
                     DeviceRules.maxHashBytes + 1, 16, 3000]
        let results = try await world.register(csp, contoso, sizes.enumerated().map {
            DeviceInput(hardwareHash: sampleHash($0.offset, bytes: $0.element))
        })
        #expect(results.map(\.outcome) == ["InvalidZtdHardwareHash", "registered", "registered",
                                           "InvalidZtdHardwareHash", "InvalidZtdHardwareHash", "registered"])
        #expect(try await world.rowCounts().hashes == 3)
    }

    @Test func hashWithoutPaddingIsNormalisedAndStoredDecodedWithItsSHA256() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let bytes = sampleHashBytes(11, bytes: 1024, serialNumber: "SN-1")  // 1,024 = 3 × 341 + 1: the text ends in "=="
        let padded = Base64.encode(bytes)
        #expect(padded.hasSuffix("=="))
        let unpadded = String(padded.dropLast(2))
        let first = try await world.register(csp, contoso, [DeviceInput(serialNumber: "SN-1", hardwareHash: unpadded)])
        #expect(first.map(\.outcome) == ["registered"])
        let device = try #require(try await world.list().devices.first)
        let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        #expect(device.hardwareHashSha256 == digest)
        let stored = try await world.store.queryForTesting { db in
            try Data.fetchOne(db, sql: "SELECT bytes FROM hardware_hashes WHERE sha256 = ?", arguments: [digest])
        }
        #expect(stored.map(Array.init) == bytes)
        // The same hash with its padding, or with an extra space around it, is the same device.
        let again = try await world.register(csp, contoso, [DeviceInput(hardwareHash: padded)])
        #expect(again.map(\.outcome) == ["ZtdDeviceAlreadyAssigned"])
        let spaced = try await world.register(csp, contoso, [DeviceInput(hardwareHash: " \(unpadded) ")])
        #expect(spaced.map(\.outcome) == ["ZtdDeviceAlreadyAssigned"])
        #expect(try await world.rowCounts().hashes == 1)
    }

    @Test func assignedUserMustBeInADomainOfTheTenant() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        _ = try await world.store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: contoso, domain: "contoso.com")
        func user(_ seed: Int, _ upn: String) -> DeviceInput {
            DeviceInput(productKey: sampleProductKey(seed), groupTag: "Sales", assignedUser: upn)
        }
        let results = try await world.register(csp, contoso, [
            user(1, "alice@contoso.com"), user(2, "Bob@Contoso.onmicrosoft.com"), user(3, "eve@fabrikam.onmicrosoft.com"),
            user(4, "not-a-upn"),
        ])
        #expect(results.map(\.outcome) == ["registered", "registered", "InvalidZtdRequestBody", "InvalidZtdRequestBody"])
        #expect(results[2].message?.contains("not in a domain of the tenant") == true)
        #expect(results[3].message?.contains("not a UPN") == true)
        let stored = try await world.list().devices
        #expect(stored.map(\.assignedUser) == ["alice@contoso.com", "bob@contoso.onmicrosoft.com"])
        #expect(stored.map(\.groupTag) == ["Sales", "Sales"])
    }

    @Test func overlongOrControlCharacterFieldsAre801() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let long = String(repeating: "x", count: DeviceRules.maxFieldLength + 1)
        let results = try await world.register(csp, contoso, [
            DeviceInput(serialNumber: long, manufacturer: "M", model: "X"),
            DeviceInput(productKey: String(repeating: "1", count: DeviceRules.maxProductKeyLength + 1)),
            DeviceInput(productKey: "0032\u{7}9"),
            DeviceInput(serialNumber: String(repeating: "y", count: DeviceRules.maxFieldLength), manufacturer: "M",
                        model: "X"),
        ])
        #expect(results.map(\.outcome) == ["InvalidZtdRequestBody", "InvalidZtdRequestBody", "InvalidZtdRequestBody",
                                           "registered"])
    }
}

/// One device, one tenant: 806, 808, 813, ZtdDeviceDuplicated, re-registration after deregistration, and the
/// schema's own uniqueness.
@Suite struct DeviceUniquenessTests {
    @Test func sameDeviceInTheSameTenantIs806ByEveryIdentifier() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(provider, contoso)
        var keyAndTuple = DeviceInput.byTuple(4)
        keyAndTuple.productKey = sampleProductKey(4)
        try await world.register(csp, contoso, [.byHash(1), .byProductKey(2), .byTuple(3), keyAndTuple])
        // The hash alone, without the serial number column (a serial number that contradicts it would be 801).
        var hashAlone = DeviceInput.byHash(1)
        hashAlone.serialNumber = nil
        var tupleWithNewKey = DeviceInput.byTuple(4)
        tupleWithNewKey.productKey = sampleProductKey(99)
        let again = [hashAlone, .byProductKey(2), .byTuple(3), tupleWithNewKey]
        let byTheSamePartner = try await world.register(csp, contoso, again)
        #expect(byTheSamePartner.map(\.outcome) == Array(repeating: "ZtdDeviceAlreadyAssigned", count: 4))
        #expect(byTheSamePartner.allSatisfy { $0.error?.code == 806 })
        // Another partner of the same tenant gets the same answer: the device is the tenant's already.
        let byAnotherPartner = try await world.register(provider, contoso, again)
        #expect(byAnotherPartner.map(\.outcome) == Array(repeating: "ZtdDeviceAlreadyAssigned", count: 4))
        #expect(try await world.rowCounts().devices == 4)
    }

    @Test func sameDeviceInAnotherTenantIs808() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(csp, fabrikam)
        try await world.consent(oem, fabrikam)
        try await world.register(csp, contoso, [.byHash(1), .byProductKey(2), .byTuple(3)])
        let sameCSP = try await world.register(csp, fabrikam, [.byHash(1), .byProductKey(2), .byTuple(3)])
        #expect(sameCSP.map(\.outcome) == Array(repeating: "ZtdDeviceAssignedToOtherTenant", count: 3))
        #expect(sameCSP.allSatisfy { $0.error?.code == 808 })
        let anOEM = try await world.register(oem, fabrikam, [.byProductKey(2), .byTuple(3)])
        #expect(anOEM.map(\.outcome) == Array(repeating: "ZtdDeviceAssignedToOtherTenant", count: 2))
        #expect(try await world.rowCounts().devices == 3)
    }

    @Test func tupleIsComparedCaseSensitively() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let results = try await world.register(csp, contoso, [
            .byTuple(1), .byTuple(1, manufacturer: "contoso"), .byTuple(1, model: "LAPTOP 7"),
            DeviceInput(serialNumber: "sn-t1", manufacturer: "Contoso", model: "Laptop 7"),
        ])
        #expect(results.map(\.outcome) == Array(repeating: "registered", count: 4))
    }

    @Test func identifiersMatchingSeveralDevicesAre813() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(csp, fabrikam)
        try await world.register(csp, contoso, [.byProductKey(1), .byTuple(2), .byHash(3)])
        try await world.register(csp, fabrikam, [.byProductKey(4)])
        var keyOfOneTupleOfAnother = DeviceInput.byTuple(2)
        keyOfOneTupleOfAnother.productKey = sampleProductKey(1)
        var hashOfOneKeyOfAnother = DeviceInput.byHash(3)
        hashOfOneKeyOfAnother.productKey = sampleProductKey(1)
        var acrossTenants = DeviceInput.byTuple(2)
        acrossTenants.productKey = sampleProductKey(4)
        // One call each: within a call, entries sharing an identifier would be repeats of each other.
        var results: [DeviceResult] = []
        for entry in [keyOfOneTupleOfAnother, hashOfOneKeyOfAnother, acrossTenants] {
            results += try await world.register(csp, contoso, [entry])
        }
        #expect(results.map(\.outcome) == Array(repeating: "ZtdDeviceIsNotUnique", count: 3))
        #expect(results.allSatisfy { $0.error?.code == 813 })
        #expect(try await world.rowCounts().devices == 4)
    }

    @Test func repeatsWithinOneCallAreDuplicatedAndTheFirstIsProcessed() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        var sameHashNoSerial = DeviceInput.byHash(1)
        sameHashNoSerial.serialNumber = nil
        let sharesKeyWithSecond = DeviceInput(productKey: sampleProductKey(2), hardwareHash: sampleHash(3))
        let first = try await world.register(csp, contoso, [
            .byHash(1), .byProductKey(2), sameHashNoSerial, sharesKeyWithSecond, .byTuple(4), .byTuple(4),
        ])
        #expect(first.map(\.outcome) == ["registered", "registered", "ZtdDeviceDuplicated", "ZtdDeviceDuplicated",
                                         "registered", "ZtdDeviceDuplicated"])
        #expect(first[2].error?.code == nil && first[2].message == DeviceErrorCode.ztdDeviceDuplicated.explanation)
        // A repeat of a device registered earlier: the first entry is processed (806), the others are repeats.
        let second = try await world.register(csp, contoso, [.byProductKey(2), .byProductKey(2), .byProductKey(5)])
        #expect(second.map(\.outcome) == ["ZtdDeviceAlreadyAssigned", "ZtdDeviceDuplicated", "registered"])
        #expect(try await world.rowCounts().devices == 4)
    }

    @Test func aDeviceFromAnEarlierCallOfTheSameBatchIs806NotDuplicated() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let batch = try await world.openBatch(csp, contoso)
        _ = try await world.add(batch.id, [.byProductKey(1)])
        let second = try await world.add(batch.id, [.byProductKey(1)])
        #expect(second.results.map(\.outcome) == ["ZtdDeviceAlreadyAssigned"])
    }

    @Test func deregisteredDevicesCanBeRegisteredAgainAnywhere() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(provider, fabrikam)
        try await world.consent(oem, fabrikam)
        let first = try await world.register(csp, contoso, [.byHash(1), .byProductKey(2), .byTuple(3)])
        for result in first { try await world.deregister(csp, device: result.device) }
        let byProvider = try await world.register(provider, fabrikam, [.byHash(1)])
        let byOEM = try await world.register(oem, fabrikam, [.byProductKey(2), .byTuple(3)])
        #expect((byProvider + byOEM).map(\.outcome) == ["registered", "registered", "registered"])
        // And back again once more, in the first tenant: only one registration is ever live.
        try await world.deregister(provider, device: byProvider[0].device)
        #expect(try await world.register(csp, contoso, [.byHash(1)]).map(\.outcome) == ["registered"])
        let all = try await world.list(DeviceFilter(includeDeregistered: true)).devices
        #expect(all.filter { $0.serialNumber == "SN-H1" }.map(\.status) == [.deregistered, .deregistered, .registered])
        #expect(try await world.rowCounts().hashes == 1)
    }

    @Test func theSchemaRefusesASecondLiveRegistrationOfADevice() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        var full = DeviceInput.byTuple(3)
        full.productKey = sampleProductKey(2)
        full.hardwareHash = sampleHash(1, for: full)
        let registered = try await world.register(csp, contoso, [full])
        let deviceID = try #require(registered.first?.device)
        try await world.store.withDatabaseForTesting { db in
            let batch = try String.fetchOne(db, sql: "SELECT batch_id FROM devices WHERE id = ?", arguments: [deviceID])!
            let digest = try String.fetchOne(db, sql: "SELECT hardware_hash_sha256 FROM devices WHERE id = ?",
                                             arguments: [deviceID])!
            func insert(_ id: String, hash: String? = nil, key: String? = nil, tuple: DeviceTuple? = nil,
                        deregistered: Bool = false) throws {
                try db.execute(sql: """
                    INSERT INTO devices (id, tenant_id, partner_id, batch_id, serial_number, product_key, manufacturer,
                                         model, hardware_hash_sha256, status, registered_at, deregistered_at,
                                         tuple_identifies)
                    VALUES (?, 'fabrikam', 'woodgrove', ?, ?, ?, ?, ?, ?, ?, 't', ?, ?)
                    """, arguments: [id, batch, tuple?.serialNumber, key, tuple?.manufacturer, tuple?.model, hash,
                                     deregistered ? "deregistered" : "registered", deregistered ? "t" : nil,
                                     tuple == nil ? 0 : 1])
            }
            let tuple = DeviceTuple(manufacturer: "Contoso", model: "Laptop 7", serialNumber: "SN-T3")
            for (name, attempt) in [
                ("hash", { try insert("x1", hash: digest) }),
                ("product key", { try insert("x2", key: sampleProductKey(2)) }),
                ("tuple", { try insert("x3", tuple: tuple) }),
            ] as [(String, () throws -> Void)] {
                let error = #expect(throws: DatabaseError.self, "a second live registration by \(name)") { try attempt() }
                #expect(error?.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE, "\(name)")
            }
            // Deregistered rows do not count: history may repeat a device any number of times.
            try insert("y1", hash: digest, key: sampleProductKey(2), tuple: tuple, deregistered: true)
            try insert("y2", hash: digest, key: sampleProductKey(2), tuple: tuple, deregistered: true)
            // A registration needs a usable identifier; an unknown hash digest is refused too.
            let unnamed = #expect(throws: DatabaseError.self) { try insert("z1") }
            #expect(unnamed?.extendedResultCode == .SQLITE_CONSTRAINT_CHECK)
            let unknownHash = #expect(throws: DatabaseError.self) { try insert("z2", hash: String(repeating: "0", count: 64)) }
            #expect(unknownHash?.extendedResultCode == .SQLITE_CONSTRAINT_FOREIGNKEY)
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO hardware_hashes (sha256, bytes) VALUES (?, zeroblob(1023))",
                               arguments: [String(repeating: "1", count: 64)])
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO device_results (batch_id, idx, status) VALUES (?, 9, 'registered')",
                               arguments: [batch])
            }
        }
    }
}

/// AddDevices limits, transactions, indexes, batch status and GetBatch.
@Suite struct DeviceBatchTests {
    @Test func addDevicesTakesOneToOneThousandDevices() async throws {
        #expect(DeviceRules.maxDevicesPerCall == 1000)
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let batch = try await world.openBatch(csp, contoso)
        await expectError(.batchTooLarge(limit: 1000)) {
            _ = try await world.add(batch.id, (0...1000).map { .byProductKey($0) })
        }
        await expectInvalid("devices") { _ = try await world.add(batch.id, []) }
        #expect(try await world.rowCounts() == DeviceRowCounts(batches: 1, devices: 0, results: 0, hashes: 0))
        let accepted = try await world.add(batch.id, (0..<1000).map { .byProductKey($0) })
        #expect(accepted.results.count == 1000 && accepted.results.allSatisfy { $0.status == .registered })
        #expect(accepted.batch.submitted == 1000 && accepted.batch.registered == 1000 && accepted.batch.failed == 0)
    }

    @Test func eachAddDevicesCallIsOneTransaction() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("devices-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let world = try await DeviceWorld(path: path)
        defer { try? world.store.close() }
        try await world.consent(csp, contoso)
        let batch = try await world.openBatch(csp, contoso)
        // Another connection makes the third insert of the call fail, after two devices were written.
        let other = try DatabaseQueue(path: path)
        try await other.write { db in
            try db.execute(sql: """
                CREATE TRIGGER fail_third_device BEFORE INSERT ON devices WHEN NEW.serial_number = 'BOOM'
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END
                """)
        }
        try other.close()
        let devices: [DeviceInput] = [.byHash(1), .byProductKey(2), DeviceInput(serialNumber: "BOOM", productKey: sampleProductKey(3))]
        await #expect(throws: DatabaseError.self) { _ = try await world.add(batch.id, devices) }
        #expect(try await world.rowCounts() == DeviceRowCounts(batches: 1, devices: 0, results: 0, hashes: 0))
        let after = try await world.store.getBatch(asOperator(Registry.GetBatch.info), batch: batch.id)
        #expect(after.batch.submitted == 0 && after.results.isEmpty)
        // Nothing of the failed call survives: the same devices register cleanly, numbered from 0.
        let retry = try await world.add(batch.id, Array(devices.prefix(2)))
        #expect(retry.results.map(\.index) == [0, 1] && retry.results.map(\.outcome) == ["registered", "registered"])
    }

    @Test func indexesCountFromZeroAcrossTheWholeBatch() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let batch = try await world.openBatch(csp, contoso, name: "spring rollout")
        let first = try await world.add(batch.id, [.byProductKey(1), DeviceInput(serialNumber: "SN-ONLY"), .byTuple(2)])
        #expect(first.results.map(\.index) == [0, 1, 2])
        let second = try await world.add(batch.id, [.byProductKey(1), .byHash(3)])
        #expect(second.results.map(\.index) == [3, 4])
        let stored = try await world.store.getBatch(asOperator(Registry.GetBatch.info), batch: batch.id)
        #expect(stored.results.map(\.index) == [0, 1, 2, 3, 4])
        #expect(stored.results == first.results + second.results)
        #expect(stored.results.map { $0.error?.code } == [nil, 803, nil, 806, nil])
        #expect(stored.results.map { $0.error?.name } == [nil, "MissingZtdSerialNumberAndProductKey", nil,
                                                         "ZtdDeviceAlreadyAssigned", nil])
        #expect(stored.results.filter { $0.status == .registered }.allSatisfy { $0.device != nil && $0.message == nil })
        #expect(stored.results.filter { $0.status == .failed }.allSatisfy { $0.device == nil && $0.message != nil })
        #expect(stored.batch.name == "spring rollout")
    }

    @Test func getBatchReadsResultsInPages() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let batch = try await world.openBatch(csp, contoso)
        _ = try await world.add(batch.id, (0..<4).map { .byProductKey($0) })
        _ = try await world.add(batch.id, (3..<6).map { .byProductKey($0) })
        func page(_ from: Int?, _ limit: Int?) async throws -> [Int] {
            try await world.store.getBatch(asOperator(Registry.GetBatch.info), batch: batch.id, from: from, limit: limit).results
                .map(\.index)
        }
        #expect(try await page(nil, nil) == Array(0..<7))
        #expect(try await page(0, 3) == [0, 1, 2])
        #expect(try await page(3, 3) == [3, 4, 5])
        #expect(try await page(6, 3) == [6])
        #expect(try await page(7, 3) == [])
        #expect(try await page(5, nil) == [5, 6])
        await expectInvalid("from") { _ = try await page(-1, nil) }
        await expectInvalid("limit") { _ = try await page(0, 0) }
        let paged = try await world.store.getBatch(asOperator(Registry.GetBatch.info), batch: batch.id, from: 4, limit: 1)
        #expect(paged.batch.submitted == 7 && paged.results.first?.error == .ztdDeviceAlreadyAssigned)
    }

    @Test func batchStatusAndCountsFollowTheResults() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let batch = try await world.openBatch(csp, contoso)
        #expect(batch.status == .processing && batch.submitted == 0 && batch.registered == 0 && batch.failed == 0)
        let clean = try await world.add(batch.id, [.byProductKey(1), .byProductKey(2)]).batch
        #expect(clean.status == .finished && clean.submitted == 2 && clean.registered == 2 && clean.failed == 0)
        let mixed = try await world.add(batch.id, [.byProductKey(3), .byProductKey(1)]).batch
        #expect(mixed.status == .finishedWithErrors && mixed.submitted == 4 && mixed.registered == 3 && mixed.failed == 1)
        let empty = try await world.openBatch(csp, contoso)
        let listed = try await world.store.listBatches(asOperator(Registry.ListBatches.info), partner: csp, tenant: contoso)
        #expect(listed.map(\.id) == [batch.id, empty.id])
        #expect(listed.map(\.status) == [.finishedWithErrors, .processing])
        #expect(listed[0] == mixed)
        #expect(try await world.store.listBatches(asOperator(Registry.ListBatches.info), partner: nil, tenant: fabrikam).isEmpty)
    }
}

/// DeregisterDevice: the three ways of naming a device, 807, 811, NotFound, consent and history.
@Suite struct DeviceDeregistrationTests {
    @Test func deregisterByIdTupleOrProductKeyKeepsTheRowWithItsTime() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let results = try await world.register(csp, contoso, [.byHash(1), .byProductKey(2), .byTuple(3)])
        let before = try await world.list().devices
        let byID = try await world.deregister(csp, device: results[0].device)
        let byKey = try await world.deregister(csp, productKey: sampleProductKey(2))
        let byTuple = try await world.deregister(
            csp, tuple: DeviceTuple(manufacturer: "Contoso", model: "Laptop 7", serialNumber: "SN-T3"), tenant: contoso)
        #expect([byID, byKey, byTuple].map(\.id) == results.map(\.device!))
        #expect([byID, byKey, byTuple].allSatisfy { $0.status == .deregistered && $0.deregisteredAt != nil })
        #expect(try await world.list().devices.isEmpty)
        let history = try await world.list(DeviceFilter(includeDeregistered: true)).devices
        #expect(history.map(\.id) == before.map(\.id))
        #expect(history.map(\.registeredAt) == before.map(\.registeredAt))
        #expect(history.map(\.deregisteredAt) == [byID, byKey, byTuple].map(\.deregisteredAt))
        #expect(history.allSatisfy { $0.deregisteredAt! > $0.registeredAt })
        let by = try await world.store.queryForTesting { db in
            try String.fetchAll(db, sql: "SELECT deregistered_by FROM devices ORDER BY rowid")
        }
        #expect(by == [csp, csp, csp])
    }

    @Test func deviceNotRegisteredIs807AndUnknownIdIsNotFound() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let results = try await world.register(csp, contoso, [.byProductKey(1), .byTuple(2)])
        try await world.deregister(csp, device: results[0].device)
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) {
            try await world.deregister(csp, device: results[0].device)
        }
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) { try await world.deregister(csp, productKey: sampleProductKey(1)) }
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) { try await world.deregister(csp, productKey: sampleProductKey(9)) }
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) {
            try await world.deregister(csp, tuple: DeviceTuple(manufacturer: "contoso", model: "Laptop 7", serialNumber: "SN-T2"))
        }
        // Registered, but not in the tenant the caller named.
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) {
            try await world.deregister(csp, device: results[1].device, tenant: fabrikam)
        }
        await expectError(.notFound(kind: "device", id: "no-such-device")) {
            try await world.deregister(csp, device: "no-such-device")
        }
        await expectError(.notFound(kind: "tenant", id: "ghost")) {
            try await world.deregister(csp, device: results[1].device, tenant: "ghost")
        }
        await expectError(.notFound(kind: "partner", id: "ghost")) { try await world.deregister("ghost", device: results[1].device) }
        #expect(try await world.list().devices.map(\.id) == [results[1].device!])
    }

    @Test func deregistrationNamesTheDeviceExactlyOneWay() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        let results = try await world.register(csp, contoso, [.byTuple(1)])
        await expectInvalid("device") { try await world.deregister(csp) }
        await expectInvalid("device") { try await world.deregister(csp, device: results[0].device, productKey: sampleProductKey(1)) }
        await expectInvalid("model") {
            _ = try await world.store.deregisterDevice(asOperator(Registry.DeregisterDevice.info), partner: csp, device: nil,
                                                       serialNumber: "SN-T1", manufacturer: "Contoso", model: nil,
                                                       productKey: nil, tenant: nil)
        }
        #expect(try await world.list().devices.count == 1)
    }

    @Test func anotherPartnerNeedsAGrantForTheDevicesTenant() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(csp, fabrikam)
        try await world.consent(provider, contoso)
        let inContoso = try await world.register(csp, contoso, [.byProductKey(1)])
        let inFabrikam = try await world.register(csp, fabrikam, [.byProductKey(2)])
        await expectError(.deviceError(.ztdDeviceRegisteredByOtherTenant)) {
            try await world.deregister(provider, device: inFabrikam[0].device)
        }
        await expectError(.deviceError(.ztdDeviceRegisteredByOtherTenant)) {
            try await world.deregister(oem, productKey: sampleProductKey(2))
        }
        let removed = try await world.deregister(provider, productKey: sampleProductKey(1))
        #expect(removed.id == inContoso[0].device && removed.partner == csp)
        // Once the provider's consent ends (with its reseller's), it may no longer touch other partners' devices.
        try await world.endConsent(provider, contoso)
        let another = try await world.register(csp, contoso, [.byProductKey(3)])
        await expectError(.deviceError(.ztdDeviceRegisteredByOtherTenant)) {
            try await world.deregister(provider, device: another[0].device)
        }
    }

    @Test(arguments: [csp, oem])
    func aPartnerMayDeregisterItsOwnDevicesAfterItsConsentEnded(partner: String) async throws {
        let world = try await DeviceWorld()
        try await world.consent(partner, contoso)
        let results = try await world.register(partner, contoso, [.byProductKey(1), .byTuple(2)])
        try await world.endConsent(partner, contoso)
        #expect(try await world.deregister(partner, device: results[0].device).status == .deregistered)
        let tuple = DeviceTuple(manufacturer: "Contoso", model: "Laptop 7", serialNumber: "SN-T2")
        #expect(try await world.deregister(partner, tuple: tuple, tenant: contoso).status == .deregistered)
    }

    @Test func anOEMDeregistersWithoutNamingTheTenant() async throws {
        let world = try await DeviceWorld()
        try await world.consent(oem, contoso)
        try await world.consent(oem, fabrikam)
        try await world.register(oem, contoso, [.byProductKey(1)])
        try await world.register(oem, fabrikam, [.byTuple(2)])
        let a = try await world.deregister(oem, productKey: sampleProductKey(1))
        let b = try await world.deregister(oem, tuple: DeviceTuple(manufacturer: "Contoso", model: "Laptop 7",
                                                                   serialNumber: "SN-T2"))
        #expect(a.tenant == contoso && b.tenant == fabrikam)
    }
}

/// ValidateSubmission: the dry run answers what AddDevices would, and writes nothing.
@Suite struct DeviceValidationTests {
    @Test func validateSubmissionAppliesEveryRuleWithoutWriting() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(csp, fabrikam)
        try await world.register(csp, contoso, [.byProductKey(1), .byTuple(2), .byProductKey(20)])
        try await world.register(csp, fabrikam, [.byProductKey(3)])
        let counts = try await world.rowCounts()
        let events = try await world.store.auditEventsForTesting().count
        var severalDevices = DeviceInput.byTuple(2)
        severalDevices.productKey = sampleProductKey(20)
        let submission: [DeviceInput] = [
            .byProductKey(4), .byProductKey(1), .byProductKey(3), severalDevices, .byProductKey(4),
            DeviceInput(hardwareHash: "not base64"), DeviceInput(serialNumber: "SN-ONLY"),
            DeviceInput(productKey: sampleProductKey(5), assignedUser: "eve@fabrikam.onmicrosoft.com"), .byHash(6),
        ]
        let check = try await world.validate(csp, contoso, submission)
        #expect(check.consented && check.grant?.partner == csp && check.grant?.tenant == contoso)
        #expect(check.results.map(\.index) == Array(0..<submission.count))
        #expect(check.results.map(\.outcome) == [
            "valid", "ZtdDeviceAlreadyAssigned", "ZtdDeviceAssignedToOtherTenant", "ZtdDeviceIsNotUnique",
            "ZtdDeviceDuplicated", "InvalidZtdHardwareHash", "MissingZtdSerialNumberAndProductKey",
            "InvalidZtdRequestBody", "valid",
        ])
        #expect(check.results.allSatisfy { $0.device == nil })
        #expect(try await world.rowCounts() == counts)
        #expect(try await world.store.auditEventsForTesting().count == events)
        // What the dry run said is what AddDevices does.
        let real = try await world.register(csp, contoso, submission)
        #expect(real.map(\.error) == check.results.map(\.error))
    }

    @Test func validateSubmissionAnswersWithoutConsentToo() async throws {
        let world = try await DeviceWorld()
        let check = try await world.validate(oem, contoso, [.byHash(1), .byProductKey(2)])
        #expect(!check.consented && check.grant == nil)
        #expect(check.results.map(\.outcome) == ["InvalidZtdRequestBody", "valid"])
        let bare = try await world.validate(oem, contoso, [])
        #expect(!bare.consented && bare.results.isEmpty)
        try await world.consent(oem, contoso)
        #expect(try await world.validate(oem, contoso, []).grant?.basis == .oem)
        await expectError(.batchTooLarge(limit: 1000)) {
            _ = try await world.validate(oem, contoso, (0...1000).map { .byProductKey($0) })
        }
        await expectError(.notFound(kind: "tenant", id: "ghost")) { _ = try await world.validate(oem, "ghost", []) }
        #expect(try await world.rowCounts().devices == 0)
    }
}

/// ListDevices: filters, paging, and query plans that hold up with a million devices.
@Suite struct DeviceListingTests {
    /// Devices across two tenants, two partners, several batches and calls; two share a serial number; two are
    /// deregistered.
    func populated() async throws -> (world: DeviceWorld, batch: String, device: String) {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.consent(csp, fabrikam)
        try await world.consent(provider, contoso)
        let a = try await world.openBatch(csp, contoso)
        _ = try await world.add(a.id, [.byProductKey(1), .byProductKey(2), .byTuple(3)])
        _ = try await world.add(a.id, [.byHash(4), DeviceInput(serialNumber: "SHARED", productKey: sampleProductKey(5))])
        try await world.register(csp, fabrikam, [.byProductKey(6), DeviceInput(serialNumber: "SHARED", productKey: sampleProductKey(7)),
                                                .byTuple(8), .byHash(9)])
        let provided = try await world.register(provider, contoso, [.byProductKey(10), .byTuple(11), .byHash(12)])
        try await world.deregister(csp, productKey: sampleProductKey(2))
        try await world.deregister(csp, productKey: sampleProductKey(7))
        return (world, a.id, provided[1].device!)
    }

    static func filters(batch: String, device: String) -> [DeviceFilter] {
        var all: [DeviceFilter] = []
        for tenant in [nil, contoso, fabrikam] {
            for partner in [nil, csp, provider] {
                for b in [nil, batch] {
                    for serial in [nil, "SHARED"] {
                        for includeDeregistered in [false, true] {
                            for d in [nil, device] {
                                all.append(DeviceFilter(tenant: tenant, partner: partner, batch: b,
                                                            serialNumber: serial, includeDeregistered: includeDeregistered,
                                                            device: d))
                            }
                        }
                    }
                }
            }
        }
        return all
    }

    @Test func everyFilterPagesThroughExactlyTheMatchingDevices() async throws {
        let (world, batch, device) = try await populated()
        let everything = try await world.list(DeviceFilter(includeDeregistered: true), pageSize: 1000)
        #expect(everything.devices.count == 12 && everything.pages == 1)
        for filter in Self.filters(batch: batch, device: device) {
            let expected = everything.devices.filter { d in
                (filter.tenant.map { $0 == d.tenant } ?? true) && (filter.partner.map { $0 == d.partner } ?? true)
                    && (filter.batch.map { $0 == d.batch } ?? true)
                    && (filter.serialNumber.map { $0 == d.serialNumber } ?? true)
                    && (filter.device.map { $0 == d.id } ?? true)
                    && (filter.includeDeregistered || d.status == .registered)
            }
            for pageSize in [1, 2, 3] {
                let paged = try await world.list(filter, pageSize: pageSize)
                #expect(paged.devices.map(\.id) == expected.map(\.id), "\(filter), pages of \(pageSize)")
                #expect(paged.pages == expected.count / pageSize + 1, "\(filter), pages of \(pageSize)")
            }
        }
        // Devices come in registration order; rowid orders those of one call, which share their time.
        let times = everything.devices.map(\.registeredAt)
        #expect(times == times.sorted() && Set(times).count == 4)
    }

    @Test func listingNeverReturnsHashBytes() async throws {
        let world = try await DeviceWorld()
        try await world.consent(csp, contoso)
        try await world.register(csp, contoso, [.byHash(1)])
        let device = try #require(try await world.list().devices.first)
        let mirror = Mirror(reflecting: device).children.map { "\($0.value)" }.joined(separator: " ")
        #expect(!mirror.contains(String(sampleHash(1).prefix(64))))
        #expect(device.hardwareHashSha256?.count == 64)
    }

    @Test func everyListQueryIsServedByAnIndexWithoutSorting() async throws {
        let (world, batch, device) = try await populated()
        let cursor = try #require(try await world.store.listDevices(asOperator(Registry.ListDevices.info), filter: DeviceFilter(),
                                                                    after: nil, limit: 1).next)
        for filter in Self.filters(batch: batch, device: device) {
            for after in [nil, cursor] {
                let plan = try await world.store.deviceListQueryPlanForTesting(filter, after: after)
                let text = plan.joined(separator: "; ")
                #expect(!text.contains("TEMP B-TREE"), "\(filter) sorts: \(text)")
                let unfiltered = filter.tenant == nil && filter.partner == nil && filter.batch == nil
                    && filter.serialNumber == nil && filter.device == nil
                if unfiltered {
                    // Everything, in rowid order: the table itself is the index, and a cursor is a rowid range.
                    #expect(plan == [after == nil ? "SCAN devices" : "SEARCH devices USING INTEGER PRIMARY KEY (rowid>?)"],
                            "\(text)")
                    continue
                }
                #expect(plan.count == 1 && plan[0].hasPrefix("SEARCH devices USING INDEX"), "\(filter): \(text)")
                // The index narrows by the most selective filter given, and by tenant and partner together.
                if filter.device != nil {
                    #expect(text.contains("(id=?"), "\(filter): \(text)")
                } else if filter.serialNumber != nil {
                    #expect(text.contains("serial_number=?"), "\(filter): \(text)")
                } else if filter.batch != nil {
                    #expect(text.contains("batch_id=?"), "\(filter): \(text)")
                } else {
                    if filter.tenant != nil { #expect(text.contains("tenant_id=?"), "\(filter): \(text)") }
                    if filter.partner != nil { #expect(text.contains("partner_id=?"), "\(filter): \(text)") }
                }
            }
        }
    }

    @Test func matchingASubmittedDeviceUsesTheUniqueIndexes() async throws {
        let world = try await DeviceWorld()
        let plans = try await world.store.deviceMatchQueryPlansForTesting()
        #expect(plans == [
            ["SEARCH devices USING INDEX devices_registered_hash (hardware_hash_sha256=?)"],
            ["SEARCH devices USING INDEX devices_registered_product_key (product_key=?)"],
            ["SEARCH devices USING INDEX devices_registered_machine (manufacturer=? AND model=? AND serial_number=?)"],
        ])
    }
}
