import AutopilotClient
import AutopilotDomain
import AutopilotInterface
import AutopilotTestSupport
import Foundation
import Varlink
#if canImport(Glibc)
import Glibc
#endif

/// A partner holding an active grant from a tenant: one `ValidateSubmission` target.
struct Consent: Sendable {
    var partner: String
    var tenant: String
}

/// Builds the registry a benchmark works against, through the daemon's own interface (as the operator).
enum Dataset {
    /// Creates `tenants` tenants (each with a Global Administrator) and `partners` direct CSP partners, and has
    /// every tenant accept every partner's reseller link: `tenants × partners` active grants.
    static func consents(_ client: RegistryClient, tenants: Int, partners: Int) throws -> [Consent] {
        var admins: [(tenant: String, upn: String)] = []
        for t in 0..<tenants {
            let domain = "benchtenant\(t).onmicrosoft.com"
            let tenant = try client.call(Registry.CreateTenant.self, .init(name: "Bench Tenant \(t)", domain: domain)).tenant
            let upn = "admin@\(domain)"
            _ = try client.call(Registry.AddAccount.self, .init(tenant: tenant.id, upn: upn, roles: [AccountRole.globalAdministrator.rawValue]))
            admins.append((tenant.id, upn))
        }
        var result: [Consent] = []
        for p in 0..<partners {
            let partner = try client.call(Registry.RegisterPartner.self, .init(name: "Bench Partner \(p)", kind: .directCsp)).partner
            let request = try client.call(Registry.RequestResellerRelationship.self, .init(partner: partner.id, delegatedAdmin: false))
            guard let url = request.link.url else { throw BenchError("RequestResellerRelationship returned no URL") }
            for admin in admins {
                _ = try client.call(Registry.AcceptLink.self, .init(link: url, account: admin.upn))
                result.append(Consent(partner: partner.id, tenant: admin.tenant))
            }
        }
        return result
    }

    /// The `i`-th generated device, named by manufacturer, model and serial number (as an OEM factory line would).
    static func device(_ i: Int) -> DeviceInput {
        DeviceInput(serialNumber: serial(i), manufacturer: "Bench Manufacturer", model: "Model \(i % 32)")
    }

    private static func serial(_ i: Int) -> String {
        let digits = String(i)
        return "SN" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits
    }

    /// Registers generated devices `range` in a new batch with `AddDevices` calls of 1,000, keeping two calls in
    /// flight so the daemon never waits for the client to encode the next one.
    /// - Returns: the batch id and the seconds it took.
    static func registerDevices(socket: String, consent: Consent, range: Range<Int>) throws -> (batch: String, seconds: Double) {
        let client = try RegistryClient(path: socket)
        defer { client.close() }
        let start = monotonicNanoseconds()
        let batch = try client.call(Registry.CreateDeviceBatch.self, .init(
            partner: consent.partner, tenant: consent.tenant, name: "bench \(range.lowerBound)-\(range.upperBound)",
            channel: .api)).batch
        let method = Registry.AddDevices.qualifiedName
        let chunks = stride(from: range.lowerBound, to: range.upperBound, by: DeviceRules.maxDevicesPerCall).map {
            $0..<min($0 + DeviceRules.maxDevicesPerCall, range.upperBound)
        }
        var inFlight = 0
        var registered = 0
        func receiveOne() throws {
            let reply = try client.connection.receive()
            if let error = reply.varlinkError { throw BenchError("AddDevices failed: \(error)") }
            inFlight -= 1
            registered = reply.parameters["batch"]?.objectValue?["registered"]?.intValue ?? registered
        }
        for chunk in chunks {
            let devices = chunk.map(device)
            try client.connection.send(VarlinkCall(
                method: method, parameters: Registry.AddDevices.Parameters(batch: batch.id, devices: devices).parametersObject))
            inFlight += 1
            if inFlight == 2 { try receiveOne() }
        }
        while inFlight > 0 { try receiveOne() }
        guard registered == range.count else {
            throw BenchError("registered \(registered) of \(range.count) generated devices (batch \(batch.id))")
        }
        return (batch.id, Double(monotonicNanoseconds() - start) / 1e9)
    }

    /// The CSV header `autopilotctl devices import` reads in the Partner Center form.
    static let csvHeader = DeviceCSV.Format.partnerCenter.header

    /// The hardware hash of the `i`-th generated device: structurally valid, 3,000 bytes, 4,000 characters, saying the
    /// same manufacturer, model and serial number as `device(i)`, with a product key ID of its own, as a laptop's has.
    static func hash(_ i: Int, seed: UInt64) -> String {
        let d = device(i)
        return SyntheticHardwareHash(seed: seed &+ UInt64(i), serialNumber: d.serialNumber!, manufacturer: d.manufacturer!,
                                     model: d.model!, productKeyID: String(3_000_000_000_000 + i)).text()
    }

    /// Writes a Partner Center CSV of `count` devices, each with a serial number, manufacturer, model and the 4K
    /// hardware hash of that machine (`hash(_:seed:)`).
    /// - Returns: the file's size in bytes.
    @discardableResult
    static func writeCSV(path: String, count: Int, seed: UInt64 = 0x5eed) throws -> Int {
        guard let file = fopen(path, "w") else { throw BenchError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var text = csvHeader + "\n"
        var size = 0
        for i in 0..<count {
            let d = device(i)
            text += "\(d.serialNumber!),,\(hash(i, seed: seed)),\(d.manufacturer!),\(d.model!)\n"
            if text.utf8.count >= 1 << 20 || i == count - 1 {
                size += text.utf8.count
                guard fputs(text, file) >= 0 else { throw BenchError("cannot write \(path)") }
                text = ""
            }
        }
        if count == 0 { size += text.utf8.count; fputs(text, file) }
        return size
    }
}
