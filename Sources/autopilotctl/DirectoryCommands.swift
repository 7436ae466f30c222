import ArgumentParser
import AutopilotClient
import AutopilotDomain
import AutopilotInterface

struct TenantCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Create and look at customer tenants.",
        subcommands: [Create.self, AddDomain.self, Show.self, List.self]
    )

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a tenant with its initial <label>.onmicrosoft.com domain (operator only).",
            discussion: "Example: autopilotctl tenant create Contoso --domain contoso.onmicrosoft.com")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The tenant's display name.") var name: String
        @Option(help: "The initial domain, <label>.onmicrosoft.com.") var domain: String
        @Option(help: "A chosen id (lowercase letters, digits, '.', '_', '-'); default: a new UUID.") var id: String?

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.CreateTenant.self, .init(name: name, domain: domain, id: id))
                if !s.printJSON(reply) { Render.print(Render.block(reply.tenant)) }
            }
        }
    }

    struct AddDomain: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-domain",
            abstract: "Add a custom domain (such as contoso.com) to a tenant (operator only).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The tenant id.") var tenant: String
        @Argument(help: "A DNS name outside onmicrosoft.com, not used by another tenant.") var domain: String

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.AddTenantDomain.self, .init(tenant: tenant, domain: domain))
                if !s.printJSON(reply) { Render.print(Render.block(reply.tenant)) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one tenant (GetTenant).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The tenant id.") var tenant: String

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.GetTenant.self, .init(tenant: tenant))
                if !s.printJSON(reply) { Render.print(Render.block(reply.tenant)) }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the tenants you may see (ListTenants).",
            discussion: "Operators and auditors see every tenant, partners their customers, tenants themselves.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.ListTenants.self)
                if s.printJSON(reply) { return }
                var table = TextTable(["ID", "NAME", "DOMAIN", "OTHER DOMAINS", "CREATED"])
                for t in reply.tenants {
                    let others = t.domains.filter { $0 != t.domain }
                    table.append([t.id, t.name, t.domain, others.isEmpty ? "-" : others.joined(separator: ","),
                                  t.createdAt.rfc3339])
                }
                Render.print(table)
            }
        }
    }
}

struct AccountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Add tenant accounts and set their directory roles (operator only).",
        discussion: """
            Role names: \(AccountRole.namesList).
            Give roles as repeated --role options or comma-separated: --roles GlobalAdministrator,GlobalReader.
            """,
        subcommands: [Add.self, SetRoles.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an account to a tenant; its UPN's domain must be one of the tenant's domains.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user principal name, such as alice@contoso.onmicrosoft.com.") var upn: String
        @Option(help: "The tenant id.") var tenant: String
        @Option(name: [.customLong("role"), .customLong("roles")], help: "A directory role (repeatable, or comma-separated).")
        var roles: [String] = []

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.AddAccount.self, .init(tenant: tenant, upn: upn, roles: splitRoles(roles)))
                if !s.printJSON(reply) { Render.print(Render.block(reply.account)) }
            }
        }
    }

    struct SetRoles: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-roles",
            abstract: "Replace an account's directory roles (no --role at all removes every role).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user principal name.") var upn: String
        @Option(name: [.customLong("role"), .customLong("roles")], help: "A directory role (repeatable, or comma-separated).")
        var roles: [String] = []

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.SetAccountRoles.self, .init(upn: upn, roles: splitRoles(roles)))
                if !s.printJSON(reply) { Render.print(Render.block(reply.account)) }
            }
        }
    }
}

extension AccountCommand {
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the account of someone who left, and the access rules bound to it (RemoveAccount).",
            discussion: """
                Grants, revocation requests and audit events keep the UPN they recorded. The account no longer exists \
                for any call, and whoever its access rules bound to it can no longer act as it.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user principal name.") var upn: String

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.RemoveAccount.self, .init(upn: upn))
                if !s.printJSON(reply) { Output.out("removed account \(upn) and the access rules bound to it") }
            }
        }
    }
}

struct PartnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partner",
        abstract: "Register and look at partners (CSPs and OEMs).",
        subcommands: [Register.self, SetOemEligibility.self, Show.self, List.self]
    )

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a partner (operator only).",
            discussion: """
                Kinds: directCsp, indirectProvider, indirectReseller (needs --provider, its indirect provider), \
                oem (--oem-direct-api marks it eligible for the OEM Direct API).
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The partner's display name.") var name: String
        @Option(help: "directCsp, indirectProvider, indirectReseller or oem.") var kind: PartnerKind
        @Option(help: "For an indirect reseller: the id of its indirect provider.") var provider: String?
        @Flag(name: .customLong("oem-direct-api"), help: "For an OEM: eligible for the OEM Direct API.")
        var oemDirectApi = false
        @Option(help: "A chosen id; default: a new UUID.") var id: String?

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.RegisterPartner.self, .init(
                    name: name, kind: kind, provider: provider, oemDirectApi: oemDirectApi ? true : nil, id: id))
                if !s.printJSON(reply) { Render.print(Render.block(reply.partner)) }
            }
        }
    }

    struct SetOemEligibility: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-oem-eligibility",
            abstract: "Mark an OEM eligible, or not, for the OEM Direct API (operator only).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The partner id.") var partner: String
        @Option(help: "true or false.") var eligible: Bool

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.SetOemEligibility.self, .init(partner: partner, eligible: eligible))
                if !s.printJSON(reply) { Render.print(Render.block(reply.partner)) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one partner (GetPartner).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The partner id.") var partner: String

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.GetPartner.self, .init(partner: partner))
                if !s.printJSON(reply) { Render.print(Render.block(reply.partner)) }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the partners you may see (ListPartners).")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.ListPartners.self)
                if s.printJSON(reply) { return }
                var table = TextTable(["ID", "NAME", "KIND", "PROVIDER", "OEM DIRECT API", "CREATED"])
                for p in reply.partners {
                    table.append([p.id, p.name, p.kind.rawValue, Render.text(p.provider), Render.yesNo(p.oemDirectApi),
                                  p.createdAt.rfc3339])
                }
                Render.print(table)
            }
        }
    }
}
