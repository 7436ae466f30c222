import AutopilotDomain
import Testing

@Suite struct PermissionTests {
    static let t0 = Timestamp(millisecondsSinceEpoch: 0)

    func caller(_ role: CallerRole, partner: String? = nil, tenant: String? = nil) -> Caller {
        Caller(uid: 1000, gid: 1000, pid: 1, role: role, partner: partner, tenant: tenant)
    }

    @Test func everyMethodIsFoundByItsWireNameAndNothingElseIs() {
        for method in RegistryMethod.allCases {
            #expect(RegistryMethod(wireName: Substring(method.rawValue)) == method)
        }
        let name = "io.autopilotd.registry.WhoAmI"
        #expect(RegistryMethod(wireName: name[name.index(name.startIndex, offsetBy: 23)...]) == .whoAmI)
        for unknown in ["", "whoami", "WhoAmI ", "Who\u{0}AmI", "GetStatusX"] {
            #expect(RegistryMethod(wireName: Substring(unknown)) == nil, "\(unknown)")
        }
    }

    @Test func operatorMayCallEverything() throws {
        for method in RegistryMethod.allCases { try caller(.operator).authorize(method) }
    }

    @Test func noneMayOnlyAskWhoItIsAndTheStatus() {
        for method in RegistryMethod.allCases {
            let allowed = (try? caller(.none).authorize(method)) != nil
            #expect(allowed == (method == .getStatus || method == .whoAmI), "\(method)")
        }
    }

    @Test func auditorReadsButNeverChangesState() {
        for method in RegistryMethod.allCases {
            let allowed = (try? caller(.auditor).authorize(method)) != nil
            if method.changesState { #expect(!allowed, "\(method)") }
        }
        #expect((try? caller(.auditor).authorize(.listAuditEvents)) != nil)
        #expect((try? caller(.auditor).authorize(.validateSubmission)) == nil)
        #expect((try? caller(.auditor).authorize(.listCustomers)) != nil)
    }

    @Test func tableRowsForPartnersAndTenants() {
        let partnerAllowed: Set<RegistryMethod> = [
            .getTenant, .listTenants, .getPartner, .listPartners, .requestResellerRelationship, .revokeLink,
            .describeLink, .listCustomers, .validateSubmission, .listGrants, .listRevocationRequests,
            .createDeviceBatch, .addDevices, .uploadDeviceCsv, .deregisterDevice, .getBatch, .listBatches, .listDevices,
            .getStatus, .whoAmI,
        ]
        let tenantAllowed: Set<RegistryMethod> = [
            .getTenant, .listTenants, .getPartner, .listPartners, .describeLink, .acceptLink, .removeDelegatedAdmin,
            .endRelationship, .fileRevocationRequest, .listGrants, .listRevocationRequests, .getBatch, .listBatches,
            .listDevices, .getStatus, .whoAmI,
        ]
        for method in RegistryMethod.allCases {
            #expect(((try? caller(.partner, partner: "a").authorize(method)) != nil) == partnerAllowed.contains(method), "\(method)")
            #expect(((try? caller(.tenant, tenant: "x").authorize(method)) != nil) == tenantAllowed.contains(method), "\(method)")
        }
    }

    @Test func partnerActsOnlyForItsOwnPartner() throws {
        let a = caller(.partner, partner: "a")
        try a.requirePartner("a", .createDeviceBatch)
        #expect(throws: RegistryError.permissionDenied(method: "CreateDeviceBatch", role: .partner)) {
            try a.requirePartner("b", .createDeviceBatch)
        }
        #expect(try a.partnerFilter(nil, .listBatches) == "a")
        #expect(throws: RegistryError.self) { try a.partnerFilter("b", .listBatches) }
        // A partner filtering by tenant keeps its own partner scope.
        #expect(try a.tenantFilter("x", .listBatches) == "x")
        try caller(.operator).requirePartner("b", .createDeviceBatch)
    }

    @Test func tenantActsOnlyForItsOwnTenant() throws {
        let x = caller(.tenant, tenant: "x")
        #expect(try x.tenantFilter(nil, .listGrants) == "x")
        #expect(throws: RegistryError.self) { try x.tenantFilter("y", .listGrants) }
        #expect(throws: RegistryError.self) { try x.requireTenant("y", .acceptLink) }
        // The consent page may be opened by any tenant.
        try x.requireTenant("y", .describeLink)
    }

    @Test func rootAndTheDaemonUserAreOperatorsWhateverTheRules() {
        let rules = [AccessRule(id: "r", uid: 0, gid: nil, role: .auditor, partner: nil, tenant: nil, createdAt: Self.t0)]
        #expect(Caller.resolve(uid: 0, gid: 0, groups: [], pid: 1, daemonUID: 999, rules: rules).role == .operator)
        #expect(Caller.resolve(uid: 999, gid: 5, groups: [], pid: 1, daemonUID: 999, rules: []).role == .operator)
        #expect(Caller.resolve(uid: 1001, gid: 5, groups: [], pid: 1, daemonUID: 999, rules: []).role == .none)
    }

    @Test func uidRuleWinsOverGroupRulesAndPrimaryGroupOverSupplementary() {
        let rules = [
            AccessRule(id: "1", uid: nil, gid: 50, role: .auditor, partner: nil, tenant: nil, createdAt: Self.t0),
            AccessRule(id: "2", uid: nil, gid: 60, role: .tenant, partner: nil, tenant: "x", createdAt: Self.t0.adding(seconds: 1)),
            AccessRule(id: "3", uid: 1001, gid: nil, role: .partner, partner: "a", tenant: nil, createdAt: Self.t0.adding(seconds: 2)),
        ]
        let byUID = Caller.resolve(uid: 1001, gid: 50, groups: [50, 60], pid: 1, daemonUID: 999, rules: rules)
        #expect(byUID.role == .partner && byUID.partner == "a")
        let byPrimary = Caller.resolve(uid: 1002, gid: 60, groups: [50, 60], pid: 1, daemonUID: 999, rules: rules)
        #expect(byPrimary.role == .tenant && byPrimary.tenant == "x")
        let bySupplementary = Caller.resolve(uid: 1002, gid: 7, groups: [7, 50], pid: 1, daemonUID: 999, rules: rules)
        #expect(bySupplementary.role == .auditor)
    }

    @Test func streamingMethodsAreExactlyTheListStreams() {
        #expect(RegistryMethod.allCases.filter(\.streams) == [.listDevices, .listAuditEvents])
    }
}
