#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import AutopilotClient
import AutopilotDomain
import AutopilotInterface

struct AccessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract: "Access rules: which Unix users and groups hold which role.",
        discussion: """
            The daemon identifies callers by their Unix credentials. root and the daemon's own user are always \
            operators; a caller no rule matches has role none; a user rule wins over group rules. Roles: operator, \
            auditor, partner (with --partner: the one partner it acts for), tenant (with --tenant, and --account: the \
            person's own account of that tenant, which the caller then is and acts as). A tenant rule without \
            --account covers the whole tenant for reads only: such a caller cannot accept links, end relationships \
            or file revocation requests as any account.
            """,
        subcommands: [Add.self, Remove.self, List.self]
    )

    /// A tenant rule's account, or what a rule without one means.
    static func account(_ rule: AccessRule) -> String { rule.account ?? "(whole tenant: reads only)" }

    /// The roles an access rule may grant (`none` is what no rule means).
    enum RuleRole: String, ExpressibleByArgument, CaseIterable {
        case `operator`, auditor, partner, tenant
        var callerRole: CallerRole { CallerRole(rawValue: rawValue)! }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a rule for one user or one group (operator only).",
            discussion: """
                --user and --group take a name, resolved on this machine, or a number used as is. Examples:
                  autopilotctl access add --user alice --role partner --partner woodgrove
                  autopilotctl access add --user carol --role tenant --tenant contoso --account carol@contoso.onmicrosoft.com
                  autopilotctl access add --group autopilot-audit --role auditor
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "A user name or uid.") var user: String?
        @Option(help: "A group name or gid.") var group: String?
        @Option(help: "operator, auditor, partner or tenant.") var role: RuleRole
        @Option(help: "For a partner rule: the partner id.") var partner: String?
        @Option(help: "For a tenant rule: the tenant id.") var tenant: String?
        @Option(help: ArgumentHelp("For a tenant rule: the person's own account (UPN) of that tenant, which the caller acts as.",
                                   valueName: "upn"))
        var account: String?

        func validate() throws {
            if (user == nil) == (group == nil) { throw ValidationError("give exactly one of --user or --group") }
        }

        func run() throws {
            var uid: UInt32?
            var gid: UInt32?
            do {
                if let user { uid = try UnixNames.uid(user) }
                if let group { gid = try UnixNames.gid(group) }
            } catch {
                throw ExitStatus.report(error, socket: global.socketPath)
            }
            try global.run { s in
                let reply = try s.call(Registry.AddAccessRule.self, .init(
                    uid: uid.map(Int.init), gid: gid.map(Int.init), role: role.callerRole, partner: partner, tenant: tenant,
                    account: account))
                if !s.printJSON(reply) { Render.print(block(reply.rule)) }
            }
        }

        func block(_ rule: AccessRule) -> KeyValueBlock {
            var b = KeyValueBlock([("id", rule.id)])
            if let uid = rule.uid { b.append("user", UnixNames.describeUser(uid)) }
            if let gid = rule.gid { b.append("group", UnixNames.describeGroup(gid)) }
            b.append("role", rule.role.rawValue)
            b.append("partner", rule.partner, ifPresent: true)
            b.append("tenant", rule.tenant, ifPresent: true)
            if rule.role == .tenant { b.append("account", AccessCommand.account(rule)) }
            b.append("created", rule.createdAt.rfc3339)
            return b
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an access rule (operator only).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The rule id.") var rule: String

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.RemoveAccessRule.self, .init(rule: rule))
                if !s.printJSON(reply) { Output.out("removed access rule \(rule)") }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the access rules in force, with user and group names where this machine knows them.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try global.run { s in
                let reply = try s.call(Registry.ListAccessRules.self)
                if s.printJSON(reply) { return }
                var table = TextTable(["ID", "USER", "GROUP", "ROLE", "PARTNER", "TENANT", "ACCOUNT", "CREATED"])
                for r in reply.rules {
                    table.append([r.id, r.uid.map(UnixNames.describeUser) ?? "-", r.gid.map(UnixNames.describeGroup) ?? "-",
                                  r.role.rawValue, Render.text(r.partner), Render.text(r.tenant),
                                  r.role == .tenant ? AccessCommand.account(r) : "-", r.createdAt.rfc3339])
                }
                Render.print(table)
            }
        }
    }
}

/// Unix user and group names from the system's databases (getpwnam, getgrnam and their reverse).
enum UnixNames {
    /// The uid of a user name, or the number itself. - Throws: ``CLIError`` when no such user exists.
    static func uid(_ nameOrNumber: String) throws -> UInt32 {
        try id(nameOrNumber, of: "user", "uid") { getpwnam($0).map { UInt32($0.pointee.pw_uid) } }
    }

    /// The gid of a group name, or the number itself. - Throws: ``CLIError`` when no such group exists.
    static func gid(_ nameOrNumber: String) throws -> UInt32 {
        try id(nameOrNumber, of: "group", "gid") { getgrnam($0).map { UInt32($0.pointee.gr_gid) } }
    }

    /// `alice (1000)`, or just `1000` when the uid has no name here.
    static func describeUser(_ uid: UInt32) -> String {
        describe(uid, name: getpwuid(uid_t(uid))?.pointee.pw_name)
    }

    /// `staff (50)`, or just `50` when the gid has no name here.
    static func describeGroup(_ gid: UInt32) -> String {
        describe(gid, name: getgrgid(gid_t(gid))?.pointee.gr_name)
    }

    /// A number as given, or the id `lookup` finds for a name. - Throws: ``CLIError`` naming the `kind` (user, group)
    /// and its `number` (uid, gid) when the system knows no such name.
    private static func id(_ nameOrNumber: String, of kind: String, _ number: String,
                           lookup: (String) -> UInt32?) throws -> UInt32 {
        if let n = UInt32(nameOrNumber) { return n }
        guard let id = lookup(nameOrNumber) else {
            throw CLIError(
                "no \(kind) named '\(nameOrNumber)' on this system (give a name it knows, or a numeric \(number))",
                code: ExitStatus.noUser)
        }
        return id
    }

    /// `name (id)`, or just the id when it has no name here.
    private static func describe(_ id: UInt32, name: UnsafeMutablePointer<CChar>?) -> String {
        guard let name else { return String(id) }
        return "\(String(cString: name)) (\(id))"
    }
}
