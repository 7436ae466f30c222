import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Foundation
import Logging
import Varlink

/// Turns varlink calls into registry operations: finds the method's binding, decodes the parameters its declaration
/// declares, applies the permission table and the "own" rule of its scope, runs its store operation, maps errors
/// through the one error table, and logs one line per call.
final class Dispatcher: VarlinkCallHandler {
    let store: RegistryStore
    let identity: IdentityResolver
    let service: VarlinkServiceInterface
    let logger: Logger
    let startedAt: Timestamp
    let config: DaemonConfig
    /// Counts every call received (the daemon's idle release watches it).
    let activity: CallActivity
    /// Every method's binding, by name.
    private let bindings: [Substring: Binding]
    /// The reply texts of consent checks, by partner and tenant.
    let consentReplies = ReplyTextMemo<ConsentPair, SubmissionCheck>(capacity: 1_024)

    init(store: RegistryStore, config: DaemonConfig, logger: Logger, startedAt: Timestamp,
         activity: CallActivity) throws {
        self.store = store
        self.activity = activity
        self.config = config
        self.identity = IdentityResolver(store: store)
        self.logger = logger
        self.startedAt = startedAt
        self.service = VarlinkServiceInterface(
            info: VarlinkServiceInfo(vendor: "autopilotd", product: "autopilotd", version: AutopilotVersion.current,
                                     url: "https://autopilot.invalid/autopilotd"),
            interfaces: [try VarlinkInterfaceDescription(RegistryInterface.description)])
        let table = Self.bindings
        bindings = Dictionary(uniqueKeysWithValues: table.map { (Substring($0.info.name), $0) })
        let declared = Set(RegistryInterface.methods.map { $0.name }), bound = Set(table.map { $0.info.name })
        guard declared == bound else {
            throw StartupError(description: "methods declared but not bound: \(declared.subtracting(bound).sorted()); "
                + "bound but not declared: \(bound.subtracting(declared).sorted())")
        }
    }

    func handle(_ call: VarlinkCall, peer: PeerCredentials, replies: any VarlinkReplySink) async {
        activity.record()
        if call.interfaceName == VarlinkServiceInterface.interfaceName {
            switch service.handle(call) {
            case let .success(parameters): try? await replies.send(VarlinkReply(parameters: parameters))
            case let .failure(error): try? await replies.send(VarlinkReply(error: error))
            }
            return
        }
        guard call.interfaceName == RegistryInterface.name else {
            try? await replies.send(VarlinkReply(error: .interfaceNotFound(String(call.interfaceName))))
            return
        }
        guard let binding = bindings[call.memberName] else {
            try? await replies.send(VarlinkReply(error: .methodNotFound(call.method)))
            return
        }
        let method = binding.info
        if method.streams && !call.more && !call.oneway {
            try? await replies.send(VarlinkReply(error: .expectedMore))
            return
        }
        // A watch nobody reads would hold the connection forever: a oneway one is not started.
        if binding.openEnded && call.oneway { return }
        let started = DispatchTime.now().uptimeNanoseconds
        var outcome = "ok"
        var caller: Caller?
        do {
            let who = try await identity.caller(uid: peer.uid, gid: peer.gid, pid: peer.pid)
            caller = who
            try await binding.run(self, call.parameters, who, replies)
        } catch let error as VarlinkError {
            outcome = error.name
            try? await replies.send(VarlinkReply(error: error))
        } catch let error as RegistryError {
            outcome = error.name
            try? await replies.send(VarlinkReply(error: RegistryErrors.varlink(error)))
        } catch is CancellationError {
            outcome = "cancelled"
        } catch VarlinkServerError.connectionClosed {
            // The peer went away before its reply could be written: nothing failed here, there is just no one to tell.
            outcome = "disconnected"
        } catch {
            outcome = "InternalError"
            logger.error("call failed", metadata: ["method": "\(method.name)", "error": "\(String(reflecting: error))"])
            try? await replies.send(VarlinkReply(error: RegistryErrors.internalError))
        }
        let micros = (DispatchTime.now().uptimeNanoseconds - started) / 1000
        let level: Logger.Level = method.changesState || outcome != "ok" ? .info : .debug
        logger.log(level: level, "call", metadata: [
            "method": "\(method.name)", "uid": "\(peer.uid)", "pid": "\(peer.pid)",
            "role": "\(caller?.role.rawValue ?? "?")", "outcome": "\(outcome)", "us": "\(micros)",
        ])
    }
}

/// One method bound to the code that answers it.
struct Binding: Sendable {
    /// The method, from its declaration.
    let info: MethodInfo
    /// Whether it is a stream that never ends by itself (`WatchConsent`).
    var openEnded = false
    /// Decodes, authorises and answers one call (all replies sent), or throws the error to answer.
    let run: @Sendable (Dispatcher, JSONObject, Caller, any VarlinkReplySink) async throws -> Void
}

/// One call of method `M`, authorised: what a binding's store operation is called with.
struct Call<M: MethodDeclaration>: Sendable {
    /// The parameters, list filters narrowed to the caller's own.
    let parameters: M.Parameters
    /// The partner the scope limits the call to (named, filtered, or the caller's own); nil for any.
    let partner: String?
    /// The tenant the scope limits the call to; nil for any.
    let tenant: String?
    /// The account the call acts as (named, or the caller's own), for a method that acts as one.
    let account: String?
    /// The caller and the method, for the store and its audit events.
    let context: OperationContext
    /// Who is calling.
    var caller: Caller { context.caller }

    /// The account the call acts as; the scope of a method that acts as one always decides it.
    func actingAccount() throws -> String {
        guard let account else { throw VarlinkError.invalidParameter("account") }
        return account
    }
}

/// The replies of a streaming call: each is sent once the next is known, so that the last goes without `continues`.
final class ReplyStream<Reply: WireRecord>: @unchecked Sendable {
    private let replies: any VarlinkReplySink
    private var pending: [UInt8]?

    init(_ replies: any VarlinkReplySink) { self.replies = replies }

    /// Adds one reply to the stream.
    func send(_ reply: Reply) async throws {
        if let previous = pending { try await replies.send(parametersText: previous, continues: true) }
        pending = reply.wireText
    }

    /// Sends the final reply: the last record, or an empty reply when there was none.
    func finish() async throws {
        try await replies.send(parametersText: pending ?? Array("{}".utf8), continues: false)
        pending = nil
    }
}

extension Dispatcher {
    /// Decodes the parameters `M` declares (unknown and mistyped members are `InvalidParameter`), then applies its
    /// scope: the permission table and the "own" rule, with every refusal recorded in the audit log by the store's
    /// one path for refusals.
    static func authorized<M: MethodDeclaration>(_ method: M.Type, _ dispatcher: Dispatcher, _ object: JSONObject,
                                                 _ caller: Caller) async throws -> Call<M> {
        let parameters = try M.Parameters(object: object, strict: true)
        let context = OperationContext(caller: caller, method: M.info)
        do {
            let scoped = try M.scope.apply(parameters, caller: caller, method: M.info)
            return Call(parameters: scoped.parameters, partner: scoped.partner, tenant: scoped.tenant,
                        account: scoped.account, context: context)
        } catch let refusal as Refusal {
            await dispatcher.store.recordRefusal(context, refusal)
            throw refusal.error
        }
    }

    /// Binds `M` to `answer`, which runs its store operation and returns the reply.
    static func bind<M: MethodDeclaration>(
        _ method: M.Type, _ answer: @escaping @Sendable (Dispatcher, Call<M>) async throws -> M.Reply
    ) -> Binding {
        Binding(info: M.info) { dispatcher, object, caller, replies in
            let call = try await authorized(M.self, dispatcher, object, caller)
            let reply = try await answer(dispatcher, call)
            try await replies.send(parametersText: reply.wireText, continues: false)
        }
    }

    /// Binds `M` to `answer`, which runs its store operation and returns the reply as JSON text, for a reply that
    /// need not be written anew each time (`ReplyTextMemo`). The text must be what `M.Reply.wireText` writes.
    static func bindText<M: MethodDeclaration>(
        _ method: M.Type, _ answer: @escaping @Sendable (Dispatcher, Call<M>) async throws -> [UInt8]
    ) -> Binding {
        Binding(info: M.info) { dispatcher, object, caller, replies in
            let call = try await authorized(M.self, dispatcher, object, caller)
            try await replies.send(parametersText: try await answer(dispatcher, call), continues: false)
        }
    }

    /// Binds a streaming `M` to `answer`, which sends each reply to the stream it is given.
    static func bindStream<M: MethodDeclaration>(
        _ method: M.Type, _ answer: @escaping @Sendable (Dispatcher, Call<M>, ReplyStream<M.Reply>) async throws -> Void
    ) -> Binding {
        Binding(info: M.info) { dispatcher, object, caller, replies in
            let call = try await authorized(M.self, dispatcher, object, caller)
            let stream = ReplyStream<M.Reply>(replies)
            try await answer(dispatcher, call, stream)
            try await stream.finish()
        }
    }
}

extension Dispatcher {
    /// Binds a stream that never ends by itself (`WatchConsent`): `answer` sends each reply as it comes, and is
    /// cancelled when the peer goes away or the server stops; the call then ends without a final reply, as the
    /// connection does.
    static func bindOpenStream<M: MethodDeclaration>(
        _ method: M.Type, _ answer: @escaping @Sendable (Dispatcher, Call<M>, OpenReplyStream<M.Reply>) async throws -> Void
    ) -> Binding {
        Binding(info: M.info, openEnded: true) { dispatcher, object, caller, replies in
            let call = try await authorized(M.self, dispatcher, object, caller)
            let stream = OpenReplyStream<M.Reply>(replies)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await answer(dispatcher, call, stream) }
                group.addTask {
                    await replies.untilEnded()
                    throw CancellationError()
                }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
    }
}

/// The replies of a stream that never ends by itself: each is sent at once, with `continues`.
struct OpenReplyStream<Reply: WireRecord>: Sendable {
    private let replies: any VarlinkReplySink

    init(_ replies: any VarlinkReplySink) { self.replies = replies }

    /// Sends one reply of the stream.
    func send(_ reply: Reply) async throws {
        try await replies.send(parametersText: reply.wireText, continues: true)
    }
}

/// The daemon's version.
public enum AutopilotVersion {
    /// The version `GetStatus` and `org.varlink.service.GetInfo` report.
    public static let current = "0.1.0"
}
