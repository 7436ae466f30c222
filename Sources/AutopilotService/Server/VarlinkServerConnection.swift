import NIOCore
import Synchronization
import Varlink

/// One accepted connection: the calls the event loop decoded, the task that handles them in order,
/// and the replies on their way back.
///
/// Replies are appended to a pending buffer; the first append schedules one event-loop task that writes
/// and flushes everything pending by then. A fast handler, or several pipelined calls, thus share one
/// write, while a lone reply goes out at once. `send` waits while the buffer is large or the channel is
/// not writable, which bounds memory per connection whatever the handler streams.
final class VarlinkServerConnection: Sendable {
    /// Pending replies beyond this many bytes make `send` wait for the event loop to take them.
    static let pendingReplyLimit = 64 * 1024
    /// How long the last replies may take to be written at close before the connection is dropped.
    static let closeLinger: TimeAmount = .seconds(10)

    let channel: any Channel
    let peer: PeerCredentials
    private let handler: any VarlinkCallHandler
    private let maxQueuedCalls: Int
    /// What the queued calls may hold, decoded, before reading stops: one largest frame, so that a peer pipelining
    /// large calls holds about as much memory as one sending a single largest call. Decoded, because that is what
    /// a queued call holds: a frame of small numbers or objects takes ten to twenty times its length (a peer that
    /// never read its replies made each connection hold 240 MB when the frames' lengths were counted).
    private let maxQueuedBytes: Int
    /// Reading resumes once the queue has drained to this many calls (and half of `maxQueuedBytes`), or is empty.
    private let resumeQueuedCalls: Int
    /// What the queues of all the server's connections hold together.
    private let queueBudget: QueuedCallBudget
    private let emptyBuffer: ByteBuffer
    private let input: Mutex<InputState>
    private let output: Mutex<OutputState>

    private struct InputState {
        var queue = CircularBuffer<(call: VarlinkCall, size: Int)>(initialCapacity: 4)
        /// Decoded bytes of the calls in `queue` (`VarlinkCall.decode`).
        var queuedBytes = 0
        var callWaiter: CheckedContinuation<VarlinkCall?, Never>?
        var inputEnded = false
        var closed = false
        var stopRequested = false
        var readingPaused = false
        var busy = false
        var idleSince = NIODeadline.now()
        /// Open-ended streams waiting for the connection to close or the server to stop (`untilEnded`).
        var endWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextEndWaiter: UInt64 = 0
    }

    private struct OutputState {
        var currentCall: UInt64 = 0
        var awaitingFinalReply = false
        var discardingReplies = false
        var pending: ByteBuffer
        var flushScheduled = false
        var writable = true
        var closed = false
        var writeWaiters: [CheckedContinuation<Void, any Error>] = []
        /// Since when a reply has been waiting for the peer to read (no room came since): see `replyWaitingSince`.
        var waitingForReaderSince: NIODeadline?
        var scratch: [UInt8] = []
    }

    init(channel: any Channel, peer: PeerCredentials, handler: any VarlinkCallHandler, limits: VarlinkServerLimits,
         queueBudget: QueuedCallBudget) {
        self.channel = channel
        self.peer = peer
        self.handler = handler
        self.maxQueuedCalls = limits.maxQueuedCallsPerConnection
        self.maxQueuedBytes = limits.maxFrameSize
        self.resumeQueuedCalls = limits.maxQueuedCallsPerConnection / 2
        self.queueBudget = queueBudget
        self.emptyBuffer = channel.allocator.buffer(capacity: 0)
        self.input = Mutex(InputState())
        self.output = Mutex(OutputState(pending: emptyBuffer))
    }

    // MARK: The connection's task

    /// Handles calls in order until the input ends, the server stops or the channel closes, then closes.
    func run() async {
        var callID: UInt64 = 0
        while let call = await nextCall() {
            callID &+= 1
            output.withLock { state in
                state.currentCall = callID
                state.awaitingFinalReply = true
                state.discardingReplies = call.oneway
            }
            await handler.handle(call, peer: peer, replies: ConnectionReplySink(connection: self, callID: callID))
            let unanswered = output.withLock { state in
                defer { state.awaitingFinalReply = false }
                return state.awaitingFinalReply && !state.discardingReplies && !state.closed
            }
            if unanswered { break }
        }
        await close()
    }

    private enum Next {
        case call(VarlinkCall, resumeReading: Bool)
        case finished
        case wait
    }

    private func takeNext(_ state: inout InputState) -> Next {
        if state.closed || state.stopRequested {
            state.busy = false
            return .finished
        }
        if let (call, size) = state.queue.popFirst() {
            state.busy = true
            state.queuedBytes -= size
            let allQueued = queueBudget.remove(size)
            // An empty queue always reads again, whatever the others hold: no connection waits on another's peer.
            let resume = state.readingPaused && (state.queue.isEmpty
                || state.queue.count <= resumeQueuedCalls && state.queuedBytes <= maxQueuedBytes / 2
                    && allQueued <= queueBudget.limit / 2)
            if resume { state.readingPaused = false }
            return .call(call, resumeReading: resume)
        }
        if state.busy {
            state.busy = false
            state.idleSince = .now()
        }
        return state.inputEnded ? .finished : .wait
    }

    private func nextCall() async -> VarlinkCall? {
        switch input.withLock({ takeNext(&$0) }) {
        case .call(let call, let resumeReading):
            if resumeReading { channel.pipeline.fireUserInboundEventTriggered(VarlinkResumeReading()) }
            return call
        case .finished:
            return nil
        case .wait:
            return await withCheckedContinuation { continuation in
                let next = input.withLock { state in
                    let next = takeNext(&state)
                    if case .wait = next { state.callWaiter = continuation }
                    return next
                }
                switch next {
                case .call(let call, let resumeReading):
                    if resumeReading { channel.pipeline.fireUserInboundEventTriggered(VarlinkResumeReading()) }
                    continuation.resume(returning: call)
                case .finished:
                    continuation.resume(returning: nil)
                case .wait:
                    break
                }
            }
        }
    }

    /// Writes what is pending, closes the output once it is written, then the whole channel.
    private func close() async {
        let channel = self.channel
        channel.eventLoop.execute {
            self.flushPending()
            let linger = channel.eventLoop.scheduleTask(in: Self.closeLinger) { channel.close(promise: nil) }
            let outputClosed = channel.eventLoop.makePromise(of: Void.self)
            channel.close(mode: .output, promise: outputClosed)
            outputClosed.futureResult.whenComplete { _ in
                linger.cancel()
                channel.close(promise: nil)
            }
        }
        try? await channel.closeFuture.get()
    }

    // MARK: Replies

    /// Queues one reply of call `callID`; see ``VarlinkReplySink/send(_:)``.
    func send(_ reply: VarlinkReply, callID: UInt64) async throws {
        try await send(callID: callID, continues: reply.continues) { reply.encode(into: &$0) }
    }

    /// Queues one successful reply of call `callID` whose parameters are JSON text already.
    func send(parametersText: [UInt8], continues: Bool, callID: UInt64) async throws {
        try await send(callID: callID, continues: continues) { bytes in
            VarlinkReply.encode(parametersText: parametersText, continues: continues, into: &bytes)
        }
    }

    /// Queues the reply `encode` appends (with its NUL) to the pending bytes, unless the call is over or oneway.
    private func send(callID: UInt64, continues: Bool, encode: (inout [UInt8]) -> Void) async throws {
        let (scheduleFlush, mustWait) = try output.withLock { (state) throws(VarlinkServerError) -> (Bool, Bool) in
            guard !state.closed else { throw .connectionClosed }
            guard state.currentCall == callID, state.awaitingFinalReply else { return (false, false) }
            if !continues { state.awaitingFinalReply = false }
            if state.discardingReplies { return (false, false) }
            state.scratch.removeAll(keepingCapacity: true)
            encode(&state.scratch)
            state.pending.writeBytes(state.scratch)
            let scheduleFlush = !state.flushScheduled
            state.flushScheduled = true
            return (scheduleFlush, !state.writable || state.pending.readableBytes >= Self.pendingReplyLimit)
        }
        if scheduleFlush {
            // A call's last reply, with no call queued behind it, on the loop (where the connection's task runs): no
            // other reply can join it before a flush scheduled now would run, so it is written at once, without the
            // loop task. A stream's replies and pipelined calls' replies still gather into one write.
            if !continues && channel.eventLoop.inEventLoop && input.withLock({ $0.queue.isEmpty }) {
                flushPending()
            } else {
                channel.eventLoop.execute { self.flushPending() }
            }
        }
        if mustWait {
            try await waitForRoom()
        }
    }

    private func waitForRoom() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready = output.withLock { state -> Result<Void, any Error>? in
                if state.closed { return .failure(VarlinkServerError.connectionClosed) }
                if state.writable && state.pending.readableBytes < Self.pendingReplyLimit { return .success(()) }
                state.writeWaiters.append(continuation)
                if state.waitingForReaderSince == nil { state.waitingForReaderSince = .now() }
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// On the event loop: writes and flushes the pending replies.
    private func flushPending() {
        let buffer = output.withLock { state in
            state.flushScheduled = false
            defer { state.pending = emptyBuffer }
            return state.pending
        }
        if buffer.readableBytes > 0 {
            channel.writeAndFlush(buffer, promise: nil)
        }
        resumeWritersIfRoom()
    }

    private func resumeWritersIfRoom() {
        let waiters = output.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard !state.writeWaiters.isEmpty, state.writable, state.pending.readableBytes < Self.pendingReplyLimit else {
                return []
            }
            defer { state.writeWaiters = []; state.waitingForReaderSince = nil }
            return state.writeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: Events from the event loop and the server

    /// On the event loop: a call was decoded from a frame of `size` bytes. Returns whether reading must pause.
    func enqueue(_ call: VarlinkCall, size: Int) -> Bool {
        let (pause, waiter) = input.withLock { state -> (Bool, CheckedContinuation<VarlinkCall?, Never>?) in
            if state.closed || state.stopRequested { return (true, nil) }
            if let waiter = state.callWaiter {
                state.callWaiter = nil
                state.busy = true
                return (false, waiter)
            }
            state.queue.append((call, size))
            state.queuedBytes += size
            let allQueued = queueBudget.add(size)
            if state.queue.count >= maxQueuedCalls || state.queuedBytes >= maxQueuedBytes || allQueued >= queueBudget.limit {
                state.readingPaused = true
                return (true, nil)
            }
            return (false, nil)
        }
        waiter?.resume(returning: call)
        return pause
    }

    /// On the event loop: the peer finished sending; calls already queued are still handled.
    func inputEnded() {
        let waiter = input.withLock { state in
            state.inputEnded = true
            defer { state.callWaiter = nil }
            return state.callWaiter
        }
        waiter?.resume(returning: nil)
    }

    /// Returns once the channel has closed, the server has asked the connection to stop, or the task is cancelled.
    func untilEnded() async {
        let id = input.withLock { state in
            state.nextEndWaiter += 1
            return state.nextEndWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ended = input.withLock { state in
                    if state.closed || state.stopRequested || Task.isCancelled { return true }
                    state.endWaiters[id] = continuation
                    return false
                }
                if ended { continuation.resume() }
            }
        } onCancel: {
            input.withLock { $0.endWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// On the event loop: the channel closed; queued calls are dropped and senders fail.
    func channelClosed() {
        let (callWaiter, endWaiters) = input.withLock { state in
            state.closed = true
            state.queue.removeAll()
            queueBudget.remove(state.queuedBytes)
            state.queuedBytes = 0
            defer { state.callWaiter = nil; state.endWaiters = [:] }
            return (state.callWaiter, Array(state.endWaiters.values))
        }
        for waiter in endWaiters { waiter.resume() }
        let writeWaiters = output.withLock { state in
            state.closed = true
            state.pending = emptyBuffer
            defer { state.writeWaiters = [] }
            return state.writeWaiters
        }
        callWaiter?.resume(returning: nil)
        for waiter in writeWaiters { waiter.resume(throwing: VarlinkServerError.connectionClosed) }
    }

    /// On the event loop: the channel's writability changed.
    func writabilityChanged(isWritable: Bool) {
        output.withLock { $0.writable = isWritable }
        if isWritable { resumeWritersIfRoom() }
    }

    /// From the server's shutdown: finish the call in progress, if any, then close.
    func requestStop() {
        let (waiter, endWaiters) = input.withLock { state in
            state.stopRequested = true
            defer { state.callWaiter = nil; state.endWaiters = [:] }
            return (state.callWaiter, Array(state.endWaiters.values))
        }
        waiter?.resume(returning: nil)
        for endWaiter in endWaiters { endWaiter.resume() }
    }

    /// Since when a reply has been waiting for the peer to read, if one is: the peer has read nothing since, or not
    /// enough to make room. The idle check closes a connection whose peer stopped reading for as long as the idle
    /// timeout, which frees the call and the queue it holds.
    func replyWaitingSince() -> NIODeadline? {
        output.withLock { $0.waitingForReaderSince }
    }

    /// Whether no call is queued or running, and since when.
    func idleState() -> (isIdle: Bool, since: NIODeadline) {
        input.withLock { state in
            (!state.busy && state.queue.isEmpty, state.idleSince)
        }
    }
}

/// Replies for one call; sends made after the call completed are ignored.
private struct ConnectionReplySink: VarlinkReplySink {
    let connection: VarlinkServerConnection
    let callID: UInt64

    func send(_ reply: VarlinkReply) async throws {
        try await connection.send(reply, callID: callID)
    }

    func send(parametersText: [UInt8], continues: Bool) async throws {
        try await connection.send(parametersText: parametersText, continues: continues, callID: callID)
    }

    func untilEnded() async {
        await connection.untilEnded()
    }
}

/// Sent through the pipeline by the connection's task when its queue has room again.
struct VarlinkResumeReading: Sendable {}

/// The decoded bytes of the calls waiting in every connection's queue, against the server's bound
/// (`VarlinkServerLimits.maxQueuedBytesOfAllConnections`). Past it, a connection stops reading as soon as it has a call waiting, so
/// that many pipelining peers together hold at most the bound and a call or two each, not their queues' worth each.
final class QueuedCallBudget: Sendable {
    let limit: Int
    private let queued = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts `size` more queued bytes; returns the new total.
    func add(_ size: Int) -> Int {
        queued.wrappingAdd(size, ordering: .relaxed).newValue
    }

    /// Counts `size` queued bytes fewer; returns the new total.
    @discardableResult
    func remove(_ size: Int) -> Int {
        queued.wrappingSubtract(size, ordering: .relaxed).newValue
    }
}
