import ArgumentParser

/// `autopilotctl`: the command-line client of `autopilotd` for people and scripts.
@main
struct Autopilotctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autopilotctl",
        abstract: "Manage Windows Autopilot customer consent and device registration through autopilotd.",
        discussion: """
            Every command talks to the daemon over its varlink socket: --socket PATH (before or after the \
            command), else $AUTOPILOT_SOCKET, \
            else your own daemon's socket under $XDG_RUNTIME_DIR/autopilotd if it exists, else \
            /run/autopilotd/io.autopilotd.registry. Output is plain aligned text; --json prints the daemon's reply \
            parameters exactly as received (streams as a JSON array).

            Exit codes:
              0   success
              1   the daemon refused the call (its error name and an explanation
                  are printed), or audit verify found a broken chain
              2   devices import/validate: some rows failed (each is reported
                  with its line number); devices export: some devices could
                  not be written in the chosen form (each is named)
              3   consent verify --require, devices validate: no consent
              64  bad command line
              65  bad input caught locally (wrong CSV header, no readable row);
                  nothing was sent
              66  the input file cannot be opened
              67  access add: no such user or group on this system
              69  cannot connect to autopilotd (is it running?)
              73  the output file cannot be created
              76  the daemon sent a bad reply or closed the connection
              77  permission denied on the daemon's socket
            """,
        groupedSubcommands: [
            CommandGroup(name: "Directory", subcommands: [TenantCommand.self, AccountCommand.self, PartnerCommand.self]),
            CommandGroup(name: "Consent", subcommands: [
                ConsentCommand.self, CustomersCommand.self, GrantsCommand.self, RevocationCommand.self,
            ]),
            CommandGroup(name: "Devices", subcommands: [DevicesCommand.self, BatchCommand.self]),
            CommandGroup(name: "Access, audit and service", subcommands: [
                AccessCommand.self, AuditCommand.self, BackupCommand.self, StatusCommand.self, WhoAmICommand.self,
            ]),
        ]
    )

    static func main() {
        main(GlobalOptions.movedAfterTheCommand(Array(CommandLine.arguments.dropFirst())))
    }
}
