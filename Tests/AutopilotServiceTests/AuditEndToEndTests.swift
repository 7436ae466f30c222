import AutopilotClient
import AutopilotDomain
import AutopilotTestSupport
import Foundation
import Testing
import Varlink

// The audit trail as an auditor meets it: the real daemon, the real autopilotctl, the real sqlite3 and python3,
// run as throwaway Unix users. The SQL and the verification script are read out of docs/auditing.md, so the guide
// cannot drift from what the daemon does.

/// docs/auditing.md.
struct AuditingGuide {
    let lines: [Substring]

    init() throws {
        lines = try String(contentsOfFile: repositoryRoot + "/docs/auditing.md", encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
    }

    /// The lines under `## heading`, up to the next `## ` heading.
    func section(_ heading: String) throws -> ArraySlice<Substring> {
        guard let start = lines.firstIndex(of: Substring("## " + heading)) else {
            throw TestFailure("docs/auditing.md has no section '## \(heading)'")
        }
        let end = lines[(start + 1)...].firstIndex { $0.hasPrefix("## ") } ?? lines.endIndex
        return lines[(start + 1)..<end]
    }

    /// The fenced code blocks of `language` in `lines`, in order.
    static func codeBlocks(_ language: String, in lines: ArraySlice<Substring>) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in lines {
            if current == nil, line == "```" + language {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    /// The example questions (`### ` headings of "Example questions") with the SQL under each, in order.
    func questions() throws -> [(question: String, sql: String)] {
        let lines = try section("Example questions")
        var result: [(String, String)] = []
        var heading: Int?
        for index in lines.indices where lines[index].hasPrefix("### ") || index == lines.endIndex - 1 {
            if let h = heading {
                let blocks = Self.codeBlocks("sql", in: lines[h..<(index + 1)])
                guard blocks.count == 1 else { throw TestFailure("'\(lines[h])' has \(blocks.count) sql blocks") }
                result.append((String(lines[h].dropFirst(4)), blocks[0]))
            }
            heading = index
        }
        return result
    }

    /// The columns documented for each view: the `| \`column\` |` rows under each `### \`view\`` of "The views".
    func viewColumns() throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        var view: String?
        for line in try section("The views") {
            if line.hasPrefix("### `") {
                view = String(line.dropFirst(5).dropLast())
                result[view!] = []
            } else if let view, line.hasPrefix("| `") {
                result[view]!.append(String(line.dropFirst(3).prefix { $0 != "`" }))
            }
        }
        return result
    }

    /// The verification script of "Verifying the chain".
    func verificationScript() throws -> String {
        let blocks = Self.codeBlocks("python", in: try section("Verifying the chain"))
        guard blocks.count == 1 else { throw TestFailure("expected one python block, found \(blocks.count)") }
        return blocks[0]
    }
}

/// The Python example of migrations/0004_audit.sql's comment, made runnable: the example reads `db`, so it is
/// given a read-only connection to the database named by its first argument.
private func migrationExample() throws -> String {
    let lines = try String(contentsOfFile: repositoryRoot + "/migrations/0004_audit.sql", encoding: .utf8)
        .split(separator: "\n")
    guard let start = lines.firstIndex(where: { $0.contains("Example, in Python:") }) else {
        throw TestFailure("0004_audit.sql has no Python example")
    }
    let example = lines[(start + 1)...].prefix { $0.hasPrefix("--   ") }.map { $0.dropFirst(5) }.joined(separator: "\n")
    // The shipped comment wraps its SELECT string over two lines, which Python cannot parse; rejoin that one line.
    let joined = example.replacingOccurrences(of: "actor_account,\n", with: "actor_account, ")
    return "import hashlib, sqlite3, sys\ndb = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n"
        + joined + "\nprint('verified')\n"
}

/// The Unix users and the auditors group the tests act as.
private struct Cast {
    let readers: UInt32
    let auditor, outsider, woodgrove, litware, adatum, stranger: TestUser
    /// Contoso's people, each bound to their own account: its Global Administrator, a helpdesk administrator, and a
    /// Global Administrator on the custom domain.
    let contoso, contosoHelpdesk, contosoIT: TestUser

    static func make() throws -> Cast {
        Cast(readers: try TestGroup.make("apd-audit-readers"), auditor: try TestUser.make("apd-audit-auditor"),
             outsider: try TestUser.make("apd-audit-outsider"), woodgrove: try TestUser.make("apd-audit-woodgrove"),
             litware: try TestUser.make("apd-audit-litware"), adatum: try TestUser.make("apd-audit-adatum"),
             stranger: try TestUser.make("apd-audit-stranger"), contoso: try TestUser.make("apd-audit-contoso"),
             contosoHelpdesk: try TestUser.make("apd-audit-helpdesk"), contosoIT: try TestUser.make("apd-audit-it"))
    }
}

/// A daemon whose database lives in a directory it creates itself, readable by the cast's auditors group.
private func startDaemon(_ cast: Cast) throws -> TestDaemon {
    try TestDaemon(config: ["socket_mode = 0666", "auditors_group = apd-audit-readers"],
                   databaseName: "state/registry.sqlite")
}

/// Gives the cast's auditor the auditor role on the socket.
private func grantAuditorRole(_ daemon: TestDaemon, _ cast: Cast) throws {
    #expect(try daemon.ctl(["access", "add", "--user", cast.auditor.name, "--role", "auditor"]).status == 0)
}

/// `result` succeeded; returns its standard output parsed as JSON when it is JSON.
@discardableResult
private func expectSuccess(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) -> JSONObject {
    #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
    return (try? JSON.parse(result.stdout).objectValue ?? [:]) ?? [:]
}

/// `result` failed with the registry error `name`.
private func expectRefusal(_ result: CommandResult, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status != 0 && result.stderr.contains(name), "\(result)", sourceLocation: sourceLocation)
}

/// Runs SQL with `sqlite3 -readonly -json` as `user` (with the auditors group) and returns the rows, each column's
/// value as text (`NULL` for null).
private func query(_ daemon: TestDaemon, as user: TestUser, groups: [UInt32], _ sql: String,
                   file: String? = nil) throws -> [[String: String]] {
    let result = try user.run("/usr/bin/sqlite3", ["-readonly", "-json", file ?? daemon.database, sql], groups: groups)
    guard result.status == 0 else { throw TestFailure("sqlite3 failed: \(result)\n\(sql)") }
    if result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return [] }
    guard let rows = try JSON.parse(result.stdout).arrayValue else { throw TestFailure("not a JSON array: \(result)") }
    return rows.map { row in
        var flat: [String: String] = [:]
        for (key, value) in zip(row.objectValue?.keys ?? [], row.objectValue?.values ?? []) {
            switch value {
            case .null: flat[key] = "NULL"
            case let .string(s): flat[key] = s
            case let .int(i): flat[key] = String(i)
            default: flat[key] = "\(value)"
            }
        }
        return flat
    }
}

/// The given columns of each row, in order.
private func columns(_ rows: [[String: String]], _ names: String...) -> [[String]] {
    rows.map { row in names.map { row[$0] ?? "<missing \($0)>" } }
}

/// A base64 4K hardware hash of 3,001 bytes (so it ends with `==` padding) of the machine with serial number `serial`.
private func hardwareHash(serial: String, seed: UInt64) -> String {
    Base64.encode(SyntheticHardwareHash(seed: seed, serialNumber: serial, byteCount: 3001).bytes())
}

/// What the scenario did that the answers depend on.
private struct Story {
    var woodgroveContosoGrant: JSONObject = [:]
    var tokens: [String] = []
    var hashes: [String] = []
    var backup = ""
}

/// A realistic registry built through the socket by operators, partners and a tenant, each as its own Unix user:
/// consent with and without DAP, an OEM and an indirect reseller, refused calls of every kind, device imports,
/// DAP removal, an ended relationship, an approved revocation and a deregistration.
private func playScenario(_ daemon: TestDaemon, _ cast: Cast) throws -> Story {
    var story = Story()
    let dir = daemon.directory
    for args in [["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"],
                 ["tenant", "add-domain", "contoso", "contoso.com"],
                 ["tenant", "create", "Fabrikam", "--domain", "fabrikam.onmicrosoft.com", "--id", "fabrikam"],
                 ["account", "add", "admin@contoso.onmicrosoft.com", "--tenant", "contoso", "--role", "GlobalAdministrator"],
                 ["account", "add", "helpdesk@contoso.onmicrosoft.com", "--tenant", "contoso", "--role", "HelpdeskAdministrator"],
                 ["account", "add", "it@contoso.com", "--tenant", "contoso", "--role", "GlobalAdministrator"],
                 ["account", "add", "admin@fabrikam.onmicrosoft.com", "--tenant", "fabrikam", "--role", "GlobalAdministrator"],
                 ["partner", "register", "Woodgrove", "--kind", "directCsp", "--id", "woodgrove"],
                 ["partner", "register", "Litware", "--kind", "oem", "--oem-direct-api", "--id", "litware"],
                 ["partner", "register", "Tailspin", "--kind", "indirectProvider", "--id", "tailspin"],
                 ["partner", "register", "Adatum", "--kind", "indirectReseller", "--provider", "tailspin", "--id", "adatum"],
                 ["access", "add", "--user", cast.woodgrove.name, "--role", "partner", "--partner", "woodgrove"],
                 ["access", "add", "--user", cast.litware.name, "--role", "partner", "--partner", "litware"],
                 ["access", "add", "--user", cast.adatum.name, "--role", "partner", "--partner", "adatum"],
                 ["access", "add", "--user", cast.contoso.name, "--role", "tenant", "--tenant", "contoso",
                  "--account", "admin@contoso.onmicrosoft.com"],
                 ["access", "add", "--user", cast.contosoHelpdesk.name, "--role", "tenant", "--tenant", "contoso",
                  "--account", "helpdesk@contoso.onmicrosoft.com"],
                 ["access", "add", "--user", cast.contosoIT.name, "--role", "tenant", "--tenant", "contoso",
                  "--account", "it@contoso.com"],
                 ["access", "add", "--user", cast.auditor.name, "--role", "auditor"]] {
        expectSuccess(try daemon.ctl(args))
    }

    // Woodgrove asks Contoso for a relationship with two admin roles; only the Global Administrator can accept.
    let request = expectSuccess(try daemon.ctl(as: cast.woodgrove, [
        "consent", "request", "--partner", "woodgrove", "--dap", "--role", "GlobalReader", "--role",
        "HelpdeskAdministrator", "--json"]))
    let woodgroveURL = try #require(request["link"]?.objectValue?["url"]?.stringValue)
    expectRefusal(try daemon.ctl(as: cast.contosoHelpdesk, ["consent", "accept", "--yes", woodgroveURL]), "GlobalAdminRequired")
    expectRefusal(try daemon.ctl(as: cast.woodgrove, ["consent", "accept", "--yes", woodgroveURL, "--as",
                                                      "admin@contoso.onmicrosoft.com"]), "PermissionDenied")
    let accepted = expectSuccess(try daemon.ctl(as: cast.contoso, ["consent", "accept", "--yes", woodgroveURL, "--as",
                                                                   "admin@contoso.onmicrosoft.com", "--json"]))
    story.woodgroveContosoGrant = try #require(accepted["grants"]?.arrayValue?.first?.objectValue)

    // Litware's OEM link needs a cloud-native Global Administrator.
    let oem = expectSuccess(try daemon.ctl(["consent", "oem-link", "--partner", "litware", "--json"]))
    let litwareURL = try #require(oem["link"]?.objectValue?["url"]?.stringValue)
    expectRefusal(try daemon.ctl(as: cast.contosoIT, ["consent", "accept", "--yes", litwareURL]),
                  "CloudNativeAccountRequired")
    expectSuccess(try daemon.ctl(as: cast.contoso, ["consent", "accept", "--yes", litwareURL, "--as", "admin@contoso.onmicrosoft.com"]))

    // Adatum, an indirect reseller: accepting its link also authorises its provider Tailspin.
    let adatum = expectSuccess(try daemon.ctl(as: cast.adatum, ["consent", "request", "--partner", "adatum", "--json"]))
    let adatumURL = try #require(adatum["link"]?.objectValue?["url"]?.stringValue)
    expectSuccess(try daemon.ctl(as: cast.contoso, ["consent", "accept", "--yes", adatumURL, "--as", "admin@contoso.onmicrosoft.com"]))
    // Fabrikam accepts Woodgrove's link too (through the operator), DAP included.
    expectSuccess(try daemon.ctl(["consent", "accept", "--yes", woodgroveURL, "--as", "admin@fabrikam.onmicrosoft.com"]))
    story.tokens = [woodgroveURL, litwareURL, adatumURL].map { String($0.split(separator: "/").last!) }

    // Devices: Litware through the OEM Direct API, Woodgrove by CSV upload with hardware hashes.
    let litwareCSV = dir + "/litware.csv"
    try """
        Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model
        LW-001,,,Litware,LW-14
        LW-002,,,Litware,LW-14
        LW-003,,,Litware,LW-14

        """.write(toFile: litwareCSV, atomically: true, encoding: .utf8)
    expectSuccess(try daemon.ctl(as: cast.litware, ["devices", "import", litwareCSV, "--partner", "litware",
                                                    "--tenant", "contoso", "--channel", "api", "--name", "Contoso fleet"]))
    story.hashes = [hardwareHash(serial: "WG-001", seed: 1), hardwareHash(serial: "WG-002", seed: 2)]
    let woodgroveCSV = dir + "/woodgrove.csv"
    try ("Device Serial Number,Windows Product ID,Hardware Hash\n"
         + "WG-001,,\(story.hashes[0])\nWG-002,,\(story.hashes[1].prefix { $0 != "=" })\n")
        .write(toFile: woodgroveCSV, atomically: true, encoding: .utf8)
    expectSuccess(try daemon.ctl(as: cast.woodgrove, ["devices", "import", woodgroveCSV, "--partner", "woodgrove",
                                                      "--tenant", "contoso"]))
    expectRefusal(try daemon.ctl(as: cast.litware, ["devices", "import", litwareCSV, "--partner", "litware",
                                                    "--tenant", "fabrikam", "--channel", "api"]), "ConsentRequired")

    // Calls outside the permission table.
    expectRefusal(try daemon.ctl(as: cast.stranger, ["tenant", "create", "Evil", "--domain", "evil.onmicrosoft.com"]),
                  "PermissionDenied")
    expectRefusal(try daemon.ctl(as: cast.woodgrove, ["audit", "verify"]), "PermissionDenied")

    // Contoso removes Woodgrove's DAP, ends Adatum's relationship, and has the operator remove Litware.
    expectSuccess(try daemon.ctl(as: cast.contoso, ["consent", "remove-dap", "--partner", "woodgrove", "--as",
                                                    "admin@contoso.onmicrosoft.com"]))
    expectSuccess(try daemon.ctl(as: cast.contoso, ["consent", "end", "--partner", "adatum", "--as",
                                                    "admin@contoso.onmicrosoft.com"]))
    expectRefusal(try daemon.ctl(as: cast.contoso, ["consent", "end", "--partner", "litware", "--as",
                                                    "admin@contoso.onmicrosoft.com"]), "OemRemovalRequiresRequest")
    let filed = expectSuccess(try daemon.ctl(as: cast.contoso, [
        "revocation", "file", "--partner", "litware", "--as", "admin@contoso.onmicrosoft.com",
        "--reason", "We no longer buy Litware devices", "--json"]))
    let requestID = try #require(filed["request"]?.objectValue?["id"]?.stringValue)
    expectSuccess(try daemon.ctl(["revocation", "approve", requestID, "--note", "Confirmed with Contoso by phone"]))
    expectRefusal(try daemon.ctl(as: cast.litware, ["devices", "import", litwareCSV, "--partner", "litware",
                                                    "--tenant", "contoso", "--channel", "api"]), "ConsentRequired")
    // A partner may always deregister what it registered itself.
    expectSuccess(try daemon.ctl(as: cast.litware, ["devices", "deregister", "--partner", "litware", "--serial", "LW-003",
                                                    "--manufacturer", "Litware", "--model", "LW-14"]))
    // An account name with a backslash and a line feed, which the chain's canonical form escapes.
    expectRefusal(try daemon.ctl(["consent", "end", "--partner", "woodgrove", "--as", "x\\y\nz@contoso.com"]), "NotFound")
    // After day one: Woodgrove re-tags its devices, Contoso's helpdesk may not touch them, Contoso's IT names one and
    // removes a device Litware registered (Litware's consent is gone; the customer needs no partner for that).
    func deviceID(_ serial: String) throws -> String {
        let listed = try daemon.ctl(["devices", "list", "--serial", serial, "--json"])
        return try #require(try JSON.parse(listed.stdout).arrayValue?.first?.objectValue?["device"]?.objectValue?["id"]?
            .stringValue)
    }
    for serial in ["WG-001", "WG-002"] {
        expectSuccess(try daemon.ctl(as: cast.woodgrove, ["devices", "update", try deviceID(serial), "--group-tag", "Front desk"]))
    }
    expectRefusal(try daemon.ctl(as: cast.contosoHelpdesk, ["devices", "update", try deviceID("WG-001"), "--group-tag", "Mine"]),
                  "AccountRoleRequired")
    expectSuccess(try daemon.ctl(as: cast.contosoIT, ["devices", "update", try deviceID("WG-001"), "--display-name", "CTS-FD-01"]))
    expectSuccess(try daemon.ctl(as: cast.contosoIT, ["devices", "remove", "--serial", "LW-002", "--manufacturer", "Litware",
                                                      "--model", "LW-14"]))
    // Northwind asks Fabrikam for DAP that ends by itself after 90 days.
    expectSuccess(try daemon.ctl(["partner", "register", "Northwind", "--kind", "directCsp", "--id", "northwind"]))
    let northwind = expectSuccess(try daemon.ctl(["consent", "request", "--partner", "northwind", "--dap", "--role",
                                                  "GlobalReader", "--dap-days", "90", "--json"]))
    let northwindURL = try #require(northwind["link"]?.objectValue?["url"]?.stringValue)
    expectSuccess(try daemon.ctl(["consent", "accept", "--yes", northwindURL, "--as", "admin@fabrikam.onmicrosoft.com"]))
    story.tokens.append(String(northwindURL.split(separator: "/").last!))
    story.backup = dir + "/registry-backup.sqlite"
    expectSuccess(try daemon.ctl(["backup", story.backup]))
    return story
}

@Suite(.serialized, .ownThread)
struct AuditEndToEndTests {
    @Test func everyDocumentedQuestionIsAnsweredFromTheLiveDatabaseAndTheChainVerifies() throws {
        let cast = try Cast.make()
        let daemon = try startDaemon(cast)
        defer { daemon.cleanup() }
        let story = try playScenario(daemon, cast)
        let guide = try AuditingGuide()
        let grant = story.woodgroveContosoGrant
        let contosoAdmin = "admin@contoso.onmicrosoft.com"

        // What each documented question must answer after the scenario.
        let checks: [String: ([[String: String]]) -> Void] = [
            "Who authorised Woodgrove for Contoso, when, and with which admin roles?": { rows in
                #expect(columns(rows, "granted_by", "granted_at", "dap_roles", "delegated_admin", "dap_removed_by", "status")
                        == [[contosoAdmin, grant["grantedAt"]?.stringValue ?? "?", "GlobalReader,HelpdeskAdministrator",
                             "0", contosoAdmin, "active"]])
            },
            "Which devices did Litware register for Contoso before its consent was revoked?": { rows in
                #expect(columns(rows, "serial_number", "manufacturer", "model", "status")
                        == [["LW-001", "Litware", "LW-14", "registered"], ["LW-002", "Litware", "LW-14", "deregistered"],
                            ["LW-003", "Litware", "LW-14", "deregistered"]])
                #expect(rows.allSatisfy { $0["registered_at"]! < $0["consent_revoked_at"]! })
            },
            "Was anyone refused?": { rows in
                #expect(columns(rows, "method", "outcome", "actor_role") == [
                    ["AcceptLink", "GlobalAdminRequired", "tenant"], ["AcceptLink", "PermissionDenied", "partner"],
                    ["AcceptLink", "CloudNativeAccountRequired", "tenant"], ["CreateDeviceBatch", "ConsentRequired", "partner"],
                    ["CreateTenant", "PermissionDenied", "none"], ["VerifyAudit", "PermissionDenied", "partner"],
                    ["EndRelationship", "OemRemovalRequiresRequest", "tenant"],
                    ["CreateDeviceBatch", "ConsentRequired", "partner"], ["EndRelationship", "NotFound", "operator"],
                    ["UpdateDevice", "AccountRoleRequired", "tenant"],
                ])
                #expect(rows[0]["actor_account"] == "helpdesk@contoso.onmicrosoft.com" && rows[0]["actor_tenant"] == "contoso")
                #expect(rows[1]["actor_account"] == contosoAdmin && rows[1]["actor_partner"] == "woodgrove")
                #expect(rows[4]["actor_uid"] == String(cast.stranger.uid))
            },
            "Which calls were refused by the permission table, and who made them?": { rows in
                #expect(columns(rows, "actor_uid", "actor_role", "method") == [
                    [String(cast.woodgrove.uid), "partner", "AcceptLink"], [String(cast.stranger.uid), "none", "CreateTenant"],
                    [String(cast.woodgrove.uid), "partner", "VerifyAudit"]])
            },
            "Which partners may register devices for Contoso right now, and on what basis?": { rows in
                #expect(columns(rows, "partner_name", "partner_kind", "basis", "granted_by")
                        == [["Woodgrove", "directCsp", "direct", contosoAdmin]])
            },
            "Which partners hold delegated admin roles in a customer tenant right now?": { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "dap_roles", "granted_by")
                        == [["Fabrikam", "Northwind", "GlobalReader", "admin@fabrikam.onmicrosoft.com"],
                            ["Fabrikam", "Woodgrove", "GlobalReader,HelpdeskAdministrator", "admin@fabrikam.onmicrosoft.com"]])
            },
            "Whose delegated admin privileges end by themselves, and when?": { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "dap_roles", "dap_days", "dap_expired", "delegated_admin")
                        == [["Fabrikam", "Northwind", "GlobalReader", "90", "0", "1"]])
                let formatter = ISO8601DateFormatter()
                formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                let ends = rows.first?["dap_expires_at"].flatMap(formatter.date(from:))
                let days = ends.map { $0.timeIntervalSinceNow / 86_400 } ?? 0
                #expect(days > 89.9 && days <= 90, "DAP ends 90 days after acceptance: \(rows)")
            },
            "What happened to Contoso's consents, change by change, and who made each change?": { rows in
                #expect(columns(rows, "kind", "partner_name", "actor", "method") == [
                    ["granted", "Woodgrove", contosoAdmin, "AcceptLink"], ["granted", "Litware", contosoAdmin, "AcceptLink"],
                    ["granted", "Adatum", contosoAdmin, "AcceptLink"], ["granted", "Tailspin", contosoAdmin, "AcceptLink"],
                    ["dapRemoved", "Woodgrove", contosoAdmin, "RemoveDelegatedAdmin"],
                    ["ended", "Adatum", contosoAdmin, "EndRelationship"], ["ended", "Tailspin", contosoAdmin, "EndRelationship"],
                    ["revoked", "Litware", "uid=0", "DecideRevocationRequest"]])
                #expect(columns(rows, "delegated_admin", "dap_roles").first == ["1", "GlobalReader,HelpdeskAdministrator"])
            },
            "Which consents have ended, when, why, and who ended them?": { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "basis", "status", "end_reason", "ended_by") == [
                    ["Contoso", "Adatum", "direct", "ended", "endedByTenant", contosoAdmin],
                    ["Contoso", "Tailspin", "viaReseller", "ended", "endedWithReseller", contosoAdmin],
                    ["Contoso", "Litware", "oem", "revoked", "revokedByRequest", "uid=0"]])
                #expect(rows[2]["revocation_request_id"] != "NULL" && rows[0]["revocation_request_id"] == "NULL")
            },
            "Which implicit consents did indirect providers get through their resellers?": { rows in
                #expect(columns(rows, "tenant_name", "provider", "reseller", "granted_by", "status", "end_reason")
                        == [["Contoso", "Tailspin", "Adatum", contosoAdmin, "ended", "endedWithReseller"]])
            },
            "Which revocation requests were filed, and how were they decided?": { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "requested_by", "reason", "status", "decided_by",
                                "note", "grants_revoked")
                        == [["Contoso", "Litware", contosoAdmin, "We no longer buy Litware devices", "approved", "uid=0",
                             "Confirmed with Contoso by phone", "1"]])
            },
            "Where is the device with serial number LW-003, and what happened to it?": { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "batch_name", "channel", "status", "deregistered_by")
                        == [["Contoso", "Litware", "Contoso fleet", "api", "deregistered", "litware"]])
            },
            "How many devices has each partner registered for each tenant, and through which channel?": { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "channel", "registrations", "deregistered_since")
                        == [["Contoso", "Litware", "api", "3", "2"], ["Contoso", "Woodgrove", "upload", "2", "0"]])
            },
            "Which partners tried to register devices without consent?": { rows in
                #expect(columns(rows, "actor_partner", "method", "target") == [
                    ["litware", "CreateDeviceBatch", "partner:litware tenant:fabrikam"],
                    ["litware", "CreateDeviceBatch", "partner:litware tenant:contoso"]])
            },
            "What did Contoso's Global Administrator admin@contoso.onmicrosoft.com do?": { rows in
                #expect(columns(rows, "actor_role", "method", "outcome") == [
                    ["partner", "AcceptLink", "PermissionDenied"], ["tenant", "AcceptLink", "ok"],
                    ["tenant", "AcceptLink", "ok"], ["tenant", "AcceptLink", "ok"],
                    ["tenant", "RemoveDelegatedAdmin", "ok"], ["tenant", "EndRelationship", "ok"],
                    ["tenant", "EndRelationship", "OemRemovalRequiresRequest"], ["tenant", "FileRevocationRequest", "ok"]])
                #expect(rows[5]["target"]?.contains("partner:adatum") == true)
            },
            "Which devices did Woodgrove re-tag last week?": { rows in
                #expect(columns(rows, "serial_number", "tenant_name", "old_value", "new_value", "method", "upload_batch_id")
                        == [["WG-001", "Contoso", "NULL", "Front desk", "UpdateDevice", "NULL"],
                            ["WG-002", "Contoso", "NULL", "Front desk", "UpdateDevice", "NULL"]])
            },
            "Who changed the device with serial number WG-001, when, and from what to what?": { rows in
                #expect(columns(rows, "changed_by", "actor_role", "method", "property", "old_value", "new_value")
                        == [["woodgrove", "partner", "UpdateDevice", "group_tag", "NULL", "Front desk"],
                            ["it@contoso.com", "tenant", "UpdateDevice", "display_name", "NULL", "CTS-FD-01"]])
                #expect(rows.allSatisfy { $0["changed_at"]!.hasSuffix("Z") })
            },
            "Which devices did Contoso remove itself, and who registered them?": { rows in
                #expect(columns(rows, "serial_number", "manufacturer", "model", "partner_name", "deregistered_by_account")
                        == [["LW-002", "Litware", "LW-14", "Litware", "it@contoso.com"]])
            },
            "Who changed access rules or took backups?": { rows in
                #expect(columns(rows, "actor_uid", "method", "outcome")
                        == Array(repeating: ["0", "AddAccessRule", "ok"], count: 7) + [["0", "Backup", "ok"]])
                #expect(rows.last?["target"] == "file:" + story.backup)
            },
            "Are the append-only triggers still in place?": { rows in
                #expect(columns(rows, "name") == [["audit_events_no_delete"], ["audit_events_no_update"],
                                                  ["audit_events_sequential"]])
            },
            "What are the last event's sequence number and hash?": { rows in
                let log = try? JSON.parse(try daemon.ctl(["audit", "log", "--json"]).stdout).arrayValue
                let last = log?.last?.objectValue?["event"]?.objectValue
                #expect(columns(rows, "seq", "hash") == [["\(last?["seq"]?.intValue ?? -1)", last?["hash"]?.stringValue ?? "?"]])
                #expect(rows.first?["seq"] == "\(log?.count ?? -1)")
            },
        ]

        let questions = try guide.questions()
        #expect(Set(questions.map(\.question)) == Set(checks.keys), "every documented question has a check")
        #expect(questions.count >= 10)
        for (question, sql) in questions {
            let rows = try query(daemon, as: cast.auditor, groups: [cast.readers], sql)
            guard let check = checks[question] else { continue }
            check(rows)
        }

        // The chain verifies through the daemon (as the auditor) and without it (the guide's script and the
        // migration's own example, on the live database, as the auditor).
        let verify = try daemon.ctl(as: cast.auditor, ["audit", "verify"])
        let events = try query(daemon, as: cast.auditor, groups: [cast.readers], "SELECT count(*) AS n FROM audit_events")[0]["n"]!
        #expect(verify.status == 0 && verify.stdout == "ok: the audit chain of \(events) events verifies\n", "\(verify)")
        let script = try cast.auditor.run("/usr/bin/python3", ["-", daemon.database], groups: [cast.readers],
                                          stdin: try guide.verificationScript())
        #expect(script.status == 0 && script.stdout.hasPrefix("ok: \(events) events"), "\(script)")
        let example = try cast.auditor.run("/usr/bin/python3", ["-", daemon.database], groups: [cast.readers],
                                           stdin: try migrationExample())
        #expect(example.status == 0 && example.stdout == "verified\n", "\(example)")
        // The escaped account is in the chain that just verified.
        let escaped = try query(daemon, as: cast.auditor, groups: [cast.readers],
                                "SELECT count(*) AS n FROM audit_events WHERE actor_account = 'x\\y' || char(10) || 'z@contoso.com'")
        #expect(escaped[0]["n"] == "1")

        // No link token and no hardware-hash text anywhere in the log, nor in the daemon's log.
        let dump = try runProgram("/usr/bin/sqlite3", ["-readonly", daemon.database, ".dump audit_events"])
        #expect(dump.status == 0 && dump.stdout.contains("INSERT INTO audit_events"))
        for secret in story.tokens + story.hashes + story.hashes.map({ String($0.prefix(100)) }) {
            #expect(!dump.stdout.contains(secret))
            #expect(!daemon.log.contains(secret))
        }
    }

    @Test func everyViewColumnIsDocumentedInOrder() throws {
        let cast = try Cast.make()
        let daemon = try startDaemon(cast)
        defer { daemon.cleanup() }
        let documented = try AuditingGuide().viewColumns()
        let views = try query(daemon, as: cast.auditor, groups: [cast.readers],
                              "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name").map { $0["name"]! }
        #expect(Set(documented.keys) == Set(views))
        #expect(Set(views) == ["active_consents", "consent_history", "device_change_history", "device_registrations",
                               "refused_calls", "revocation_history"])
        for view in views {
            let actual = try query(daemon, as: cast.auditor, groups: [cast.readers],
                                   "SELECT name FROM pragma_table_info('\(view)') ORDER BY cid").map { $0["name"]! }
            #expect(documented[view] == actual, "docs/auditing.md, view \(view)")
        }
    }

    @Test func sqlite3CannotUpdateOrDeleteEventsAndAnEditBehindADroppedTriggerIsNamed() throws {
        let cast = try Cast.make()
        let daemon = try startDaemon(cast)
        defer { daemon.cleanup() }
        expectSuccess(try daemon.ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"]))
        expectRefusal(try daemon.ctl(as: cast.stranger, ["tenant", "create", "Evil", "--domain", "evil.onmicrosoft.com"]),
                      "PermissionDenied")
        expectSuccess(try daemon.ctl(["tenant", "create", "Fabrikam", "--domain", "fabrikam.onmicrosoft.com"]))
        try grantAuditorRole(daemon, cast)

        // Even root, writing the live file with the sqlite3 shell, is refused by the triggers.
        for sql in ["UPDATE audit_events SET outcome = 'ok' WHERE seq = 2", "DELETE FROM audit_events WHERE seq = 3"] {
            let refused = try runProgram("/usr/bin/sqlite3", [daemon.database, sql])
            #expect(refused.status != 0 && refused.stderr.contains("audit_events is append-only"), "\(refused)")
        }
        #expect(expectSuccess(try daemon.ctl(["audit", "verify", "--json"])) == ["ok": true, "events": 4, "firstBroken": nil, "headMissing": nil])

        // Drop the trigger and turn the refused call into a success.
        let edit = try runProgram("/usr/bin/sqlite3", [daemon.database,
            "DROP TRIGGER audit_events_no_update; UPDATE audit_events SET outcome = 'ok' WHERE seq = 2"])
        #expect(edit.status == 0, "\(edit)")

        let verify = try daemon.ctl(as: cast.auditor, ["audit", "verify"])
        #expect(verify.status == 1, "\(verify)")
        #expect(verify.stderr.contains("the audit chain is broken at event seq 2"), "\(verify)")
        let json = try daemon.ctl(["audit", "verify", "--json"])
        #expect(json.status == 1)
        #expect(try JSON.parse(json.stdout).objectValue == ["ok": false, "events": 4, "firstBroken": 2, "headMissing": nil])
        #expect(try daemon.call("VerifyAudit")["firstBroken"] == 2)

        let guide = try AuditingGuide()
        let script = try cast.auditor.run("/usr/bin/python3", ["-", daemon.database], groups: [cast.readers],
                                          stdin: try guide.verificationScript())
        #expect(script.status == 1 && script.stderr == "broken at seq 2\n", "\(script)")
        let example = try cast.auditor.run("/usr/bin/python3", ["-", daemon.database], groups: [cast.readers],
                                           stdin: try migrationExample())
        #expect(example.status != 0 && example.stderr.contains("AssertionError"), "\(example)")
        // The guide's trigger question shows the missing trigger.
        let triggers = try #require(try guide.questions().first { $0.question.contains("append-only triggers") })
        #expect(try query(daemon, as: cast.auditor, groups: [cast.readers], triggers.sql).map { $0["name"]! }
                == ["audit_events_no_delete", "audit_events_sequential"])
    }

    @Test func theAuditorsGroupReadsTheLiveDatabaseWhileItIsWrittenAndNobodyElseCan() throws {
        let cast = try Cast.make()
        let daemon = try startDaemon(cast)
        defer { daemon.cleanup() }
        expectSuccess(try daemon.ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"]))

        // The directory the daemon created and the three database files: the auditors group reads, others nothing.
        let state = (daemon.database as NSString).deletingLastPathComponent
        for (path, mode) in [(state, 0o750), (daemon.database, 0o640), (daemon.database + "-wal", 0o640),
                             (daemon.database + "-shm", 0o640)] {
            var st = stat()
            #expect(stat(path, &st) == 0, "\(path) exists")
            #expect(st.st_gid == cast.readers && Int(st.st_mode & 0o777) == mode,
                    "\(path): gid \(st.st_gid), mode \(String(st.st_mode & 0o777, radix: 8))")
        }

        // Reads by an auditor while another thread writes through the socket: every read works and sees a count
        // that only grows.
        let writes = 40
        let writer = BackgroundWriter(daemon, count: writes)
        var counts: [Int] = []
        func count() throws -> Int {
            Int(try query(daemon, as: cast.auditor, groups: [cast.readers], "SELECT count(*) AS n FROM tenants")[0]["n"]!)!
        }
        while counts.count < 5 || !writer.finished { counts.append(try count()) }
        counts.append(try count())
        #expect(writer.error == nil)
        #expect(counts == counts.sorted() && counts.last == writes + 1, "\(counts)")

        // The same user without the group, and a user who is not in it, cannot open the database.
        for (user, groups) in [(cast.auditor, [UInt32]()), (cast.outsider, [])] {
            let refused = try user.run("/usr/bin/sqlite3", ["-readonly", daemon.database, "SELECT count(*) FROM tenants"],
                                       groups: groups)
            #expect(refused.status != 0 && refused.stderr.contains("unable to open database"), "\(refused)")
        }
    }

    @Test func anAuditorsLongReadTransactionDoesNotBlockTheDaemonsWrites() throws {
        let cast = try Cast.make()
        let daemon = try startDaemon(cast)
        defer { daemon.cleanup() }
        expectSuccess(try daemon.ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"]))

        // sqlite3 as the auditor, line-buffered so each answer arrives while its transaction stays open.
        let reader = try InteractiveProcess(cast.auditor.commandLine(
            "/usr/bin/stdbuf", ["-oL", "/usr/bin/sqlite3", "-readonly", daemon.database], groups: [cast.readers]))
        defer { reader.terminate() }
        reader.send("BEGIN;\nSELECT 'before', count(*) FROM audit_events;\n")
        #expect(try reader.waitForLine { $0.hasPrefix("before|") } == "before|1")

        // While that snapshot is held, the daemon commits changes (each would fail with a busy error if blocked),
        // and takes a backup.
        for i in 0..<20 {
            _ = try daemon.call("CreateTenant", ["name": .string("T\(i)"), "domain": .string("t\(i).onmicrosoft.com")])
        }
        let backup = daemon.directory + "/during-read.sqlite"
        _ = try daemon.call("Backup", ["path": .string(backup)])
        #expect(FileManager.default.fileExists(atPath: backup))

        reader.send("SELECT 'during', count(*) FROM audit_events;\nCOMMIT;\nSELECT 'after', count(*) FROM audit_events;\n")
        #expect(try reader.waitForLine { $0.hasPrefix("during|") } == "during|1")
        #expect(try reader.waitForLine { $0.hasPrefix("after|") } == "after|22")
        #expect(reader.finish() == 0, "\(reader.errorOutput)")
    }

    @Test func aBackupTakenDuringWritesRestoresAndItsChainVerifies() throws {
        let cast = try Cast.make()
        let daemon = try startDaemon(cast)
        defer { daemon.cleanup() }
        expectSuccess(try daemon.ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"]))

        // A writer keeps creating tenants (each with its audit event) while the backup is taken.
        let writer = BackgroundWriter(daemon, count: nil)
        writer.wait(untilCreated: 10)
        let path = daemon.directory + "/backups/registry.sqlite"
        try FileManager.default.createDirectory(atPath: daemon.directory + "/backups", withIntermediateDirectories: true)
        let backup = try daemon.ctl(["backup", path])
        writer.wait(untilCreated: writer.created + 10)
        writer.stop()
        #expect(writer.error == nil)
        #expect(backup.status == 0 && backup.stdout.hasPrefix("wrote ") && backup.stdout.hasSuffix(" bytes to \(path)\n"),
                "\(backup)")
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_gid == cast.readers && st.st_mode & 0o777 == 0o640)

        // The copy's log is a prefix of the live one: its last event is in the live chain with the same hash, and
        // the backup's own event comes after it. Writes went on meanwhile.
        let copied = try query(daemon, as: cast.auditor, groups: [cast.readers],
                               "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1", file: path)[0]
        let copiedCount = try #require(Int(copied["seq"]!))
        let live = try query(daemon, as: cast.auditor, groups: [cast.readers], """
            SELECT (SELECT hash FROM audit_events WHERE seq = \(copiedCount)) AS hash,
                   (SELECT seq FROM audit_events WHERE method = 'Backup' AND outcome = 'ok') AS backup,
                   (SELECT max(seq) FROM audit_events) AS last
            """)[0]
        #expect(live["hash"] == copied["hash"])
        #expect(Int(live["backup"]!)! > copiedCount && Int(live["last"]!)! > Int(live["backup"]!)!, "\(live)")

        // The auditor can check the copy offline, and it is a consistent snapshot: every tenant in it has its event.
        let offline = try cast.auditor.run("/usr/bin/python3", ["-", path], groups: [cast.readers],
                                           stdin: try AuditingGuide().verificationScript())
        #expect(offline.status == 0 && offline.stdout.hasPrefix("ok: \(copiedCount) events"), "\(offline)")
        let consistency = try query(daemon, as: cast.auditor, groups: [cast.readers], """
            SELECT (SELECT count(*) FROM tenants) AS tenants,
                   (SELECT count(*) FROM audit_events WHERE method = 'CreateTenant' AND outcome = 'ok') AS created
            """, file: path)
        #expect(consistency[0]["tenants"] == consistency[0]["created"] && Int(consistency[0]["tenants"]!)! > 10)

        // Restore: copy it into place in a new directory and start a daemon on it.
        daemon.stop()
        let restoredDirectory = daemon.directory + "-restored"
        try FileManager.default.createDirectory(atPath: restoredDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: restoredDirectory) }
        try FileManager.default.copyItem(atPath: path, toPath: restoredDirectory + "/registry.sqlite")
        let restored = try TestDaemon(directory: restoredDirectory)
        defer { restored.stop() }
        let verify = try restored.ctl(["audit", "verify"])
        #expect(verify.status == 0 && verify.stdout == "ok: the audit chain of \(copiedCount) events verifies\n", "\(verify)")
        let status = expectSuccess(try restored.ctl(["status", "--json"]))
        #expect(status["tenants"]?.intValue == Int(consistency[0]["tenants"]!))
        // The restored registry goes on: the log continues from the backup's last event.
        expectSuccess(try restored.ctl(["tenant", "create", "After", "--domain", "after.onmicrosoft.com"]))
        #expect(expectSuccess(try restored.ctl(["audit", "verify", "--json"]))
                == ["ok": true, "events": .int(copiedCount + 1), "firstBroken": nil, "headMissing": nil])
    }

    @Test func auditLogShowsEventsAfterASequenceNumberAndFollowsNewOnes() throws {
        let cast = try Cast.make()
        let daemon = try startDaemon(cast)
        defer { daemon.cleanup() }
        for name in ["Contoso", "Fabrikam", "Northwind", "Tailspin"] {
            expectSuccess(try daemon.ctl(["tenant", "create", name, "--domain", "\(name.lowercased()).onmicrosoft.com",
                                          "--id", name.lowercased()]))
        }
        try grantAuditorRole(daemon, cast)
        let table = try daemon.ctl(as: cast.auditor, ["audit", "log", "--after", "3"])
        #expect(table.status == 0, "\(table)")
        let rows = table.stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ").map(String.init) }
        #expect(rows.map(\.first) == ["4", "5"])
        #expect(rows.first?.contains("tenant:tailspin") == true && rows.last?.contains("AddAccessRule") == true)
        let json = try JSON.parse(try daemon.ctl(["audit", "log", "--after", "1", "--limit", "2", "--json"]).stdout)
        #expect(json.arrayValue?.compactMap { $0.objectValue?["event"]?.objectValue?["seq"]?.intValue } == [2, 3])

        // --follow prints what exists after --after, then each new event as it is committed, until killed.
        let follow = try InteractiveProcess(cast.auditor.commandLine(
            productsDirectory + "/autopilotctl", ["audit", "log", "--follow", "--json", "--after", "4"]),
            environment: ["AUTOPILOT_SOCKET": daemon.socket])
        defer { follow.terminate() }
        let existing = try follow.waitForLine { $0.contains("\"seq\":5") }
        #expect(existing.contains("AddAccessRule"))
        expectSuccess(try daemon.ctl(["tenant", "create", "Litware", "--domain", "litware.onmicrosoft.com", "--id", "litware"]))
        let new = try follow.waitForLine { $0.contains("\"seq\":") }
        let event = try #require(try JSON.parse(new).objectValue?["event"]?.objectValue)
        #expect(event["seq"] == 6 && event["method"] == "CreateTenant" && event["target"] == "tenant:litware")
        #expect(event["actor"] == "uid=0 role=operator" && event["outcome"] == "ok")
        follow.terminate()
        #expect(follow.process.terminationReason == .uncaughtSignal)
        #expect(follow.lines.count == 2)
    }
}

/// A thread creating tenants through the socket (each call commits a tenant and its audit event): `count` of them,
/// or until `stop()` when nil.
private final class BackgroundWriter: @unchecked Sendable {
    private let lock = NSLock()
    private var _created = 0, _stop = false, _finished = false
    private var _error: (any Error)?

    init(_ daemon: TestDaemon, count: Int?) {
        Thread { [self] in
            var i = 0
            while count.map({ i < $0 }) ?? true, !lock.withLock({ _stop }) {
                do {
                    _ = try daemon.call("CreateTenant", ["name": .string("T\(i)"), "domain": .string("t\(i).onmicrosoft.com")])
                } catch {
                    lock.withLock { _error = error }
                    break
                }
                i += 1
                lock.withLock { _created = i }
            }
            lock.withLock { _finished = true }
        }.start()
    }

    var created: Int { lock.withLock { _created } }
    var finished: Bool { lock.withLock { _finished } }
    var error: (any Error)? { lock.withLock { _error } }

    /// Waits until `n` tenants were created, or the writer stopped.
    func wait(untilCreated n: Int) {
        while created < n && !finished { Thread.sleep(forTimeInterval: 0.01) }
    }

    /// Asks the writer to stop and waits for it.
    func stop() {
        lock.withLock { _stop = true }
        while !finished { Thread.sleep(forTimeInterval: 0.01) }
    }
}
