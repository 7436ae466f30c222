import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Varlink

/// One call being handled: its parameters, the caller, and the permission check every handler must pass.
///
/// Handlers decode their parameters first (so a malformed call is `InvalidParameter`), then call one of the
/// `authorize` functions (so a refused call is `PermissionDenied`, recorded in the audit log), then run.
final class Request: @unchecked Sendable {
    let method: RegistryMethod
    let parameters: JSONObject
    let caller: Caller
    let store: RegistryStore
    let replies: any VarlinkReplySink
    /// Set once the permission check passed; the dispatcher refuses to answer a handler that skipped it.
    private(set) var authorized = false

    init(method: RegistryMethod, parameters: JSONObject, caller: Caller, store: RegistryStore,
         replies: any VarlinkReplySink) {
        self.method = method; self.parameters = parameters; self.caller = caller; self.store = store
        self.replies = replies
    }

    var context: OperationContext { OperationContext(caller: caller, method: method) }

    /// Checks the caller's role against the permission table and, for partner and tenant callers, that the
    /// partner or tenant named is their own. A refusal is recorded in the audit log with the partner, tenant and
    /// acting tenant account (`account`, for tenant-side calls) the call named.
    func authorize(partner: String? = nil, tenant: String? = nil, account: String? = nil) async throws {
        do {
            try caller.authorize(method)
            if let partner { try caller.requirePartner(partner, method) }
            if let tenant { try caller.requireTenant(tenant, method) }
        } catch {
            try await recordRefusal(error, partner: partner, tenant: tenant, account: account)
        }
        authorized = true
    }

    /// Like `authorize`, for list filters: returns the partner and tenant filters to apply (a partner or tenant
    /// caller that names none gets its own; naming another is refused).
    func authorizeFilters(partner: String?, tenant: String?) async throws -> (partner: String?, tenant: String?) {
        do {
            try caller.authorize(method)
            let p = try caller.partnerFilter(partner, method)
            let t = try caller.tenantFilter(tenant, method)
            authorized = true
            return (p, t)
        } catch {
            try await recordRefusal(error, partner: partner, tenant: tenant, account: nil)
        }
    }

    /// Records a refused call in the audit log, then throws its error. The refusal stands even when it cannot be
    /// recorded (a full disk): the caller gets `PermissionDenied` either way, never an error that tells it more.
    private func recordRefusal(_ error: RegistryError, partner: String?, tenant: String?,
                               account: String?) async throws -> Never {
        var targets: [String] = []
        if let partner { targets.append("partner:\(partner)") }
        if let tenant { targets.append("tenant:\(tenant)") }
        try? await store.recordRefusal(context, error, targets: targets, account: account.map(Validate.accountKey))
        throw error
    }

    private var pending: JSONObject?

    /// Adds one reply to a stream. Each reply is sent once the next is known, so the last one can be sent
    /// without `continues` by `endStream()`.
    func stream(_ parameters: JSONObject) async throws {
        if let previous = pending { try await replies.send(VarlinkReply(parameters: previous, continues: true)) }
        pending = parameters
    }

    /// The stream's final reply: the last record, or an empty reply when nothing matched.
    func endStream() -> HandlerResult {
        defer { pending = nil }
        return .streamEnd(pending ?? [:])
    }
}

/// What a handler produced: a single reply, or a stream it already sent except for the last reply.
enum HandlerResult: Sendable {
    case reply(JSONObject)
    /// The stream's replies were sent with `continues: true`; the dispatcher sends this final one.
    case streamEnd(JSONObject)
}
