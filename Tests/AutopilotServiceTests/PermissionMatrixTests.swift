import AutopilotClient
import Foundation
import Testing
import Varlink

/// Every method of interface.md called by every role, each role a real Unix user, checked against the table "Who may
/// call what" as InterfaceTable writes it out (not against the daemon's own permission table).
@Suite(.serialized, .ownThread) struct PermissionMatrixTests {
    /// The roles of the matrix: two partners and two tenants, so that "own" can be told from "someone else's".
    enum Subject: String, CaseIterable, Sendable {
        /// tenantX and tenantY are bound to their tenant's Global Administrator, tenantXHelpdesk to tenant X's
        /// GlobalReader account, and tenantXWide covers tenant X with no account (reads only).
        case `operator`, auditor, partnerA, partnerB, tenantX, tenantY, tenantXHelpdesk, tenantXWide, none

        var role: InterfaceTable.Role {
            switch self {
            case .operator: .operator
            case .auditor: .auditor
            case .partnerA, .partnerB: .partner
            case .tenantX, .tenantY, .tenantXHelpdesk, .tenantXWide: .tenant
            case .none: .none
            }
        }

        /// Partner B and tenant Y live in the second world; everyone else calls "own" the first.
        var ownWorld: Int { self == .partnerB || self == .tenantY ? 1 : 0 }
        var userName: String { "ap-pm-\(rawValue.lowercased().prefix(20))" }
    }

    /// Whether a probe names the caller's own partner or tenant (or its records), someone else's, or nothing.
    enum Target: String, Sendable { case nothing, own, other }

    struct Probe: Sendable {
        var target: Target
        var call: CallScript.Call
        /// The error this probe must get instead of what the table's reach implies (the account rules).
        var expected: String? = nil
        var method: String { call.method.hasPrefix("org.") ? call.method : String(call.method.dropFirst("io.autopilotd.registry.".count)) }
    }

    /// One partner, its customer tenant and their records.
    struct World: Sendable {
        var partner: String, tenant: String, admin: String, reader: String
        var batch: String, uploadBatch: String, linkURL: String
        /// An open revocation request of this world's tenant against the spare partner, to withdraw.
        var request = ""
        /// Per subject: a link to revoke (URL and id) and a device to deregister, so that no call depends on another's
        /// effect.
        var revocableLinks: [Subject: String] = [:]
        var revocableLinkIDs: [Subject: String] = [:]
        var devices: [Subject: String] = [:]
        /// Every id of this world's records, to check that the other world never sees them.
        var identifiers: Set<String> = []
    }

    struct Fixture: Sendable {
        var worlds: [World]
        /// A partner with consent from both tenants, for the tenant-side calls that end or change consent.
        var spare = "partnerd"
        var spareLink: String
        var oem = "oemc"
        var request: String
        var rules: [Subject: String]
    }

    @Test func everyRoleGetsExactlyWhatTheInterfaceTableAllowsAndNothingOfAnotherPartnerOrTenant() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let daemon = try TestDaemon(config: ["socket_mode = 0666"])
        defer { daemon.cleanup() }
        let script = try CallScript.install(in: daemon.directory)
        let users = try Dictionary(uniqueKeysWithValues: Subject.allCases.map { ($0, try TestUser.make($0.userName)) })
        let fixture = try Self.build(daemon, users: users)
        let refusalsBefore = try daemon.sql("SELECT count(*) FROM audit_events WHERE outcome = 'PermissionDenied'")
        #expect(refusalsBefore == "0")

        var refusals: [UInt32: Int] = [:]
        for subject in Subject.allCases {
            let probes = Self.probes(for: subject, fixture, directory: daemon.directory)
            let outcomes = try CallScript.run(probes.map(\.call), as: users[subject]!, socket: daemon.socket, script: script)
            #expect(Set(probes.map(\.method)) == Set(InterfaceTable.methods.map(\.name) + InterfaceTable.serviceMethods))
            let who = outcomes[probes.firstIndex { $0.method == "WhoAmI" }!]
            #expect(who.replies.first?.objectValue?["role"]?.stringValue == subject.role.rawValue, "\(subject): \(who.text)")

            for (probe, outcome) in zip(probes, outcomes) {
                let reach = InterfaceTable.reach(probe.method, subject.role)
                let allowed = reach == .any || (reach == .own && probe.target != .other)
                let label = "\(subject.rawValue) \(probe.method) (\(probe.target.rawValue)): \(outcome.text)"
                #expect(outcome.error != "closed", "\(label)")
                #expect(outcome.error != "io.autopilotd.registry.InternalError", "\(label)")
                if let expected = probe.expected {
                    #expect(outcome.error == expected, "\(label)")
                    if outcome.error == "io.autopilotd.registry.PermissionDenied" { refusals[users[subject]!.uid, default: 0] += 1 }
                    continue
                }
                if allowed {
                    #expect(outcome.error != "io.autopilotd.registry.PermissionDenied", "allowed but refused: \(label)")
                } else {
                    #expect(outcome.error == "io.autopilotd.registry.PermissionDenied", "refused by the table but not by the daemon: \(label)")
                    #expect(outcome.errorParameters["role"]?.stringValue == subject.role.rawValue, "\(label)")
                }
                if outcome.error == "io.autopilotd.registry.PermissionDenied" { refusals[users[subject]!.uid, default: 0] += 1 }

                // Nothing of the other world reaches a partner or tenant (the consent page shows any link's partner).
                if subject.role == .partner || (subject.role == .tenant && probe.method != "DescribeLink") {
                    let foreign = fixture.worlds[1 - subject.ownWorld].identifiers.filter { outcome.text.contains($0) }
                    #expect(foreign.isEmpty, "\(label) shows \(foreign)")
                }
            }
        }

        // Every refusal is in the audit log, under the uid that was refused.
        let logged = try daemon.sql("""
            SELECT actor_uid, count(*) FROM audit_events WHERE outcome = 'PermissionDenied' GROUP BY actor_uid
            """).split(separator: "\n").map { line in line.split(separator: "|").map(String.init) }
        let loggedRefusals = Dictionary(uniqueKeysWithValues: logged.compactMap { f in
            f.count == 2 ? (UInt32(f[0])!, Int(f[1])!) : nil })
        #expect(loggedRefusals == refusals)

        // What the partners and tenants were refused did not happen: the other world's records are as they were.
        for subject in Subject.allCases where subject.role == .partner || subject.role == .tenant {
            let other = fixture.worlds[1 - subject.ownWorld]
            #expect(try daemon.sql("SELECT status FROM devices WHERE id = '\(other.devices[subject]!)'") == "registered",
                    "\(subject) deregistered another partner's device")
            #expect(try daemon.sql("""
                SELECT revoked_at IS NULL FROM links WHERE id = '\(other.revocableLinkIDs[subject]!)'
                """) == "1", "\(subject) revoked another partner's link")
        }
        for world in fixture.worlds {
            #expect(try daemon.sql("SELECT count(*) FROM grants WHERE partner_id = '\(world.partner)' AND status = 'active'") == "1")
        }
        #expect(try daemon.sql("""
            SELECT count(*) FROM devices WHERE serial_number IN ('partnera-other', 'partnerb-other', 'tenantx-other', 'tenanty-other',
                'partnera-other-upload', 'partnerb-other-upload', 'tenantx-other-upload', 'tenanty-other-upload')
            """) == "0", "a partner or tenant added a device to another partner's batch")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
    }

    /// Two worlds (partner A with tenant X, partner B with tenant Y), a spare partner D with consent from both, an
    /// eligible OEM, a revocation request, and for every subject its own links, devices and access rule to use up.
    static func build(_ daemon: TestDaemon, users: [Subject: TestUser]) throws -> Fixture {
        var worlds: [World] = []
        for (partner, tenant) in [("partnera", "tenantx"), ("partnerb", "tenanty")] {
            try daemon.makeCustomer(tenant: tenant, partner: partner)
            let domain = "\(tenant).onmicrosoft.com"
            _ = try daemon.call("AddAccount", ["tenant": .string(tenant), "upn": .string("reader@" + domain), "roles": ["GlobalReader"]])
            let batch = try daemon.call("CreateDeviceBatch", ["partner": .string(partner), "tenant": .string(tenant),
                                                              "name": "matrix", "channel": "api"])["batch"]!.objectValue!["id"]!.stringValue!
            let uploadBatch = try daemon.call("CreateDeviceBatch", ["partner": .string(partner), "tenant": .string(tenant),
                                                                    "name": "matrix upload", "channel": "upload"])["batch"]!
                .objectValue!["id"]!.stringValue!
            let link = try daemon.call("RequestResellerRelationship", ["partner": .string(partner), "delegatedAdmin": false])
            var world = World(partner: partner, tenant: tenant, admin: "admin@" + domain, reader: "reader@" + domain,
                              batch: batch, uploadBatch: uploadBatch, linkURL: link["link"]!.objectValue!["url"]!.stringValue!)
            world.identifiers = [partner, tenant, domain, batch, uploadBatch, link["link"]!.objectValue!["id"]!.stringValue!]
            let devices = Subject.allCases.map { subject -> JSONValue in
                .object(["serialNumber": .string("\(partner)-\(subject.rawValue)"), "manufacturer": "Contoso", "model": "M3"])
            }
            let added = try daemon.call("AddDevices", ["batch": .string(batch), "devices": .array(devices)])
            for (subject, result) in zip(Subject.allCases, added["results"]!.arrayValue!) {
                let id = result.objectValue!["device"]!.stringValue!
                world.devices[subject] = id
                world.identifiers.insert(id)
                let revocable = try daemon.call("RequestResellerRelationship", ["partner": .string(partner), "delegatedAdmin": false])
                let linkID = revocable["link"]!.objectValue!["id"]!.stringValue!
                world.revocableLinks[subject] = revocable["link"]!.objectValue!["url"]!.stringValue!
                world.revocableLinkIDs[subject] = linkID
                world.identifiers.insert(linkID)
            }
            worlds.append(world)
        }
        try daemon.makeCustomer(tenant: "tenantz", partner: "partnerd")
        let spareLink = try daemon.call("RequestResellerRelationship", ["partner": "partnerd", "delegatedAdmin": true,
                                                                       "roles": ["GlobalReader"]])["link"]!.objectValue!["url"]!.stringValue!
        for world in worlds {
            _ = try daemon.call("AcceptLink", ["link": .string(spareLink), "account": .string(world.admin)])
        }
        for index in worlds.indices {
            worlds[index].request = try daemon.call("FileRevocationRequest", [
                "partner": "partnerd", "account": .string(worlds[index].admin), "reason": "matrix withdrawal",
            ])["request"]!.objectValue!["id"]!.stringValue!
            worlds[index].identifiers.insert(worlds[index].request)
        }
        _ = try daemon.call("RegisterPartner", ["name": "Oemc", "kind": "oem", "oemDirectApi": true, "id": "oemc"])
        let request = try daemon.call("FileRevocationRequest", ["partner": "partnerd", "account": "admin@tenantz.onmicrosoft.com",
                                                                "reason": "matrix"])["request"]!.objectValue!["id"]!.stringValue!
        var rules: [Subject: String] = [:]
        for (index, subject) in Subject.allCases.enumerated() {
            let user = users[subject]!
            var rule: JSONObject = ["uid": .int(Int(user.uid))]
            switch subject {
            case .operator: rule["role"] = "operator"
            case .auditor: rule["role"] = "auditor"
            case .partnerA, .partnerB: rule["role"] = "partner"; rule["partner"] = .string(worlds[subject.ownWorld].partner)
            case .tenantX, .tenantY:
                rule["role"] = "tenant"; rule["tenant"] = .string(worlds[subject.ownWorld].tenant)
                rule["account"] = .string(worlds[subject.ownWorld].admin)
            case .tenantXHelpdesk:
                rule["role"] = "tenant"; rule["tenant"] = .string(worlds[0].tenant); rule["account"] = .string(worlds[0].reader)
            case .tenantXWide: rule["role"] = "tenant"; rule["tenant"] = .string(worlds[0].tenant)
            case .none: break
            }
            if subject != .none { _ = try daemon.call("AddAccessRule", rule) }
            // A rule for an unused uid, for this subject's RemoveAccessRule.
            rules[subject] = try daemon.call("AddAccessRule", ["uid": .int(3_000_000 + index), "role": "auditor"])["rule"]!
                .objectValue!["id"]!.stringValue!
        }
        return Fixture(worlds: worlds, spareLink: spareLink, request: request, rules: rules)
    }

    /// The calls a subject makes: every method, naming its own records and, where the method names a partner or
    /// tenant, someone else's.
    static func probes(for subject: Subject, _ f: Fixture, directory: String) -> [Probe] {
        let own = f.worlds[subject.ownWorld], other = f.worlds[1 - subject.ownWorld]
        let me = subject.rawValue.lowercased()
        var probes: [Probe] = []
        func add(_ method: String, _ target: Target = .nothing, _ parameters: JSONObject = [:], more: Bool = false,
                 firstOnly: Bool = false, expected: String? = nil) {
            let name = method.hasPrefix("org.") ? method : "io.autopilotd.registry." + method
            probes.append(Probe(target: target, call: CallScript.Call(method: name, parameters: parameters, more: more,
                                                                      firstOnly: firstOnly),
                                expected: expected))
        }
        func both(_ method: String, more: Bool = false, firstOnly: Bool = false,
                  _ parameters: (World, Target) -> JSONObject) {
            add(method, .own, parameters(own, .own), more: more, firstOnly: firstOnly)
            add(method, .other, parameters(other, .other), more: more, firstOnly: firstOnly)
        }
        /// A call that acts as an account, made naming the own tenant's Global Administrator and the other tenant's;
        /// the account rules decide tenant callers: bound to the Global Administrator, it acts (and naming another
        /// account is refused); bound to another account, naming the Global Administrator is refused and omitting
        /// the account acts as its own, which lacks the role; a tenant-wide caller acts as nobody.
        func acting(_ method: String, _ parameters: (JSONValue) -> JSONObject) {
            let namesOwnAdmin = JSONValue.string(own.admin)
            switch subject {
            case .tenantXHelpdesk:
                var omitted = parameters(namesOwnAdmin)
                omitted["account"] = nil
                let name = "io.autopilotd.registry." + method
                probes.append(Probe(target: .own, call: CallScript.Call(method: name, parameters: omitted),
                                    expected: "io.autopilotd.registry.GlobalAdminRequired"))
                probes.append(Probe(target: .own, call: CallScript.Call(method: name, parameters: parameters(namesOwnAdmin)),
                                    expected: "io.autopilotd.registry.PermissionDenied"))
            case .tenantXWide:
                let name = "io.autopilotd.registry." + method
                for account in [namesOwnAdmin, .string(other.admin)] {
                    probes.append(Probe(target: .own, call: CallScript.Call(method: name, parameters: parameters(account)),
                                        expected: "io.autopilotd.registry.PermissionDenied"))
                }
            default:
                add(method, .own, parameters(namesOwnAdmin))
                add(method, .other, parameters(.string(other.admin)))
            }
        }

        /// A device call made on the side the subject acts on: a tenant's person on the tenant's side (its own
        /// tenant's device, then the other tenant's; the account rules decide as in `acting`: a Global Reader is
        /// AccountRoleRequired, a tenant-wide caller acts as nobody, and naming another tenant's account is refused);
        /// everyone else on the partner's side (DeregisterDevice naming the partner), on its own world's device and the
        /// other world's.
        func deviceCalls(_ method: String, _ extra: JSONObject) {
            let name = "io.autopilotd.registry." + method
            func parameters(_ w: World, account: JSONValue? = nil) -> JSONObject {
                var p = extra
                p["device"] = .string(w.devices[subject]!)
                if let account { p["account"] = account }
                if subject.role != .tenant && method == "DeregisterDevice" { p["partner"] = .string(w.partner) }
                return p
            }
            switch subject {
            case .tenantXHelpdesk:
                probes.append(Probe(target: .own, call: CallScript.Call(method: name, parameters: parameters(own)),
                                    expected: "io.autopilotd.registry.AccountRoleRequired"))
            case .tenantXWide:
                probes.append(Probe(target: .own, call: CallScript.Call(method: name, parameters: parameters(own)),
                                    expected: "io.autopilotd.registry.PermissionDenied"))
            case .tenantX, .tenantY:
                probes.append(Probe(target: .own, call: CallScript.Call(
                    method: name, parameters: parameters(own, account: .string(other.admin))),
                                    expected: "io.autopilotd.registry.PermissionDenied"))
            default: break
            }
            if method == "DeregisterDevice" && subject.role == .tenant {
                // A partner named on the tenant's side is refused as a value, and nothing is removed.
                var named = parameters(own)
                named["partner"] = .string(own.partner)
                let expected = subject == .tenantXWide ? "PermissionDenied" : "InvalidInput"
                probes.append(Probe(target: .own, call: CallScript.Call(method: name, parameters: named),
                                    expected: "io.autopilotd.registry." + expected))
            }
            if subject != .tenantXHelpdesk && subject != .tenantXWide { add(method, .own, parameters(own)) }
            add(method, .other, parameters(other))
        }

        /// List filters name a partner for partner callers, a tenant for tenant callers.
        func filter(_ w: World) -> JSONObject {
            subject.role == .tenant ? ["tenant": .string(w.tenant)] : ["partner": .string(w.partner)]
        }

        add("CreateTenant", .nothing, ["name": "New", "domain": .string("new-\(me).onmicrosoft.com"), "id": .string("new-\(me)")])
        add("AddTenantDomain", .own, ["tenant": .string(own.tenant), "domain": .string("\(me).example.com")])
        add("AddAccount", .own, ["tenant": .string(own.tenant), "upn": .string("user-\(me)@\(own.tenant).onmicrosoft.com"),
                                 "roles": ["GlobalReader"]])
        add("SetAccountRoles", .own, ["upn": .string(own.reader), "roles": ["GlobalReader"]])
        add("RemoveAccount", .own, ["upn": .string("user-\(me)@\(own.tenant).onmicrosoft.com")])
        both("GetTenant") { w, _ in ["tenant": .string(w.tenant)] }
        add("ListTenants")
        add("RegisterPartner", .nothing, ["name": .string("New \(me)"), "kind": "directCsp", "id": .string("new-\(me)")])
        add("SetOemEligibility", .nothing, ["partner": .string(f.oem), "eligible": true])
        both("GetPartner") { w, _ in ["partner": .string(w.partner)] }
        add("ListPartners")

        both("RequestResellerRelationship") { w, _ in ["partner": .string(w.partner), "delegatedAdmin": false] }
        add("IssueOemLink", .nothing, ["partner": .string(f.oem)])
        both("RevokeLink") { w, _ in ["link": .string(w.revocableLinks[subject]!)] }
        both("DescribeLink") { w, _ in ["link": .string(w.linkURL)] }
        acting("AcceptLink") { account in ["link": .string(f.spareLink), "account": account] }
        both("ListCustomers") { w, _ in ["partner": .string(w.partner)] }
        add("ListGrants")
        both("ListGrants") { w, _ in filter(w) }
        both("ValidateSubmission") { w, _ in
            ["partner": .string(w.partner), "tenant": .string(w.tenant),
             "devices": [["serialNumber": "V1", "manufacturer": "Contoso", "model": "M3"]]]
        }
        acting("RemoveDelegatedAdmin") { account in ["partner": .string(f.spare), "account": account] }
        acting("FileRevocationRequest") { account in ["partner": .string(f.spare), "account": account, "reason": "matrix"] }
        if subject.role == .partner {
            // The partner's side: its own relationship with a tenant that is not its customer (NotFound, nothing
            // ends), another partner's (refused), and naming a tenant's account, which a partner never acts as.
            both("EndRelationship") { w, _ in ["partner": .string(w.partner), "tenant": "tenantz"] }
            add("EndRelationship", .own, ["partner": .string(own.partner), "account": .string(own.admin)],
                expected: "io.autopilotd.registry.PermissionDenied")
        } else {
            acting("EndRelationship") { account in ["partner": .string(f.spare), "account": account] }
        }
        add("ListRevocationRequests")
        add("DecideRevocationRequest", .nothing, ["request": .string(f.request), "approve": false])
        acting("WithdrawRevocationRequest") { account in
            ["request": .string(account == .string(own.admin) ? own.request : other.request), "account": account]
        }
        add("WatchConsent", more: true, firstOnly: true)
        both("WatchConsent", more: true, firstOnly: true) { w, _ in filter(w) }

        both("CreateDeviceBatch") { w, _ in
            ["partner": .string(w.partner), "tenant": .string(w.tenant), "name": .string(me), "channel": "api"]
        }
        both("AddDevices") { w, t in
            ["batch": .string(w.batch), "devices": [.object(["serialNumber": .string("\(me)-\(t.rawValue)"),
                                                             "manufacturer": "Contoso", "model": "M3"])]]
        }
        both("UploadDeviceCsv") { w, t in
            ["batch": .string(w.uploadBatch),
             "csv": .string("Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model\n"
                 + "\(me)-\(t.rawValue)-upload,,,Contoso,M3\n")]
        }
        both("GetBatch") { w, _ in ["batch": .string(w.batch)] }
        add("ListBatches")
        both("ListBatches") { w, _ in filter(w) }
        add("ListDevices", more: true)
        both("ListDevices", more: true) { w, _ in filter(w) }
        deviceCalls("UpdateDevice", ["groupTag": .string("matrix-\(me)")])
        deviceCalls("DeregisterDevice", [:])
        if subject.role != .tenant {
            // Acting as itself on the other partner's device: allowed as a call, refused by the rules (811), unchanged.
            add("DeregisterDevice", .own, ["partner": .string(own.partner), "device": .string(other.devices[subject]!)])
        }

        add("AddAccessRule", .nothing, ["uid": .int(3_100_000 + (Subject.allCases.firstIndex(of: subject) ?? 0)), "role": "auditor"])
        add("RemoveAccessRule", .nothing, ["rule": .string(f.rules[subject]!)])
        add("ListAccessRules")
        add("ListAuditEvents", .nothing, ["limit": 3], more: true)
        add("VerifyAudit")
        add("GetAuditHead")
        add("Backup", .nothing, ["path": .string("\(directory)/backup-\(me).sqlite")])
        add("GetStatus")
        add("WhoAmI")
        add("org.varlink.service.GetInfo")
        add("org.varlink.service.GetInterfaceDescription", .nothing, ["interface": "io.autopilotd.registry"])
        return probes
    }
}
