import Glibc
import NIOCore
import NIOPosix
import Synchronization
import Varlink

/// Who is on the other end of a connection, read once with `SO_PEERCRED` when it is accepted.
public struct PeerCredentials: Sendable, Hashable {
    /// The peer's process id when it connected.
    public var pid: Int32
    /// The peer's effective Unix user id: what the access rules are matched against.
    public var uid: UInt32
    /// The peer's effective Unix group id.
    public var gid: UInt32

    /// Credentials as read from the socket.
    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// Where a handler writes the replies to one call.
public protocol VarlinkReplySink: Sendable {
    /// Queues one reply for writing.
    ///
    /// Suspends while the peer is not reading fast enough, so a long stream never piles up in memory.
    /// Replies sent after the call's final reply are ignored.
    /// - Throws: `VarlinkServerError.connectionClosed` when the peer went away; a streaming handler should stop.
    func send(_ reply: VarlinkReply) async throws

    /// Queues one successful reply whose parameters are already JSON text (an object, as `WireRecord.writeWire`
    /// writes it): the daemon's replies skip building a `JSONObject` only to serialize it.
    func send(parametersText: [UInt8], continues: Bool) async throws

    /// Returns once the peer has gone away or the server has begun to stop: a stream that never ends by itself
    /// (`WatchConsent`) ends then, and no other call needs it.
    func untilEnded() async
}

/// Answers varlink calls; the server knows nothing else about the service.
public protocol VarlinkCallHandler: Sendable {
    /// Handles one call by sending exactly its replies: one reply, or for a `more` call several with
    /// `continues` set and a last one without. For a oneway call whatever is sent is discarded.
    ///
    /// Runs off the event loop and may block briefly (database work). Calls on one connection are
    /// handled one at a time, in order; different connections run concurrently. Returning without
    /// a final reply (other than for oneway calls) is a bug: the server then closes the connection.
    func handle(_ call: VarlinkCall, peer: PeerCredentials, replies: any VarlinkReplySink) async
}

/// Bounds on what peers can make the server hold.
public struct VarlinkServerLimits: Sendable {
    /// Longest message accepted, in bytes without the NUL; a longer one closes the connection.
    public var maxFrameSize: Int = FrameSplitter.defaultMaxFrameSize
    /// Connections open at once; further ones are closed as soon as they are accepted.
    public var maxConnections: Int = 256
    /// Connections open at once from one uid.
    public var maxConnectionsPerUID: Int = 64
    /// Calls received but not yet handled on one connection; beyond it, or once they hold `maxFrameSize` bytes
    /// decoded, the server stops reading it.
    public var maxQueuedCallsPerConnection: Int = 64
    /// A connection with no call in progress and no input for this long is closed, and one whose peer has left a reply
    /// unread for as long; nil keeps them forever.
    public var idleTimeout: TimeAmount? = .seconds(600)

    /// Every limit at its default, as each property states it; the daemon sets them from its config (`buildDaemon`).
    public init() {}

    /// The most memory one call may hold once decoded (`VarlinkCall.decode`): a largest frame's worth, and 1 MiB for
    /// the structure around its strings. A frame of 2-byte numbers decodes to twelve times its length: it is refused
    /// when it gets here, not when it has been built.
    public var maxDecodedCallSize: Int { maxFrameSize + 1024 * 1024 }

    /// Decoded bytes the calls waiting in all connections' queues may hold together: four largest frames. Past it,
    /// each connection stops reading once it has a call waiting, and reads again when that call is taken.
    public var maxQueuedBytesOfAllConnections: Int { 4 * maxFrameSize }
}

/// Why the server could not start, or why a send failed.
public enum VarlinkServerError: Error, Sendable, CustomStringConvertible {
    /// A live server accepts connections on the socket path.
    case alreadyListening(path: String)
    /// Something other than a socket exists at the path; it is left alone.
    case notASocket(path: String)
    /// The path does not fit in a Unix socket address.
    case invalidPath(path: String)
    /// A system call failed.
    case system(operation: String, path: String?, errno: Int32)
    /// The server is shutting down.
    case shuttingDown
    /// The peer went away; replies can no longer be delivered.
    case connectionClosed
    /// The connection was refused because of ``VarlinkServerLimits``.
    case tooManyConnections

    /// The failure in words, for the daemon's exit message and log.
    public var description: String {
        switch self {
        case .alreadyListening(let path):
            "another daemon is already listening on \(path)"
        case .notASocket(let path):
            "\(path) exists and is not a socket"
        case .invalidPath(let path):
            "\(path) is not usable as a Unix socket path"
        case .system(let operation, let path, let code):
            "\(operation)\(path.map { " \($0)" } ?? ""): \(String(cString: strerror(code)))"
        case .shuttingDown:
            "the server is shutting down"
        case .connectionClosed:
            "the connection is closed"
        case .tooManyConnections:
            "too many connections"
        }
    }
}

/// A varlink server on Unix stream sockets, built on SwiftNIO.
///
/// Each connection gets one task that takes its calls in order and runs the handler; frames are split
/// and decoded on the event loop. The server owns no threads: it runs on the given event loop group.
public final class VarlinkServer: Sendable {
    private let handler: any VarlinkCallHandler
    private let limits: VarlinkServerLimits
    private let group: any EventLoopGroup
    private let state = Mutex(State())
    private let queueBudget: QueuedCallBudget

    private struct State {
        var listeners: [any Channel] = []
        var socketFiles: [UnixSocketFile] = []
        var connections: [ObjectIdentifier: VarlinkServerConnection] = [:]
        var connectionsPerUID: [UInt32: Int] = [:]
        var stopping = false
        var shutdownTask: Task<Void, Never>?
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
    }

    /// A server handing each call to `handler`, within `limits`, on `group`'s event loops; it listens once bound.
    public init(handler: any VarlinkCallHandler, limits: VarlinkServerLimits = .init(), group: any EventLoopGroup) {
        precondition(limits.maxQueuedCallsPerConnection > 0, "maxQueuedCallsPerConnection must be positive")
        self.handler = handler
        self.limits = limits
        self.group = group
        self.queueBudget = QueuedCallBudget(limit: limits.maxQueuedBytesOfAllConnections)
    }

    /// The socket path of the first successful ``bind(path:mode:)``, if any.
    public var localPath: String? {
        state.withLock { $0.socketFiles.first?.path }
    }

    /// Binds a new Unix stream socket at `path` with file mode `mode` and starts accepting.
    ///
    /// A socket file left at `path` by a dead server is replaced; the mode is set before the socket
    /// listens, so no one connects under the umask's mode.
    /// - Throws: `VarlinkServerError.alreadyListening` when a live server answers on `path`,
    ///   `.notASocket` when another kind of file is there, `.system` when a system call fails,
    ///   `.shuttingDown` after ``shutdown()``.
    public func bind(path: String, mode: mode_t) async throws {
        guard !state.withLock({ $0.stopping }) else { throw VarlinkServerError.shuttingDown }
        let (descriptor, socketFile) = try UnixSocketFile.bind(path: path, mode: mode)
        let listener: any Channel
        do {
            listener = try await makeBootstrap().withBoundSocket(descriptor).get()
        } catch {
            socketFile.removeIfUnchanged()
            throw error
        }
        try await addListener(listener, socketFile: socketFile)
    }

    /// Serves an already bound and listening socket, e.g. fd 3 passed by systemd socket activation.
    ///
    /// The server takes ownership of the descriptor but never removes the socket file.
    /// - Throws: when NIO cannot use the descriptor, or `.shuttingDown` after ``shutdown()``.
    public func adopt(listeningSocket fd: CInt) async throws {
        guard !state.withLock({ $0.stopping }) else { throw VarlinkServerError.shuttingDown }
        let listener = try await makeBootstrap().withBoundSocket(fd).get()
        try await addListener(listener, socketFile: nil)
    }

    /// Stops accepting, lets the calls in progress finish and their replies be written, closes every
    /// connection and removes the socket files this server created. Calls still queued behind a call in
    /// progress are dropped. Safe to call more than once; every caller returns once it is done.
    public func shutdown() async {
        let task = state.withLock { state -> Task<Void, Never> in
            if let task = state.shutdownTask { return task }
            let task = Task { await self.performShutdown() }
            state.shutdownTask = task
            return task
        }
        await task.value
    }

    private func performShutdown() async {
        let listeners = state.withLock { state in
            state.stopping = true
            return state.listeners
        }
        for listener in listeners {
            let closed = listener.eventLoop.makePromise(of: Void.self)
            listener.close(promise: closed)
            try? await closed.futureResult.get()
        }
        let connections = state.withLock { Array($0.connections.values) }
        for connection in connections {
            connection.requestStop()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let drained = state.withLock { state in
                if state.connections.isEmpty { return true }
                state.drainWaiters.append(continuation)
                return false
            }
            if drained { continuation.resume() }
        }
        for socketFile in state.withLock({ $0.socketFiles }) {
            socketFile.removeIfUnchanged()
        }
    }

    private func addListener(_ listener: any Channel, socketFile: UnixSocketFile?) async throws {
        let added = state.withLock { state in
            guard !state.stopping else { return false }
            state.listeners.append(listener)
            if let socketFile { state.socketFiles.append(socketFile) }
            return true
        }
        guard added else {
            let closed = listener.eventLoop.makePromise(of: Void.self)
            listener.close(promise: closed)
            try? await closed.futureResult.get()
            socketFile?.removeIfUnchanged()
            throw VarlinkServerError.shuttingDown
        }
    }

    private func makeBootstrap() -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { [self] channel in
                self.initializeConnection(channel)
            }
    }

    /// Runs on the new connection's event loop, before it becomes active.
    private func initializeConnection(_ channel: any Channel) -> EventLoopFuture<Void> {
        guard let options = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let credentials: EventLoopFuture<LinuxPeerCredentials> = options.unsafeGetSocketOption(
            level: NIOBSDSocket.OptionLevel.socket,
            name: NIOBSDSocket.Option(rawValue: SO_PEERCRED)
        )
        return credentials.flatMapThrowing { credentials in
            let peer = PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
            try self.startConnection(channel, peer: peer)
        }
    }

    private func startConnection(_ channel: any Channel, peer: PeerCredentials) throws {
        let connection = VarlinkServerConnection(channel: channel, peer: peer, handler: handler, limits: limits,
                                                 queueBudget: queueBudget)
        let key = ObjectIdentifier(connection)
        try state.withLock { (state) throws(VarlinkServerError) in
            guard !state.stopping else { throw .shuttingDown }
            guard state.connections.count < limits.maxConnections,
                state.connectionsPerUID[peer.uid, default: 0] < limits.maxConnectionsPerUID
            else { throw .tooManyConnections }
            state.connections[key] = connection
            state.connectionsPerUID[peer.uid, default: 0] += 1
        }
        do {
            try channel.pipeline.syncOperations.addHandler(
                VarlinkChannelHandler(connection: connection, maxFrameSize: limits.maxFrameSize,
                                      maxDecodedCallSize: limits.maxDecodedCallSize, idleTimeout: limits.idleTimeout)
            )
        } catch {
            unregister(connection)
            throw error
        }
        // The connection's task runs on its channel's event loop (EventLoopTaskExecutor): no thread hand-over per call.
        Task(executorPreference: EventLoopTaskExecutor(channel.eventLoop)) {
            await connection.run()
            self.unregister(connection)
        }
    }

    private func unregister(_ connection: VarlinkServerConnection) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return [] }
            let uid = connection.peer.uid
            let remaining = state.connectionsPerUID[uid, default: 1] - 1
            state.connectionsPerUID[uid] = remaining > 0 ? remaining : nil
            guard state.stopping, state.connections.isEmpty else { return [] }
            defer { state.drainWaiters = [] }
            return state.drainWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Linux `struct ucred`, as filled by `getsockopt(SO_PEERCRED)` (Glibc does not export it to Swift).
private struct LinuxPeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
