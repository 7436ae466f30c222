import AutopilotDomain
import Varlink

/// One method of `io.autopilotd.registry`, declared once: its name, comment, parameters and reply (value types that
/// encode and decode themselves), whether it changes state or streams, who may call it, and which of its parameters
/// name the partner, tenant or acting account the "own" rule looks at.
///
/// The interface description the daemon serves is generated from these declarations (`RegistryInterface`), the
/// daemon binds one store operation to each (`Bindings.swift`), and the client calls them with one generic `call`.
public protocol MethodDeclaration: Sendable {
    /// The call's parameters; decoding refuses unknown and mistyped members (`InvalidParameter`).
    associatedtype Parameters: WireRecord
    /// The reply; for a streaming method, each reply of the stream.
    associatedtype Reply: WireRecord

    /// Its name, comment, policy, kind and errors.
    static var facts: MethodFacts { get }
    /// Which parameters name the partner, tenant and acting account the caller must own.
    static var scope: Scope<Parameters> { get }
}

/// What a declaration says of its method besides its types.
public struct MethodFacts: Sendable {
    /// The method's name, as in `io.autopilotd.registry.<name>`.
    public var name: String
    /// Its comment in the interface description.
    public var doc: String
    /// Its row of "Who may call what".
    public var policy: MethodPolicy
    /// Whether it reads, changes state (and is then always recorded in the audit log), or streams.
    public var kind: MethodKind
    /// The errors of this interface it may answer (besides `InvalidParameter`), for the description.
    public var errors: [RegistryErrorName]

    /// The facts of one method.
    public init(_ name: String, _ doc: String, policy: MethodPolicy, kind: MethodKind, errors: [RegistryErrorName] = []) {
        self.name = name; self.doc = doc; self.policy = policy; self.kind = kind; self.errors = errors
    }
}

/// Whether a method reads, changes state, or answers with a stream of replies.
public enum MethodKind: Sendable, Hashable {
    /// A read; a successful one is not recorded in the audit log.
    case read
    /// A state change: one transaction, always recorded in the audit log, whatever its outcome.
    case change
    /// A read answered with one reply per record; it needs `"more": true`.
    case stream
}

extension MethodDeclaration {
    /// Nothing named for the "own" rule, unless the declaration says otherwise.
    public static var scope: Scope<Parameters> { Scope() }
    /// The method's name.
    public static var name: String { facts.name }
    /// Its comment.
    public static var doc: String { facts.doc }
    /// Its row of the permission table.
    public static var policy: MethodPolicy { facts.policy }
    /// Whether it reads, changes state or streams.
    public static var kind: MethodKind { facts.kind }
    /// The errors it may answer.
    public static var errors: [RegistryErrorName] { facts.errors }
    /// The fully qualified name, `io.autopilotd.registry.<name>`.
    public static var qualifiedName: String { RegistryInterface.name + "." + name }
    /// The parameters' type, for code that holds the method as an existential.
    public static var parametersType: any WireRecord.Type { Parameters.self }
    /// The reply's type, for code that holds the method as an existential.
    public static var replyType: any WireRecord.Type { Reply.self }
    /// What the store and the permission table need to know of the method.
    public static var info: MethodInfo {
        MethodInfo(name: name, policy: policy, changesState: kind == .change, streams: kind == .stream)
    }
}

/// Which parameters of a method name the partner, the tenant and the acting account that the "own" rule of
/// interface.md looks at. The dispatcher decides a partner's or tenant's reach from this and the caller, in one
/// place, before the store runs; records reached only through an id (a batch, a link) are checked by the store
/// against the same `Caller` rules.
public struct Scope<Parameters: Sendable>: Sendable {
    /// How a call names a partner or a tenant.
    public enum Naming: Sendable {
        /// It does not.
        case none
        /// A required parameter: a partner or tenant caller must name its own.
        case named(KeyPath<Parameters, String> & Sendable)
        /// An optional list filter: a partner or tenant caller that omits it gets its own; naming another is refused.
        case filter(WritableKeyPath<Parameters, String?> & Sendable)
        /// No parameter, but the method lists only the caller's own records (a partner's or tenant's).
        case own
    }

    /// How the call names a partner.
    public let partner: Naming
    /// How the call names a tenant.
    public let tenant: Naming
    /// The tenant account the call acts as, when it acts as one: a tenant caller bound to an account may omit it,
    /// an operator must name it (`Caller.actingAccount`).
    public let account: (KeyPath<Parameters, String?> & Sendable)?
    /// Whether every call acts as an account, or the method has a partner's side too.
    public let sides: Sides
    /// Where in `Parameters` the partner's, the tenant's and the account's parameter is stored, when it is a stored
    /// property: read there, a call does not project a key path through the runtime's generic code (as `WireField`).
    @usableFromInline let partnerOffset: Int?
    @usableFromInline let tenantOffset: Int?
    @usableFromInline let accountOffset: Int?

    /// Who a method that names an account may act as.
    public enum Sides: Sendable {
        /// Every call acts as a tenant account (`AcceptLink`): an operator must name one.
        case accountOnly
        /// A partner caller calls it as itself and may name no account; a tenant caller acts as an account; an
        /// operator acts as the account it names, or as the partner side when it names none (`DeregisterDevice`,
        /// `UpdateDevice`, `EndRelationship`).
        case partnerOrAccount
    }

    /// A scope naming what is given.
    public init(partner: Naming = .none, tenant: Naming = .none,
                account: (KeyPath<Parameters, String?> & Sendable)? = nil, sides: Sides = .accountOnly) {
        self.partner = partner
        self.tenant = tenant
        self.account = account
        self.sides = sides
        partnerOffset = Self.offset(of: partner)
        tenantOffset = Self.offset(of: tenant)
        accountOffset = account.flatMap { MemoryLayout<Parameters>.offset(of: $0) }
    }

    private static func offset(of naming: Naming) -> Int? {
        switch naming {
        case .none, .own: nil
        case let .named(keyPath): MemoryLayout<Parameters>.offset(of: keyPath)
        case let .filter(keyPath): MemoryLayout<Parameters>.offset(of: keyPath)
        }
    }

    /// The value at `keyPath` of `parameters`, read at `offset` when it has one.
    @inlinable
    static func read<Value>(_ keyPath: KeyPath<Parameters, Value>, at offset: Int?, of parameters: Parameters) -> Value {
        guard let offset else { return parameters[keyPath: keyPath] }
        return withUnsafeBytes(of: parameters) { ($0.baseAddress! + offset).assumingMemoryBound(to: Value.self).pointee }
    }

    /// Stores `value` at `keyPath` of `parameters`, at `offset` when it has one.
    @inlinable
    static func write<Value>(_ value: Value, _ keyPath: WritableKeyPath<Parameters, Value>, at offset: Int?,
                             of parameters: inout Parameters) {
        guard let offset else { return parameters[keyPath: keyPath] = value }
        withUnsafeMutableBytes(of: &parameters) { bytes in
            (bytes.baseAddress! + offset).assumingMemoryBound(to: Value.self).pointee = value
        }
    }
}

/// A method's parameters and caller, narrowed by its scope: what a store operation is called with.
public struct ScopedCall<Parameters: Sendable>: Sendable {
    /// The parameters, with list filters narrowed to the caller's own partner or tenant.
    public var parameters: Parameters
    /// The partner the call is limited to (a named or filtered one, or the caller's own for `.own`); nil for any.
    public var partner: String?
    /// The tenant the call is limited to; nil for any.
    public var tenant: String?
    /// The account the call acts as (named, or the caller's own), for a method that acts as one; nil on the
    /// partner's side of a method that has both.
    public var account: String?

    @usableFromInline
    init(parameters: Parameters, partner: String?, tenant: String?, account: String?) {
        self.parameters = parameters; self.partner = partner; self.tenant = tenant; self.account = account
    }
}

extension Scope {
    /// Checks the caller against the method's row of the permission table and, for partner and tenant callers, the
    /// partner and tenant the call names, and decides the account it acts as: the one place where "own" is decided
    /// for what a call names. Inlinable, so that it is specialised for each method's parameters where the daemon
    /// binds them: run generically it built its types' metadata and boxed the caller's checks as closures on every
    /// call (docs/performance.md).
    /// - Throws: `Refusal` (its error `PermissionDenied`) naming what the call named, for the audit log;
    ///   `InvalidParameter(account)` when an operator names no account for a method that acts as one.
    @inlinable
    public func apply(_ parameters: Parameters, caller: Caller, method: MethodInfo) throws -> ScopedCall<Parameters> {
        var scoped = ScopedCall(parameters: parameters, partner: nil, tenant: nil, account: nil)
        let namedAccount = account.flatMap { Self.read($0, at: accountOffset, of: parameters) }
        do {
            try caller.authorize(method)
            scoped.partner = try Self.limit(partner, .partner, at: partnerOffset, &scoped.parameters, caller, method)
            scoped.tenant = try Self.limit(tenant, .tenant, at: tenantOffset, &scoped.parameters, caller, method)
            let partnerSide = sides == .partnerOrAccount
                && (caller.role == .partner || (caller.role == .operator && namedAccount == nil))
            if account != nil && partnerSide {
                // A partner acts as itself; naming a tenant's account is reaching for what it may not be.
                if namedAccount != nil { throw caller.refusal(method) }
            } else if account != nil {
                do throws(ActingAccountError) {
                    scoped.account = try caller.actingAccount(named: namedAccount, method)
                } catch {
                    switch error {
                    case let .refused(refusal): throw refusal
                    case .missingAccount: throw MissingAccount()
                    }
                }
            }
        } catch let error as RegistryError {
            var targets: [String] = []
            if let p = Self.named(partner, at: partnerOffset, in: parameters) { targets.append("partner:\(p)") }
            if let t = Self.named(tenant, at: tenantOffset, in: parameters) { targets.append("tenant:\(t)") }
            throw Refusal(error, targets: targets, account: namedAccount)
        } catch {
            throw VarlinkError.invalidParameter("account")
        }
        return scoped
    }
}

/// The side of the "own" rule a naming is checked on.
@usableFromInline
enum ScopeSide {
    case partner, tenant
}

extension Scope {
    /// What `naming` names in `parameters`, for a refusal's audit event.
    @inlinable
    static func named(_ naming: Naming, at offset: Int?, in parameters: Parameters) -> String? {
        switch naming {
        case .none, .own: nil
        case let .named(keyPath): read(keyPath, at: offset, of: parameters)
        case let .filter(keyPath): read(keyPath, at: offset, of: parameters)
        }
    }

    /// The partner or tenant a call is limited to under `naming` (nil for any), checked with the caller's rules for
    /// `side`: `requirePartner` or `requireTenant` for a named one, `partnerFilter` or `tenantFilter` for a list filter
    /// (narrowed in `parameters` too) or for "own".
    /// - Throws: what those throw (`PermissionDenied`).
    @inlinable
    static func limit(
        _ naming: Naming, _ side: ScopeSide, at offset: Int?, _ parameters: inout Parameters, _ caller: Caller,
        _ method: MethodInfo
    ) throws(RegistryError) -> String? {
        func filter(_ requested: String?) throws(RegistryError) -> String? {
            switch side {
            case .partner: try caller.partnerFilter(requested, method)
            case .tenant: try caller.tenantFilter(requested, method)
            }
        }
        switch naming {
        case .none:
            return nil
        case let .named(keyPath):
            let named = read(keyPath, at: offset, of: parameters)
            switch side {
            case .partner: try caller.requirePartner(named, method)
            case .tenant: try caller.requireTenant(named, method)
            }
            return named
        case let .filter(keyPath):
            let narrowed = try filter(read(keyPath, at: offset, of: parameters))
            write(narrowed, keyPath, at: offset, of: &parameters)
            return narrowed
        case .own:
            return try filter(nil)
        }
    }
}

/// An operator called a method that acts as an account without naming one.
@usableFromInline
struct MissingAccount: Error {
    @usableFromInline init() {}
}
