import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import AutopilotTestSupport
import Foundation
import GRDB

/// Machine `seed` as its hardware hash describes it: serial number `SN-H<seed>` (what `DeviceInput.byHash(seed)`
/// submits), manufacturer Contoso, model Laptop 7, no product key; `bytes` bytes, without a TPM when that is too few
/// for one.
func sampleMachine(_ seed: Int, serialNumber: String? = nil, manufacturer: String = "Contoso", model: String = "Laptop 7",
                   bytes: Int = SyntheticHardwareHash.realByteCount) -> SyntheticHardwareHash {
    var machine = SyntheticHardwareHash(seed: UInt64(truncatingIfNeeded: seed), serialNumber: serialNumber ?? "SN-H\(seed)",
                                        manufacturer: manufacturer, model: model, byteCount: bytes)
    if machine.minimumByteCount > bytes { machine.tpm = nil }
    return machine
}

/// The decoded bytes of `sampleHash`. Fewer bytes than a hash's records need are the start of a whole hash: a hash
/// cut short.
func sampleHashBytes(_ seed: Int, bytes: Int = SyntheticHardwareHash.realByteCount, serialNumber: String? = nil) -> [UInt8] {
    let machine = sampleMachine(seed, serialNumber: serialNumber, bytes: bytes)
    guard machine.minimumByteCount > bytes else { return machine.bytes() }
    return Array(sampleMachine(seed, serialNumber: serialNumber).bytes().prefix(bytes))
}

/// A hardware hash as a file carries it: base64 without padding of `sampleHashBytes` (4,000 characters by default).
func sampleHash(_ seed: Int, bytes: Int = SyntheticHardwareHash.realByteCount, serialNumber: String? = nil) -> String {
    SyntheticHardwareHash.base64(sampleHashBytes(seed, bytes: bytes, serialNumber: serialNumber))
}

/// A hash of machine `seed` that says what `input` says of the machine: its serial number, manufacturer and model
/// (the registry refuses a device whose values contradict its hash).
func sampleHash(_ seed: Int, for input: DeviceInput) -> String {
    sampleMachine(seed, serialNumber: input.serialNumber, manufacturer: input.manufacturer ?? "Contoso",
                  model: input.model ?? "Laptop 7").text()
}

/// A product key (PKID) in the `00329-00000-0003-AA606` style, distinct for each seed.
func sampleProductKey(_ seed: Int) -> String {
    "00329-\(String(format: "%05d", seed % 100_000))-0003-AA606"
}

extension DeviceInput {
    /// A device named by its hardware hash (and the serial number inside it, as the Intune form carries).
    static func byHash(_ seed: Int) -> DeviceInput {
        DeviceInput(serialNumber: "SN-H\(seed)", hardwareHash: sampleHash(seed))
    }

    /// A device named by its product key only.
    static func byProductKey(_ seed: Int) -> DeviceInput {
        DeviceInput(productKey: sampleProductKey(seed))
    }

    /// A device named by manufacturer, model and serial number.
    static func byTuple(_ seed: Int, manufacturer: String = "Contoso", model: String = "Laptop 7") -> DeviceInput {
        DeviceInput(serialNumber: "SN-T\(seed)", manufacturer: manufacturer, model: model)
    }
}

/// A registry set up for device tests, all calls made as the operator:
/// - tenants `contoso` and `fabrikam`, each with a cloud-native Global Administrator `admin@<id>.onmicrosoft.com`;
/// - one partner of each kind: `woodgrove` (direct CSP), `tailspin` (indirect provider), `adatum` (indirect
///   reseller of tailspin), `litware` (OEM eligible for the Direct API).
/// No consent is given until a test asks for it with `consent(_:_:)`.
struct DeviceWorld {
    static let contoso = "contoso", fabrikam = "fabrikam"
    static let csp = "woodgrove", provider = "tailspin", reseller = "adatum", oem = "litware"

    let store: RegistryStore

    /// Builds the world in memory, or in a database file at `path`.
    init(path: String? = nil) async throws {
        // One second later at every reading, so that every transaction has its own time and orders by registration
        // time can be checked.
        let clock = TestClock(1_795_603_561_000, step: 1000)
        store = try RegistryStore(configuration: StoreConfiguration(path: path, clock: { clock.now }))
        for tenant in [Self.contoso, Self.fabrikam] {
            _ = try await store.createTenant(asOperator(Registry.CreateTenant.info), name: tenant.capitalized,
                                             domain: "\(tenant).onmicrosoft.com", id: tenant)
            _ = try await store.addAccount(asOperator(Registry.AddAccount.info), tenant: tenant, upn: Self.admin(tenant),
                                           roles: ["GlobalAdministrator"])
        }
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Woodgrove", kind: .directCsp,
                                            provider: nil, oemDirectApi: false, id: Self.csp)
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Tailspin", kind: .indirectProvider,
                                            provider: nil, oemDirectApi: false, id: Self.provider)
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Adatum", kind: .indirectReseller,
                                            provider: Self.provider, oemDirectApi: false, id: Self.reseller)
        _ = try await store.registerPartner(asOperator(Registry.RegisterPartner.info), name: "Litware", kind: .oem,
                                            provider: nil, oemDirectApi: true, id: Self.oem)
    }

    /// The tenant's Global Administrator.
    static func admin(_ tenant: String) -> String { "admin@\(tenant).onmicrosoft.com" }

    /// The tenant's administrator accepts the partner's link: a reseller-relationship link for CSPs (for the
    /// indirect provider, its reseller's, which authorises both), the OEM link for the OEM.
    func consent(_ partner: String, _ tenant: String) async throws {
        let url: String?
        switch partner {
        case Self.oem:
            url = try await store.issueOemLink(asOperator(Registry.IssueOemLink.info), partner: partner).url
        case Self.provider:
            url = try await store.requestResellerRelationship(asOperator(Registry.RequestResellerRelationship.info),
                                                              partner: Self.reseller, delegatedAdmin: false,
                                                              roles: []).link.url
        default:
            url = try await store.requestResellerRelationship(asOperator(Registry.RequestResellerRelationship.info),
                                                              partner: partner, delegatedAdmin: false, roles: []).link.url
        }
        _ = try await store.acceptLink(asOperator(Registry.AcceptLink.info), link: url!, account: Self.admin(tenant))
    }

    /// Ends the partner's consent: the tenant ends a CSP relationship (for the indirect provider, its reseller's);
    /// an OEM's consent is revoked by an approved revocation request.
    func endConsent(_ partner: String, _ tenant: String) async throws {
        switch partner {
        case Self.oem:
            let request = try await store.fileRevocationRequest(asOperator(Registry.FileRevocationRequest.info), partner: partner,
                                                                account: Self.admin(tenant), reason: "contract over")
            _ = try await store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: request.id,
                                                        approve: true, note: nil)
        case Self.provider:
            _ = try await store.endRelationship(asOperator(Registry.EndRelationship.info), partner: Self.reseller,
                                                account: Self.admin(tenant))
        default:
            _ = try await store.endRelationship(asOperator(Registry.EndRelationship.info), partner: partner,
                                                account: Self.admin(tenant))
        }
    }

    /// Opens a batch through a channel the partner's kind allows (upload for the reseller, the API otherwise), named
    /// `name` or, by default, a name of its own (batch names are unique per partner and tenant).
    func openBatch(_ partner: String, _ tenant: String, channel: Channel? = nil,
                   name: String? = nil) async throws -> Batch {
        let channel = channel ?? (partner == Self.reseller ? .upload : .api)
        return try await store.createDeviceBatch(asOperator(Registry.CreateDeviceBatch.info), partner: partner, tenant: tenant,
                                                 name: name ?? "batch \(UUID().uuidString.prefix(8))", channel: channel)
    }

    /// One AddDevices call.
    func add(_ batch: String, _ devices: [DeviceInput]) async throws -> BatchResults {
        try await store.addDevices(asOperator(Registry.AddDevices.info), batch: batch, devices: devices)
    }

    /// Opens a batch and submits the devices in one call; returns the results.
    @discardableResult
    func register(_ partner: String, _ tenant: String, _ devices: [DeviceInput]) async throws -> [DeviceResult] {
        let batch = try await openBatch(partner, tenant)
        return try await add(batch.id, devices).results
    }

    /// The dry run of a submission.
    func validate(_ partner: String, _ tenant: String, _ devices: [DeviceInput]) async throws
        -> SubmissionCheck
    {
        try await store.validateSubmission(asOperator(Registry.ValidateSubmission.info), partner: partner, tenant: tenant,
                                           devices: devices)
    }

    /// Every device matching `filter`, read page by page as ListDevices streams them; also returns the page count.
    func list(_ filter: DeviceFilter = DeviceFilter(), pageSize: Int = RegistryStore.deviceListPageSize)
        async throws -> (devices: [Device], pages: Int)
    {
        var devices: [Device] = []
        var cursor: DeviceCursor?
        var pages = 0
        repeat {
            let page = try await store.listDevices(asOperator(Registry.ListDevices.info), filter: filter, after: cursor,
                                                   limit: pageSize)
            devices += page.devices
            cursor = page.next
            pages += 1
        } while cursor != nil
        return (devices, pages)
    }

    /// Deregisters a device as `partner`, named one way.
    @discardableResult
    func deregister(_ partner: String, device: String? = nil, tuple: DeviceTuple? = nil, productKey: String? = nil,
                    tenant: String? = nil) async throws -> Device {
        try await store.deregisterDevice(asOperator(Registry.DeregisterDevice.info), partner: partner, device: device,
                                         serialNumber: tuple?.serialNumber, manufacturer: tuple?.manufacturer,
                                         model: tuple?.model, productKey: productKey, tenant: tenant)
    }

    /// Row counts of the device tables, read directly.
    func rowCounts() async throws -> DeviceRowCounts {
        try await store.queryForTesting { db in
            DeviceRowCounts(
                batches: try Int.fetchOne(db, sql: "SELECT count(*) FROM batches") ?? -1,
                devices: try Int.fetchOne(db, sql: "SELECT count(*) FROM devices") ?? -1,
                results: try Int.fetchOne(db, sql: "SELECT count(*) FROM device_results") ?? -1,
                hashes: try Int.fetchOne(db, sql: "SELECT count(*) FROM hardware_hashes") ?? -1)
        }
    }
}

/// How many rows the device tables hold.
struct DeviceRowCounts: Equatable, Sendable {
    var batches: Int, devices: Int, results: Int, hashes: Int
}

extension DeviceResult {
    /// The error's name, or the status when there is none: a compact form for comparing whole submissions.
    var outcome: String { error?.name ?? status.rawValue }
}
