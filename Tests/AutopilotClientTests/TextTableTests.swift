import AutopilotClient
import Testing

@Suite struct TextTableTests {
    @Test func columnsAlignToTheWidestCell() {
        var table = TextTable(["ID", "NAME", "DOMAIN"])
        table.append(["t1", "Contoso", "contoso.onmicrosoft.com"])
        table.append(["tenant-22", "Fabrikam Ltd", "fab.onmicrosoft.com"])
        #expect(table.render() == """
            ID         NAME          DOMAIN
            t1         Contoso       contoso.onmicrosoft.com
            tenant-22  Fabrikam Ltd  fab.onmicrosoft.com

            """)
    }

    @Test func rightAlignedColumnsPadOnTheLeft() {
        var table = TextTable(["BATCH", "FAILED", "NOTE"], right: [1])
        table.append(["b1", "7", "x"])
        table.append(["b2", "1200", "y"])
        #expect(table.lines() == [
            "BATCH  FAILED  NOTE",
            "b1          7  x",
            "b2       1200  y",
        ])
    }

    @Test func noLineEndsInSpacesAndMissingCellsAreEmpty() {
        var table = TextTable(["A", "B", "LONG HEADER"])
        table.append(["1"])
        table.append(["2", "two", "", "dropped"])
        let lines = table.lines()
        #expect(lines == ["A  B    LONG HEADER", "1", "2  two"])
        #expect(lines.allSatisfy { !$0.hasSuffix(" ") })
    }

    @Test func emptyTablePrintsTheHeader() {
        #expect(TextTable(["ID", "NAME"]).render() == "ID  NAME\n")
    }

    @Test func streamingTableChoosesWidthsFromTheSampleAndThenWritesAtOnce() {
        final class Sink { var lines: [String] = [] }
        let sink = Sink()
        var table = StreamingTable(["ID", "SERIAL"], sample: 2) { sink.lines.append($0) }
        table.append(["d1", "S"])
        #expect(sink.lines.isEmpty)
        table.append(["device-2", "SN-22"])
        #expect(sink.lines == ["ID        SERIAL\n", "d1        S\n", "device-2  SN-22\n"])
        table.append(["a-much-longer-id", "X"])
        #expect(sink.lines.last == "a-much-longer-id  X\n")
        table.finish()
        #expect(sink.lines.count == 4)
        #expect(table.count == 3)
    }

    @Test func streamingTableFlushesAShortSampleAtFinish() {
        final class Sink { var text = "" }
        let sink = Sink()
        var table = StreamingTable(["SEQ", "METHOD"], right: [0]) { sink.text += $0 }
        table.append(["9", "AcceptLink"])
        table.append(["10", "AddDevices"])
        #expect(sink.text.isEmpty)
        table.finish()
        #expect(sink.text == "SEQ  METHOD\n  9  AcceptLink\n 10  AddDevices\n")
    }

    @Test func keyValueBlockAlignsValues() {
        var block = KeyValueBlock([("id", "t1"), ("created", "2026-01-01T00:00:00.000Z")])
        block.append("provider", nil, ifPresent: true)
        block.append("via", nil, ifPresent: false)
        #expect(block.render() == """
            id:      t1
            created: 2026-01-01T00:00:00.000Z
            via:     -

            """)
    }
}
