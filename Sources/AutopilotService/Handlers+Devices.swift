import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Varlink

/// Device methods, and the dry run of a submission (`ValidateSubmission`), which shares their rules.
extension Dispatcher {
    func createDeviceBatch(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.string("partner"), tenant = try p.string("tenant"), name = try p.string("name")
        let channel: Channel = try p.enumeration("channel")
        try await r.authorize(partner: partner)
        let batch = try await store.createDeviceBatch(r.context, partner: partner, tenant: tenant, name: name,
                                                      channel: channel)
        return .reply(["batch": .object(batch.wire)])
    }

    func addDevices(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let batch = try p.string("batch")
        let devices = try p.records("devices", DeviceInput.self)
        try await r.authorize()
        let result = try await store.addDevices(r.context, batch: batch, devices: devices)
        return .reply(["batch": .object(result.batch.wire), "results": result.results.wire])
    }

    func uploadDeviceCsv(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let batch = try p.string("batch"), csv = try p.string("csv"), line = try p.optionalInt("line")
        try await r.authorize()
        let result = try await store.uploadDeviceCsv(r.context, batch: batch, csv: csv, line: line)
        return .reply(["batch": .object(result.batch.wire), "results": result.results.wire])
    }

    func getBatch(_ r: Request) async throws -> HandlerResult {
        let batch = try r.parameters.string("batch")
        let from = try r.parameters.optionalInt("from"), limit = try r.parameters.optionalInt("limit")
        try await r.authorize()
        let result = try await store.getBatch(r.context, batch: batch, from: from, limit: limit)
        return .reply(["batch": .object(result.batch.wire), "results": result.results.wire])
    }

    func listBatches(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.optionalString("partner"), tenant = try p.optionalString("tenant")
        let filters = try await r.authorizeFilters(partner: partner, tenant: tenant)
        let batches = try await store.listBatches(r.context, partner: filters.partner, tenant: filters.tenant)
        return .reply(["batches": batches.wire])
    }

    /// Streams one reply per device, reading page by page so memory stays bounded whatever the registry holds.
    func listDevices(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.optionalString("partner"), tenant = try p.optionalString("tenant")
        let batch = try p.optionalString("batch"), serial = try p.optionalString("serialNumber")
        let includeDeregistered = try p.optionalBool("includeDeregistered") ?? false
        let device = try p.optionalString("device")
        let filters = try await r.authorizeFilters(partner: partner, tenant: tenant)
        let filter = DeviceListFilter(tenant: filters.tenant, partner: filters.partner, batch: batch,
                                      serialNumber: serial, includeDeregistered: includeDeregistered, device: device)
        var cursor: DeviceCursor?
        repeat {
            let page = try await store.listDevices(r.context, filter: filter, after: cursor)
            for device in page.devices { try await r.stream(["device": .object(device.wire)]) }
            cursor = page.next
        } while cursor != nil
        return r.endStream()
    }

    func deregisterDevice(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.string("partner"), device = try p.optionalString("device")
        let serial = try p.optionalString("serialNumber"), manufacturer = try p.optionalString("manufacturer")
        let model = try p.optionalString("model"), productKey = try p.optionalString("productKey")
        let tenant = try p.optionalString("tenant")
        try await r.authorize(partner: partner)
        let result = try await store.deregisterDevice(r.context, partner: partner, device: device, serialNumber: serial,
                                                      manufacturer: manufacturer, model: model,
                                                      productKey: productKey, tenant: tenant)
        return .reply(["device": .object(result.wire)])
    }

    func validateSubmission(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let partner = try p.string("partner"), tenant = try p.string("tenant")
        var devices: [DeviceInput] = []
        for o in try p.optionalObjectArray("devices") ?? [] { devices.append(try DeviceInput(wire: o)) }
        try await r.authorize(partner: partner)
        let check = try await store.validateSubmission(r.context, partner: partner, tenant: tenant, devices: devices)
        return .reply(["consented": .bool(check.consented), "grant": check.grant.map { .object($0.wire) } ?? .null,
                       "results": check.results.wire])
    }
}
