import Foundation
import Testing
import Varlink

// The audit UI as an auditor meets it: Datasette (PyPI datasette==0.65.5) with config/datasette, started exactly as
// `make audit-ui` and systemd/autopilotd-audit-ui.service start it, as a member of the auditors group, on the live
// database of the real daemon; a registry built through the real autopilotctl; pages loaded by headless Chromium
// (Debian's chromium). Both programs are installed by .ci/run; a test fails, naming the package, when one is missing.

// MARK: the tools

/// An executable named `name` on the PATH or in the usual directories.
func findExecutable(_ name: String, also extra: [String] = []) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let candidates = extra + (path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin"])
        .map { $0 + "/" + name }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Debian's chromium, or a failure saying what to install.
private func requireChromium() throws -> String {
    guard let path = findExecutable("chromium") else {
        throw TestFailure("chromium is not installed: install the Debian package 'chromium' (.ci/run does)")
    }
    return path
}

/// A `datasette` 0.65.5 that `user` can run (not one under root's home), or a failure saying how to install it.
private func requireDatasette(runnableBy user: TestUser) throws -> String {
    let candidates = [ProcessInfo.processInfo.environment["AUTOPILOT_DATASETTE"], "/opt/datasette/bin/datasette",
                      findExecutable("datasette")].compactMap { $0 }
    var tried: [String] = []
    for path in candidates where FileManager.default.isExecutableFile(atPath: path) {
        let version = try user.run(path, ["--version"])
        if version.status == 0 && version.stdout.contains("0.65.5") { return path }
        tried.append("\(path): \(version.stdout)\(version.stderr)")
    }
    throw TestFailure("""
        Datasette 0.65.5 is not installed where an unprivileged user can run it: install the PyPI package \
        'datasette==0.65.5' as .ci/run does (python3 -m venv /opt/datasette && /opt/datasette/bin/pip install \
        datasette==0.65.5), or name it with AUTOPILOT_DATASETTE. Tried: \(tried)
        """)
}

/// Headless Chromium, as root (hence --no-sandbox), each load with a profile of its own in `directory`.
private struct Browser: Sendable {
    let path: String
    let directory: String

    private func flags(profile: Int) -> [String] {
        ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-background-networking", "--disable-sync", "--disable-component-update",
         "--disable-default-apps", "--mute-audio", "--disable-dev-shm-usage", "--hide-scrollbars", "--no-proxy-server",
         "--user-data-dir=\(directory)/profile-\(profile)"]
    }

    /// The DOM of the page at `url` once loaded, as the browser serialises it.
    func dom(_ url: String, profile: Int = 0) throws -> String {
        let result = try runProgram(path, flags(profile: profile) + ["--dump-dom", url], timeout: 120)
        guard result.status == 0, result.stdout.contains("</html>") else {
            throw TestFailure("chromium --dump-dom \(url) failed: \(result)")
        }
        return result.stdout
    }

    /// The DOMs of `urls`, loaded two at a time (the machines have two cores).
    func doms(_ urls: [String]) throws -> [String: String] {
        let lock = NSLock()
        nonisolated(unsafe) var pages: [String: String] = [:]
        nonisolated(unsafe) var failures: [String] = []
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for url in urls.enumerated().filter({ $0.offset % 2 == worker }).map(\.element) {
                do {
                    let page = try dom(url, profile: worker + 1)
                    lock.withLock { pages[url] = page }
                } catch {
                    lock.withLock { failures.append("\(error)") }
                }
            }
        }
        if let failure = failures.first { throw TestFailure(failure) }
        return pages
    }

    /// Saves a PNG of the page at `url` in a window of `width` × `height`.
    func screenshot(_ url: String, to file: String, width: Int, height: Int) throws {
        let result = try runProgram(path, flags(profile: 0) + ["--window-size=\(width),\(height)",
                                                               "--screenshot=\(file)", url], timeout: 120)
        guard result.status == 0, FileManager.default.fileExists(atPath: file) else {
            throw TestFailure("chromium --screenshot \(url) failed: \(result)")
        }
    }
}

// MARK: reading pages

/// `html` with its tags removed and its character references decoded, whitespace collapsed.
private func text(_ html: String) -> String {
    var result = html.replacing(/<[^>]*>/, with: " ")
    for (reference, character) in [("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"),
                                   ("&#x27;", "'"), ("&amp;", "&")] {
        result = result.replacingOccurrences(of: reference, with: character)
    }
    return result.split(whereSeparator: \.isWhitespace).joined(separator: " ")
}

/// The rows of the page's results table (`table.rows-and-columns`), each cell's text by its column (`td.col-NAME`).
/// A NULL shows as an empty cell.
private func resultRows(_ html: String) -> [[String: String]] {
    guard let start = html.range(of: "<table class=\"rows-and-columns\">"),
          let end = html.range(of: "</table>", range: start.upperBound..<html.endIndex),
          let body = html.range(of: "<tbody>", range: start.upperBound..<end.lowerBound)
    else { return [] }
    return html[body.upperBound..<end.lowerBound].components(separatedBy: "<tr>").dropFirst().compactMap { row in
        var cells: [String: String] = [:]
        for match in row.matches(of: /<td class="col-([A-Za-z0-9_]+)[^"]*"[^>]*>(.*?)<\/td>/.dotMatchesNewlines()) {
            cells[String(match.1)] = text(String(match.2))
        }
        return cells.isEmpty ? nil : cells
    }
}

/// The given columns of each row, in order.
private func columns(_ rows: [[String: String]], _ names: String...) -> [[String]] {
    rows.map { row in names.map { row[$0] ?? "<missing \($0)>" } }
}

/// `value` escaped for a URL's query string.
private func query(_ value: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value
}

// MARK: the registry, the users and Datasette

/// The Unix users and the auditors group of these tests.
private struct Cast {
    let readers: UInt32
    let auditor, outsider, woodgrove, litware, adatum, stranger: TestUser
    /// Contoso's people, each bound to their own account: its Global Administrator and a helpdesk administrator.
    let contoso, contosoHelpdesk: TestUser

    static func make() throws -> Cast {
        Cast(readers: try TestGroup.make("apd-ui-readers"), auditor: try TestUser.make("apd-ui-auditor"),
             outsider: try TestUser.make("apd-ui-outsider"), woodgrove: try TestUser.make("apd-ui-woodgrove"),
             litware: try TestUser.make("apd-ui-litware"), adatum: try TestUser.make("apd-ui-adatum"),
             stranger: try TestUser.make("apd-ui-stranger"), contoso: try TestUser.make("apd-ui-contoso"),
             contosoHelpdesk: try TestUser.make("apd-ui-helpdesk"))
    }
}

/// A daemon whose database files (in a directory it creates) the cast's auditors group may read.
private func startDaemon() throws -> TestDaemon {
    try TestDaemon(config: ["socket_mode = 0666", "auditors_group = apd-ui-readers"], databaseName: "state/registry.sqlite")
}

/// What the scenario did that the pages must show, or must not.
private struct Story {
    /// The consent links' tokens: the last path component of each URL `autopilotctl consent request` printed.
    var tokens: [String] = []
    /// The real devices' hardware hashes as their files hold them (base64).
    var hashes: [String] = []
    /// Their serial numbers, which the pages do show.
    var serials: [String] = []
    var woodgroveGrantedAt = ""
}

@discardableResult
private func succeeded(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) -> JSONObject {
    #expect(result.status == 0, "\(result)", sourceLocation: sourceLocation)
    return (try? JSON.parse(result.stdout).objectValue ?? [:]) ?? [:]
}

private func refused(_ result: CommandResult, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status != 0 && result.stderr.contains(name), "\(result)", sourceLocation: sourceLocation)
}

/// A registry built through autopilotctl, each party as its own Unix user: Woodgrove's relationship with DAP
/// (refused to a helpdesk account, accepted by Contoso's and Fabrikam's Global Administrators, DAP later removed by
/// Contoso), Litware's OEM consent (revoked by an approved request), Adatum's reseller link (with Tailspin's
/// implicit consent; ended by Contoso), Litware's API import, Woodgrove's upload of three real device files (one
/// re-tagged by Woodgrove, then named and another removed by Contoso's administrator), a device import without consent,
/// a call without any role, and a deregistration.
private func buildRegistry(_ daemon: TestDaemon, _ cast: Cast) throws -> Story {
    var story = Story()
    for args in [["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"],
                 ["tenant", "create", "Fabrikam", "--domain", "fabrikam.onmicrosoft.com", "--id", "fabrikam"],
                 ["account", "add", "admin@contoso.onmicrosoft.com", "--tenant", "contoso", "--role", "GlobalAdministrator"],
                 ["account", "add", "helpdesk@contoso.onmicrosoft.com", "--tenant", "contoso", "--role", "HelpdeskAdministrator"],
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
                  "--account", "helpdesk@contoso.onmicrosoft.com"]] {
        succeeded(try daemon.ctl(args))
    }
    let admin = "admin@contoso.onmicrosoft.com"

    let woodgrove = succeeded(try daemon.ctl(as: cast.woodgrove, [
        "consent", "request", "--partner", "woodgrove", "--dap", "--role", "GlobalReader", "--role",
        "HelpdeskAdministrator", "--json"]))
    let woodgroveURL = try #require(woodgrove["link"]?.objectValue?["url"]?.stringValue)
    refused(try daemon.ctl(as: cast.contosoHelpdesk, ["consent", "accept", "--yes", woodgroveURL]), "GlobalAdminRequired")
    let accepted = succeeded(try daemon.ctl(as: cast.contoso, ["consent", "accept", "--yes", woodgroveURL, "--as", admin, "--json"]))
    story.woodgroveGrantedAt = try #require(accepted["grants"]?.arrayValue?.first?.objectValue?["grantedAt"]?.stringValue)
    succeeded(try daemon.ctl(["consent", "accept", "--yes", woodgroveURL, "--as", "admin@fabrikam.onmicrosoft.com"]))
    let oem = succeeded(try daemon.ctl(["consent", "oem-link", "--partner", "litware", "--json"]))
    let litwareURL = try #require(oem["link"]?.objectValue?["url"]?.stringValue)
    succeeded(try daemon.ctl(as: cast.contoso, ["consent", "accept", "--yes", litwareURL, "--as", admin]))
    let adatum = succeeded(try daemon.ctl(as: cast.adatum, ["consent", "request", "--partner", "adatum", "--json"]))
    let adatumURL = try #require(adatum["link"]?.objectValue?["url"]?.stringValue)
    succeeded(try daemon.ctl(as: cast.contoso, ["consent", "accept", "--yes", adatumURL, "--as", admin]))
    story.tokens = [woodgroveURL, litwareURL, adatumURL].map { String($0.split(separator: "/").last ?? "") }

    // Litware through the OEM Direct API; Woodgrove uploads three real Get-WindowsAutopilotInfo files as they are.
    let litwareCSV = daemon.directory + "/litware.csv"
    try """
        Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model
        LW-001,,,Litware,LW-14
        LW-002,,,Litware,LW-14
        LW-003,,,Litware,LW-14

        """.write(toFile: litwareCSV, atomically: true, encoding: .utf8)
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: litwareCSV)
    succeeded(try daemon.ctl(as: cast.litware, ["devices", "import", litwareCSV, "--partner", "litware", "--tenant",
                                                "contoso", "--channel", "api", "--name", "Contoso fleet"]))
    for (index, machine) in ["ChinwikeOnyia26_", "churlbap_ponise__", "AutopilotHWID@dd069fa"].enumerated() {
        let row = try realDataRow(machineFile: machine)
        story.hashes.append(row.hash)
        story.serials.append(row.serial)
        let copy = daemon.directory + "/device-\(index).csv"
        try FileManager.default.copyItem(atPath: try realDataFile(containing: machine), toPath: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: copy)
        succeeded(try daemon.ctl(as: cast.woodgrove, ["devices", "import", copy, "--partner", "woodgrove", "--tenant",
                                                      "contoso", "--name", "Contoso laptops \(index + 1)"]))
    }
    // After day one: Woodgrove re-tags the first laptop, Contoso's administrator names it and removes the third.
    func deviceID(_ serial: String) throws -> String {
        let listed = try daemon.ctl(["devices", "list", "--serial", serial, "--json"])
        let json = try JSON.parse(listed.stdout)
        return try #require(json.arrayValue?.first?.objectValue?["device"]?.objectValue?["id"]?.stringValue)
    }
    succeeded(try daemon.ctl(as: cast.woodgrove, ["devices", "update", try deviceID(story.serials[0]), "--group-tag",
                                                  "Front desk"]))
    succeeded(try daemon.ctl(as: cast.contoso, ["devices", "update", try deviceID(story.serials[0]), "--display-name",
                                                "CTS-FD-01", "--as", admin]))
    succeeded(try daemon.ctl(as: cast.contoso, ["devices", "remove", "--device", try deviceID(story.serials[2]), "--as",
                                                admin]))
    refused(try daemon.ctl(as: cast.litware, ["devices", "import", litwareCSV, "--partner", "litware", "--tenant",
                                              "fabrikam", "--channel", "api"]), "ConsentRequired")
    refused(try daemon.ctl(as: cast.stranger, ["tenant", "create", "Evil", "--domain", "evil.onmicrosoft.com"]),
            "PermissionDenied")

    succeeded(try daemon.ctl(as: cast.contoso, ["consent", "remove-dap", "--partner", "woodgrove", "--as", admin]))
    succeeded(try daemon.ctl(as: cast.contoso, ["consent", "end", "--partner", "adatum", "--as", admin]))
    let filed = succeeded(try daemon.ctl(as: cast.contoso, [
        "revocation", "file", "--partner", "litware", "--as", admin, "--reason", "We no longer buy Litware devices",
        "--json"]))
    let request = try #require(filed["request"]?.objectValue?["id"]?.stringValue)
    succeeded(try daemon.ctl(["revocation", "approve", request, "--note", "Confirmed with Contoso by phone"]))
    succeeded(try daemon.ctl(as: cast.litware, ["devices", "deregister", "--partner", "litware", "--serial", "LW-003",
                                                "--manufacturer", "Litware", "--model", "LW-14"]))
    // Northwind holds DAP at Fabrikam for 90 days.
    succeeded(try daemon.ctl(["partner", "register", "Northwind", "--kind", "directCsp", "--id", "northwind"]))
    let northwind = succeeded(try daemon.ctl(["consent", "request", "--partner", "northwind", "--dap", "--role", "GlobalReader",
                                              "--dap-days", "90", "--json"]))
    let northwindURL = try #require(northwind["link"]?.objectValue?["url"]?.stringValue)
    succeeded(try daemon.ctl(["consent", "accept", "--yes", northwindURL, "--as", "admin@fabrikam.onmicrosoft.com"]))
    story.tokens.append(String(northwindURL.split(separator: "/").last ?? ""))
    return story
}

/// config/datasette copied where the auditor can read it (the checkout may be under a directory only root enters).
private func copyDatasetteConfig(into directory: String) throws -> String {
    let copy = directory + "/datasette"
    try FileManager.default.copyItem(atPath: repositoryRoot + "/config/datasette", toPath: copy)
    let files = FileManager.default.enumerator(atPath: copy)?.allObjects.compactMap { $0 as? String } ?? []
    for path in [""] + files {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: copy + "/" + path, isDirectory: &isDirectory)
        try FileManager.default.setAttributes([.posixPermissions: isDirectory.boolValue ? 0o755 : 0o644],
                                              ofItemAtPath: copy + "/" + path)
    }
    return copy
}

/// The `--setting NAME VALUE` pairs of a Datasette command line.
private func settings(_ arguments: [String]) -> [String: String] {
    var result: [String: String] = [:]
    for index in arguments.indices where arguments[index] == "--setting" && index + 2 < arguments.count {
        result[arguments[index + 1]] = arguments[index + 2]
    }
    return result
}

/// The Datasette command line `make audit-ui` runs (from `make -n`), split into words.
private func makeAuditUICommand(database: String, config: String, datasette: String, listen: [String]) throws -> [String] {
    guard let make = findExecutable("make") else {
        throw TestFailure("make is not installed: install the Debian package 'make' (.ci/run does)")
    }
    let dryRun = try runProgram(make, ["-s", "-n", "-C", repositoryRoot, "audit-ui", "AUDIT_DB=\(database)",
                                       "AUDIT_UI_CONFIG=\(config)", "DATASETTE=\(datasette)"] + listen)
    guard dryRun.status == 0,
          let line = dryRun.stdout.split(separator: "\n").first(where: { $0.hasPrefix(datasette + " serve ") })
    else { throw TestFailure("make -n audit-ui printed no datasette command: \(dryRun)") }
    return line.split(separator: " ").map(String.init)
}

/// The Datasette command line of systemd/autopilotd-audit-ui.service, with its paths replaced by the test's, and its
/// UMask=.
private func unitCommand(database: String, config: String, datasette: String,
                         socket: String) throws -> (arguments: [String], umask: String) {
    let unit = try String(contentsOfFile: repositoryRoot + "/systemd/autopilotd-audit-ui.service", encoding: .utf8)
        .split(separator: "\n")
    let execStart = try #require(unit.first { $0.hasPrefix("ExecStart=") }?.dropFirst("ExecStart=".count))
    let umask = try #require(unit.first { $0.hasPrefix("UMask=") }?.dropFirst("UMask=".count))
    let replacements = ["/usr/local/bin/datasette": datasette,
                        "/run/autopilotd-audit-ui/datasette.sock": socket,
                        "/usr/local/share/autopilotd/datasette/metadata.json": config + "/metadata.json",
                        "/usr/local/share/autopilotd/datasette/plugins": config + "/plugins",
                        "/var/lib/autopilotd/registry.sqlite": database]
    return (execStart.split(separator: " ").map { replacements[String($0)] ?? String($0) }, String(umask))
}

/// A Datasette server run by the test (`commandLine` starts with setpriv and the user it runs as).
private final class DatasetteServer {
    let process: InteractiveProcess
    /// Where it listens: `http://127.0.0.1:PORT` for a TCP listener.
    private(set) var base = ""

    init(_ commandLine: [String]) throws {
        process = try InteractiveProcess(commandLine,
                                         environment: ["HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"])
        let deadline = Date().addingTimeInterval(60)
        while !process.errorOutput.contains("Uvicorn running on") {
            guard process.process.isRunning, Date() < deadline else {
                throw TestFailure("datasette did not start: \(commandLine)\n\(process.errorOutput)")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        if let match = process.errorOutput.firstMatch(of: /Uvicorn running on (http:\/\/127\.0\.0\.1:[0-9]+)/) {
            base = String(match.1)
        }
    }

    func stop() { process.terminate() }
}

/// Crawls a Datasette site from `/`: every same-site link (href or src) of every HTML page, breadth first, so JSON
/// and CSV exports and row pages too, every path but at most three query-string variants of each (facets, sorts and
/// filters multiply without end), up to `limit` pages. Reports the pages, their statuses, and each `needles` line
/// found (as is, or URL-encoded) on a page.
private let crawler = #"""
    import html.parser, json, sys, urllib.error, urllib.parse, urllib.request

    base, needles_file, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    needles = [line for line in open(needles_file).read().split('\n') if line]

    class Links(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.links = []
        def handle_starttag(self, tag, attrs):
            self.links += [value for name, value in attrs if name in ('href', 'src') and value]

    seen, variants, queue, statuses, found, fetched = set(), {}, ['/'], {}, [], []
    while queue and len(fetched) < limit:
        path = queue.pop(0)
        bare = path.split('?')[0]
        if path in seen or (path != bare and variants.get(bare, 0) >= 3):
            continue
        seen.add(path)
        if path != bare:
            variants[bare] = variants.get(bare, 0) + 1
        try:
            with urllib.request.urlopen(base + path, timeout=60) as response:
                status, kind, body = response.status, response.headers.get('Content-Type', ''), response.read()
        except urllib.error.HTTPError as error:
            status, kind, body = error.code, error.headers.get('Content-Type', ''), error.read()
        fetched.append(path)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        page = body.decode('utf-8', 'replace')
        found += [[path, i] for i, needle in enumerate(needles)
                  if needle in page or urllib.parse.quote(needle, safe='') in page]
        if 'html' in kind:
            parser = Links()
            parser.feed(page)
            for link in parser.links:
                url = urllib.parse.urljoin(base + path, link)
                if url.startswith(base + '/'):
                    queue.append(url[len(base):].split('#')[0])
    print(json.dumps({'pages': fetched, 'statuses': statuses, 'found': found}))
    """#

/// One HTTP GET over a Unix socket, printing the status and the body (python3's http.client).
private let unixSocketGet = #"""
    import http.client, socket, sys

    class Connection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(sys.argv[1])

    connection = Connection('localhost')
    connection.request('GET', sys.argv[2])
    response = connection.getresponse()
    print(response.status)
    sys.stdout.write(response.read().decode())
    """#

// MARK: the tests

@Suite(.serialized, .ownThread)
struct AuditUITests {
    @Test func theCommittedMetadataIsWhatTheGuideGeneratesAndNothingInItWrites() throws {
        let check = try runProgram("/usr/bin/python3", [repositoryRoot + "/config/datasette/generate-metadata.py", "--check"])
        #expect(check.status == 0, "\(check)")

        let metadata = try JSON.parse(try String(contentsOfFile: repositoryRoot + "/config/datasette/metadata.json",
                                                 encoding: .utf8))
        let database = try #require(metadata.objectValue?["databases"]?.objectValue?["registry"]?.objectValue)
        let queries = try #require(database["queries"]?.objectValue)
        #expect(queries.count == (try AuditingGuide().questions().count) && queries.count >= 18)
        for (name, query) in zip(queries.keys, queries.values) {
            let object = try #require(query.objectValue)
            #expect(object["write"] == nil, "canned query \(name) must not write")
            #expect(object["title"]?.stringValue?.hasSuffix("?") == true, "\(name)")
            let sql = try #require(object["sql"]?.stringValue)
            #expect(sql.uppercased().hasPrefix("SELECT "), "\(name): \(sql)")
        }
        let tables = try #require(database["tables"]?.objectValue)
        let hardwareHashes = try #require(tables["hardware_hashes"]?.objectValue)
        #expect(hardwareHashes["hidden"] == true && hardwareHashes["allow"] == false)
        // Every table and view has a title and a description; every view column a description.
        for (name, table) in zip(tables.keys, tables.values) {
            #expect(table.objectValue?["title"]?.stringValue?.isEmpty == false, "\(name)")
            #expect(table.objectValue?["description"]?.stringValue?.isEmpty == false, "\(name)")
        }
        for view in ["consent_history", "active_consents", "device_registrations", "revocation_history", "refused_calls"] {
            #expect((tables[view]?.objectValue?["columns"]?.objectValue?.count ?? 0) >= 11, "\(view)")
        }
    }

    @Test func theUnitVerifiesIsHardenedAndServesWhatMakeAuditUIServes() throws {
        guard let analyze = findExecutable("systemd-analyze") else {
            throw TestFailure("systemd-analyze is not installed: install the Debian package 'systemd' (.ci/run does)")
        }
        let directory = "/tmp/apd-ui-unit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // ExecStart's program must exist for verify: use one that does.
        let unit = try String(contentsOfFile: repositoryRoot + "/systemd/autopilotd-audit-ui.service", encoding: .utf8)
            .replacingOccurrences(of: "ExecStart=/usr/local/bin/datasette ", with: "ExecStart=/bin/true ")
        try unit.write(toFile: directory + "/autopilotd-audit-ui.service", atomically: true, encoding: .utf8)
        let verify = try runProgram(analyze, ["verify", "--man=no", directory + "/autopilotd-audit-ui.service"])
        #expect(verify.status == 0 && verify.stdout.isEmpty && verify.stderr.isEmpty, "\(verify)")
        let security = try runProgram(analyze, ["security", "--offline=yes", "--no-pager",
                                                directory + "/autopilotd-audit-ui.service"])
        let output = security.stdout + security.stderr
        let match = try #require(
            output.firstMatch(of: /Overall exposure level for autopilotd-audit-ui\.service: ([0-9]+\.[0-9])/), "\(security)")
        #expect(try #require(Double(match.1)) <= 1.0, "\(output)")

        // The same Datasette options either way, but where it listens.
        let viaUnit = try unitCommand(database: "/db/registry.sqlite", config: "/config", datasette: "/datasette",
                                      socket: "/socket")
        let viaMake = try makeAuditUICommand(database: "/db/registry.sqlite", config: "/config", datasette: "/datasette",
                                             listen: ["AUDIT_UI_SOCKET=/socket"])
        #expect(Set(viaUnit.arguments) == Set(viaMake) && viaUnit.arguments.last == viaMake.last,
                "unit: \(viaUnit.arguments)\nmake: \(viaMake)")
        #expect(settings(viaUnit.arguments) == settings(viaMake) && settings(viaMake)["allow_download"] == "off")
        #expect(viaUnit.arguments.contains("--uds") && !viaUnit.arguments.contains("--host"))
        #expect(!viaUnit.arguments.contains("-i") && !viaUnit.arguments.contains("--immutable"))
        let loopback = try makeAuditUICommand(database: "/db/registry.sqlite", config: "/config", datasette: "/datasette",
                                              listen: [])
        #expect(loopback.contains("--host") && loopback[loopback.firstIndex(of: "--host")! + 1] == "127.0.0.1", "\(loopback)")
    }

    @Test func theServiceSocketAdmitsTheAuditorsGroupOnly() throws {
        let cast = try Cast.make()
        let datasette = try requireDatasette(runnableBy: cast.auditor)
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        succeeded(try daemon.ctl(["tenant", "create", "Contoso", "--domain", "contoso.onmicrosoft.com", "--id", "contoso"]))
        let config = try copyDatasetteConfig(into: daemon.directory)

        // As systemd runs the unit: a user of its own (DynamicUser=) whose group is the auditors group (Group=),
        // RuntimeDirectory= owned by them, 0750 (RuntimeDirectoryMode=), and the unit's UMask=. Only the auditors
        // group passes that directory, so only its members reach the socket.
        let service = try TestUser.make("apd-ui-service")
        let runtime = daemon.directory + "/run"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: false)
        #expect(chown(runtime, service.uid, cast.readers) == 0 && chmod(runtime, 0o750) == 0)
        let socket = runtime + "/datasette.sock"
        let command = try unitCommand(database: daemon.database, config: config, datasette: datasette, socket: socket)
        let server = try DatasetteServer([
            "/usr/bin/setpriv", "--reuid", String(service.uid), "--regid", String(cast.readers), "--clear-groups", "--",
            "/bin/sh", "-c", "umask \(command.umask) && exec \"$0\" \"$@\""] + command.arguments)
        defer { server.stop() }

        // uvicorn makes the socket itself 0666: the directory is what keeps others out.
        #expect(FileManager.default.fileExists(atPath: socket))
        let auditor = try cast.auditor.run("/usr/bin/python3", ["-", socket, "/registry/tenants.json?_shape=array"],
                                           groups: [cast.readers], stdin: unixSocketGet)
        #expect(auditor.status == 0 && auditor.stdout.hasPrefix("200\n") && auditor.stdout.contains("\"Contoso\""),
                "\(auditor)")
        for (user, groups) in [(cast.outsider, [UInt32]()), (cast.auditor, [])] {
            let denied = try user.run("/usr/bin/python3", ["-", socket, "/registry/tenants.json"], groups: groups,
                                      stdin: unixSocketGet)
            #expect(denied.status != 0 && denied.stderr.contains("PermissionError"), "\(denied)")
        }
    }

    @Test func anAuditorBrowsesTheLiveRegistryInChromiumAndNothingSecretOrWritableShows() throws {
        let started = Date()
        let cast = try Cast.make()
        let chromium = try requireChromium()
        let datasette = try requireDatasette(runnableBy: cast.auditor)
        let daemon = try startDaemon()
        defer { daemon.cleanup() }
        let story = try buildRegistry(daemon, cast)
        let config = try copyDatasetteConfig(into: daemon.directory)
        let browser = Browser(path: chromium, directory: daemon.directory + "/chromium")
        try FileManager.default.createDirectory(atPath: browser.directory, withIntermediateDirectories: true)

        // Datasette exactly as `make audit-ui` runs it, as the auditor, on a free loopback port.
        let command = try makeAuditUICommand(database: daemon.database, config: config, datasette: datasette,
                                             listen: ["AUDIT_UI_PORT=0"])
        let server = try DatasetteServer(cast.auditor.commandLine(command[0], Array(command.dropFirst()),
                                                                  groups: [cast.readers]))
        defer { server.stop() }
        let base = server.base
        try #require(base.hasPrefix("http://127.0.0.1:"), "\(server.process.errorOutput)")
        let direct = ["no_proxy": "*", "NO_PROXY": "*"]  // python3's urllib, straight to loopback
        print("AuditUITests: registry and Datasette ready after \(Int(Date().timeIntervalSince(started))) s")

        // The canned queries, by title, from the metadata.
        let metadata = try JSON.parse(try String(contentsOfFile: config + "/metadata.json", encoding: .utf8))
        let database = try #require(metadata.objectValue?["databases"]?.objectValue?["registry"]?.objectValue)
        let queries = try #require(database["queries"]?.objectValue)
        var slugs: [String: String] = [:]
        for (slug, query) in zip(queries.keys, queries.values) {
            slugs[try #require(query.objectValue?["title"]?.stringValue)] = slug
        }
        let tables = try #require(database["tables"]?.objectValue)

        // What each question shows for the scenario, with the guide's own names in its fields.
        let admin = "admin@contoso.onmicrosoft.com"
        let lastEvent = try runProgram("/usr/bin/sqlite3", ["-readonly", "-separator", " ", daemon.database,
                                                            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"])
        let last = lastEvent.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
        let checks: [String: (fields: String, check: ([[String: String]]) -> Void)] = [
            "Who authorised Woodgrove for Contoso, when, and with which admin roles?": (
                "partner=Woodgrove&tenant=Contoso", { rows in
                #expect(columns(rows, "granted_by", "granted_at", "dap_roles", "delegated_admin", "dap_removed_by", "status")
                        == [[admin, story.woodgroveGrantedAt, "GlobalReader,HelpdeskAdministrator", "0", admin, "active"]])
            }),
            "Which devices did Litware register for Contoso before its consent was revoked?": (
                "partner=Litware&tenant=Contoso", { rows in
                #expect(columns(rows, "serial_number", "manufacturer", "model", "status")
                        == [["LW-001", "Litware", "LW-14", "registered"], ["LW-002", "Litware", "LW-14", "registered"],
                            ["LW-003", "Litware", "LW-14", "deregistered"]])
            }),
            "Was anyone refused?": ("", { rows in
                #expect(columns(rows, "method", "outcome", "actor_role", "actor_account")
                        == [["AcceptLink", "GlobalAdminRequired", "tenant", "helpdesk@contoso.onmicrosoft.com"],
                            ["CreateDeviceBatch", "ConsentRequired", "partner", ""],
                            ["CreateTenant", "PermissionDenied", "none", ""]])
            }),
            "Which calls were refused by the permission table, and who made them?": ("", { rows in
                #expect(columns(rows, "actor_uid", "actor_role", "method")
                        == [[String(cast.stranger.uid), "none", "CreateTenant"]])
            }),
            "Which partners may register devices for Contoso right now, and on what basis?": ("tenant=Contoso", { rows in
                #expect(columns(rows, "partner_name", "partner_kind", "basis", "granted_by")
                        == [["Woodgrove", "directCsp", "direct", admin]])
            }),
            "Which partners hold delegated admin roles in a customer tenant right now?": ("", { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "dap_roles", "granted_by")
                        == [["Fabrikam", "Northwind", "GlobalReader", "admin@fabrikam.onmicrosoft.com"],
                            ["Fabrikam", "Woodgrove", "GlobalReader,HelpdeskAdministrator", "admin@fabrikam.onmicrosoft.com"]])
            }),
            "Whose delegated admin privileges end by themselves, and when?": ("", { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "dap_roles", "dap_days", "dap_expired", "delegated_admin")
                        == [["Fabrikam", "Northwind", "GlobalReader", "90", "0", "1"]])
            }),
            "What happened to Contoso's consents, change by change, and who made each change?": ("tenant=Contoso", { rows in
                #expect(columns(rows, "kind", "partner_name", "actor", "method") == [
                    ["granted", "Woodgrove", admin, "AcceptLink"], ["granted", "Litware", admin, "AcceptLink"],
                    ["granted", "Adatum", admin, "AcceptLink"], ["granted", "Tailspin", admin, "AcceptLink"],
                    ["dapRemoved", "Woodgrove", admin, "RemoveDelegatedAdmin"], ["ended", "Adatum", admin, "EndRelationship"],
                    ["ended", "Tailspin", admin, "EndRelationship"], ["revoked", "Litware", "uid=0", "DecideRevocationRequest"]])
            }),
            "Which consents have ended, when, why, and who ended them?": ("", { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "basis", "status", "end_reason", "ended_by") == [
                    ["Contoso", "Adatum", "direct", "ended", "endedByTenant", admin],
                    ["Contoso", "Tailspin", "viaReseller", "ended", "endedWithReseller", admin],
                    ["Contoso", "Litware", "oem", "revoked", "revokedByRequest", "uid=0"]])
            }),
            "Which implicit consents did indirect providers get through their resellers?": ("", { rows in
                #expect(columns(rows, "tenant_name", "provider", "reseller", "granted_by", "status", "end_reason")
                        == [["Contoso", "Tailspin", "Adatum", admin, "ended", "endedWithReseller"]])
            }),
            "Which revocation requests were filed, and how were they decided?": ("", { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "requested_by", "reason", "status", "decided_by",
                                "note", "grants_revoked")
                        == [["Contoso", "Litware", admin, "We no longer buy Litware devices", "approved", "uid=0",
                             "Confirmed with Contoso by phone", "1"]])
            }),
            "Where is the device with serial number LW-003, and what happened to it?": ("serial_number=LW-003", { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "batch_name", "channel", "status", "deregistered_by")
                        == [["Contoso", "Litware", "Contoso fleet", "api", "deregistered", "litware"]])
            }),
            "How many devices has each partner registered for each tenant, and through which channel?": ("", { rows in
                #expect(columns(rows, "tenant_name", "partner_name", "channel", "registrations", "deregistered_since")
                        == [["Contoso", "Litware", "api", "3", "1"], ["Contoso", "Woodgrove", "upload", "3", "1"]])
            }),
            "Which partners tried to register devices without consent?": ("", { rows in
                #expect(columns(rows, "actor_partner", "method", "target")
                        == [["litware", "CreateDeviceBatch", "partner:litware tenant:fabrikam"]])
            }),
            "What did Contoso's Global Administrator admin@contoso.onmicrosoft.com do?": ("account=\(query(admin))", { rows in
                #expect(columns(rows, "actor_role", "method", "outcome") == [
                    ["tenant", "AcceptLink", "ok"], ["tenant", "AcceptLink", "ok"], ["tenant", "AcceptLink", "ok"],
                    ["tenant", "UpdateDevice", "ok"], ["tenant", "DeregisterDevice", "ok"],
                    ["tenant", "RemoveDelegatedAdmin", "ok"], ["tenant", "EndRelationship", "ok"],
                    ["tenant", "FileRevocationRequest", "ok"]])
            }),
            "Which devices did Woodgrove re-tag last week?": ("", { rows in
                #expect(columns(rows, "serial_number", "tenant_name", "old_value", "new_value", "method")
                        == [[story.serials[0], "Contoso", "", "Front desk", "UpdateDevice"]])
            }),
            "Who changed the device with serial number WG-001, when, and from what to what?": (
                "serial_number=\(query(story.serials[0]))", { rows in
                #expect(columns(rows, "changed_by", "actor_role", "property", "old_value", "new_value")
                        == [["woodgrove", "partner", "group_tag", "", "Front desk"],
                            [admin, "tenant", "display_name", "", "CTS-FD-01"]])
            }),
            "Which devices did Contoso remove itself, and who registered them?": ("tenant=Contoso", { rows in
                #expect(columns(rows, "serial_number", "partner_name", "deregistered_by_account")
                        == [[story.serials[2], "Woodgrove", admin]])
            }),
            "Who changed access rules or took backups?": ("", { rows in
                #expect(columns(rows, "actor_uid", "method", "outcome")
                        == Array(repeating: ["0", "AddAccessRule", "ok"], count: 5))
            }),
            "Are the append-only triggers still in place?": ("", { rows in
                #expect(columns(rows, "name") == [["audit_events_no_delete"], ["audit_events_no_update"],
                                                  ["audit_events_sequential"]])
            }),
            "What are the last event's sequence number and hash?": ("", { rows in
                #expect(columns(rows, "seq", "hash") == [last])
            }),
        ]
        #expect(Set(slugs.keys) == Set(checks.keys), "every canned query has a check")

        // The pages an auditor opens: the index, the database, every table and view, every question (with the
        // guide's names, and blank), a few row pages, the JSON of a view, and the hidden table's page.
        let deviceID = try runProgram("/usr/bin/sqlite3", ["-readonly", daemon.database,
                                                           "SELECT id FROM devices WHERE serial_number = '\(story.serials[0])'"])
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let visible = tables.keys.filter { tables[$0]?.objectValue?["hidden"] != true }
        var urls = ["/", "/registry", "/registry/devices/\(deviceID)", "/registry/device_registrations.json",
                    "/registry/links", "/registry/hardware_hashes"]
        urls += visible.map { "/registry/\($0)" }
        for (title, slug) in slugs {
            urls.append("/registry/\(slug)")
            if let fields = checks[title]?.fields, !fields.isEmpty { urls.append("/registry/\(slug)?\(fields)") }
        }
        let loaded = Date()
        let pages = try browser.doms(urls.map { base + $0 })
        print("AuditUITests: Chromium loaded \(urls.count) pages in \(Int(Date().timeIntervalSince(loaded))) s")

        // Every question shows its rows; with its fields blank it shows every value's rows.
        for (title, slug) in slugs {
            guard let entry = checks[title] else { continue }
            let page = try #require(pages[base + "/registry/\(slug)" + (entry.fields.isEmpty ? "" : "?\(entry.fields)")])
            #expect(text(page).contains(title), "\(slug) shows its title")
            entry.check(resultRows(page))
        }
        let whoAuthorised = try #require(slugs["Who authorised Woodgrove for Contoso, when, and with which admin roles?"])
        let everyGrant = try #require(pages[base + "/registry/" + whoAuthorised])
        #expect(resultRows(everyGrant).count == 6, "blank fields match every partner and tenant")

        // The index lists the questions; each table and view page shows its title, description and facets.
        let registry = text(try #require(pages[base + "/registry"]))
        for title in slugs.keys { #expect(registry.contains(title), "/registry lists \(title)") }
        #expect(!registry.contains("hardware_hashes"), "the hidden table is not listed")
        for name in visible {
            let entry = try #require(tables[name]?.objectValue)
            let page = text(try #require(pages[base + "/registry/\(name)"]))
            #expect(page.contains(entry["title"]?.stringValue ?? "?"), "\(name): title")
            #expect(page.contains(entry["description"]?.stringValue ?? "?"), "\(name): description")
            for facet in entry["facets"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
                #expect(page.contains("\(facet) "), "\(name): facet \(facet)")
            }
        }
        let history = text(try #require(pages[base + "/registry/consent_history"]))
        #expect(history.contains("6 rows") && history.contains("Woodgrove 2") && history.contains("revoked 1"),
                "\(history.prefix(3000))")
        #expect(text(try #require(pages[base + "/registry/hardware_hashes"])).contains("Forbidden"))
        // The device's own page shows the device read from its real file (a control for the checks below).
        #expect(text(try #require(pages[base + "/registry/devices/\(deviceID)"])).contains(story.serials[0]))

        // No page shows a link token or a hardware hash (nor its first 100 characters).
        let secrets = story.tokens + story.hashes + story.hashes.map { String($0.prefix(100)) }
        #expect(story.tokens.count == 4 && story.hashes.count == 3 && story.hashes.allSatisfy { $0.count > 1000 })
        for (url, page) in pages {
            for (index, secret) in secrets.enumerated() where page.contains(secret) {
                Issue.record("\(url) shows secret #\(index)")
            }
        }
        // Nor any page, JSON or CSV export a crawler reaches from the index; the serial numbers are the control.
        let needles = daemon.directory + "/needles"
        try (secrets + story.serials).joined(separator: "\n").write(toFile: needles, atomically: true, encoding: .utf8)
        let crawled = Date()
        let crawl = try runProgram("/usr/bin/python3", ["-", base, needles, "2000"], environment: direct,
                                   stdin: crawler, timeout: 600)
        let report = try #require(try JSON.parse(crawl.stdout).objectValue, "\(crawl)")
        let crawledPages = report["pages"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let found = report["found"]?.arrayValue?.compactMap { $0.arrayValue } ?? []
        let statuses = report["statuses"].map { "\($0)" } ?? "none"
        print("AuditUITests: crawled \(crawledPages.count) pages in \(Int(Date().timeIntervalSince(crawled))) s: \(statuses)")
        #expect(crawledPages.count > 200 && crawledPages.count < 2000, "\(crawledPages.count)")
        #expect(crawledPages.contains { $0.contains(".csv") } && crawledPages.contains { $0.contains(".json") })
        #expect(report["statuses"]?.objectValue?["500"] == nil, "\(statuses)")
        let leaks = found.filter { ($0.last?.intValue ?? 0) < secrets.count }
        #expect(leaks.isEmpty, "secrets on pages: \(leaks)")
        let controls = Set(found.compactMap { $0.last?.intValue }.filter { $0 >= secrets.count })
        #expect(controls.count == story.serials.count, "the crawler saw every device's serial number: \(controls)")

        // The hash bytes read as NULL even in typed-in SQL; sqlite3 shows they are there.
        let typed = try browser.dom(base + "/registry?sql="
                                    + query("SELECT sha256, bytes, length(bytes) AS n FROM hardware_hashes"))
        let typedRows = resultRows(typed)
        #expect(typedRows.count == 3 && typedRows.allSatisfy { $0["bytes"] == "" && $0["n"] == "" }, "\(typedRows)")
        let stored = try runProgram("/usr/bin/sqlite3", ["-readonly", daemon.database,
                                                         "SELECT min(length(bytes)) FROM hardware_hashes"])
        #expect(Int(stored.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 > 1000, "\(stored)")

        // Writes are refused, through the SQL box and by POST, and change nothing.
        func counts() throws -> String {
            try runProgram("/usr/bin/sqlite3", ["-readonly", daemon.database, """
                SELECT (SELECT count(*) FROM audit_events), (SELECT count(*) FROM tenants), \
                (SELECT group_concat(outcome) FROM audit_events), (SELECT count(*) FROM tenants WHERE name = 'Evil')
                """]).stdout
        }
        let before = try counts()
        let writes = [("DELETE FROM audit_events", "Statement must be a SELECT"),
                      ("UPDATE tenants SET name = 'Evil'", "Statement must be a SELECT"),
                      ("WITH x AS (SELECT 1) DELETE FROM audit_events", "attempt to write a readonly database"),
                      ("WITH x AS (SELECT 1) INSERT INTO tenants (id, name, created_at) VALUES ('evil', 'Evil', 'now')",
                       "attempt to write a readonly database"),
                      ("WITH x AS (SELECT 1) UPDATE tenants SET name = 'Evil'", "attempt to write a readonly database")]
        let writePages = try browser.doms(writes.map { base + "/registry?sql=" + query($0.0) })
        for (sql, error) in writes {
            let page = text(try #require(writePages[base + "/registry?sql=" + query(sql)]))
            #expect(page.contains(error), "\(sql): \(page.prefix(2000))")
        }
        let posts = try runProgram("/usr/bin/python3", ["-c", """
            import sys, urllib.error, urllib.request
            for path, body, kind in [('/registry', b'sql=DELETE+FROM+audit_events', 'application/x-www-form-urlencoded'),
                                     ('/registry/was-anyone-refused', b'{}', 'application/json'),
                                     ('/registry/tenants/-/insert', b'{"row": {"id": "evil"}}', 'application/json')]:
                request = urllib.request.Request(sys.argv[1] + path, data=body, headers={'Content-Type': kind})
                try:
                    print(urllib.request.urlopen(request).status)
                except urllib.error.HTTPError as error:
                    print(error.code)
            """, base], environment: direct)
        #expect(posts.status == 0 && posts.stdout.split(separator: "\n").allSatisfy { !$0.hasPrefix("2") }, "\(posts)")
        #expect(try counts() == before)
        #expect(try daemon.ctl(["audit", "verify"]).status == 0)

        // The daemon commits while a page holds a read open for the whole time limit (5 s), and Datasette sees it.
        // (Fetched with python3, which starts in milliseconds, so that the write surely falls within the read.)
        let slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) "
            + "SELECT count(*) AS n, (SELECT count(*) FROM audit_events) AS events FROM n"
        let slowURL = base + "/registry?sql=" + query(slow)
        let lock = NSLock()
        nonisolated(unsafe) var slowPage = "", slowEnded = Date.distantFuture
        let reader = Thread {
            let page = (try? runProgram("/usr/bin/python3", ["-c", """
                import sys, urllib.error, urllib.request
                try:
                    sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())
                except urllib.error.HTTPError as error:
                    sys.stdout.write(error.read().decode())
                """, slowURL], environment: direct).stdout) ?? ""
            lock.withLock { slowPage = page; slowEnded = Date() }
        }
        reader.start()
        Thread.sleep(forTimeInterval: 1.5)
        let writeStarted = Date()
        let during = try daemon.ctl(["tenant", "create", "During", "--domain", "during.onmicrosoft.com", "--id", "during"])
        let writeEnded = Date()
        #expect(during.status == 0, "\(during)")
        while lock.withLock({ slowEnded == .distantFuture }) { Thread.sleep(forTimeInterval: 0.05) }
        let (page, ended) = lock.withLock { (slowPage, slowEnded) }
        print("AuditUITests: a write took \(writeEnded.timeIntervalSince(writeStarted)) s, "
              + "\(ended.timeIntervalSince(writeEnded)) s before the 5-second read ended")
        #expect(text(page).contains("SQL query took too long"), "\(page.prefix(2000))")
        // The read ran for 5 s before `ended`: the write started after it began, and ended before it did.
        #expect(writeStarted > ended.addingTimeInterval(-5) && writeEnded < ended, "the write did not wait for the read")
        let after = try browser.dom(base + "/registry/tenants?id=during")
        #expect(resultRows(after).count == 1 && text(after).contains("During"))

        // The screenshot of the guide, kept small, and one from this run.
        let shot = daemon.directory + "/consent-history.png"
        try browser.screenshot(base + "/registry/consent_history", to: shot, width: 1400, height: 1100)
        let png = try Data(contentsOf: URL(fileURLWithPath: shot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "\(png.count) bytes")
        let kept = try Data(contentsOf: URL(fileURLWithPath: repositoryRoot + "/docs/images/audit-ui-consent-history.png"))
        #expect(kept.starts(with: [0x89, 0x50, 0x4E, 0x47]) && kept.count < 200_000, "\(kept.count) bytes")
        #expect(try String(contentsOfFile: repositoryRoot + "/docs/auditing.md", encoding: .utf8)
                .contains("(images/audit-ui-consent-history.png)"))
        print("AuditUITests: \(Int(Date().timeIntervalSince(started))) s in all")
    }
}
