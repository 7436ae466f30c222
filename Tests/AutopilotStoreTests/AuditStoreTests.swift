import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import AutopilotTestSupport
import Foundation
import GRDB
import Testing

/// A context for `method` as `caller`.
private func context(_ caller: Caller, _ method: MethodInfo) -> OperationContext {
    OperationContext(caller: caller, method: method)
}

private let woodgroveUser = Caller(uid: 1001, gid: 1001, pid: 1, role: .partner, partner: "woodgrove")
private let contosoUser = Caller(uid: 1002, gid: 1002, pid: 1, role: .tenant, tenant: "contoso")
private let litwareUser = Caller(uid: 1003, gid: 1003, pid: 1, role: .partner, partner: "litware")
private let fabrikamUser = Caller(uid: 1004, gid: 1004, pid: 1, role: .tenant, tenant: "fabrikam")

/// Contoso and Fabrikam (each with a Global Administrator; Contoso also with a helpdesk account), Woodgrove (direct
/// CSP) and Litware (OEM eligible for the Direct API).
private func makeDirectory(_ store: RegistryStore) async throws {
    for (id, name) in [("contoso", "Contoso"), ("fabrikam", "Fabrikam")] {
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: name, domain: "\(id).onmicrosoft.com", id: id)
        _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: id, upn: "admin@\(id).onmicrosoft.com",
                                       roles: ["GlobalAdministrator"])
    }
    _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: "helpdesk@contoso.onmicrosoft.com",
                                   roles: ["HelpdeskAdministrator"])
    _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Woodgrove", kind: .directCsp, provider: nil,
                                        oemDirectApi: false, id: "woodgrove")
    _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Litware", kind: .oem, provider: nil,
                                        oemDirectApi: true, id: "litware")
}

/// A well-formed 4K hardware hash of the machine with serial number `serial`: base64 of 3,001 bytes (so it ends with
/// `==` padding).
private func hardwareHash(serial: String) -> String {
    Base64.encode(SyntheticHardwareHash(seed: 0xA0D17, serialNumber: serial, byteCount: 3001).bytes())
}

/// The number of events in the log.
private func eventCount(_ store: RegistryStore) async throws -> Int {
    try await store.auditEventsForTesting().count
}

/// The last event's columns.
private func lastEvent(_ store: RegistryStore) async throws -> [String: DatabaseValue] {
    try #require(try await store.rowsForTesting("SELECT * FROM audit_events ORDER BY seq DESC LIMIT 1").first)
}

private func text(_ value: DatabaseValue?) -> String? { value.flatMap { String.fromDatabaseValue($0) } }

@Suite struct AuditStoreTests {
    @Test func everyStateChangeAppendsExactlyOneEventNamingActorMethodAndTargets() async throws {
        let store = try makeTestStore()
        try await makeDirectory(store)
        var count = try await eventCount(store)
        #expect(count == 7)

        // Each change, successful or not, adds one event; check the actor columns of each.
        func expectOneMore(_ method: String, outcome: String, role: String, uid: Int64, partner: String? = nil,
                           tenant: String? = nil, account: String? = nil, target: String?,
                           sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let now = try await eventCount(store)
            #expect(now == count + 1, sourceLocation: sourceLocation)
            count = now
            let e = try await lastEvent(store)
            #expect(text(e["method"]) == method && text(e["outcome"]) == outcome, sourceLocation: sourceLocation)
            #expect(text(e["actor_role"]) == role && Int64.fromDatabaseValue(e["actor_uid"]!) == uid,
                    sourceLocation: sourceLocation)
            #expect(text(e["actor_partner"]) == partner && text(e["actor_tenant"]) == tenant,
                    sourceLocation: sourceLocation)
            #expect(text(e["actor_account"]) == account, sourceLocation: sourceLocation)
            #expect(text(e["target"]) == target, sourceLocation: sourceLocation)
        }

        let invitation = try await store.requestResellerRelationship(
            context(woodgroveUser, Registry.RequestResellerRelationship.info), partner: "woodgrove", delegatedAdmin: true,
            roles: ["HelpdeskAdministrator", "GlobalReader"])
        let link = invitation.link
        try await expectOneMore("RequestResellerRelationship", outcome: "ok", role: "partner", uid: 1001,
                                partner: "woodgrove", target: "partner:woodgrove link:\(link.id)")

        await expectError(.globalAdminRequired(account: "helpdesk@contoso.onmicrosoft.com")) {
            _ = try await store.acceptLink(context(contosoUser, Registry.AcceptLink.info), link: link.url!,
                                           account: "helpdesk@contoso.onmicrosoft.com")
        }
        try await expectOneMore("AcceptLink", outcome: "GlobalAdminRequired", role: "tenant", uid: 1002,
                                tenant: "contoso", account: "helpdesk@contoso.onmicrosoft.com",
                                target: "account:helpdesk@contoso.onmicrosoft.com link:\(link.id) partner:woodgrove")

        let grants = try await store.acceptLink(context(contosoUser, Registry.AcceptLink.info), link: link.url!,
                                                account: " Admin@Contoso.onmicrosoft.com ")
        try await expectOneMore("AcceptLink", outcome: "ok", role: "tenant", uid: 1002, tenant: "contoso",
                                account: "admin@contoso.onmicrosoft.com",
                                target: "account:admin@contoso.onmicrosoft.com link:\(link.id) partner:woodgrove grant:\(grants[0].id)")

        _ = try await store.removeDelegatedAdmin(context(contosoUser, Registry.RemoveDelegatedAdmin.info), partner: "woodgrove",
                                                 account: "admin@contoso.onmicrosoft.com")
        try await expectOneMore("RemoveDelegatedAdmin", outcome: "ok", role: "tenant", uid: 1002, tenant: "contoso",
                                account: "admin@contoso.onmicrosoft.com",
                                target: "account:admin@contoso.onmicrosoft.com partner:woodgrove tenant:contoso grant:\(grants[0].id)")

        // A tenant caller acting with another tenant's account is refused inside the store: one event, with it.
        await expectError(.permissionDenied(method: "EndRelationship", role: .tenant)) {
            _ = try await store.endRelationship(context(contosoUser, Registry.EndRelationship.info), partner: "woodgrove",
                                                account: "admin@fabrikam.onmicrosoft.com")
        }
        try await expectOneMore("EndRelationship", outcome: "PermissionDenied", role: "tenant", uid: 1002,
                                tenant: "contoso", account: "admin@fabrikam.onmicrosoft.com",
                                target: "account:admin@fabrikam.onmicrosoft.com")

        let batch = try await store.createDeviceBatch(context(woodgroveUser, Registry.CreateDeviceBatch.info), partner: "woodgrove",
                                                      tenant: "contoso", name: "Spring laptops", channel: .api)
        try await expectOneMore("CreateDeviceBatch", outcome: "ok", role: "partner", uid: 1001, partner: "woodgrove",
                                target: "partner:woodgrove tenant:contoso batch:\(batch.id)")
        _ = try await store.addDevices(context(woodgroveUser, Registry.AddDevices.info), batch: batch.id,
                                       devices: [DeviceInput(serialNumber: "SN-1", hardwareHash: hardwareHash(serial: "SN-1"))])
        try await expectOneMore("AddDevices", outcome: "ok", role: "partner", uid: 1001, partner: "woodgrove",
                                target: "batch:\(batch.id) partner:woodgrove tenant:contoso")
        await expectError(.consentRequired(partner: "woodgrove", tenant: "fabrikam")) {
            _ = try await store.createDeviceBatch(context(woodgroveUser, Registry.CreateDeviceBatch.info), partner: "woodgrove",
                                                  tenant: "fabrikam", name: "x", channel: .upload)
        }
        try await expectOneMore("CreateDeviceBatch", outcome: "ConsentRequired", role: "partner", uid: 1001,
                                partner: "woodgrove", target: "partner:woodgrove tenant:fabrikam")

        // An unknown id is named in the event of the failed call.
        await expectError(.notFound(kind: "tenant", id: "ghost")) {
            _ = try await store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: "ghost", domain: "ghost.com")
        }
        try await expectOneMore("AddTenantDomain", outcome: "NotFound", role: "operator", uid: 0, target: "tenant:ghost")
        #expect(try await store.verifyAudit(asOperator(Registry.VerifyAudit.info)) == AuditVerification(ok: true, events: count, firstBroken: nil))
    }

    @Test func successfulReadsAreNotRecordedButRefusedReadsAreWithWhatTheyNamed() async throws {
        let store = try makeTestStore()
        try await makeDirectory(store)
        let link = try await store.requestResellerRelationship(asOperator(Registry.RequestResellerRelationship.info),
                                                               partner: "woodgrove", delegatedAdmin: false, roles: []).link
        _ = try await store.acceptLink(asOperator(Registry.AcceptLink.info), link: link.url!, account: "admin@contoso.onmicrosoft.com")
        let batch = try await store.createDeviceBatch(asOperator(Registry.CreateDeviceBatch.info), partner: "woodgrove",
                                                      tenant: "contoso", name: "b", channel: .api)
        let before = try await eventCount(store)

        _ = try await store.listTenants(context(woodgroveUser, Registry.ListTenants.info))
        _ = try await store.getTenant(context(woodgroveUser, Registry.GetTenant.info), id: "contoso")
        _ = try await store.listGrants(context(contosoUser, Registry.ListGrants.info), tenant: "contoso", partner: nil, status: nil)
        _ = try await store.describeLink(context(contosoUser, Registry.DescribeLink.info), link: link.id)
        _ = try await store.getBatch(context(woodgroveUser, Registry.GetBatch.info), batch: batch.id)
        _ = try await store.validateSubmission(context(woodgroveUser, Registry.ValidateSubmission.info), partner: "woodgrove",
                                               tenant: "contoso", devices: [DeviceInput(productKey: "PK-1")])
        _ = try await store.verifyAudit(asOperator(Registry.VerifyAudit.info))
        try await store.forEachAuditEvent(asOperator(Registry.ListAuditEvents.info), after: nil, limit: nil) { _ in }
        // A failed read other than a refusal is not recorded either.
        await expectError(.notFound(kind: "tenant", id: "ghost")) {
            _ = try await store.getTenant(asOperator(Registry.GetTenant.info), id: "ghost")
        }
        #expect(try await eventCount(store) == before)

        await expectError(.permissionDenied(method: "GetBatch", role: .partner)) {
            _ = try await store.getBatch(context(litwareUser, Registry.GetBatch.info), batch: batch.id)
        }
        var e = try await lastEvent(store)
        #expect(text(e["method"]) == "GetBatch" && text(e["outcome"]) == "PermissionDenied")
        #expect(text(e["actor_partner"]) == "litware" && text(e["target"]) == "batch:\(batch.id)")
        await expectError(.permissionDenied(method: "GetTenant", role: .tenant)) {
            _ = try await store.getTenant(context(fabrikamUser, Registry.GetTenant.info), id: "contoso")
        }
        e = try await lastEvent(store)
        #expect(text(e["method"]) == "GetTenant" && text(e["target"]) == "tenant:contoso")
        #expect(text(e["actor_tenant"]) == "fabrikam")
        #expect(try await eventCount(store) == before + 2)
    }

    @Test func theLogNeverHoldsALinkTokenOrHardwareHashText() async throws {
        let store = try makeTestStore()
        try await makeDirectory(store)
        let oem = try await store.issueOemLink(asOperator(Registry.IssueOemLink.info), partner: "litware")
        let reseller = try await store.requestResellerRelationship(
            context(woodgroveUser, Registry.RequestResellerRelationship.info), partner: "woodgrove", delegatedAdmin: false, roles: []).link
        var secrets: [String] = []
        for url in [oem.url!, reseller.url!] {
            let token = String(url.split(separator: "/").last!)
            secrets.append(token)
            _ = try await store.acceptLink(context(contosoUser, Registry.AcceptLink.info), link: token,
                                           account: "admin@contoso.onmicrosoft.com")
            _ = try await store.describeLink(asOperator(Registry.DescribeLink.info), link: url)
        }
        // A mistyped token is named by a digest prefix, never repeated.
        let wrong = String(secrets[0].reversed())
        do {
            _ = try await store.acceptLink(context(contosoUser, Registry.AcceptLink.info), link: wrong,
                                           account: "admin@contoso.onmicrosoft.com")
            Issue.record("an unknown token was accepted")
        } catch let RegistryError.notFound(kind, id) {
            #expect(kind == "link" && id.hasPrefix("sha256:"))
            #expect(try await lastEvent(store)["target"].flatMap(text)?.contains("link:\(id)") == true)
        }
        secrets.append(wrong)
        _ = try await store.revokeLink(context(woodgroveUser, Registry.RevokeLink.info), link: reseller.url!)

        let hash = hardwareHash(serial: "SN-1")
        let unpadded = String(hash.prefix { $0 != "=" })
        #expect(unpadded.count == hash.count - 2)
        secrets += [hash, unpadded, String(hash.prefix(64))]
        let batch = try await store.createDeviceBatch(context(woodgroveUser, Registry.CreateDeviceBatch.info), partner: "woodgrove",
                                                      tenant: "contoso", name: "b", channel: .api)
        let added = try await store.addDevices(context(woodgroveUser, Registry.AddDevices.info), batch: batch.id, devices: [
            DeviceInput(serialNumber: "SN-1", hardwareHash: hash),
            DeviceInput(serialNumber: "SN-1", hardwareHash: unpadded),  // the same device: ZtdDeviceDuplicated
        ])
        #expect(added.results.map(\.status) == [.registered, .failed])
        await expectError(.deviceError(.ztdDeviceIsNotRegistered)) {
            _ = try await store.deregisterDevice(context(woodgroveUser, Registry.DeregisterDevice.info), partner: "woodgrove",
                                                 device: nil, serialNumber: "SN-9", manufacturer: "M", model: "X",
                                                 productKey: nil, tenant: nil)
        }

        let events = try await store.rowsForTesting("SELECT * FROM audit_events")
        #expect(events.count >= 15)
        for row in events {
            for (column, value) in row {
                guard let value = text(value) else { continue }
                for secret in secrets {
                    #expect(!value.contains(secret), "audit_events.\(column) holds a secret: \(value)")
                }
            }
        }
    }

    @Test func triggersRefuseRewritingOrRenumberingEvents() async throws {
        let store = try makeTestStore()
        try await makeDirectory(store)
        func expectRefused(_ sql: String, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) async {
            do {
                try await store.withDatabaseForTesting { db in try db.execute(sql: sql) }
                Issue.record("\(sql) was not refused", sourceLocation: sourceLocation)
            } catch let error as DatabaseError {
                #expect(error.message == message, sourceLocation: sourceLocation)
            } catch {
                Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
            }
        }
        await expectRefused("UPDATE audit_events SET outcome = 'ok' WHERE seq = 2", "audit_events is append-only")
        await expectRefused("DELETE FROM audit_events WHERE seq = 7", "audit_events is append-only")
        await expectRefused("DELETE FROM audit_events", "audit_events is append-only")
        await expectRefused("""
            INSERT INTO audit_events (seq, at, actor_uid, actor_role, method, outcome, hash)
            VALUES (100, '2026-01-01T00:00:00.000Z', 0, 'operator', 'CreateTenant', 'ok', '\(String(repeating: "0", count: 64))')
            """, "audit_events: seq must follow the last event")
        #expect(try await store.verifyAudit(asOperator(Registry.VerifyAudit.info)) == AuditVerification(ok: true, events: 7, firstBroken: nil))
    }

    @Test func verifyNamesTheFirstEventRewrittenOrRemovedBehindTheTriggers() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/registry.sqlite"
        let store = try RegistryStore(configuration: StoreConfiguration(path: path))
        try await makeDirectory(store)
        #expect(try await store.verifyAudit(asOperator(Registry.VerifyAudit.info)) == AuditVerification(ok: true, events: 7, firstBroken: nil))

        // Another writer, as someone with write access to the file would: drop the trigger and rewrite event 4.
        let intruder = try DatabaseQueue(path: path)
        let original = try await intruder.read { db in
            try String.fetchOne(db, sql: "SELECT target FROM audit_events WHERE seq = 4")
        }
        #expect(original == "tenant:fabrikam account:admin@fabrikam.onmicrosoft.com")
        try await intruder.write { db in
            try db.execute(sql: "DROP TRIGGER audit_events_no_update")
            try db.execute(sql: "UPDATE audit_events SET target = 'account:mallory@contoso.onmicrosoft.com' WHERE seq = 4")
        }
        #expect(try await store.verifyAudit(asOperator(Registry.VerifyAudit.info)) == AuditVerification(ok: false, events: 7, firstBroken: 4))

        // It is the content that is checked: putting the original value back repairs the chain.
        try await intruder.write { db in
            try db.execute(sql: "UPDATE audit_events SET target = ? WHERE seq = 4", arguments: [original])
        }
        #expect(try await store.verifyAudit(asOperator(Registry.VerifyAudit.info)) == AuditVerification(ok: true, events: 7, firstBroken: nil))

        // Removing an event breaks the chain at the event after it.
        try await intruder.write { db in
            try db.execute(sql: "DROP TRIGGER audit_events_no_delete")
            try db.execute(sql: "DELETE FROM audit_events WHERE seq = 2")
        }
        #expect(try await store.verifyAudit(asOperator(Registry.VerifyAudit.info)) == AuditVerification(ok: false, events: 6, firstBroken: 3))
        try intruder.close()
        try store.close()
    }

    @Test func aRecordedHeadShowsEventsCutFromTheEndWhichTheChainCannot() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/registry.sqlite"
        let store = try RegistryStore(configuration: StoreConfiguration(path: path))
        let verify = asOperator(Registry.VerifyAudit.info)
        let empty = try await store.auditHead(asOperator(Registry.GetAuditHead.info))
        #expect(empty == AuditHead(seq: 0, hash: String(repeating: "0", count: 64)))
        #expect(try await store.verifyAudit(verify, head: empty).headMissing == false)
        try await makeDirectory(store)
        let recorded = try await store.auditHead(asOperator(Registry.GetAuditHead.info))
        #expect(recorded.seq == 7)
        let early = try await store.queryForTesting { db in
            AuditHead(seq: 3, hash: try String.fetchOne(db, sql: "SELECT hash FROM audit_events WHERE seq = 3") ?? "")
        }
        #expect(try await store.verifyAudit(verify, head: recorded)
                == AuditVerification(ok: true, events: 7, firstBroken: nil, headMissing: false))
        #expect(try await store.verifyAudit(verify).headMissing == nil)

        // The last three events are cut off behind the triggers' back: the chain that is left still verifies.
        let intruder = try DatabaseQueue(path: path)
        try await intruder.write { db in
            try db.execute(sql: "DROP TRIGGER audit_events_no_delete")
            try db.execute(sql: "DELETE FROM audit_events WHERE seq > 4")
        }
        #expect(try await store.verifyAudit(verify) == AuditVerification(ok: true, events: 4, firstBroken: nil))
        #expect(try await store.verifyAudit(verify, head: recorded)
                == AuditVerification(ok: false, events: 4, firstBroken: nil, headMissing: true))
        #expect(try await store.verifyAudit(verify, head: early).ok, "a head still in the log passes")
        // New events fill the gap: event 7 exists again, with another hash, and the recorded head is still missing.
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Northwind", domain: "northwind.onmicrosoft.com", id: "northwind")
        for index in 0..<3 {
            _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "northwind",
                                           upn: "u\(index)@northwind.onmicrosoft.com", roles: ["GlobalReader"])
        }
        let regrown = try await store.verifyAudit(verify, head: recorded)
        #expect(regrown.events >= 7 && regrown.firstBroken == nil && regrown.headMissing == true && !regrown.ok)
        try intruder.close()
        try store.close()
    }

    @Test func listingPagesThroughTheLogAfterASequenceNumber() async throws {
        let store = try makeTestStore()
        try await makeDirectory(store)
        var seen: [Int64] = []
        try await store.forEachAuditEvent(asOperator(Registry.ListAuditEvents.info), after: 2, limit: 4, pageSize: 3) { seen.append($0.seq) }
        #expect(seen == [3, 4, 5, 6])
        seen = []
        try await store.forEachAuditEvent(asOperator(Registry.ListAuditEvents.info), after: 5, limit: nil, pageSize: 1) { seen.append($0.seq) }
        #expect(seen == [6, 7])
        seen = []
        try await store.forEachAuditEvent(asOperator(Registry.ListAuditEvents.info), after: 7, limit: nil) { seen.append($0.seq) }
        #expect(seen.isEmpty)
        await expectInvalid("after") {
            try await store.forEachAuditEvent(asOperator(Registry.ListAuditEvents.info), after: -1, limit: nil) { _ in }
        }
        await expectInvalid("limit") {
            try await store.forEachAuditEvent(asOperator(Registry.ListAuditEvents.info), after: nil, limit: 0) { _ in }
        }
        let events = try await store.auditEventsForTesting()
        #expect(events[0].actor == "uid=0 role=operator" && events[0].method == "CreateTenant")
        #expect(events.allSatisfy { $0.hash.count == 64 })
    }

    @Test func valuesACallerSentAreKeptShortInTheLog() async throws {
        let store = try makeTestStore()
        try await makeDirectory(store)
        let long = String(repeating: "x", count: 10_000)
        await expectError(.notFound(kind: "partner", id: long)) {
            _ = try await store.endRelationship(context(contosoUser, Registry.EndRelationship.info), partner: long,
                                                account: "admin@contoso.onmicrosoft.com")
        }
        await expectError(.permissionDenied(method: "AcceptLink", role: .tenant)) {
            _ = try await store.acceptLink(context(contosoUser, Registry.AcceptLink.info), link: "https://x.invalid/consent/abc",
                                           account: long + "@" + long)
        }
        let rows = try await store.rowsForTesting("SELECT target, actor_account FROM audit_events WHERE seq > 7 ORDER BY seq")
        #expect(rows.count == 2)
        let target = try #require(text(rows[0]["target"]))
        #expect(target.hasPrefix("account:admin@contoso.onmicrosoft.com partner:xxx") && target.hasSuffix("…"))
        #expect(target.count < 300)
        #expect(try #require(text(rows[1]["actor_account"])).count == 256)
        #expect(try await store.verifyAudit(asOperator(Registry.VerifyAudit.info)).ok)
    }

    @Test func anUnexpectedFailureIsRecordedAsInternalErrorAndChangesNothing() async throws {
        struct Unexpected: Error {}
        let store = try makeTestStore()
        try await makeDirectory(store)
        do {
            _ = try await store.change(asOperator(Registry.CreateTenant.info)) { tx -> Int in
                try tx.db.execute(sql: "INSERT INTO tenants (id, name, created_at) VALUES ('half', 'Half', '2026-01-01T00:00:00.000Z')")
                tx.target("tenant", "half")
                throw Unexpected()
            }
            Issue.record("the change succeeded")
        } catch is Unexpected {}
        #expect(try await store.counts().tenants == 2)
        let e = try await lastEvent(store)
        #expect(text(e["method"]) == "CreateTenant" && text(e["outcome"]) == "InternalError")
        #expect(Int64.fromDatabaseValue(e["seq"]!) == 8)
        #expect(try await store.verifyAudit(asOperator(Registry.VerifyAudit.info)).ok)
    }

    @Test func anAccessRuleWithAnOutOfRangeUidIsRefusedAndRecorded() async throws {
        let store = try makeTestStore()
        await expectInvalid("uid") {
            _ = try await store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: -1, gid: nil, role: .auditor,
                                              partner: nil, tenant: nil)
        }
        await expectInvalid("gid") {
            _ = try await store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: nil, gid: 1 << 32, role: .auditor,
                                              partner: nil, tenant: nil)
        }
        #expect(try await store.auditEventsForTesting().map(\.outcome) == ["InvalidInput", "InvalidInput"])
        #expect(try await store.activeAccessRules().isEmpty)
    }

    @Test func backupsAreRecordedWhetherOrNotTheyAreWritten() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try RegistryStore(configuration: StoreConfiguration(path: directory + "/registry.sqlite"))
        try await makeDirectory(store)
        let copy = directory + "/copy.sqlite"
        let result = try await store.backup(asOperator(Registry.Backup.info), to: copy)
        #expect(result.path == copy && result.bytes > 0)
        await expectError(.alreadyExists(kind: "file", id: copy)) {
            _ = try await store.backup(asOperator(Registry.Backup.info), to: copy)
        }
        await expectInvalid("path") { _ = try await store.backup(asOperator(Registry.Backup.info), to: "relative.sqlite") }
        let events = try await store.auditEventsForTesting().suffix(3)
        #expect(events.map(\.outcome) == ["ok", "AlreadyExists", "InvalidInput"])
        #expect(events.map(\.target) == ["file:\(copy)", "file:\(copy)", "file:relative.sqlite"])
        try store.close()

        // The copy holds the log as it was before the backup's own event, and it verifies.
        let restored = try RegistryStore(configuration: StoreConfiguration(path: copy))
        #expect(try await restored.verifyAudit(asOperator(Registry.VerifyAudit.info)) == AuditVerification(ok: true, events: 7, firstBroken: nil))
        try restored.close()
    }
}
