import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Foundation
import GRDB
import Testing

/// A fresh in-memory store with the production migrations and a controllable clock.
func makeTestStore(start: Int64 = 1_795_603_560_000) throws -> RegistryStore {
    try RegistryStore(configuration: StoreConfiguration(path: nil, clock: { Timestamp(millisecondsSinceEpoch: start) }))
}

/// An operator (root) context for a method.
func asOperator(_ method: MethodInfo) -> OperationContext {
    OperationContext(caller: Caller(uid: 0, gid: 0, pid: 1, role: .operator), method: method)
}

/// Expects `body` to throw exactly `expected`.
func expectError(_ expected: RegistryError, sourceLocation: SourceLocation = #_sourceLocation,
                 _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(expected), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as RegistryError {
        #expect(error == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(expected), got \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to throw InvalidInput naming `field`.
func expectInvalid(_ field: String, sourceLocation: SourceLocation = #_sourceLocation,
                   _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected InvalidInput(\(field)), but the call succeeded", sourceLocation: sourceLocation)
    } catch let RegistryError.invalidInput(got, _) {
        #expect(got == field, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected InvalidInput(\(field)), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct DirectoryStoreTests {
    @Test func createTenantRecordsTheInitialDomain() async throws {
        let store = try makeTestStore()
        let t = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: " Contoso ", domain: "Contoso.onmicrosoft.com", id: "contoso")
        #expect(t.id == "contoso" && t.name == "Contoso" && t.domain == "contoso.onmicrosoft.com")
        #expect(t.domains == ["contoso.onmicrosoft.com"])
        #expect(t.createdAt.rfc3339 == "2026-11-25T10:46:00.000Z")
        let generated = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Fabrikam", domain: "fabrikam.onmicrosoft.com", id: nil)
        #expect(UUID(uuidString: generated.id) != nil && generated.id == generated.id.lowercased())
    }

    @Test func tenantIdsAndDomainsAreUnique() async throws {
        let store = try makeTestStore()
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Contoso", domain: "contoso.onmicrosoft.com", id: "contoso")
        await expectError(.alreadyExists(kind: "tenant", id: "contoso")) {
            _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "X", domain: "x.onmicrosoft.com", id: "contoso")
        }
        await expectError(.alreadyExists(kind: "domain", id: "contoso.onmicrosoft.com")) {
            _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "X", domain: "contoso.onmicrosoft.com", id: "x")
        }
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Fabrikam", domain: "fabrikam.onmicrosoft.com", id: "fabrikam")
        _ = try await store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: "contoso", domain: "contoso.com")
        await expectError(.alreadyExists(kind: "domain", id: "contoso.com")) {
            _ = try await store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: "fabrikam", domain: "CONTOSO.com")
        }
        await expectInvalid("domain") {
            _ = try await store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: "fabrikam", domain: "other.onmicrosoft.com")
        }
        await expectError(.notFound(kind: "tenant", id: "ghost")) {
            _ = try await store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: "ghost", domain: "not a domain")
        }
        let contoso = try await store.getTenant(asOperator(Registry.GetTenant.info), id: "contoso")
        #expect(contoso.domains == ["contoso.onmicrosoft.com", "contoso.com"])
    }

    @Test func accountsBelongToTheTenantOwningTheirDomain() async throws {
        let store = try makeTestStore()
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Contoso", domain: "contoso.onmicrosoft.com", id: "contoso")
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Fabrikam", domain: "fabrikam.onmicrosoft.com", id: "fabrikam")
        _ = try await store.addTenantDomain(asOperator(Registry.AddTenantDomain.info), tenant: "contoso", domain: "contoso.com")
        let admin = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: "Admin@Contoso.onmicrosoft.com", roles: ["GlobalAdministrator"])
        #expect(admin.upn == "admin@contoso.onmicrosoft.com" && admin.cloudNative && admin.isGlobalAdministrator)
        let custom = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: "bob@contoso.com", roles: [])
        #expect(!custom.cloudNative && custom.roles.isEmpty)
        await expectInvalid("upn") {
            _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "fabrikam", upn: "eve@contoso.com", roles: [])
        }
        await expectInvalid("roles") {
            _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: "carol@contoso.com", roles: ["Root"])
        }
        await expectError(.alreadyExists(kind: "account", id: "bob@contoso.com")) {
            _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: "BOB@contoso.com", roles: [])
        }
        let updated = try await store.setAccountRoles(asOperator(Registry.SetAccountRoles.info), upn: "bob@contoso.com", roles: ["IntuneAdministrator", "GlobalAdministrator"])
        #expect(updated.roles == [.globalAdministrator, .intuneAdministrator])
        await expectError(.notFound(kind: "account", id: "nobody@contoso.com")) {
            _ = try await store.setAccountRoles(asOperator(Registry.SetAccountRoles.info), upn: "nobody@contoso.com", roles: [])
        }
    }

    @Test func partnersFollowTheKindRules() async throws {
        let store = try makeTestStore()
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Tailspin", kind: .indirectProvider, provider: nil, oemDirectApi: false, id: "tailspin")
        let reseller = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Woodgrove", kind: .indirectReseller, provider: "tailspin", oemDirectApi: false, id: "woodgrove")
        #expect(reseller.provider == "tailspin")
        await expectInvalid("provider") {
            _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Bad", kind: .indirectReseller, provider: "woodgrove", oemDirectApi: false, id: nil)
        }
        await expectError(.notFound(kind: "partner", id: "ghost")) {
            _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Bad", kind: .indirectReseller, provider: "ghost", oemDirectApi: false, id: nil)
        }
        await expectInvalid("oemDirectApi") {
            _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Bad", kind: .directCsp, provider: nil, oemDirectApi: true, id: nil)
        }
        await expectError(.alreadyExists(kind: "partner name", id: "WOODGROVE")) {
            _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "WOODGROVE", kind: .directCsp, provider: nil, oemDirectApi: false, id: nil)
        }
        let oem = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Litware", kind: .oem, provider: nil, oemDirectApi: false, id: "litware")
        #expect(!oem.oemDirectApi)
        #expect(try await store.setOemEligibility(asOperator(Registry.SetOemEligibility.info), partner: "litware", eligible: true).oemDirectApi)
        await expectInvalid("oemDirectApi") {
            _ = try await store.setOemEligibility(asOperator(Registry.SetOemEligibility.info), partner: "woodgrove", eligible: true)
        }
        #expect(try await store.listPartners(asOperator(Registry.ListPartners.info)).map(\.id) == ["tailspin", "woodgrove", "litware"])
    }

    @Test func partnerAndTenantCallersSeeOnlyTheirOwn() async throws {
        let store = try makeTestStore()
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Contoso", domain: "contoso.onmicrosoft.com", id: "contoso")
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Woodgrove", kind: .directCsp, provider: nil, oemDirectApi: false, id: "woodgrove")
        let partner = Caller(uid: 1001, gid: 1001, pid: 1, role: .partner, partner: "woodgrove")
        let tenant = Caller(uid: 1002, gid: 1002, pid: 1, role: .tenant, tenant: "contoso")
        // Contoso has not consented: Woodgrove may not see it.
        #expect(try await store.listTenants(OperationContext(caller: partner, method: Registry.ListTenants.info)).isEmpty)
        await expectError(.permissionDenied(method: "GetTenant", role: .partner)) {
            _ = try await store.getTenant(OperationContext(caller: partner, method: Registry.GetTenant.info), id: "contoso")
        }
        #expect(try await store.listPartners(OperationContext(caller: partner, method: Registry.ListPartners.info)).map(\.id) == ["woodgrove"])
        #expect(try await store.listTenants(OperationContext(caller: tenant, method: Registry.ListTenants.info)).map(\.id) == ["contoso"])
        #expect(try await store.listPartners(OperationContext(caller: tenant, method: Registry.ListPartners.info)).isEmpty)
        await expectError(.permissionDenied(method: "GetPartner", role: .tenant)) {
            _ = try await store.getPartner(OperationContext(caller: tenant, method: Registry.GetPartner.info), id: "woodgrove")
        }
    }

    @Test func accessRulesNameExactlyOneSubjectAndTheirScope() async throws {
        let store = try makeTestStore()
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Woodgrove", kind: .directCsp, provider: nil, oemDirectApi: false, id: "woodgrove")
        let rule = try await store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: 1001, gid: nil, role: .partner, partner: "woodgrove", tenant: nil)
        await expectError(.alreadyExists(kind: "access rule", id: "uid 1001")) {
            _ = try await store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: 1001, gid: nil, role: .auditor, partner: nil, tenant: nil)
        }
        await expectInvalid("uid") {
            _ = try await store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: 1, gid: 2, role: .auditor, partner: nil, tenant: nil)
        }
        await expectInvalid("partner") {
            _ = try await store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: 1002, gid: nil, role: .partner, partner: nil, tenant: nil)
        }
        await expectError(.notFound(kind: "partner", id: "ghost")) {
            _ = try await store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: 1002, gid: nil, role: .partner, partner: "ghost", tenant: nil)
        }
        #expect(try await store.activeAccessRules().map(\.id) == [rule.id])
        try await store.removeAccessRule(asOperator(Registry.RemoveAccessRule.info), id: rule.id)
        #expect(try await store.activeAccessRules().isEmpty)
        await expectError(.notFound(kind: "access rule", id: rule.id)) {
            try await store.removeAccessRule(asOperator(Registry.RemoveAccessRule.info), id: rule.id)
        }
        // The uid is free again once its rule is removed.
        _ = try await store.addAccessRule(asOperator(Registry.AddAccessRule.info), uid: 1001, gid: nil, role: .auditor, partner: nil, tenant: nil)
    }

    @Test func failedChangesWriteNothingButTheirAuditEvent() async throws {
        let store = try makeTestStore()
        _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: "Contoso", domain: "contoso.onmicrosoft.com", id: "contoso")
        await expectInvalid("roles") {
            _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: "a@contoso.onmicrosoft.com", roles: ["GlobalAdministrator", "Nope"])
        }
        let counts = try await store.counts()
        #expect(counts.tenants == 1)
        let events = try await store.auditEventsForTesting()
        #expect(events.map(\.outcome) == ["ok", "InvalidInput"])
        #expect(events.map(\.method) == ["CreateTenant", "AddAccount"])
        #expect(events[1].target == "tenant:contoso account:a@contoso.onmicrosoft.com")
    }
}

@Suite struct StoreOpeningTests {
    func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("store-\(UUID().uuidString).sqlite").path
    }

    @Test func refusesADatabaseFromANewerSchema() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try RegistryStore(configuration: StoreConfiguration(path: path)).close()
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_from_the_future')") }
        try queue.close()
        #expect {
            try RegistryStore(configuration: StoreConfiguration(path: path))
        } throws: { error in
            "\(error)".contains("newer autopilotd") && "\(error)".contains("9999_from_the_future")
        }
    }

    @Test func refusesAForeignSQLiteDatabaseAndLeavesItAlone() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let queue = try DatabaseQueue(path: path)
        try queue.write { try $0.execute(sql: "CREATE TABLE invoices (id INTEGER PRIMARY KEY)") }
        try queue.close()
        #expect(throws: StoreOpenError.self) { try RegistryStore(configuration: StoreConfiguration(path: path)) }
        let check = try DatabaseQueue(path: path)
        let tables = try check.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'table'") }
        #expect(tables == ["invoices"])
    }

    @Test func refusesAFileThatIsNotADatabase() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreOpenError.self) { try RegistryStore(configuration: StoreConfiguration(path: path)) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x41, count: 8192))
    }

    @Test func reopeningAppliesNothingTwiceAndKeepsData() async throws {
        let path = temporaryPath()
        defer { for s in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + s) } }
        let first = try RegistryStore(configuration: StoreConfiguration(path: path))
        _ = try await first.createTenant(asOperator(Registry.CreateTenant.info), name: "Contoso", domain: "contoso.onmicrosoft.com", id: "contoso")
        try first.close()
        let second = try RegistryStore(configuration: StoreConfiguration(path: path))
        #expect(try await second.counts().tenants == 1)
        try second.close()
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o640)
    }

    @Test func schemaConstraintsHoldEvenAgainstDirectSQL() async throws {
        let store = try makeTestStore()
        // The schema refuses what Swift would refuse: a reseller whose provider is not an indirect provider.
        try await store.withDatabaseForTesting { db in
            try db.execute(sql: "INSERT INTO partners (id, name, kind, created_at) VALUES ('c', 'C', 'directCsp', 'x')")
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO partners (id, name, kind, provider_id, created_at) VALUES ('r', 'R', 'indirectReseller', 'c', 'x')")
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO partners (id, name, kind, oem_direct_api, created_at) VALUES ('d', 'D', 'directCsp', 1, 'x')")
            }
            #expect(throws: DatabaseError.self) {
                try db.execute(sql: "INSERT INTO tenants (id, name, created_at) VALUES ('', 'x', 'x')")
            }
        }
    }
}
