import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Foundation
import Logging
import Varlink

/// Turns varlink calls into registry operations: routes by method, lets each handler decode and authorise,
/// maps errors through the one error table, and logs one line per call.
final class Dispatcher: VarlinkCallHandler {
    let store: RegistryStore
    let identity: IdentityResolver
    let service: VarlinkServiceInterface
    let logger: Logger
    let startedAt: Timestamp
    let config: DaemonConfig

    init(store: RegistryStore, config: DaemonConfig, logger: Logger, startedAt: Timestamp) throws {
        self.store = store
        self.config = config
        self.identity = IdentityResolver(store: store)
        self.logger = logger
        self.startedAt = startedAt
        self.service = VarlinkServiceInterface(
            info: VarlinkServiceInfo(vendor: "autopilotd", product: "autopilotd", version: AutopilotVersion.current,
                                     url: "https://autopilot.invalid/autopilotd"),
            interfaces: [try VarlinkInterfaceDescription(RegistryInterface.description)])
    }

    func handle(_ call: VarlinkCall, peer: PeerCredentials, replies: any VarlinkReplySink) async {
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
        guard let method = RegistryMethod(wireName: call.memberName) else {
            try? await replies.send(VarlinkReply(error: .methodNotFound(call.method)))
            return
        }
        if method.streams && !call.more && !call.oneway {
            try? await replies.send(VarlinkReply(error: .expectedMore))
            return
        }
        let started = DispatchTime.now().uptimeNanoseconds
        var outcome = "ok"
        var caller: Caller?
        do {
            let who = try await identity.caller(uid: peer.uid, gid: peer.gid, pid: peer.pid)
            caller = who
            let request = Request(method: method, parameters: call.parameters, caller: who, store: store,
                                  replies: replies)
            let result = try await route(request)
            guard request.authorized else {
                logger.critical("handler answered without a permission check", metadata: ["method": "\(method.rawValue)"])
                throw RegistryErrors.internalError
            }
            switch result {
            case let .reply(parameters): try await replies.send(VarlinkReply(parameters: parameters))
            case let .streamEnd(parameters): try await replies.send(VarlinkReply(parameters: parameters))
            }
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
            logger.error("call failed", metadata: ["method": "\(method.rawValue)", "error": "\(String(reflecting: error))"])
            try? await replies.send(VarlinkReply(error: RegistryErrors.internalError))
        }
        let micros = (DispatchTime.now().uptimeNanoseconds - started) / 1000
        let level: Logger.Level = method.changesState || outcome != "ok" ? .info : .debug
        logger.log(level: level, "call", metadata: [
            "method": "\(method.rawValue)", "uid": "\(peer.uid)", "pid": "\(peer.pid)",
            "role": "\(caller?.role.rawValue ?? "?")", "outcome": "\(outcome)", "us": "\(micros)",
        ])
    }

    /// The one routing table: method name to handler.
    func route(_ r: Request) async throws -> HandlerResult {
        switch r.method {
        case .createTenant: try await createTenant(r)
        case .addTenantDomain: try await addTenantDomain(r)
        case .addAccount: try await addAccount(r)
        case .setAccountRoles: try await setAccountRoles(r)
        case .getTenant: try await getTenant(r)
        case .listTenants: try await listTenants(r)
        case .registerPartner: try await registerPartner(r)
        case .setOemEligibility: try await setOemEligibility(r)
        case .getPartner: try await getPartner(r)
        case .listPartners: try await listPartners(r)
        case .requestResellerRelationship: try await requestResellerRelationship(r)
        case .issueOemLink: try await issueOemLink(r)
        case .revokeLink: try await revokeLink(r)
        case .describeLink: try await describeLink(r)
        case .acceptLink: try await acceptLink(r)
        case .listCustomers: try await listCustomers(r)
        case .listGrants: try await listGrants(r)
        case .validateSubmission: try await validateSubmission(r)
        case .removeDelegatedAdmin: try await removeDelegatedAdmin(r)
        case .endRelationship: try await endRelationship(r)
        case .fileRevocationRequest: try await fileRevocationRequest(r)
        case .listRevocationRequests: try await listRevocationRequests(r)
        case .decideRevocationRequest: try await decideRevocationRequest(r)
        case .createDeviceBatch: try await createDeviceBatch(r)
        case .addDevices: try await addDevices(r)
        case .uploadDeviceCsv: try await uploadDeviceCsv(r)
        case .getBatch: try await getBatch(r)
        case .listBatches: try await listBatches(r)
        case .listDevices: try await listDevices(r)
        case .deregisterDevice: try await deregisterDevice(r)
        case .addAccessRule: try await addAccessRule(r)
        case .removeAccessRule: try await removeAccessRule(r)
        case .listAccessRules: try await listAccessRules(r)
        case .listAuditEvents: try await listAuditEvents(r)
        case .verifyAudit: try await verifyAudit(r)
        case .backup: try await backup(r)
        case .getStatus: try await getStatus(r)
        case .whoAmI: try await whoAmI(r)
        }
    }
}

/// The daemon's version.
public enum AutopilotVersion {
    public static let current = "0.1.0"
}
