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
        subcommands: [Log.self, Head.self, Verify.self]
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

    struct Head: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the audit log's head: the seq and hash of its last event (GetAuditHead).",
            discussion: """
                Record it at each review somewhere autopilotd cannot write (a ticket, a signed email): later, \
                audit verify --head SEQ:HASH shows whether events were removed from the end of the log, which the \
                hash chain alone cannot show. The daemon also writes the head to its log (the journal).
                """)
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.GetAuditHead.self)
                if s.printJSON(reply) { return }
                Render.print(KeyValueBlock([("seq", String(reply.seq)), ("hash", reply.hash), ("head", reply.head.description)]))
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit chain (VerifyAudit); exits 1 and names the first broken event when it fails.",
            discussion: """
                The chain shows any event that was changed, but not events removed from the end of the log. Give the \
                head you recorded earlier (audit head) with --head SEQ:HASH, or let --head-from-log read the latest \
                head the daemon wrote to its log (a file, or - for stdin: journalctl -u autopilotd.service | \
                autopilotctl audit verify --head-from-log -): verification then also fails when that event is gone.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("A head recorded earlier, as audit head prints it.", valueName: "seq:hash"))
        var head: String?
        @Option(name: .customLong("head-from-log"),
                help: ArgumentHelp("Check against the latest head in the daemon's log lines (- for stdin).", valueName: "file"))
        var headFromLog: String?

        func validate() throws {
            if head != nil && headFromLog != nil { throw ValidationError("give --head or --head-from-log, not both") }
        }

        /// The heads to check: the one --head gives, or every one the daemon's log witnesses, oldest first.
        func expectedHeads() throws -> [AuditHead] {
            if let head { return [try AuditHead(parsing: head)] }
            guard let source = headFromLog else { return [] }
            let text: String
            if source == "-" {
                var lines: [String] = []
                while let line = readLine(strippingNewline: false) { lines.append(line) }
                text = lines.joined()
            } else {
                do { text = try String(contentsOfFile: source, encoding: .utf8) } catch {
                    throw CLIError("cannot read \(source): \(error.localizedDescription)", code: ExitStatus.noInput)
                }
            }
            let heads = AuditHead.all(inLog: Substring(text))
            guard !heads.isEmpty else {
                throw CLIError("no '\(AuditHead.logMessage) head=SEQ:HASH' line in \(source == "-" ? "the standard input" : source)")
            }
            return heads
        }

        /// Whether the log holds `head`: one indexed read of event `head.seq`.
        func holds(_ head: AuditHead, _ s: Session) throws -> Bool {
            if head.seq == 0 { return head.hash == String(repeating: "0", count: 64) }
            var found: AuditEvent?
            try s.client.stream(Registry.ListAuditEvents.self, .init(after: Int(head.seq - 1), limit: 1)) { found = $0.event }
            return found?.seq == head.seq && found?.hash == head.hash
        }

        func run() throws {
            var ok = true
            try global.run { s in
                let heads = try expectedHeads()
                // The chain and the latest head in one call; any earlier head the log witnessed, one event each.
                var v = try s.call(Registry.VerifyAudit.self, .init(head: heads.last?.description))
                var missing = v.headMissing == true ? heads.last : nil
                for head in heads.dropLast() where missing == nil && v.ok {
                    if try !holds(head, s) {
                        missing = head
                        v.ok = false
                        v.headMissing = true
                    }
                }
                ok = v.ok
                if s.printJSON(v) { return }
                if v.ok {
                    var held = ""
                    if let last = heads.last {
                        held = heads.count == 1 ? ", and it still holds the head \(last)"
                            : ", and it still holds all \(heads.count) heads of the daemon's log, the last \(last)"
                    }
                    Output.out("ok: the audit chain of \(v.events) events verifies" + held)
                    return
                }
                Output.out("broken: \(v.events) events checked")
                if let first = v.firstBroken {
                    Output.error("the audit chain is broken at event seq \(first): its hash does not match its content and the event before it")
                }
                if let expected = missing {
                    let last = (try? s.call(Registry.GetAuditHead.self).seq) ?? Int64(v.events)
                    if expected.seq > last {
                        Output.error("the log no longer holds the head \(expected): event \(expected.seq) is missing, and the log now ends at seq \(last); \(expected.seq - last) or more events were removed from its end")
                    } else {
                        Output.error("the log no longer holds the head \(expected): event \(expected.seq) has another hash; the log was cut and written again, or rewritten, from there")
                    }
                }
            }
            if !ok { throw ExitCode(ExitStatus.refused) }
        }
    }
}
