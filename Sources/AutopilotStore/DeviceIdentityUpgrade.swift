import AutopilotDomain
import Foundation
import GRDB

/// The data step of migration 0008_device_identity: fills the identity of devices registered before the registry
/// read hardware hashes, and records what it finds instead of changing registrations.
///
/// In registration order, each device gets the manufacturer, model, serial number and product key its hash says
/// where it had none, and `tuple_identifies` when its tuple names one machine. A device whose machine is already
/// registered under an earlier device (by tuple or product key) keeps its registration but not the identifying
/// value, and a `sameMachine` finding names both; an operator decides which registration goes.
enum DeviceIdentityUpgrade {
    /// The migration this step follows.
    static let migration = "0008_device_identity"

    /// Runs the step inside the migration's transaction.
    static func run(_ db: Database, now: Timestamp) throws {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT d.id, d.status, d.serial_number, d.product_key, d.manufacturer, d.model, h.bytes
              FROM devices d LEFT JOIN hardware_hashes h ON h.sha256 = d.hardware_hash_sha256
             ORDER BY d.rowid
            """)
        var registeredTuples: [DeviceTuple: String] = [:]
        var registeredKeys: [String: String] = try Dictionary(
            Row.fetchAll(db, sql: "SELECT product_key, id FROM devices WHERE status = 'registered' AND product_key IS NOT NULL")
                .map { ($0[0], $0[1]) }, uniquingKeysWith: { first, _ in first })
        var updates: [(id: String, serial: String?, key: String?, manufacturer: String?, model: String?, identifies: Bool)] = []
        var findings: [(device: String, kind: String, other: String?, detail: String)] = []
        while let row = try rows.next() {
            let id: String = row[0]
            let registered = (row[1] as String) == DeviceStatus.registered.rawValue
            var device = NormalizedDevice(serialNumber: row[2], productKey: row[3], manufacturer: row[4], model: row[5])
            let original = device
            if let bytes = row[6] as Data? {
                switch HardwareHash.decode(bytes: [UInt8](bytes)) {
                case let .failure(problem):
                    findings.append((id, "undecodableHash", nil, "the stored hardware hash is \(problem.reason)"))
                case let .success(info) where checksumProblem([UInt8](bytes), info) != nil:
                    let problem = checksumProblem([UInt8](bytes), info)!
                    findings.append((id, "undecodableHash", nil, "the stored hardware hash is \(problem.reason)"))
                case let .success(info):
                    if let contradiction = DeviceRules.merge(&device, info) {
                        findings.append((id, "contradictsHash", nil, contradiction.message))
                        device = original
                    }
                }
            }
            // The earlier registration of the same machine, by product key or tuple, and which identifier says so.
            var sameAs: (other: String, why: String)?
            if registered, let key = device.productKey, original.productKey == nil {
                if let other = registeredKeys[key] {
                    sameAs = (other, "its hardware hash holds product key \(key), which device \(other) was registered with")
                    device.productKey = nil
                } else {
                    registeredKeys[key] = id
                }
            }
            var identifies = false
            if registered, let tuple = DeviceKeys(device, hashDigest: nil).tuple {
                if let other = registeredTuples[tuple] {
                    sameAs = sameAs ?? (other, "manufacturer '\(tuple.manufacturer)', model '\(tuple.model)' and serial "
                        + "number '\(tuple.serialNumber)' are those of device \(other)")
                } else {
                    registeredTuples[tuple] = id
                    identifies = true
                }
            }
            if let sameAs { findings.append((id, "sameMachine", sameAs.other, sameAs.why)) }
            if device != original || identifies {
                updates.append((id, device.serialNumber, device.productKey, device.manufacturer, device.model, identifies))
            }
        }
        let update = try db.makeStatement(sql: """
            UPDATE devices SET serial_number = ?, product_key = ?, manufacturer = ?, model = ?, tuple_identifies = ?
             WHERE id = ?
            """)
        for u in updates {
            try update.execute(arguments: [u.serial, u.key, u.manufacturer, u.model, u.identifies ? 1 : 0, u.id])
        }
        let insert = try db.makeStatement(sql: """
            INSERT INTO device_identity_findings (found_at, device_id, kind, other_device_id, detail) VALUES (?, ?, ?, ?, ?)
            """)
        for f in findings {
            try insert.execute(arguments: [now.rfc3339, f.device, f.kind, f.other, f.detail])
        }
    }
}
