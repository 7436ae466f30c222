import AutopilotClient
import Foundation
import Testing
import Varlink

/// People act as themselves: Unix users bound to their own tenant accounts through the real daemon and autopilotctl.
/// Only a Global Administrator bound to its account consents; naming someone else, or having only a tenant-wide rule,
/// is refused and recorded; removing the account of someone who left refuses them next time.
@Suite(.serialized, .ownThread) struct PeopleEndToEndTests {
    static let admin = "admin@contoso.onmicrosoft.com", helpdesk = "helpdesk@contoso.onmicrosoft.com"

    /// A daemon with tenant contoso (its Global Administrator and a helpdesk account), the direct CSP woodgrove, and
    /// three Unix users: one bound to the administrator, one to the helpdesk account, one tenant-wide.
    func start() throws -> (TestDaemon, ga: TestUser, desk: TestUser, wide: TestUser) {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let daemon = try TestDaemon(config: ["socket_mode = 0666"])
        try daemon.addTenant("contoso")
        _ = try daemon.call("AddAccount", ["tenant": "contoso", "upn": .string(Self.helpdesk), "roles": ["HelpdeskAdministrator"]])
        try daemon.addPartner("woodgrove", kind: "directCsp")
        let ga = try TestUser.make("ap-people-ga"), desk = try TestUser.make("ap-people-desk")
        let wide = try TestUser.make("ap-people-wide")
        for (user, account) in [(ga, Self.admin), (desk, Self.helpdesk)] {
            let added = try daemon.ctl(["access", "add", "--user", user.name, "--role", "tenant", "--tenant", "contoso",
                                        "--account", account])
            #expect(added.status == 0 && added.stdout.contains("account:") && added.stdout.contains(account), "\(added)")
        }
        #expect(try daemon.ctl(["access", "add", "--user", wide.name, "--role", "tenant", "--tenant", "contoso"]).status == 0)
        return (daemon, ga, desk, wide)
    }

    func link(_ daemon: TestDaemon) throws -> String {
        try daemon.call("RequestResellerRelationship", ["partner": "woodgrove", "delegatedAdmin": false])["link"]?
            .objectValue?["url"]?.stringValue ?? ""
    }

    @Test func onlyTheBoundGlobalAdministratorConsentsAndEveryOtherAttemptIsRefusedAndRecorded() throws {
        let (daemon, ga, desk, wide) = try start()
        defer { daemon.cleanup() }
        let url = try link(daemon)

        let who = try JSON.parse(try daemon.ctl(as: ga, ["whoami", "--json"]).stdout).objectValue
        #expect(who?["role"] == "tenant" && who?["account"] == .string(Self.admin), "\(String(describing: who))")
        #expect(try daemon.ctl(as: wide, ["whoami"]).stdout.contains("whole tenant"))

        // The helpdesk person acts as itself: not a Global Administrator. Naming the administrator is refused.
        let asItself = try daemon.ctl(as: desk, ["consent", "accept", "--yes", url])
        #expect(asItself.status == 1 && asItself.stderr.contains("GlobalAdminRequired"), "\(asItself)")
        #expect(asItself.stdout.contains("Acting as \(Self.helpdesk)"), "\(asItself)")
        let impersonating = try daemon.ctl(as: desk, ["consent", "accept", "--yes", url, "--as", Self.admin])
        #expect(impersonating.status == 1 && impersonating.stderr.contains("PermissionDenied"), "\(impersonating)")
        // A tenant-wide rule reads, and acts as nobody.
        #expect(try daemon.ctl(as: wide, ["consent", "show", url]).status == 0)
        for arguments in [["consent", "accept", "--yes", url], ["consent", "accept", "--yes", url, "--as", Self.admin]] {
            let refused = try daemon.ctl(as: wide, arguments)
            #expect(refused.status == 1 && refused.stderr.contains("PermissionDenied"), "\(refused)")
        }
        #expect(try daemon.call("GetStatus")["grants"] == 0)

        // The Global Administrator accepts without --as, and is told who it acted as.
        let accepted = try daemon.ctl(as: ga, ["consent", "accept", "--yes", url])
        #expect(accepted.status == 0, "\(accepted)")
        #expect(accepted.stdout.hasPrefix("Acting as \(Self.admin), the account your access rule binds you to."), "\(accepted)")
        #expect(try daemon.sql("SELECT granted_by FROM consent_history") == Self.admin)

        // Every refusal is recorded with the account the call named (or, naming none, the caller's own).
        let refused = try daemon.sql("""
            SELECT actor_uid || ' ' || ifnull(actor_account, '-') || ' ' || outcome FROM refused_calls WHERE method = 'AcceptLink'
            ORDER BY seq
            """).split(separator: "\n").map(String.init)
        #expect(refused == ["\(desk.uid) \(Self.helpdesk) GlobalAdminRequired", "\(desk.uid) \(Self.admin) PermissionDenied",
                            "\(wide.uid) - PermissionDenied", "\(wide.uid) \(Self.admin) PermissionDenied"], "\(refused)")

        // An operator names the account it acts for; omitting it is a malformed call.
        let local = try daemon.ctl(["consent", "end", "--partner", "woodgrove"])
        #expect(local.status == 64 && local.stderr.contains("--as"), "\(local)")
        let raw = try daemon.callError("AcceptLink", ["link": .string(url)])
        #expect(raw?.name == "org.varlink.service.InvalidParameter" && raw?.parameters["parameter"] == "account")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
    }

    @Test func rolesCountFromTheNextCallAndARemovedAccountActsNoMore() throws {
        let (daemon, ga, desk, _) = try start()
        defer { daemon.cleanup() }
        let url = try link(daemon)
        #expect(try daemon.ctl(as: desk, ["consent", "accept", "--yes", url]).stderr.contains("GlobalAdminRequired"))
        // Promoted: the very next call counts the new role.
        #expect(try daemon.ctl(["account", "set-roles", Self.helpdesk, "--role", "GlobalAdministrator"]).status == 0)
        #expect(try daemon.ctl(as: desk, ["consent", "accept", "--yes", url]).status == 0)

        // The administrator leaves: the account and the rule binding the Unix user to it go in one transaction.
        let removed = try daemon.ctl(["account", "remove", Self.admin])
        #expect(removed.status == 0 && removed.stdout.contains("removed account \(Self.admin)"), "\(removed)")
        let after = try daemon.ctl(as: ga, ["consent", "end", "--partner", "woodgrove", "--as", Self.admin])
        #expect(after.status == 1 && after.stderr.contains("PermissionDenied"), "\(after)")
        #expect(try JSON.parse(try daemon.ctl(as: ga, ["whoami", "--json"]).stdout).objectValue?["role"] == "none")
        #expect(!(try daemon.ctl(["access", "list"]).stdout.contains(Self.admin)))
        // History keeps the UPN it recorded.
        let operatorNames = try daemon.callError("EndRelationship", ["partner": "woodgrove", "account": .string(Self.admin)])
        #expect(operatorNames?.name == "io.autopilotd.registry.NotFound" && operatorNames?.parameters["kind"] == "account")
        #expect(try daemon.sql("SELECT count(*) FROM audit_events WHERE method = 'RemoveAccount' AND outcome = 'ok'") == "1")
    }

    @Test func aTenantWideRuleIsNamedAtStartAndInTheRuleList() throws {
        let (daemon, _, _, wide) = try start()
        defer { try? FileManager.default.removeItem(atPath: daemon.directory) }
        let list = try daemon.ctl(["access", "list"])
        #expect(list.stdout.contains("(whole tenant: reads only)") && list.stdout.contains(Self.admin), "\(list)")
        let rule = try #require(try daemon.call("ListAccessRules")["rules"]?.arrayValue?.compactMap(\.objectValue)
            .first { $0["uid"]?.intValue == Int(wide.uid) }?["id"]?.stringValue)
        daemon.stop()
        let again = try TestDaemon(directory: daemon.directory)
        defer { again.stop() }
        let started = again.startLog
        #expect(started.contains("tenant access rules without an account only read") && started.contains(rule), "\(started)")
        #expect(started.contains("--account UPN"))
    }
}
