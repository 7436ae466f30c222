import AutopilotDomain
import AutopilotInterface
@testable import AutopilotStore
import Foundation
import GRDB
import Testing

/// Consent over time on the store (interface.md, "Lifecycle after day one"): DAP that ends by itself, extension by a
/// richer link, the partner ending its relationship, one open revocation request per pair and its withdrawal, and
/// the consent events every change leaves.
@Suite struct ConsentLifecycleStoreTests {
    typealias W = ConsentWorld
    static let day: Int64 = 86_400_000

    func link(_ w: W, _ partner: String = "fourthcoffee", dap: Bool = false, roles: [String] = [],
              days: Int? = nil) async throws -> String {
        try await w.store.requestResellerRelationship(asOperator(Registry.RequestResellerRelationship.info), partner: partner,
                                                      delegatedAdmin: dap, roles: roles, dapDays: days).link.url ?? ""
    }

    /// Every consent event: (seq, kind, grant, actor, audit seq).
    func events(_ w: W) async throws -> [(seq: Int64, kind: String, grant: String, actor: String, audit: Int64?)] {
        try await w.store.queryForTesting { db in
            try Row.fetchAll(db, sql: "SELECT seq, kind, grant_id, actor, audit_seq FROM consent_events ORDER BY seq").map {
                ($0[0], $0[1], $0[2], $0[3], $0[4])
            }
        }
    }

    @Test func dapDaysAreCheckedAndKeptWithTheLink() async throws {
        let w = try await W()
        let op = asOperator(Registry.RequestResellerRelationship.info)
        for (dap, days, reason) in [(false, 30, "a DAP duration can only be given together with delegatedAdmin"),
                                    (true, 0, "expected 1 to 730 days, got 0"), (true, 731, "expected 1 to 730 days, got 731")] {
            await expectError(.invalidInput(field: "dapDays", reason: reason)) {
                _ = try await w.store.requestResellerRelationship(op, partner: "fourthcoffee", delegatedAdmin: dap,
                                                                  roles: dap ? ["GlobalReader"] : [], dapDays: days)
            }
        }
        let invitation = try await w.store.requestResellerRelationship(op, partner: "fourthcoffee", delegatedAdmin: true,
                                                                       roles: ["GlobalReader"], dapDays: 730)
        #expect(invitation.link.dapDays == 730)
        #expect(invitation.email.contains("end by themselves 730 days after you accept"), "\(invitation.email)")
        let page = try await w.store.describeLink(asOperator(Registry.DescribeLink.info), link: invitation.link.id)
        #expect(page.link.dapDays == 730)
    }

    @Test func dapEndsAtItsInstantInEveryReadWithNothingRunning() async throws {
        let w = try await W()
        let url = try await link(w, dap: true, roles: ["GlobalReader"], days: 30)
        let granted = try await w.accept(url)
        let ends = Timestamp(millisecondsSinceEpoch: W.start + 30 * Self.day)
        #expect(granted.first?.delegatedAdmin == true && granted.first?.dapExpiresAt == ends)

        w.clock.advance(milliseconds: 30 * Self.day - 1)
        #expect(try await w.activeGrants("fourthcoffee").first?.delegatedAdmin == true)
        let check = try await w.store.validateSubmission(asOperator(Registry.ValidateSubmission.info),
                                                         partner: "fourthcoffee", tenant: "contoso", devices: [])
        #expect(check.grant?.delegatedAdmin == true, "the answer is now in the consent cache")
        w.clock.advance(milliseconds: 1)
        // No expiry was recorded and nothing committed, yet every read says DAP has ended: the cached answer too.
        let after = try #require(try await w.activeGrants("fourthcoffee").first)
        #expect(!after.delegatedAdmin && after.roles.isEmpty && after.dapExpiresAt == ends && after.status == .active)
        let cached = try await w.store.validateSubmission(asOperator(Registry.ValidateSubmission.info),
                                                          partner: "fourthcoffee", tenant: "contoso", devices: [])
        #expect(cached.consented && cached.grant?.delegatedAdmin == false)
        #expect(try await events(w).map(\.kind) == ["granted"])

        // The expiry is then recorded once, at the moment DAP ended, by no call.
        #expect(try await w.store.recordDapExpiries() == nil)
        #expect(try await w.store.recordDapExpiries() == nil)
        let recorded = try await events(w)
        #expect(recorded.map(\.kind) == ["granted", "dapExpired"])
        #expect(recorded.last?.actor == "autopilotd" && recorded.last?.audit == nil)
        let at = try await w.store.queryForTesting { db in try String.fetchOne(db, sql: "SELECT at FROM consent_events WHERE seq = 2") }
        #expect(at == ends.rfc3339)
    }

    @Test func theNextExpiryIsReportedSoTheDaemonWakesThen() async throws {
        let w = try await W()
        try await w.accept(try await link(w, dap: true, roles: ["GlobalReader"], days: 10))
        try await w.accept(try await link(w, "woodgrove", dap: true, roles: ["GlobalReader"], days: 3))
        #expect(try await w.store.recordDapExpiries() == Timestamp(millisecondsSinceEpoch: W.start + 3 * Self.day))
        w.clock.advance(days: 5)
        // Woodgrove's DAP and that of its provider, Tailspin, which came with it, end together.
        #expect(try await w.store.recordDapExpiries() == Timestamp(millisecondsSinceEpoch: W.start + 10 * Self.day))
        let expired = try await events(w).filter { $0.kind == "dapExpired" }
        #expect(expired.count == 2)
    }

    @Test func aRicherLinkExtendsTheActiveGrantAndAnEqualOneChangesNothing() async throws {
        let w = try await W()
        // The bug the issue names: a DAP link accepted over a DAP-free grant used to return the old grant.
        let plain = try await w.accept(try await link(w))
        #expect(plain.first?.delegatedAdmin == false)
        let withDap = try await w.accept(try await link(w, dap: true, roles: ["GlobalReader"], days: 30))
        #expect(withDap.count == 1 && withDap[0].id == plain[0].id)
        #expect(withDap[0].delegatedAdmin && withDap[0].roles == [.globalReader])
        #expect(withDap[0].dapExpiresAt == Timestamp(millisecondsSinceEpoch: W.start + 30 * Self.day))

        // Asking for no more (same roles, shorter DAP) leaves it as it is; more roles or longer DAP extend it.
        w.clock.advance(days: 1)
        let same = try await w.accept(try await link(w, dap: true, roles: ["GlobalReader"], days: 5))
        #expect(same == withDap)
        let moreRoles = try await w.accept(try await link(w, dap: true, roles: ["IntuneAdministrator"], days: 5))
        #expect(moreRoles[0].roles == [.globalReader, .intuneAdministrator] && moreRoles[0].dapExpiresAt == withDap[0].dapExpiresAt)
        let longer = try await w.accept(try await link(w, dap: true, roles: ["GlobalReader"]))
        #expect(longer[0].dapExpiresAt == nil && longer[0].roles == [.globalReader, .intuneAdministrator])
        #expect(try await events(w).map(\.kind) == ["granted", "extended", "extended", "extended"])
        #expect(try await w.allGrants().count == 1)
    }

    @Test func acceptingTheSameLinkAgainChangesNothingSoDapStillEndsOnTime() async throws {
        let w = try await W()
        let url = try await link(w, dap: true, roles: ["GlobalReader"], days: 30)
        let first = try await w.accept(url)
        // A day later, and again the day before DAP ends: the grant as it was, and no event.
        w.clock.advance(days: 1)
        #expect(try await w.accept(url) == first)
        w.clock.advance(days: 28)
        #expect(try await w.accept(url) == first)
        #expect(first[0].dapExpiresAt == Timestamp(millisecondsSinceEpoch: W.start + 30 * Self.day))
        // Nor does it give DAP back once removed: that takes a new request from the partner.
        _ = try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info), partner: "fourthcoffee",
                                                   account: W.admin)
        #expect(try await w.accept(url)[0].delegatedAdmin == false)
        #expect(try await events(w).map(\.kind) == ["granted", "dapRemoved"])
        let renewed = try await w.accept(try await link(w, dap: true, roles: ["GlobalReader"], days: 30))
        #expect(renewed[0].delegatedAdmin && renewed[0].id == first[0].id)
        #expect(try await events(w).map(\.kind) == ["granted", "dapRemoved", "extended"])
    }

    @Test func dapGivenAgainAfterRemovalStartsAfreshWithoutTheOldRoles() async throws {
        let w = try await W()
        try await w.accept(try await link(w, dap: true, roles: ["GlobalReader", "UserAdministrator"]))
        let removed = try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info),
                                                             partner: "fourthcoffee", account: W.admin)
        #expect(!removed.delegatedAdmin && removed.roles.isEmpty)
        w.clock.advance(days: 1)
        let again = try await w.accept(try await link(w, dap: true, roles: ["GlobalReader"], days: 7))
        #expect(again[0].delegatedAdmin && again[0].roles == [.globalReader], "UserAdministrator must not come back")
        #expect(try await events(w).map(\.kind) == ["granted", "dapRemoved", "extended"])
        // The row no longer says DAP is removed; the events keep that it was, by whom.
        let history = try await w.store.rowsForTesting("SELECT dap_removed_at, dap_roles, delegated_admin FROM consent_history")
        #expect(history.first?["dap_removed_at"] == .null)
        #expect(history.first?["dap_roles"] == "GlobalReader,UserAdministrator".databaseValue, "the history keeps every role given")
        let removal = try await events(w)[1]
        #expect(removal.actor == W.admin)
    }

    @Test func anIndirectResellersExtensionReachesItsProvidersGrantToo() async throws {
        let w = try await W()
        let first = try await w.accept(try await link(w, "woodgrove"))
        #expect(first.map(\.partner) == ["woodgrove", "tailspin"])
        let extended = try await w.accept(try await link(w, "woodgrove", dap: true, roles: ["CloudDeviceAdministrator"], days: 90))
        #expect(extended.map(\.id) == first.map(\.id))
        #expect(extended.allSatisfy { $0.delegatedAdmin && $0.roles == [.cloudDeviceAdministrator] })
        #expect(try await events(w).map(\.kind) == ["granted", "granted", "extended", "extended"])
    }

    @Test func aPartnerEndsItsOwnRelationshipNamingTheTenant() async throws {
        let w = try await W()
        try await w.accept(try await link(w, "woodgrove"))
        let partner = OperationContext(caller: Caller(uid: 1001, gid: 1001, pid: 1, role: .partner, partner: "woodgrove"),
                                       method: Registry.EndRelationship.info)
        await expectError(.invalidInput(field: "tenant", reason: "a partner ending a relationship names the customer tenant it ends")) {
            _ = try await w.store.endRelationship(partner, partner: "woodgrove", account: nil, tenant: nil)
        }
        await expectError(.notFound(kind: "tenant", id: "nowhere")) {
            _ = try await w.store.endRelationship(partner, partner: "woodgrove", account: nil, tenant: "nowhere")
        }
        await expectError(.noActiveGrant(partner: "woodgrove", tenant: "fabrikam")) {
            _ = try await w.store.endRelationship(partner, partner: "woodgrove", account: nil, tenant: "fabrikam")
        }
        let ended = try await w.store.endRelationship(partner, partner: "woodgrove", account: nil, tenant: "contoso")
        #expect(ended.map(\.partner) == ["woodgrove", "tailspin"] && ended.allSatisfy { $0.status == .ended })
        let rows = try await w.store.rowsForTesting("SELECT end_reason, ended_by FROM grants ORDER BY rowid")
        #expect(rows.map { $0["end_reason"] } == ["endedByPartner".databaseValue, "endedWithReseller".databaseValue])
        #expect(rows.allSatisfy { $0["ended_by"] == "partner:woodgrove".databaseValue })
        #expect(try await events(w).suffix(2).map(\.kind) == ["ended", "ended"])
        #expect(try await events(w).suffix(2).allSatisfy { $0.actor == "partner:woodgrove" })

        // The tenant's side names no tenant: the account's is meant.
        try await w.accept(try await link(w))
        await expectError(.invalidInput(field: "tenant", reason: "a tenant ending a relationship as an account does not name a tenant: the account's is meant")) {
            _ = try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "fourthcoffee",
                                                  account: W.admin, tenant: "contoso")
        }
    }

    @Test func anOemMayEndItsOwnConsentThoughATenantMayNot() async throws {
        let w = try await W()
        try await w.accept(try await w.oemLink())
        await expectError(.oemRemovalRequiresRequest(partner: "litware")) {
            _ = try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "litware",
                                                  account: W.admin)
        }
        let oem = OperationContext(caller: Caller(uid: 1003, gid: 1003, pid: 1, role: .partner, partner: "litware"),
                                   method: Registry.EndRelationship.info)
        let ended = try await w.store.endRelationship(oem, partner: "litware", account: nil, tenant: "contoso")
        #expect(ended.count == 1 && ended[0].status == .ended)
    }

    @Test func oneOpenRequestPerPairWhichItsGlobalAdministratorMayWithdraw() async throws {
        let w = try await W()
        try await w.accept(try await link(w))
        let file = asOperator(Registry.FileRevocationRequest.info)
        let first = try await w.store.fileRevocationRequest(file, partner: "fourthcoffee", account: W.admin, reason: "left")
        await expectError(.alreadyExists(kind: "request", id: first.id)) {
            _ = try await w.store.fileRevocationRequest(file, partner: "fourthcoffee", account: W.customDomainAdmin, reason: "again")
        }
        let withdraw = asOperator(Registry.WithdrawRevocationRequest.info)
        await expectError(.globalAdminRequired(account: W.helpdesk)) {
            _ = try await w.store.withdrawRevocationRequest(withdraw, request: first.id, account: W.helpdesk)
        }
        await expectError(.notFound(kind: "request", id: "nope")) {
            _ = try await w.store.withdrawRevocationRequest(withdraw, request: "nope", account: W.admin)
        }
        let fabrikamAdmin = OperationContext(
            caller: Caller(uid: 1004, gid: 1004, pid: 1, role: .tenant, tenant: "fabrikam", account: W.fabrikamAdmin),
            method: Registry.WithdrawRevocationRequest.info)
        await expectError(.permissionDenied(method: "WithdrawRevocationRequest", role: .tenant)) {
            _ = try await w.store.withdrawRevocationRequest(fabrikamAdmin, request: first.id, account: W.fabrikamAdmin)
        }
        w.clock.advance(milliseconds: 1000)
        let withdrawn = try await w.store.withdrawRevocationRequest(withdraw, request: first.id, account: W.customDomainAdmin)
        #expect(withdrawn.status == .withdrawn && withdrawn.decidedBy == W.customDomainAdmin && withdrawn.decidedAt == w.clock.now)
        await expectError(.alreadyDecided(request: first.id)) {
            _ = try await w.store.withdrawRevocationRequest(withdraw, request: first.id, account: W.admin)
        }
        await expectError(.alreadyDecided(request: first.id)) {
            _ = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: first.id,
                                                          approve: true, note: nil)
        }
        // The consent stands, and a new request may be filed.
        #expect(try await w.activeGrants("fourthcoffee").count == 1)
        let second = try await w.store.fileRevocationRequest(file, partner: "fourthcoffee", account: W.admin, reason: "now")
        #expect(second.id != first.id)
        let listed = try await w.store.listRevocationRequests(asOperator(Registry.ListRevocationRequests.info), tenant: nil,
                                                              partner: nil, status: .withdrawn)
        #expect(listed.map(\.id) == [first.id])
    }

    @Test func everyGrantChangeIsOneEventMatchedToTheAuditEventOfItsCall() async throws {
        let w = try await W()
        try await w.accept(try await link(w, "woodgrove", dap: true, roles: ["GlobalReader"]))
        _ = try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info), partner: "woodgrove",
                                                   account: W.admin)
        let request = try await w.store.fileRevocationRequest(asOperator(Registry.FileRevocationRequest.info),
                                                              partner: "woodgrove", account: W.admin, reason: "done")
        _ = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: request.id,
                                                      approve: true, note: nil)
        let summary = try await w.store.queryForTesting { db in
            try String.fetchAll(db, sql: """
                SELECT e.seq || ' ' || e.kind || ' ' || g.partner_id || ' ' || a.method || ' ' || a.outcome || ' '
                       || (a.target LIKE '%grant:' || e.grant_id || '%')
                  FROM consent_events e JOIN grants g ON g.id = e.grant_id JOIN audit_events a ON a.seq = e.audit_seq
                 ORDER BY e.seq
                """)
        }
        #expect(summary == [
            "1 granted woodgrove AcceptLink ok 1", "2 granted tailspin AcceptLink ok 1",
            "3 dapRemoved woodgrove RemoveDelegatedAdmin ok 1", "4 dapRemoved tailspin RemoveDelegatedAdmin ok 1",
            "5 revoked woodgrove DecideRevocationRequest ok 1", "6 ended tailspin DecideRevocationRequest ok 1",
        ], "\(summary)")
        // A failed call leaves no event: its changes were rolled back, its audit event kept.
        await expectError(.noActiveGrant(partner: "woodgrove", tenant: "contoso")) {
            _ = try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info), partner: "woodgrove",
                                                       account: W.admin)
        }
        #expect(try await events(w).count == 6)
        // The events are append-only.
        await #expect(throws: (any Error).self) {
            try await w.store.withDatabaseForTesting { db in try db.execute(sql: "DELETE FROM consent_events") }
        }
    }

    @Test func eventsAreReadInOrderByPartnerOrTenantAndAWaiterWakesOnCommit() async throws {
        let w = try await W()
        try await w.accept(try await link(w))
        try await w.accept(try await link(w, "woodgrove"), as: W.fabrikamAdmin)
        let all = try await w.store.consentEvents(after: 0, partner: nil, tenant: nil, limit: 10)
        #expect(all.events.map(\.grant.partner) == ["fourthcoffee", "woodgrove", "tailspin"] && all.lastSeq == 3)
        let tailspin = try await w.store.consentEvents(after: 0, partner: "tailspin", tenant: nil, limit: 10)
        #expect(tailspin.events.map(\.seq) == [3] && tailspin.events[0].grant.basis == .viaReseller)
        let contoso = try await w.store.consentEvents(after: 0, partner: nil, tenant: "contoso", limit: 10)
        #expect(contoso.events.map(\.seq) == [1] && contoso.lastSeq == 3)
        let paged = try await w.store.consentEvents(after: 0, partner: nil, tenant: nil, limit: 2)
        #expect(paged.events.map(\.seq) == [1, 2] && paged.lastSeq == 2)

        let store = w.store
        let waiter = Task { await store.waitForConsentEvent(after: 3); return try await store.lastConsentEventSeq() }
        try await Task.sleep(for: .milliseconds(50))
        _ = try await w.store.removeDelegatedAdmin(asOperator(Registry.RemoveDelegatedAdmin.info), partner: "fourthcoffee",
                                                   account: W.admin).id
        // fourthcoffee had no DAP: nothing to remove is still a successful call, but no grant changed, so no event.
        let deadline = ContinuousClock.now + .milliseconds(200)
        await w.store.waitForConsentEvent(after: 3, deadline: deadline)
        #expect(ContinuousClock.now >= deadline, "no event was committed, so the wait lasts until its deadline")
        _ = try await w.store.endRelationship(asOperator(Registry.EndRelationship.info), partner: "fourthcoffee", account: W.admin)
        #expect(try await waiter.value == 4)
        let cancelled = Task { await store.waitForConsentEvent(after: 99) }
        cancelled.cancel()
        await cancelled.value
    }

    @Test func theAuditorViewsShowDapAsItIsInForceNow() async throws {
        // The views compare with SQLite's clock, so the world's times (November 2026) are in the past for them.
        let w = try await W()
        try await w.accept(try await link(w, dap: true, roles: ["GlobalReader"], days: 1))
        try await w.accept(try await link(w, "woodgrove", dap: true, roles: ["GlobalReader"]))
        let history = try await w.store.rowsForTesting("""
            SELECT partner_id, delegated_admin, dap_days, dap_expires_at, dap_expired FROM consent_history
            WHERE basis = 'direct' ORDER BY partner_id
            """)
        #expect(history.map { $0["partner_id"] } == ["fourthcoffee".databaseValue, "woodgrove".databaseValue])
        #expect(history[0]["delegated_admin"] == 0.databaseValue && history[0]["dap_expired"] == 1.databaseValue)
        #expect(history[0]["dap_days"] == 1.databaseValue)
        #expect(history[0]["dap_expires_at"] == Timestamp(millisecondsSinceEpoch: W.start + Self.day).rfc3339.databaseValue)
        #expect(history[1]["delegated_admin"] == 1.databaseValue && history[1]["dap_expired"] == 0.databaseValue)
        let active = try await w.store.rowsForTesting("""
            SELECT partner_id, delegated_admin, dap_roles, dap_expires_at FROM active_consents WHERE basis = 'direct'
            ORDER BY partner_id
            """)
        #expect(active[0]["delegated_admin"] == 0.databaseValue && active[0]["dap_roles"] == .null)
        #expect(active[1]["dap_roles"] == "GlobalReader".databaseValue && active[1]["dap_expires_at"] == .null)
    }

    @Test func upgradingKeepsEveryGrantAndWithdrawsRepeatedOpenRequests() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lifecycle-\(UUID().uuidString).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations where migration.name < "0011" {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.sql) }
        }
        try migrator.migrate(queue)
        try await queue.write { db in
            let at = "2026-11-20T10:00:00.000Z"
            try db.execute(sql: "INSERT INTO tenants (id, name, created_at) VALUES ('contoso', 'Contoso', ?)", arguments: [at])
            try db.execute(sql: """
                INSERT INTO tenant_domains (domain, tenant_id, is_initial, added_at) VALUES ('contoso.onmicrosoft.com', 'contoso', 1, ?)
                """, arguments: [at])
            try db.execute(sql: """
                INSERT INTO accounts (upn, tenant_id, domain, created_at)
                VALUES ('admin@contoso.onmicrosoft.com', 'contoso', 'contoso.onmicrosoft.com', ?)
                """, arguments: [at])
            try db.execute(sql: """
                INSERT INTO partners (id, name, kind, oem_direct_api, created_at) VALUES ('woodgrove', 'Woodgrove', 'directCsp', 0, ?)
                """, arguments: [at])
            try db.execute(sql: """
                INSERT INTO links (id, token_sha256, partner_id, kind, delegated_admin, created_at, expires_at)
                VALUES ('l1', ?, 'woodgrove', 'resellerRelationship', 1, ?, '2027-01-01T00:00:00.000Z')
                """, arguments: [String(repeating: "a", count: 64), at])
            try db.execute(sql: """
                INSERT INTO grants (id, tenant_id, partner_id, basis, link_id, delegated_admin, granted_by, granted_at)
                VALUES ('g1', 'contoso', 'woodgrove', 'direct', 'l1', 1, 'admin@contoso.onmicrosoft.com', ?)
                """, arguments: [at])
            try db.execute(sql: "INSERT INTO grant_roles (grant_id, role) VALUES ('g1', 'GlobalReader')")
            for (id, minute) in [("r1", 1), ("r2", 2), ("r3", 3)] {
                try db.execute(sql: """
                    INSERT INTO revocation_requests (id, tenant_id, partner_id, requested_by, reason, created_at)
                    VALUES (?, 'contoso', 'woodgrove', 'admin@contoso.onmicrosoft.com', 'twice', ?)
                    """, arguments: [id, "2026-11-20T10:0\(minute):00.000Z"])
            }
        }
        try queue.close()

        let store = try RegistryStore(configuration: StoreConfiguration(path: path))
        defer { try? store.close() }
        let requests = try await store.listRevocationRequests(asOperator(Registry.ListRevocationRequests.info), tenant: nil,
                                                              partner: nil, status: nil)
        #expect(requests.map(\.status) == [.open, .withdrawn, .withdrawn])
        #expect(requests.dropFirst().allSatisfy { $0.note == "duplicate of r1" && $0.decidedBy?.contains("0011") == true })
        let grant = try #require(try await store.listGrants(asOperator(Registry.ListGrants.info), tenant: nil, partner: nil,
                                                           status: nil).first)
        #expect(grant.id == "g1" && grant.delegatedAdmin && grant.roles == [.globalReader] && grant.dapExpiresAt == nil)
        let checks = try await store.queryForTesting { db in
            (try Row.fetchAll(db, sql: "PRAGMA foreign_key_check").count,
             try String.fetchOne(db, sql: "PRAGMA integrity_check"))
        }
        #expect(checks.0 == 0 && checks.1 == "ok")
    }
}
