import AutopilotClient
import Foundation
import Testing
import Varlink

/// The audit log's head through the real daemon and autopilotctl: events cut from the end of the log behind the
/// triggers' back pass the hash chain, and are found by a head recorded earlier or witnessed in the daemon's log.
@Suite(.serialized, .ownThread) struct AuditHeadEndToEndTests {
    func head(_ daemon: TestDaemon) throws -> String {
        let r = try daemon.ctl(["audit", "head"])
        #expect(r.status == 0, "\(r)")
        let line = r.stdout.split(separator: "\n").first { $0.hasPrefix("head:") } ?? ""
        return line.split(separator: " ").last.map(String.init) ?? ""
    }

    @Test func aCutTailPassesTheChainButNotARecordedHeadNorTheDaemonsLog() throws {
        let first = try TestDaemon()
        let directory = first.directory
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try first.addTenant("contoso")
        let early = try head(first)
        try first.addPartner("woodgrove", kind: "directCsp")
        try first.giveConsent(partner: "woodgrove", kind: "directCsp", tenant: "contoso")
        // The head an auditor records at a review, and what --json gives for it.
        let recorded = try head(first)
        let json = try JSON.parse(try first.ctl(["audit", "head", "--json"]).stdout).objectValue
        #expect("\(json?["seq"]?.intValue ?? -1):\(json?["hash"]?.stringValue ?? "")" == recorded)
        let recordedSeq = Int(recorded.split(separator: ":")[0]) ?? 0
        #expect(recordedSeq >= 5)
        try first.addPartner("adatum", kind: "directCsp")
        #expect(try first.ctl(["audit", "verify", "--head", recorded]).stdout.contains("still holds the head \(recorded)"))
        first.stop()
        // The daemon witnessed its heads in its own log: at start and at stop.
        let log = directory + "/autopilotd.log"
        try first.log.write(toFile: log, atomically: true, encoding: .utf8)
        let witnessed = first.log.split(separator: "\n").filter { $0.contains("audit log head head=") }
        #expect(witnessed.count == 2 && witnessed[0].contains("when=at start") && witnessed[1].contains("when=at stop"),
                "\(witnessed)")

        // Someone with write access to the file drops the trigger and cuts the log's last events, the recorded one
        // included; the daemon starts again and appends after what is left.
        _ = try sqlite(first.database, "DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq > \(recordedSeq - 2)")
        let daemon = try TestDaemon(directory: directory)
        defer { daemon.stop() }
        try daemon.addPartner("northwind", kind: "directCsp")

        let plain = try daemon.ctl(["audit", "verify"])
        #expect(plain.status == 0 && plain.stdout.hasPrefix("ok: the audit chain of"), "the chain alone cannot see a cut end: \(plain)")
        let against = try daemon.ctl(["audit", "verify", "--head", recorded])
        #expect(against.status == 1 && against.stdout.hasPrefix("broken:"), "\(against)")
        #expect(against.stderr.contains("the log no longer holds the head \(recorded): event \(recordedSeq) has another hash")
                || against.stderr.contains("event \(recordedSeq) is missing"), "\(against)")
        let fromLog = try daemon.ctl(["audit", "verify", "--head-from-log", log])
        #expect(fromLog.status == 1 && fromLog.stderr.contains("the log no longer holds the head"), "\(fromLog)")
        let fromStdin = try daemon.ctl(["audit", "verify", "--head-from-log", "-"], stdin: try String(contentsOfFile: log, encoding: .utf8))
        #expect(fromStdin.status == 1, "\(fromStdin)")
        let json2 = try JSON.parse(try daemon.ctl(["audit", "verify", "--head", recorded, "--json"]).stdout).objectValue
        #expect(json2?["ok"] == false && json2?["headMissing"] == true && json2?["firstBroken"] == .null)

        // A head the log still holds passes, and so does the script of docs/auditing.md given it; given the cut
        // head, the script fails too.
        let kept = try daemon.ctl(["audit", "verify", "--head", early])
        #expect(kept.status == 0 && kept.stdout.contains("still holds the head \(early)"), "\(kept)")
        let script = try auditingGuideScript()
        let scriptKept = try runProgram("/usr/bin/python3", ["-", daemon.database, early], stdin: script)
        #expect(scriptKept.status == 0 && scriptKept.stdout.hasPrefix("ok: "), "\(scriptKept)")
        let scriptCut = try runProgram("/usr/bin/python3", ["-", daemon.database, recorded], stdin: script)
        #expect(scriptCut.status == 1 && scriptCut.stderr.contains("head \(recordedSeq) missing"), "\(scriptCut)")

        // What is not a head is refused, naming the field; a log without heads says so.
        let raw = try daemon.callError("VerifyAudit", ["head": "412"])
        #expect(raw?.name == "io.autopilotd.registry.InvalidInput" && raw?.parameters["field"] == "head")
        let empty = directory + "/empty.log"
        try "nothing here\n".write(toFile: empty, atomically: true, encoding: .utf8)
        let none = try daemon.ctl(["audit", "verify", "--head-from-log", empty])
        #expect(none.status == 65 && none.stderr.contains("no 'audit log head head=SEQ:HASH' line"), "\(none)")
        #expect(try daemon.ctl(["audit", "verify", "--head", early, "--head-from-log", log]).status == 64)
    }
}

/// The verification script of docs/auditing.md ("Verifying the chain").
func auditingGuideScript() throws -> String {
    let text = try String(contentsOfFile: repositoryRoot + "/docs/auditing.md", encoding: .utf8)
    guard let section = text.components(separatedBy: "\n## Verifying the chain").dropFirst().first,
          let block = section.components(separatedBy: "```python\n").dropFirst().first?.components(separatedBy: "\n```").first
    else { throw TestFailure("docs/auditing.md has no python block under Verifying the chain") }
    return block
}
