import AutopilotDomain
import AutopilotInterface
import Testing

@Suite struct PermissionTests {
    static let t0 = Timestamp(millisecondsSinceEpoch: 0)

    func caller(_ role: CallerRole, partner: String? = nil, tenant: String? = nil) -> Caller {
        Caller(uid: 1000, gid: 1000, pid: 1, role: role, partner: partner, tenant: tenant)
    }

    /// Every method the interface declares, as the permission table sees it.
    static let allMethods = RegistryInterface.methods.map { $0.info }

    @Test func everyMethodIsFoundByItsWireNameAndNothingElseIs() {
        for method in Self.allMethods {
            #expect(RegistryInterface.method(named: Substring(method.name))?.info == method)
        }
        let name = "io.autopilotd.registry.WhoAmI"
        #expect(RegistryInterface.method(named: name[name.index(name.startIndex, offsetBy: 23)...])?.info == Registry.WhoAmI.info)
        for unknown in ["", "whoami", "WhoAmI ", "Who\u{0}AmI", "GetStatusX"] {
            #expect(RegistryInterface.method(named: Substring(unknown)) == nil, "\(unknown)")
        }
    }

    @Test func operatorMayCallEverything() throws {
        for method in Self.allMethods { try caller(.operator).authorize(method) }
    }

    @Test func noneMayOnlyAskWhoItIsAndTheStatus() {
        for method in Self.allMethods {
            let allowed = (try? caller(.none).authorize(method)) != nil
            #expect(allowed == (method == Registry.GetStatus.info || method == Registry.WhoAmI.info), "\(method)")
        }
    }

    @Test func auditorReadsButNeverChangesState() {
        for method in Self.allMethods {
            let allowed = (try? caller(.auditor).authorize(method)) != nil
            if method.changesState { #expect(!allowed, "\(method)") }
        }
        #expect((try? caller(.auditor).authorize(Registry.ListAuditEvents.info)) != nil)
        #expect((try? caller(.auditor).authorize(Registry.ValidateSubmission.info)) == nil)
        #expect((try? caller(.auditor).authorize(Registry.ListCustomers.info)) != nil)
    }

    @Test func tableRowsForPartnersAndTenants() {
        let partnerAllowed: Set<MethodInfo> = [
            Registry.GetTenant.info, Registry.ListTenants.info, Registry.GetPartner.info, Registry.ListPartners.info, Registry.RequestResellerRelationship.info, Registry.RevokeLink.info,
            Registry.DescribeLink.info, Registry.ListCustomers.info, Registry.ValidateSubmission.info, Registry.ListGrants.info, Registry.ListRevocationRequests.info,
            Registry.CreateDeviceBatch.info, Registry.AddDevices.info, Registry.UploadDeviceCsv.info, Registry.DeregisterDevice.info, Registry.GetBatch.info, Registry.ListBatches.info, Registry.ListDevices.info,
            Registry.UpdateDevice.info, Registry.GetStatus.info, Registry.WhoAmI.info, Registry.EndRelationship.info,
            Registry.WatchConsent.info,
        ]
        let tenantAllowed: Set<MethodInfo> = [
            Registry.GetTenant.info, Registry.ListTenants.info, Registry.GetPartner.info, Registry.ListPartners.info, Registry.DescribeLink.info, Registry.AcceptLink.info, Registry.RemoveDelegatedAdmin.info,
            Registry.EndRelationship.info, Registry.FileRevocationRequest.info, Registry.ListGrants.info, Registry.ListRevocationRequests.info, Registry.GetBatch.info, Registry.ListBatches.info,
            Registry.ListDevices.info, Registry.DeregisterDevice.info, Registry.UpdateDevice.info, Registry.GetStatus.info,
            Registry.WhoAmI.info, Registry.WithdrawRevocationRequest.info, Registry.WatchConsent.info,
        ]
        for method in Self.allMethods {
            #expect(((try? caller(.partner, partner: "a").authorize(method)) != nil) == partnerAllowed.contains(method), "\(method)")
            #expect(((try? caller(.tenant, tenant: "x").authorize(method)) != nil) == tenantAllowed.contains(method), "\(method)")
        }
    }

    @Test func partnerActsOnlyForItsOwnPartner() throws {
        let a = caller(.partner, partner: "a")
        try a.requirePartner("a", Registry.CreateDeviceBatch.info)
        #expect(throws: RegistryError.permissionDenied(method: "CreateDeviceBatch", role: .partner)) {
            try a.requirePartner("b", Registry.CreateDeviceBatch.info)
        }
        #expect(try a.partnerFilter(nil, Registry.ListBatches.info) == "a")
        #expect(throws: RegistryError.self) { try a.partnerFilter("b", Registry.ListBatches.info) }
        // A partner filtering by tenant keeps its own partner scope.
        #expect(try a.tenantFilter("x", Registry.ListBatches.info) == "x")
        try caller(.operator).requirePartner("b", Registry.CreateDeviceBatch.info)
    }

    @Test func tenantActsOnlyForItsOwnTenant() throws {
        let x = caller(.tenant, tenant: "x")
        #expect(try x.tenantFilter(nil, Registry.ListGrants.info) == "x")
        #expect(throws: RegistryError.self) { try x.tenantFilter("y", Registry.ListGrants.info) }
        #expect(throws: RegistryError.self) { try x.requireTenant("y", Registry.AcceptLink.info) }
        // The consent page may be opened by any tenant.
        try x.requireTenant("y", Registry.DescribeLink.info)
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

    @Test func streamingMethodsAreExactlyTheListStreamsAndTheWatch() {
        #expect(Self.allMethods.filter { $0.streams }
                == [Registry.WatchConsent.info, Registry.ListDevices.info, Registry.ListAuditEvents.info])
    }
}
