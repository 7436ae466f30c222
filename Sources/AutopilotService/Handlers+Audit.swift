import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Varlink

/// Audit and backup methods.
extension Dispatcher {
    func listAuditEvents(_ r: Request) async throws -> HandlerResult {
        let p = r.parameters
        let after = try p.optionalInt("after"), limit = try p.optionalInt("limit")
        try await r.authorize()
        try await store.forEachAuditEvent(r.context, after: after, limit: limit) { event in
            try await r.stream(["event": .object(event.wire)])
        }
        return r.endStream()
    }

    func verifyAudit(_ r: Request) async throws -> HandlerResult {
        try await r.authorize()
        let result = try await store.verifyAudit(r.context)
        return .reply(["ok": .bool(result.ok), "events": .int(result.events),
                       "firstBroken": result.firstBroken.map { .int(Int($0)) } ?? .null])
    }

    func backup(_ r: Request) async throws -> HandlerResult {
        let path = try r.parameters.string("path")
        try await r.authorize()
        let result = try await store.backup(r.context, to: path)
        return .reply(["path": .string(result.path), "bytes": .int(result.bytes)])
    }
}
