import ArgumentParser
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import AutopilotClient
import AutopilotDomain
import AutopilotInterface
import Varlink

/// The help of every `--as` option: the account a tenant-side command acts as.
let actingAccountHelp = ArgumentHelp(
    "The account you act as (a Global Administrator's UPN); default: the account your access rule binds you to. "
        + "An operator must name one.", valueName: "upn")

struct ConsentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "Ask for, show, accept and end customer consent.",
        discussion: """
            A partner asks with a link (consent request for CSPs, consent oem-link for OEMs, issued by the operator); \
            the customer's Global Administrator accepts it (consent accept --as UPN). LINK is the whole URL or the \
            bare token; revoke also takes the link id.
            """,
        subcommands: [Request.self, OemLink.self, Show.self, Accept.self, Revoke.self, Verify.self, RemoveDap.self,
                      End.self, Watch.self]
    )

    struct Request: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a reseller-relationship link for a direct CSP or an indirect reseller.",
            discussion: """
                Prints the link's URL on the first line (it is shown only now: the daemon keeps only a hash of it), \
                then the email to send to the customer. --dap also asks for delegated admin privileges with the \
                admin roles given by --role (\(AccountRole.namesList)); --dap-days N makes them end by themselves N \
                days (1 to 730) after the customer accepts, as GDAP relationships do. A customer that already \
                consented and accepts a link asking for more (DAP, more roles, longer DAP) has its consent extended.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The partner id.") var partner: String
        @Flag(help: "Also ask for delegated admin privileges (DAP).") var dap = false
        @Option(name: [.customLong("role"), .customLong("roles")], help: "An admin role asked for with --dap (repeatable, or comma-separated).")
        var roles: [String] = []
        @Option(name: .customLong("dap-days"), help: ArgumentHelp(
            "With --dap: the privileges end by themselves this many days (1 to 730) after acceptance.", valueName: "n"))
        var dapDays: Int?

        func validate() throws {
            if !roles.isEmpty && !dap { throw ValidationError("--role asks for admin roles, which needs --dap") }
            if dapDays != nil && !dap { throw ValidationError("--dap-days limits delegated admin privileges, which needs --dap") }
        }

        func run() throws {
            try global.run { s in
                let request = try s.call(Registry.RequestResellerRelationship.self, .init(
                    partner: partner, delegatedAdmin: dap, roles: dap ? splitRoles(roles) : nil, dapDays: dapDays))
                if s.printJSON(request) { return }
                Output.out(request.link.url ?? "(the daemon sent no URL; link id \(request.link.id))")
                Output.out("")
                Output.out(request.email)
            }
        }
    }

    struct OemLink: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "oem-link",
            abstract: "Issue an OEM's unique consent link, revoking its previous one (operator only).",
            discussion: "The OEM must be eligible for the OEM Direct API. Prints the URL (shown only now).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The OEM's partner id.") var partner: String

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.IssueOemLink.self, .init(partner: partner))
                if s.printJSON(reply) { return }
                let link = reply.link
                Output.out(link.url ?? "(the daemon sent no URL; link id \(link.id))")
                Output.out("")
                Output.out("This is \(Names(client: s.client).partner(link.partner))'s only consent link: any earlier one no "
                    + "longer works. It does not expire. Hand it to the OEM, which sends it to its customers; the URL is "
                    + "shown only now (the registry keeps only a hash of it).")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what a customer sees when opening a link (DescribeLink).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The link URL or token.") var link: String

        func run() throws {
            try global.run { s in
                let d = try s.call(Registry.DescribeLink.self, .init(link: link))
                if s.printJSON(d) { return }
                Output.write(describe(d))
            }
        }

        func describe(_ d: ConsentPage) -> String {
            let p = d.partner
            var lines: [String] = []
            switch d.link.kind {
            case .oemConsent:
                lines.append("\(p.name) (\(p.id)) is an OEM. It asks for permission to register and deregister "
                    + "Autopilot devices for your organisation through the OEM Direct API.")
                lines.append("No delegated admin privileges are ever granted to an OEM.")
                lines.append("Only a Global Administrator signed in with a cloud-native account "
                    + "(…@<name>.onmicrosoft.com) can accept. Your admins cannot remove an OEM afterwards: that takes "
                    + "a revocation request to the operator.")
            case .resellerRelationship:
                lines.append("\(p.name) (\(p.id)) is \(Render.kindInWords(p.kind)). It asks your organisation to accept "
                    + "a reseller relationship, which lets it register Autopilot devices for you.")
                // Older daemons send no provider record: fall back to its id.
                let provider = d.provider.map { "\($0.name) (\($0.id))" } ?? p.provider
                if let provider {
                    lines.append("Accepting also authorises its indirect provider, \(provider), to register devices.")
                }
                if d.link.delegatedAdmin {
                    let roles = d.link.roles.map(\.rawValue).joined(separator: ", ")
                    lines.append("It also asks for delegated admin privileges"
                        + (d.provider.map { ", for itself and \($0.name)," } ?? "") + " with these roles: "
                        + (roles.isEmpty ? "(none named)" : roles) + ", "
                        + (d.link.dapDays.map { "for \($0) day\($0 == 1 ? "" : "s") after you accept; they then end by themselves." }
                            ?? "until you remove them."))
                } else {
                    lines.append("It does not ask for delegated admin privileges.")
                }
                lines.append("Only a Global Administrator of your tenant can accept. You can later remove delegated "
                    + "admin privileges or end the relationship.")
            }
            switch d.link.status {
            case .active:
                lines.append("This link is active" + (d.link.expiresAt.map { " until \($0.rfc3339)." } ?? "."))
            case .revoked:
                lines.append("This link was revoked" + (d.link.revokedAt.map { " on \($0.rfc3339)" } ?? "")
                    + "; it can no longer be accepted.")
            case .expired:
                lines.append("This link expired" + (d.link.expiresAt.map { " on \($0.rfc3339)" } ?? "")
                    + "; it can no longer be accepted.")
            }
            return lines.map { $0 + "\n" }.joined()
        }
    }

    struct Accept: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Accept a link as a tenant's Global Administrator (AcceptLink).",
            discussion: """
                Shows the consent page (what consent show prints) and asks you to type yes, as the consent page's \
                "Yes" does; --yes accepts without asking (for scripts). Accepting an indirect reseller's link also \
                authorises its indirect provider. Accepting again while the consent is active creates nothing: a link \
                asking for more (delegated admin, more roles, longer DAP) extends it, else the active grants are shown.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The link URL or token.") var link: String
        @Option(name: .customLong("as"), help: actingAccountHelp) var account: String?
        @Flag(help: "Accept without showing the consent page and asking.") var yes = false

        func run() throws {
            try global.run { s in
                let acting = try s.actingAccount(account)
                if !yes {
                    let page = try s.call(Registry.DescribeLink.self, .init(link: link))
                    Output.stderrWrite(Show().describe(page) + "\nType yes to accept"
                        + (acting.map { " as \($0)" } ?? "") + ": ")
                    let answer = readLine(strippingNewline: true)?.trimmingCharacters(in: .whitespaces).lowercased()
                    guard answer == "yes" else {
                        throw CLIError("not accepted: you did not type yes (nothing changed; --yes accepts without asking)",
                                       code: ExitStatus.refused)
                    }
                }
                let reply = try s.call(Registry.AcceptLink.self, .init(link: link, account: acting))
                if s.printJSON(reply) { return }
                let grants = reply.grants
                Output.out(Names(client: s.client).sentence(accepted: grants))
                var table = TextTable(Render.grantHeaders)
                for g in grants { table.append(Render.row(g)) }
                Output.out("")
                Render.print(table)
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a link so that it can no longer be accepted; consent already given stays.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The link URL, token or id.") var link: String

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.RevokeLink.self, .init(link: link))
                if !s.printJSON(reply) { Render.print(Render.block(reply.link)) }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check whether a partner holds consent from a tenant (ValidateSubmission without devices).",
            discussion: "Exits 0 whether or not consent exists, unless --require is given: then 3 when it does not.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The partner id.") var partner: String
        @Option(help: "The tenant id.") var tenant: String
        @Flag(help: "Exit with status 3 when there is no consent.") var require = false

        func run() throws {
            var consented = true
            try global.run { s in
                let check = try s.call(Registry.ValidateSubmission.self, .init(partner: partner, tenant: tenant))
                consented = check.consented
                if s.printJSON(check) { return }
                if let grant = check.grant {
                    let names = Names(client: s.client)
                    let how = grant.basis == .viaReseller ? ", implicitly, through one of its indirect resellers" : ""
                    Output.out("Yes: \(names.partner(grant.partner)) may register devices for \(names.tenant(grant.tenant))"
                        + "\(how). \(grant.grantedBy) consented on \(grant.grantedAt.rfc3339).")
                    Output.out("")
                    Render.print(Render.block(grant))
                } else {
                    Output.out("No: partner \(partner) holds no active consent from tenant \(tenant), so registering "
                        + "devices for it would fail with ConsentRequired. The tenant's Global Administrator must first "
                        + "accept the partner's link.")
                }
            }
            if require && !consented { throw ExitCode(ExitStatus.notConsented) }
        }
    }

    struct RemoveDap: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove-dap",
            abstract: "Remove a partner's delegated admin privileges as a tenant's Global Administrator.",
            discussion: """
                The partner keeps its consent to register devices. For an indirect reseller, the privileges its \
                indirect provider holds through it are removed too.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The partner id.") var partner: String
        @Option(name: .customLong("as"), help: actingAccountHelp) var account: String?

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.RemoveDelegatedAdmin.self,
                                       .init(partner: partner, account: try s.actingAccount(account)))
                if s.printJSON(reply) { return }
                let grant = reply.grant
                let names = Names(client: s.client)
                let provider = names.record(grant.partner)?.provider.map(names.partner)
                Output.out("\(names.partner(grant.partner)) no longer holds delegated admin privileges from "
                    + "\(names.tenant(grant.tenant))"
                    + (provider.map { ", nor does \($0) through it; both may still register devices." }
                        ?? "; it may still register devices."))
                Output.out("")
                Render.print(Render.block(grant))
            }
        }
    }

    struct End: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a relationship: as a tenant's Global Administrator, or as the partner, naming the tenant.",
            discussion: """
                A tenant ends a CSP's relationship with --partner (and --as, unless your access rule binds you to an \
                account); an OEM cannot be removed this way: file a revocation request (revocation file). A partner \
                ends its own relationship with one customer with --partner and --tenant. Ending an indirect \
                reseller's relationship also ends its provider's consent that came with it.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The partner id.") var partner: String
        @Option(name: .customLong("as"), help: actingAccountHelp) var account: String?
        @Option(help: "The partner's side: the customer tenant whose relationship the partner ends.") var tenant: String?

        func validate() throws {
            if tenant != nil && account != nil {
                throw ValidationError("--tenant ends the relationship from the partner's side, --as from the tenant's: give one")
            }
        }

        func run() throws {
            try global.run { s in
                // A tenant caller stops seeing the partners once their consent ends: read their names first.
                let names = Names(client: s.client)
                if !s.json { names.load() }
                let parameters: Registry.EndRelationship.Parameters = if let tenant {
                    .init(partner: partner, tenant: tenant)
                } else {
                    .init(partner: partner, account: try s.actingAccount(account))
                }
                let reply = try s.call(Registry.EndRelationship.self, parameters)
                if s.printJSON(reply) { return }
                let grants = reply.grants
                let customer = grants.first.map { names.tenant($0.tenant) } ?? "The tenant"
                if tenant != nil {
                    Output.out("\(names.partners(grants)) no longer \(grants.count == 1 ? "registers" : "register") "
                        + "devices for \(customer): the relationship has ended.")
                } else {
                    Output.out("\(customer) no longer authorises \(names.partners(grants)) to register devices.")
                }
                var table = TextTable(Render.grantHeaders)
                for g in grants { table.append(Render.row(g)) }
                Output.out("")
                Render.print(table)
            }
        }
    }

    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every consent change as it happens (WatchConsent), until interrupted.",
            discussion: """
                One line per change to a grant you may see: granted, extended, dapRemoved, dapExpired, ended or \
                revoked, with its sequence number. --after SEQ first prints the changes after SEQ (the last one you \
                saw), so a watcher that reconnects misses none. With --json, one compact JSON event per line. Once \
                subscribed it says so on stderr. Ctrl-C \
                stops it (exit 0); if the daemon stops, it says so with the --after to resume from and exits 69.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this partner's grants.") var partner: String?
        @Option(help: "Only this tenant's grants.") var tenant: String?
        @Option(help: ArgumentHelp("First print the changes after this sequence number.", valueName: "seq")) var after: Int?

        func run() throws {
            let interrupts = Interrupts.exitCleanly()
            defer { interrupts.forEach { $0.cancel() } }
            var last = after.map(Int64.init)
            try global.run { s in
                do {
                    try s.client.stream(Registry.WatchConsent.self,
                                        .init(partner: partner, tenant: tenant, after: last)) { reply in
                        guard let event = reply.event else {
                            // On stderr even with --json, which keeps stdout to events: a script may wait for it.
                            Output.stderrWrite("Watching consent changes (Ctrl-C to stop)…\n")
                            return
                        }
                        last = event.seq
                        Output.out(s.json ? JSON.serialize(event.wire) : Self.line(event))
                        Output.flush()
                    }
                } catch VarlinkClientError.connectionClosed {
                    // The stream never ends by itself: the daemon stopped, or restarted.
                }
                let resume = last.map { "'autopilotctl consent watch --after \($0)'" }
                    ?? "'autopilotctl consent watch' (no change had arrived)"
                throw CLIError("the watch ended: autopilotd stopped or closed the connection; resume with \(resume)",
                               code: ExitStatus.unavailable)
            }
        }

        /// One event as a line: seq, time, kind, the pair, DAP, and who.
        static func line(_ e: ConsentEvent) -> String {
            let g = e.grant
            var dap = g.delegatedAdmin ? "dap=\(Render.roles(g.roles))" : "dap=no"
            if g.delegatedAdmin, let ends = g.dapExpiresAt { dap += " until \(ends.rfc3339)" }
            if !g.delegatedAdmin, e.kind == .dapExpired, let ended = g.dapExpiresAt { dap += " (ended \(ended.rfc3339))" }
            return "\(e.seq)  \(e.at.rfc3339)  \(e.kind.rawValue)  tenant=\(g.tenant) partner=\(g.partner) "
                + "grant=\(g.id) status=\(g.status.rawValue) \(dap)  by \(e.actor)"
        }
    }
}

/// Display names of tenants and partners for sentences.
///
/// Names come from ListTenants and ListPartners, which show every caller what it may see and never refuse it, so
/// naming never adds a PermissionDenied to the audit log; whatever the caller may not see is shown by its id.
final class Names {
    let client: RegistryClient
    private var partnerRecords: [String: Partner]?
    private var tenantNames: [String: String]?

    init(client: RegistryClient) { self.client = client }

    /// Reads the names now, before a call that hides them from the caller (ending a relationship).
    func load() {
        if partnerRecords == nil {
            let partners = (try? client.call(Registry.ListPartners.self).partners) ?? []
            partnerRecords = Dictionary(partners.map { ($0.id, $0) }) { first, _ in first }
        }
        if tenantNames == nil {
            let tenants = (try? client.call(Registry.ListTenants.self).tenants) ?? []
            tenantNames = Dictionary(tenants.map { ($0.id, $0.name) }) { first, _ in first }
        }
    }

    func tenant(_ id: String) -> String {
        load()
        return tenantNames?[id] ?? id
    }

    func partner(_ id: String) -> String { record(id)?.name ?? id }

    /// The partner, when the caller may see it.
    func record(_ id: String) -> Partner? {
        load()
        return partnerRecords?[id]
    }

    /// "A", "A and B", "A, B and C".
    static func list(_ items: [String]) -> String {
        guard let last = items.last else { return "no partner" }
        if items.count == 1 { return last }
        return items.dropLast().joined(separator: ", ") + " and " + last
    }

    /// The partners of some grants in words: "Woodgrove and, through it, Tailspin" when a provider's implicit
    /// consent came with its reseller's.
    func partners(_ grants: [Grant]) -> String {
        let own = Names.list(grants.filter { $0.basis != .viaReseller }.map { partner($0.partner) })
        let through = Names.list(grants.filter { $0.basis == .viaReseller }.map { partner($0.partner) })
        if grants.allSatisfy({ $0.basis == .viaReseller }) { return through }
        if grants.allSatisfy({ $0.basis != .viaReseller }) { return own }
        return "\(own) and, through it, \(through)"
    }

    /// What accepting a link did, in words: "Contoso now authorises Woodgrove and, through it, Tailspin to register
    /// devices." followed by the delegated admin privileges granted with it, if any.
    func sentence(accepted grants: [Grant]) -> String {
        guard let first = grants.first else { return "Nothing was granted." }
        var text = "\(tenant(first.tenant)) now authorises \(partners(grants)) to register devices."
        let dap = grants.filter(\.delegatedAdmin)
        if let roles = dap.first?.roles {
            let holders = Names.list(dap.map { partner($0.partner) })
            text += " \(holders) also \(dap.count == 1 ? "holds" : "hold") delegated admin privileges"
                + (roles.isEmpty ? "." : " with these roles: \(roles.map(\.rawValue).joined(separator: ", ")).")
        }
        return text
    }
}

struct CustomersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "customers",
        abstract: "List a partner's customers: tenants holding an active grant for it (ListCustomers).",
        discussion: "Listed means the customer accepted: this is how a partner confirms consent.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "The partner id.") var partner: String

    func run() throws {
        try global.run { s in
            let reply = try s.call(Registry.ListCustomers.self, .init(partner: partner))
            if s.printJSON(reply) { return }
            var table = TextTable(["TENANT", "NAME", "DOMAIN", "BASIS", "DAP", "ROLES", "GRANTED BY", "GRANTED"])
            for c in reply.customers {
                table.append([c.tenant.id, c.tenant.name, c.tenant.domain, c.grant.basis.rawValue,
                              Render.yesNo(c.grant.delegatedAdmin), Render.roles(c.grant.roles), c.grant.grantedBy,
                              c.grant.grantedAt.rfc3339])
            }
            Render.print(table)
        }
    }
}

struct GrantsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grants",
        abstract: "List grants (ListGrants); partners and tenants see their own.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only this tenant's grants.") var tenant: String?
    @Option(help: "Only this partner's grants.") var partner: String?
    @Option(help: "active, ended or revoked.") var status: GrantStatus?

    func run() throws {
        try global.run { s in
            let reply = try s.call(Registry.ListGrants.self, .init(tenant: tenant, partner: partner, status: status))
            if s.printJSON(reply) { return }
            var table = TextTable(Render.grantHeaders)
            for g in reply.grants { table.append(Render.row(g)) }
            Render.print(table)
        }
    }
}

struct RevocationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revocation",
        abstract: "Revocation requests: a tenant asks the operator to remove a partner's consent.",
        discussion: "For an OEM this is the only way to remove its consent.",
        subcommands: [File.self, List.self, Withdraw.self, Approve.self, Reject.self]
    )

    struct File: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "File a request as a tenant's Global Administrator against a partner holding an active grant.",
            discussion: "A tenant has at most one open request per partner: withdraw it (revocation withdraw) to file anew.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The partner id.") var partner: String
        @Option(name: .customLong("as"), help: actingAccountHelp) var account: String?
        @Option(help: "Why, in the tenant's words.") var reason: String

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.FileRevocationRequest.self,
                                       .init(partner: partner, account: try s.actingAccount(account), reason: reason))
                if s.printJSON(reply) { return }
                let request = reply.request
                let names = Names(client: s.client)
                Output.out("\(names.tenant(request.tenant)) asked the operator to remove \(names.partner(request.partner))'s "
                    + "consent. Until the operator approves or rejects the request, \(names.partner(request.partner)) "
                    + "may still register devices.")
                Output.out("")
                Render.print(Render.block(request))
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List revocation requests.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "open, approved, rejected or withdrawn.") var status: RevocationStatus?

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.ListRevocationRequests.self, .init(status: status))
                if s.printJSON(reply) { return }
                var table = TextTable(["ID", "TENANT", "PARTNER", "REQUESTED BY", "STATUS", "CREATED", "REASON"])
                for r in reply.requests {
                    table.append([r.id, r.tenant, r.partner, r.requestedBy, r.status.rawValue, r.createdAt.rfc3339,
                                  r.reason])
                }
                Render.print(table)
            }
        }
    }

    struct Withdraw: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw your tenant's open request, as its Global Administrator; the partner keeps its consent.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The request id.") var request: String
        @Option(name: .customLong("as"), help: actingAccountHelp) var account: String?

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.WithdrawRevocationRequest.self,
                                       .init(request: request, account: try s.actingAccount(account)))
                if s.printJSON(reply) { return }
                let r = reply.request
                let names = Names(client: s.client)
                Output.out("Withdrawn: \(names.tenant(r.tenant)) no longer asks the operator to remove "
                    + "\(names.partner(r.partner)), which keeps its consent.")
                Output.out("")
                Render.print(Render.block(r))
            }
        }
    }

    struct Approve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a request: the partner's active grants for the tenant are revoked at once (operator only).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The request id.") var request: String
        @Option(help: "A note for the record.") var note: String?

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.DecideRevocationRequest.self, .init(request: request, approve: true, note: note))
                if s.printJSON(reply) { return }
                let r = reply.request
                let names = Names(client: s.client)
                let provider = names.record(r.partner)?.provider.map(names.partner)
                Output.out("Approved: \(names.tenant(r.tenant)) no longer authorises \(names.partner(r.partner)) to "
                    + "register devices; its consent is revoked."
                    + (provider.map { " \($0)'s consent that came through it has ended too." } ?? ""))
                Output.out("")
                Render.print(Render.block(r))
            }
        }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a request (operator only).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The request id.") var request: String
        @Option(help: "A note for the record.") var note: String?

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.DecideRevocationRequest.self, .init(request: request, approve: false, note: note))
                if s.printJSON(reply) { return }
                let r = reply.request
                let names = Names(client: s.client)
                Output.out("Rejected: \(names.partner(r.partner)) keeps its consent from \(names.tenant(r.tenant)).")
                Output.out("")
                Render.print(Render.block(r))
            }
        }
    }
}

/// Ctrl-C and SIGTERM for a command that runs until interrupted: what it printed is flushed and it exits 0.
enum Interrupts {
    static func exitCleanly() -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                fflush(nil)
                exit(0)
            }
            source.resume()
            return source
        }
    }
}
