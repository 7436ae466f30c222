import ArgumentParser
import AutopilotClient
import AutopilotDomain

struct BatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Look at device batches and the result of every device in them.",
        subcommands: [List.self, Show.self]
    )

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List batches (ListBatches); partners and tenants see their own.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this partner's batches.") var partner: String?
        @Option(help: "Only batches for this tenant.") var tenant: String?

        func run() throws {
            try global.run { s in
                let batches = try s.client.listBatches(partner: partner, tenant: tenant)
                if s.printJSONReply() { return }
                var table = TextTable(["ID", "NAME", "PARTNER", "TENANT", "CHANNEL", "STATUS", "SUBMITTED", "REGISTERED",
                                       "FAILED", "CREATED"], right: [6, 7, 8])
                for b in batches {
                    table.append([b.id, b.name, b.partner, b.tenant, b.channel.rawValue, b.status.rawValue,
                                  String(b.submitted), String(b.registered), String(b.failed), b.createdAt.rfc3339])
                }
                Render.print(table)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a batch and every device's result, in submission order (GetBatch).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The batch id.") var batch: String

        func run() throws {
            try global.run { s in
                let b = try s.client.getBatch(batch)
                if s.printJSONReply() { return }
                Render.print(Render.block(b.batch))
                Output.out("")
                var table = TextTable(Render.resultHeaders, right: [0, 3])
                for r in b.results { table.append(Render.row(r)) }
                Render.print(table)
            }
        }
    }
}
