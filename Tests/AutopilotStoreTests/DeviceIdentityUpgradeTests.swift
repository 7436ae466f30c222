import AutopilotDomain
@testable import AutopilotStore
import AutopilotTestSupport
import Crypto
import Foundation
import GRDB
import Testing

/// Upgrading a database written before the registry read hardware hashes (schema 7): decoded fields are filled,
/// nothing is deregistered or dropped, and what needs an operator is recorded in device_identity_findings.
@Suite struct DeviceIdentityUpgradeTests {
    /// A schema-7 database file with one tenant, partner and batch, and these devices inserted as version 7 stored
    /// them: (id, serial, manufacturer, model, product key, hash bytes).
    func schema7Database(_ devices: [(String, String?, String?, String?, String?, [UInt8]?)]) throws -> String {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("identity-upgrade-\(UUID().uuidString).sqlite").path
        let queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for migration in embeddedMigrations.prefix(7) {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.sql) }
        }
        try migrator.migrate(queue)
        let at = "2026-11-20T10:00:00.000Z"
        try queue.write { db in
            try db.execute(sql: "INSERT INTO tenants (id, name, created_at) VALUES ('contoso', 'Contoso', ?)", arguments: [at])
            try db.execute(sql: """
                INSERT INTO partners (id, name, kind, oem_direct_api, created_at) VALUES ('woodgrove', 'Woodgrove', 'directCsp', 0, ?)
                """, arguments: [at])
            try db.execute(sql: """
                INSERT INTO batches (id, name, partner_id, tenant_id, channel, created_at) VALUES ('b1', 'old', 'woodgrove', 'contoso', 'api', ?)
                """, arguments: [at])
            for (id, serial, manufacturer, model, key, bytes) in devices {
                var digest: String?
                if let bytes {
                    digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
                    try db.execute(sql: "INSERT OR IGNORE INTO hardware_hashes (sha256, bytes) VALUES (?, ?)",
                                   arguments: [digest, Data(bytes)])
                }
                try db.execute(sql: """
                    INSERT INTO devices (id, tenant_id, partner_id, batch_id, serial_number, product_key, manufacturer,
                                         model, hardware_hash_sha256, registered_at)
                    VALUES (?, 'contoso', 'woodgrove', 'b1', ?, ?, ?, ?, ?, ?)
                    """, arguments: [id, serial, key, manufacturer, model, digest, at])
            }
        }
        try queue.close()
        return path
    }

    func realHashBytes(_ fragment: String, revision: Int? = nil) throws -> [UInt8] {
        let text = try realHash(fragment)
        guard let bytes = Base64.decode(text) else { throw UpgradeTestFailure("\(fragment): not base64") }
        return revision.map { SyntheticHardwareHash.recapture(bytes, revision: $0) } ?? bytes
    }

    @Test func upgradeFillsIdentityFromStoredHashesAndReportsWhatItCannotResolve() throws {
        var junk = [UInt8](repeating: 0, count: 3000)
        var random = SystemRandomNumberGenerator()
        for i in junk.indices { junk[i] = random.next() }
        let path = try schema7Database([
            ("d1-lenovo", "PF5MT6SC", nil, nil, nil, try realHashBytes("ChinwikeOnyia26_")),
            ("d2-lenovo-again", nil, nil, nil, nil, try realHashBytes("ChinwikeOnyia26_", revision: 9999)),
            ("d3-junk", "JUNK-1", nil, nil, nil, junk),
            ("d4-hp-tuple", "5CD349G8VJ", "HP", "HP EliteBook 650 15.6 inch G10 Notebook PC", nil, nil),
            ("d5-hp-hash", "5CD349G8VJ", nil, nil, nil, try realHashBytes("churlbap_ponise__")),
            ("d6-contradicts", "NOT-MY-SERIAL", nil, nil, nil, try realHashBytes("tklawun_PowerShell__")),
            ("d7-qemu", nil, nil, nil, nil, try realHashBytes("AutopilotHWID@8ec586a")),
            ("d8-qemu", nil, nil, nil, nil, try realHashBytes("AutopilotHWID@a5f2af5")),
        ])
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }

        let store = try RegistryStore(configuration: StoreConfiguration(path: path))
        #expect(store.upgradeFindings.count == 4, "\(store.upgradeFindings)")
        #expect(store.upgradeFindings.contains { $0.hasPrefix("device d2-lenovo-again: sameMachine") })
        try store.close()

        let queue = try DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        defer { try? queue.close() }
        try queue.read { db in
            // Nothing was deregistered or dropped.
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM devices WHERE status = 'registered'") == 8)
            let rows = try Row.fetchAll(db, sql: """
                SELECT id, manufacturer, model, serial_number, product_key, tuple_identifies FROM devices ORDER BY id
                """)
            let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0["id"] as String, $0) })
            #expect(byID["d1-lenovo"]?["manufacturer"] == "LENOVO")
            #expect(byID["d1-lenovo"]?["model"] == "21R3001BUK")
            #expect(byID["d1-lenovo"]?["product_key"] == "3556252318653")
            #expect(byID["d1-lenovo"]?["tuple_identifies"] == 1)
            // The second capture of the same laptop stays registered but does not hold the machine's identity.
            #expect(byID["d2-lenovo-again"]?["tuple_identifies"] == 0)
            #expect(byID["d2-lenovo-again"]?["serial_number"] == "PF5MT6SC")
            // The tuple registered first keeps the identity; the hash registered later is reported.
            #expect(byID["d4-hp-tuple"]?["tuple_identifies"] == 1)
            #expect(byID["d5-hp-hash"]?["tuple_identifies"] == 0)
            // A contradiction changes nothing in the row.
            #expect(byID["d6-contradicts"]?["serial_number"] == "NOT-MY-SERIAL")
            #expect(byID["d6-contradicts"]?["manufacturer"] == nil)
            // Two QEMU machines with the placeholder serial are two machines, and nothing to report.
            #expect(byID["d7-qemu"]?["serial_number"] == "SMBIOS_STRING_INDEX_0")
            #expect(byID["d7-qemu"]?["tuple_identifies"] == 0 && byID["d8-qemu"]?["tuple_identifies"] == 0)

            let findings = try Row.fetchAll(db, sql: """
                SELECT device_id, kind, other_device_id, detail FROM device_identity_findings ORDER BY device_id
                """).map { "\($0["device_id"] as String) \($0["kind"] as String) \(($0["other_device_id"] as String?) ?? "-")" }
            #expect(findings.count == 4)
            #expect(findings.contains("d2-lenovo-again sameMachine d1-lenovo"), "\(findings)")
            #expect(findings.contains("d3-junk undecodableHash -"), "\(findings)")
            #expect(findings.contains("d5-hp-hash sameMachine d4-hp-tuple"), "\(findings)")
            #expect(findings.contains("d6-contradicts contradictsHash -"), "\(findings)")
        }
        // A reopened database reports nothing more: the upgrade ran once.
        let reopened = try RegistryStore(configuration: StoreConfiguration(path: path))
        #expect(reopened.upgradeFindings.isEmpty)
        try reopened.close()
    }
}

struct UpgradeTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The hardware hash of the one data row of the real file (../shared/realdata, UTF-16LE) whose name holds `fragment`.
func realHash(_ fragment: String) throws -> String {
    var root = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    let directory = root.deletingLastPathComponent().appendingPathComponent("shared/realdata")
    let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    guard let name = names.first(where: { $0.contains(fragment) }) else {
        throw UpgradeTestFailure("no real file with \(fragment) in \(directory.path)")
    }
    let data = try Data(contentsOf: directory.appendingPathComponent(name))
    guard let text = String(data: data, encoding: .utf16) else { throw UpgradeTestFailure("\(name) is not UTF-16") }
    let row = text.split(whereSeparator: \.isNewline)[1]
    return String(row.split(separator: ",", omittingEmptySubsequences: false)[2])
}
