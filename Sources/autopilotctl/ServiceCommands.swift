#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import AutopilotClient
import AutopilotDomain
import AutopilotInterface
import Varlink

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the daemon's version, database and counts (GetStatus).")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.run { s in
            let st = try s.call(Registry.GetStatus.self)
            if s.printJSON(st) { return }
            Render.print(KeyValueBlock([
                ("socket", global.socketPath), ("version", st.version), ("schema version", String(st.schemaVersion)),
                ("database", st.database), ("started", st.startedAt), ("tenants", String(st.counts.tenants)),
                ("partners", String(st.counts.partners)), ("grants", String(st.counts.grants)),
                ("devices", String(st.counts.devices)),
            ]))
        }
    }
}

struct WhoAmICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "whoami",
        abstract: "Show what the daemon sees of you: uid, role, and the partner or tenant you act for.")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        try global.run { s in
            let me = try s.call(Registry.WhoAmI.self)
            if s.printJSON(me) { return }
            var b = KeyValueBlock([("uid", UnixNames.describeUser(UInt32(truncatingIfNeeded: me.uid))),
                                   ("role", me.role.rawValue)])
            b.append("partner", me.partner, ifPresent: true)
            b.append("tenant", me.tenant, ifPresent: true)
            if me.role == .tenant { b.append("account", me.account ?? "(none: your rule covers the whole tenant, for reads only)") }
            Render.print(b)
        }
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Have the daemon write a consistent copy of its database to FILE (operator only).",
        discussion: """
            A relative FILE is resolved against the current directory. The daemon itself writes the file, so the \
            directory must be writable by the daemon's user.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "Where to write the copy.") var file: String

    func run() throws {
        let path = absolutePath(file)
        try global.run { s in
            let result = try s.call(Registry.Backup.self, .init(path: path))
            if s.printJSON(result) { return }
            Output.out("wrote \(result.bytes) bytes to \(result.path)")
        }
    }
}

/// `path` made absolute against the current directory.
func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    guard let pointer = getcwd(nil, 0) else { return path }
    defer { free(pointer) }
    let cwd = String(cString: pointer)
    var rest = Substring(path)
    while rest.hasPrefix("./") { rest = rest.dropFirst(2) }
    return (cwd.hasSuffix("/") ? cwd : cwd + "/") + rest
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read and verify the hash-chained audit log (operators and auditors).",
        subcommands: [Log.self, Verify.self]
    )

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print audit events as they stream in (ListAuditEvents).",
            discussion: """
                --follow keeps polling every second for events after the last one shown, until interrupted; \
                --limit applies to the first listing only. With --json, events are printed as a JSON array of \
                replies, or with --follow one compact JSON reply per line.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only events with a sequence number greater than this.") var after: Int?
        @Option(help: "At most this many events.") var limit: Int?
        @Flag(help: "Keep waiting for new events.") var follow = false

        func run() throws {
            try global.run { s in
                var last = after ?? 0
                var table = StreamingTable(["SEQ", "AT", "ACTOR", "METHOD", "TARGET", "OUTCOME"], right: [0]) {
                    Output.write($0)
                }
                var array = JSONArrayWriter()
                func fetch(limit: Int?) throws {
                    try s.client.stream(Registry.ListAuditEvents.self, .init(after: last, limit: limit)) { reply in
                        guard let event = reply.event else { return }
                        last = max(last, Int(event.seq))
                        if s.json {
                            if follow { Output.out(JSON.serialize(reply.wire)) }
                            else { array.append(reply.wireObject) }
                        } else {
                            table.append([String(event.seq), event.at.rfc3339, event.actor, event.method,
                                          Render.text(event.target), event.outcome])
                        }
                    }
                    // While following an empty log, hold the header until the first rows set the column widths.
                    if !s.json && (table.count > 0 || !follow) { table.finish() }
                    Output.flush()
                }
                try fetch(limit: limit)
                guard follow else {
                    if s.json { array.finish() }
                    return
                }
                while true {
                    sleep(1)
                    try fetch(limit: nil)
                }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit chain (VerifyAudit); exits 1 and names the first broken event when it fails.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            var ok = true
            try global.run { s in
                let v = try s.call(Registry.VerifyAudit.self)
                ok = v.ok
                if s.printJSON(v) { return }
                if v.ok {
                    Output.out("ok: the audit chain of \(v.events) events verifies")
                } else {
                    Output.out("broken: \(v.events) events checked")
                    Output.error("the audit chain is broken at event seq "
                        + (v.firstBroken.map(String.init) ?? "(unknown)")
                        + ": its hash does not match its content and the event before it")
                }
            }
            if !ok { throw ExitCode(ExitStatus.refused) }
        }
    }
}
