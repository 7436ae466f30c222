import AutopilotDomain
import Crypto
import Foundation
import GRDB

/// Where the next page of `listDevices` starts: the last row sent, by registration time and row id.
public struct DeviceCursor: Sendable, Hashable {
    var registeredAt: String
    var rowid: Int64
}

/// Device batches, registrations, deregistration and the dry run of a submission.
extension RegistryStore {
    /// Devices read per `listDevices` page (one short read transaction each).
    public static let deviceListPageSize = 500

    /// Opens a batch for `partner` to register devices in `tenant` through `channel`. Its name must be new among the
    /// partner's batches for the tenant, compared ignoring ASCII case (the unique index `batches_unique_name`).
    /// - Throws: `NotFound` (partner, tenant), `ChannelNotAllowed`, `OemNotEligible`, `ConsentRequired`,
    ///   `InvalidInput(name)`, `AlreadyExists(batch)` naming the name.
    public func createDeviceBatch(_ context: OperationContext, partner: String, tenant: String, name: String,
                                  channel: Channel) async throws -> Batch {
        try await change(context) { tx in
            let p = try tx.requirePartner(partner)
            try Self.requireTenantExists(tx, tenant)
            try DeviceRules.checkChannel(kind: p.kind, channel: channel)
            try Self.requireConsent(tx, partner: p, tenant: tenant)
            let name = try Validate.name(name)
            if try Bool.fetchOne(tx.db, sql: """
                SELECT 1 FROM batches
                WHERE partner_id = ? AND tenant_id = ? AND name = ? COLLATE NOCASE AND duplicate_name_of IS NULL
                """, arguments: [partner, tenant, name]) != nil {
                throw RegistryError.alreadyExists(kind: "batch", id: name)
            }
            let batch = Batch(id: newID(), name: name, partner: partner, tenant: tenant, channel: channel,
                              createdAt: tx.now, submitted: 0, registered: 0, failed: 0)
            tx.target("batch", batch.id)
            try tx.db.execute(sql: """
                INSERT INTO batches (id, name, partner_id, tenant_id, channel, created_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [batch.id, name, partner, tenant, channel.rawValue, tx.now.rfc3339])
            return batch
        }
    }

    /// Registers 1 to 1,000 devices in an `api` batch, in one transaction. Each device gets a result, indexed from
    /// the batch's count of devices submitted so far; a device that breaks a rule fails alone. With `updateExisting`,
    /// a device already registered to the batch's tenant takes the group tag and assigned user the input states
    /// (result `updated`) instead of failing with 806.
    /// - Throws: `NotFound(batch)`, `PermissionDenied` (another partner's batch), `ChannelNotAllowed` (an `upload`
    ///   batch), `OemNotEligible`, `ConsentRequired` (consent ended since the batch was opened), `BatchTooLarge`,
    ///   `InvalidInput(devices)`.
    public func addDevices(_ context: OperationContext, batch id: String, devices: [DeviceInput],
                           updateExisting: Bool = false) async throws -> BatchResults {
        try await register(context, batch: id, channel: .api, updateExisting: updateExisting) {
            try DeviceRules.checkCount(devices.count)
            var remaining = devices[...]
            return SubmissionEntries { remaining.popFirst().map { SubmissionEntry(input: .success($0), line: nil) } }
        }
    }

    /// Registers the rows of a device CSV upload (its header line, then 1 to 1,000 data rows) in an `upload` batch,
    /// in one transaction, parsed by the same reader as `autopilotctl`'s. `line` is the file line of the header, so
    /// each result carries the file line of its row; a row that cannot be read is a failed result (801) on its line.
    /// With `updateExisting`, as `addDevices`: a Group Tag or Assigned User cell left empty clears the device's, and
    /// a column the form lacks leaves it alone (`DeviceCSV.Format.stating`).
    /// - Throws: as `addDevices`, with `ChannelNotAllowed` for an `api` batch, `InvalidInput(csv)` for a missing or
    ///   unknown header or no data rows, `InvalidInput(line)` for a line below 1.
    public func uploadDeviceCsv(_ context: OperationContext, batch id: String, csv: String, line: Int?,
                                updateExisting: Bool = false) async throws -> BatchResults {
        try await register(context, batch: id, channel: .upload, updateExisting: updateExisting) {
            let headerLine = line ?? 1
            guard headerLine >= 1 else { throw RegistryError.invalidInput(field: "line", reason: "must be 1 or more") }
            var reader: DeviceCSV.RowReader
            do {
                reader = try DeviceCSV.RowReader(text: csv, headerLine: headerLine)
            } catch {
                throw RegistryError.invalidInput(field: "csv", reason: "\(error)")
            }
            guard let first = reader.next() else {
                throw RegistryError.invalidInput(field: "csv", reason: "has no data rows after its header; send 1 to "
                    + "\(DeviceRules.maxDevicesPerCall) rows per call")
            }
            // Rows are read as they are registered; a 1,001st row rolls the whole call back (BatchTooLarge).
            var pending: DeviceCSV.Row? = first, count = 0
            let format = reader.format
            return SubmissionEntries {
                guard let row = pending ?? reader.next() else { return nil }
                pending = nil
                count += 1
                try DeviceRules.checkCount(count)
                let input = updateExisting ? row.result.map(format.stating) : row.result
                return SubmissionEntry(input: input.mapError { DeviceRejection(.invalidZtdRequestBody, $0.reason) },
                                       line: row.line)
            }
        }
    }

    /// The one path that registers devices: checks the batch, its channel and consent, then evaluates and registers
    /// each entry `entries` returns (called inside the transaction, after those checks, so that a value rule it
    /// breaks comes after the state checks, as interface.md orders errors).
    private func register(_ context: OperationContext, batch id: String, channel: Channel, updateExisting: Bool,
                          _ entries: @escaping @Sendable () throws -> SubmissionEntries) async throws
        -> BatchResults
    {
        try await change(context) { tx in
            var batch = try Self.requireBatch(tx, id)
            try tx.caller.requirePartner(batch.partner, tx.method)
            tx.target("partner", batch.partner)
            tx.target("tenant", batch.tenant)
            guard let partner = try Fetch.partner(tx.db, batch.partner) else {
                throw RegistryError.notFound(kind: "partner", id: batch.partner)
            }
            if batch.channel != channel { throw RegistryError.channelNotAllowed(kind: partner.kind, channel: channel) }
            try Self.requireConsent(tx, partner: partner, tenant: batch.tenant)
            let submitted = try entries()

            let db = tx.db
            let now = tx.now.rfc3339
            let insertHash = try db.cachedStatement(sql: "INSERT OR IGNORE INTO hardware_hashes (sha256, bytes) VALUES (?, ?)")
            let insertDevice = try db.cachedStatement(sql: """
                INSERT INTO devices (id, tenant_id, partner_id, batch_id, serial_number, product_key, manufacturer, model,
                                     hardware_hash_sha256, group_tag, assigned_user, registered_at, tuple_identifies)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            let insertResult = try db.cachedStatement(sql: """
                INSERT INTO device_results (batch_id, idx, status, device_id, error_code, error_name, message, line)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            var evaluator = SubmissionEvaluator(db: db, tenant: batch.tenant, partnerKind: partner.kind,
                                                updateExisting: updateExisting)
            var results: [DeviceResult] = []
            var registered = 0, updated = 0
            var changes = DeviceChangeLog(tx)
            // Two rows may name one registered device by identifiers they do not share (a product key, a tuple).
            var updatedDevices = Set<String>()
            var count = 0
            while let entry = try submitted.next() {
                let index = batch.submitted + count
                count += 1
                var outcome: Result<SubmissionEvaluator.Candidate, DeviceRejection>
                switch entry.input {
                case let .success(input): outcome = try evaluator.evaluate(input)
                case let .failure(rejection): outcome = .failure(rejection)
                }
                if case let .success(candidate) = outcome, let update = candidate.update,
                   !updatedDevices.insert(update.device).inserted {
                    outcome = .failure(DeviceRejection(.ztdDeviceDuplicated))
                }
                switch outcome {
                case let .success(candidate):
                    if let update = candidate.update {
                        // Not named in the audit event's target, as registered devices are not: a batch may hold 1,000.
                        guard let existing = try Self.fetchDevice(tx.db, update.device) else {
                            throw RegistryError.notFound(kind: "device", id: update.device)
                        }
                        _ = try changes.apply(update.change, to: existing, uploadBatch: batch.id)
                        try insertResult.execute(arguments: [batch.id, index, "updated", existing.id, nil, nil, nil, entry.line])
                        results.append(DeviceResult(index: index, status: .updated, device: existing.id, line: entry.line))
                        updated += 1
                        continue
                    }
                    let d = candidate.device
                    let deviceID = newID()
                    if let bytes = d.hardwareHash, let digest = candidate.keys.hashDigest {
                        try insertHash.execute(arguments: [digest, Data(bytes)])
                    }
                    try insertDevice.execute(arguments: [
                        deviceID, batch.tenant, batch.partner, batch.id, d.serialNumber, d.productKey, d.manufacturer,
                        d.model, candidate.keys.hashDigest, d.groupTag, d.assignedUser, now,
                        d.tupleIdentifies ? 1 : 0,
                    ])
                    try insertResult.execute(arguments: [batch.id, index, "registered", deviceID, nil, nil, nil, entry.line])
                    results.append(DeviceResult(index: index, status: .registered, device: deviceID, line: entry.line))
                    registered += 1
                case let .failure(failure):
                    try insertResult.execute(arguments: [batch.id, index, "failed", nil, failure.code.code,
                                                         failure.code.name, failure.message, entry.line])
                    results.append(DeviceResult(index: index, status: .failed, error: failure.code,
                                                message: failure.message, line: entry.line))
                }
            }
            batch.submitted += count
            batch.registered += registered
            batch.updated += updated
            batch.failed += count - registered - updated
            try db.execute(sql: "UPDATE batches SET submitted = ?, registered = ?, updated = ?, failed = ? WHERE id = ?",
                           arguments: [batch.submitted, batch.registered, batch.updated, batch.failed, batch.id])
            return BatchResults(batch: batch, results: results)
        }
    }

    /// A batch and its device results in index order: all of them, or `limit` from index `from`. Partners see their
    /// own batches, tenants their own.
    /// - Throws: `NotFound(batch)`, `PermissionDenied`, `InvalidInput(from, limit)` for a negative start or a limit
    ///   below 1.
    public func getBatch(_ context: OperationContext, batch id: String, from: Int? = nil,
                         limit: Int? = nil) async throws -> BatchResults {
        try await read(context) { tx in
            let batch = try Self.requireBatch(tx, id)
            try tx.caller.requirePartner(batch.partner, tx.method)
            try tx.caller.requireTenant(batch.tenant, tx.method)
            let from = from ?? 0
            if from < 0 { throw RegistryError.invalidInput(field: "from", reason: "must be 0 or more") }
            if let limit, limit < 1 { throw RegistryError.invalidInput(field: "limit", reason: "must be 1 or more") }
            // The primary key (batch_id, idx) serves both the range and the order.
            let rows = try Row.fetchCursor(tx.db, sql: """
                SELECT idx, status, device_id, error_name, message, line FROM device_results
                WHERE batch_id = ? AND idx >= ? ORDER BY idx LIMIT ?
                """, arguments: [id, from, limit ?? -1])
            var results: [DeviceResult] = []
            results.reserveCapacity(min(limit ?? batch.submitted, max(0, batch.submitted - from)))
            while let row = try rows.next() {
                results.append(DeviceResult(
                    index: row["idx"], status: DeviceResultStatus(rawValue: row["status"]) ?? .failed,
                    device: row["device_id"], error: (row["error_name"] as String?).flatMap(DeviceErrorCode.init(rawValue:)),
                    message: row["message"], line: row["line"]))
            }
            return BatchResults(batch: batch, results: results)
        }
    }

    /// Batches, oldest first, filtered by partner and tenant (the caller's filters are applied by the service).
    public func listBatches(_ context: OperationContext, partner: String?, tenant: String?) async throws -> [Batch] {
        try await read(context) { tx in
            try Row.fetchAll(tx.db, sql: """
                SELECT \(Self.batchColumns) FROM batches
                WHERE (?1 IS NULL OR partner_id = ?1) AND (?2 IS NULL OR tenant_id = ?2)
                ORDER BY created_at, rowid
                """, arguments: [partner, tenant]).map(Self.batch)
        }
    }

    /// One page of devices matching `filter`, after `cursor`, and the cursor of the next page (nil at the end).
    ///
    /// Each page is its own short read, so a stream over a million devices holds neither memory nor the database.
    /// Hash bytes are never read.
    public func listDevices(_ context: OperationContext, filter: DeviceFilter, after cursor: DeviceCursor?,
                            limit: Int = deviceListPageSize) async throws -> (devices: [Device], next: DeviceCursor?) {
        try await read(context) { tx in
            let query = Self.deviceListQuery(filter, after: cursor, limit: limit)
            let rows = try Row.fetchAll(tx.db, sql: query.sql, arguments: query.arguments)
            let devices = rows.map(Self.device)
            let next = rows.count < limit ? nil : rows.last.map {
                DeviceCursor(registeredAt: $0["registered_at"], rowid: $0["rowid"])
            }
            return (devices, next)
        }
    }

    /// The SQL of one `listDevices` page.
    ///
    /// Its order is the order of the index that serves the most selective filter, so that SQLite reads the page
    /// straight from that index and never sorts: id, serial and batch indexes are ordered by rowid within a value; the
    /// tenant, partner, and tenant + partner indexes by registration time (rowid breaks ties within a call).
    static func deviceListQuery(_ filter: DeviceFilter, after cursor: DeviceCursor?,
                                limit: Int) -> (sql: String, arguments: StatementArguments) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let t = filter.tenant { conditions.append("tenant_id = ?"); arguments += [t] }
        if let p = filter.partner { conditions.append("partner_id = ?"); arguments += [p] }
        if let b = filter.batch { conditions.append("batch_id = ?"); arguments += [b] }
        if let s = filter.serialNumber { conditions.append("serial_number = ?"); arguments += [s] }
        if let d = filter.device { conditions.append("id = ?"); arguments += [d] }
        if !filter.includeDeregistered { conditions.append("status = 'registered'") }
        let byTime = filter.serialNumber == nil && filter.batch == nil && filter.device == nil
            && (filter.tenant != nil || filter.partner != nil)
        if let cursor {
            if byTime {
                conditions.append("(registered_at, rowid) > (?, ?)"); arguments += [cursor.registeredAt, cursor.rowid]
            } else {
                conditions.append("rowid > ?"); arguments += [cursor.rowid]
            }
        }
        let order = byTime ? "registered_at, rowid" : "rowid"
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return ("SELECT rowid, \(deviceColumns) FROM devices \(whereClause) ORDER BY \(order) LIMIT \(limit)", arguments)
    }

    /// The dry run of a submission: whether `partner` holds consent from `tenant`, its first active grant, and what
    /// each device would get from `addDevices` (status `valid` or the error), whether or not consent exists.
    /// Writes nothing. Without devices (a consent check), the answer may come from `consentCache` (which a change of
    /// the partner's eligibility empties, as any change of `partners` does).
    /// - Throws: `NotFound` (partner, tenant), `OemNotEligible`, `BatchTooLarge`.
    public func validateSubmission(_ context: OperationContext, partner: String, tenant: String,
                                   devices: [DeviceInput]) async throws
        -> SubmissionCheck
    {
        guard devices.isEmpty else { return try await evaluateSubmission(context, partner: partner, tenant: tenant,
                                                                         devices: devices) }
        if let known = consentCache.answer(partner: partner, tenant: tenant, now: configuration.clock()) {
            return SubmissionCheck(consented: known.consented, grant: known.grant, results: [])
        }
        let generation = consentCache.generation
        let check = try await evaluateSubmission(context, partner: partner, tenant: tenant, devices: [])
        consentCache.remember(ConsentCache.Answer(consented: check.consented, grant: check.grant), partner: partner,
                              tenant: tenant, generation: generation)
        return check
    }

    private func evaluateSubmission(_ context: OperationContext, partner: String, tenant: String,
                                    devices: [DeviceInput]) async throws
        -> SubmissionCheck
    {
        try await read(context) { tx in
            let p = try tx.requirePartner(partner)
            try Self.requireTenantExists(tx, tenant)
            // What registering would answer first: the check exists so that registration brings no surprise.
            try DeviceRules.checkDirectApiEligibility(p)
            try DeviceRules.checkCount(devices.count, allowEmpty: true)
            let grant = try Fetch.activeGrants(tx.db, partner: partner, tenant: tenant, now: tx.now).first
            var evaluator = SubmissionEvaluator(db: tx.db, tenant: tenant, partnerKind: p.kind)
            var results: [DeviceResult] = []
            results.reserveCapacity(devices.count)
            for (index, input) in devices.enumerated() {
                switch try evaluator.evaluate(input) {
                case .success:
                    results.append(DeviceResult(index: index, status: .valid))
                case let .failure(f):
                    results.append(DeviceResult(index: index, status: .failed, error: f.code, message: f.message))
                }
            }
            return SubmissionCheck(consented: grant != nil, grant: grant, results: results)
        }
    }

    // MARK: shared pieces

    static let batchColumns = "id, name, partner_id, tenant_id, channel, created_at, submitted, registered, failed, updated"

    static func batch(_ row: Row) -> Batch {
        Batch(id: row["id"], name: row["name"], partner: row["partner_id"], tenant: row["tenant_id"],
              channel: Channel(rawValue: row["channel"]) ?? .api, createdAt: Timestamp(column: row["created_at"]),
              submitted: row["submitted"], registered: row["registered"], failed: row["failed"], updated: row["updated"])
    }

    static let deviceColumns = """
        id, tenant_id, partner_id, batch_id, serial_number, product_key, manufacturer, model, hardware_hash_sha256,
        group_tag, assigned_user, status, registered_at, deregistered_at, display_name, purchase_order
        """

    static func device(_ row: Row) -> Device {
        Device(id: row["id"], tenant: row["tenant_id"], partner: row["partner_id"], batch: row["batch_id"],
               serialNumber: row["serial_number"], productKey: row["product_key"], manufacturer: row["manufacturer"],
               model: row["model"], hardwareHashSha256: row["hardware_hash_sha256"], groupTag: row["group_tag"],
               assignedUser: row["assigned_user"], status: DeviceStatus(rawValue: row["status"]) ?? .registered,
               registeredAt: Timestamp(column: row["registered_at"]),
               deregisteredAt: (row["deregistered_at"] as String?).timestamp, displayName: row["display_name"],
               purchaseOrder: row["purchase_order"])
    }

    /// The batch with this id, or `NotFound(batch)`.
    static func requireBatch(_ tx: Transaction, _ id: String) throws -> Batch {
        tx.target("batch", id)
        guard let row = try Row.fetchOne(tx.db.cachedStatement(sql: "SELECT \(batchColumns) FROM batches WHERE id = ?"),
                                         arguments: [id])
        else { throw RegistryError.notFound(kind: "batch", id: id) }
        return batch(row)
    }

    /// `NotFound(tenant)` unless the tenant exists (one indexed lookup, without reading its domains).
    static func requireTenantExists(_ tx: Transaction, _ id: String) throws {
        tx.target("tenant", id)
        if try !Fetch.tenantExists(tx.db, id) { throw RegistryError.notFound(kind: "tenant", id: id) }
    }

    /// The gate for registering: an OEM must be eligible for the Direct API, and every partner needs an active grant.
    static func requireConsent(_ tx: Transaction, partner: Partner, tenant: String) throws {
        try DeviceRules.checkDirectApiEligibility(partner)
        guard try Fetch.hasActiveGrant(tx.db, partner: partner.id, tenant: tenant) else {
            throw RegistryError.consentRequired(partner: partner.id, tenant: tenant)
        }
    }
}

/// The devices of one submission, made one at a time as they are registered (a CSV upload's rows are read from its
/// text as they go, so its 1,000 devices are never all held at once).
struct SubmissionEntries {
    /// The next device, nil after the last; throws to roll the call back (`BatchTooLarge` at a 1,001st row).
    var next: () throws -> SubmissionEntry?
}

/// One device of a submission and the file line of its row (nil through `AddDevices`); a CSV row that could not be
/// read is already a rejection.
struct SubmissionEntry: Sendable {
    var input: Result<DeviceInput, DeviceRejection>
    var line: Int?
}

/// Applies the per-device rules to the devices of one submission, in order: the identifier rules (which read the
/// machine out of a hardware hash), the assigned user's domain, repeats within the submission, then matches
/// against registered devices (one indexed lookup per identifier). `addDevices`, `uploadDeviceCsv` and
/// `validateSubmission` share it, so a dry run answers exactly what a real call would.
struct SubmissionEvaluator {
    /// A device that may be registered, or (with `updateExisting`) the registered device of the same tenant it is
    /// and the change the submission states for it.
    struct Candidate {
        var device: NormalizedDevice
        var keys: DeviceKeys
        var update: (device: String, change: DevicePropertyChange)? = nil
    }

    let db: Database
    let tenant: String
    let partnerKind: PartnerKind
    /// Whether a device already registered to `tenant` is a candidate for an update instead of 806.
    let updateExisting: Bool
    private var tenantDomains: Set<String>?
    private var tracker = SubmissionTracker()

    init(db: Database, tenant: String, partnerKind: PartnerKind, updateExisting: Bool = false) {
        self.db = db; self.tenant = tenant; self.partnerKind = partnerKind; self.updateExisting = updateExisting
    }

    mutating func evaluate(_ input: DeviceInput) throws -> Result<Candidate, DeviceRejection> {
        let device: NormalizedDevice
        switch DeviceRules.normalize(input, partnerKind: partnerKind) {
        case let .success(d): device = d
        case let .failure(rejection): return .failure(rejection)
        }
        var hashDigest: String?
        if let bytes = device.hardwareHash {
            let digests = HashDigests(bytes, recordsEnd: device.hashInfo?.recordsEnd ?? bytes.count)
            if let info = device.hashInfo, let problem = HardwareHash.checksumProblem(info, digest: digests.records) {
                return .failure(DeviceRejection(.invalidZtdHardwareHash, "the hardware hash is \(problem.reason)"))
            }
            hashDigest = digests.whole
        }
        if device.assignedUser != nil {
            if tenantDomains == nil {
                tenantDomains = Set(try String.fetchAll(
                    db, sql: "SELECT domain FROM tenant_domains WHERE tenant_id = ?", arguments: [tenant]))
            }
            if let code = DeviceRules.checkAssignedUser(device, tenantDomains: tenantDomains!) {
                return .failure(DeviceRejection(code, "assigned user \(device.assignedUser!) is not in a domain of the tenant"))
            }
        }
        let keys = DeviceKeys(device, hashDigest: hashDigest)
        if tracker.isRepeat(keys) { return .failure(DeviceRejection(.ztdDeviceDuplicated)) }
        var matches: [String: String] = [:]
        var foundBy: [String] = []
        func record(_ match: (id: String, tenant: String)?, _ identifier: @autoclosure () -> String) {
            guard let match else { return }
            matches[match.id] = match.tenant
            foundBy.append(identifier())
        }
        // Read straight from SQLite (RawRows.swift): GRDB's row cursor cost two thirds of each lookup's instructions,
        // and a submission makes one to three lookups per device. Columns by position: `SELECT id, tenant_id`.
        if let digest = keys.hashDigest {
            record(try db.rawSelectOne(Self.matchByHash, digest, row: Self.idAndTenant), "hardware hash")
        }
        if let key = keys.productKey {
            record(try db.rawSelectOne(Self.matchByProductKey, key, row: Self.idAndTenant), "product key \(key)")
        }
        if let t = keys.tuple {
            record(try db.rawSelectOne(Self.matchByTuple, t.manufacturer, t.model, t.serialNumber, row: Self.idAndTenant),
                   "manufacturer, model and serial number \(t.serialNumber)")
        }
        guard let code = DeviceRules.matchOutcome(matches, tenant: tenant) else {
            return .success(Candidate(device: device, keys: keys))
        }
        if code == .ztdDeviceAlreadyAssigned && updateExisting, let existing = matches.keys.first {
            return .success(Candidate(device: device, keys: keys, update: (
                existing, DeviceRules.updateFromSubmission(input, normalized: device))))
        }
        // Which registration matched, and by what: the device's id only when it is in the caller's own tenant.
        let by = "matched by its " + foundBy.joined(separator: " and ")
        let message: String
        switch code {
        case .ztdDeviceAlreadyAssigned: message = "\(code.explanation): device \(matches.keys.first!), \(by)"
        default: message = "\(code.explanation), \(by)"
        }
        return .failure(DeviceRejection(code, message))
    }

    /// The registered device with an identifier: each query is served by one of the partial unique indexes of
    /// `devices`, so a submission costs three index lookups per device however many devices are registered.
    static let matchByHash = "SELECT id, tenant_id FROM devices WHERE hardware_hash_sha256 = ? AND status = 'registered'"
    static let matchByProductKey = "SELECT id, tenant_id FROM devices WHERE product_key = ? AND status = 'registered'"
    static let matchByTuple = """
        SELECT id, tenant_id FROM devices
        WHERE manufacturer = ? AND model = ? AND serial_number = ? AND status = 'registered' AND tuple_identifies = 1
        """

    /// The matched device's id and tenant, from a row of the match queries.
    static func idAndTenant(_ columns: RawColumns) -> (id: String, tenant: String) {
        (columns.string(0), columns.string(1))
    }

}

/// Why a decoded hash's checksum (the SHA-256 of its records, in its trailer) does not match its bytes, if it does not.
func checksumProblem(_ bytes: [UInt8], _ info: HardwareHashInfo) -> HardwareHashProblem? {
    HardwareHash.checksumProblem(info, digest: HashDigests(bytes, recordsEnd: info.recordsEnd).records)
}

/// The two SHA-256 digests of a submitted hardware hash, from one pass over its bytes: of its records, which the
/// checksum in its trailer must equal, and of all its bytes, the registry's key for it (`hardware_hashes.sha256`,
/// `devices.hardware_hash_sha256`). Hashing the bytes twice was a fifth of the instructions an imported device cost.
struct HashDigests {
    /// SHA-256 of the bytes before `recordsEnd`.
    let records: [UInt8]
    /// Lowercase hex SHA-256 of all the bytes.
    let whole: String

    init(_ bytes: [UInt8], recordsEnd: Int) {
        let end = max(0, min(recordsEnd, bytes.count))
        var hasher = SHA256()
        hasher.update(data: bytes[..<end])
        // `finalize` reads a copy of the state: the hasher goes on with the rest of the bytes.
        records = Array(hasher.finalize())
        hasher.update(data: bytes[end...])
        whole = Hex.lowercase(hasher.finalize())
    }
}
