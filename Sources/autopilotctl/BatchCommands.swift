import ArgumentParser
import AutopilotClient
import AutopilotDomain
import AutopilotInterface
import Varlink

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
                let reply = try s.call(Registry.ListBatches.self, .init(partner: partner, tenant: tenant))
                if s.printJSON(reply) { return }
                var table = TextTable(["ID", "NAME", "PARTNER", "TENANT", "CHANNEL", "STATUS", "SUBMITTED", "REGISTERED",
                                       "UPDATED", "FAILED", "CREATED"], right: [6, 7, 8, 9])
                for b in reply.batches {
                    table.append([b.id, b.name, b.partner, b.tenant, b.channel.rawValue, b.status.rawValue,
                                  String(b.submitted), String(b.registered), String(b.updated), String(b.failed),
                                  b.createdAt.rfc3339])
                }
                Render.print(table)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a batch and every device's result, in submission order (GetBatch).",
            discussion: """
                Results are read in pages of \(pageSize) (GetBatch with from and limit) and printed as they arrive, \
                so batches of any size can be shown. --json prints {batch, results} as one GetBatch reply would.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The batch id.") var batch: String

        /// Results per GetBatch call: a page stays far below the 16 MiB message limit.
        static let pageSize = 5000

        func run() throws {
            try global.run { s in
                let first = try s.call(Registry.GetBatch.self, .init(batch: batch, from: 0, limit: Self.pageSize))
                var json: [JSONValue] = []
                var table = StreamingTable(Render.resultHeaders, right: [0, 1, 4]) { Output.write($0) }
                if !s.json {
                    Render.print(Render.block(first.batch))
                    Output.out("")
                }
                var page = first.results
                while true {
                    if s.json { json += page.map(\.wire) }
                    else { for r in page { table.append(Render.row(r)) } }
                    guard page.count == Self.pageSize, let last = page.last else { break }
                    page = try s.call(Registry.GetBatch.self, .init(batch: batch, from: last.index + 1, limit: Self.pageSize))
                        .results
                }
                if s.json {
                    Output.out(JSON.prettyPrint(.object(["batch": first.batch.wire, "results": .array(json)])))
                } else {
                    table.finish()
                }
            }
        }
    }
}
