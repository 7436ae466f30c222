import NIOCore
import Varlink

/// The event-loop side of a connection: splits the byte stream into frames, decodes calls and hands
/// them to the connection's queue; holds back reads while that queue is full; closes the connection on
/// a protocol violation, after the idle timeout, or when its peer has read no reply for as long.
final class VarlinkChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let connection: VarlinkServerConnection
    private let idleTimeout: TimeAmount?
    private let maxDecodedCallSize: Int
    private var splitter: FrameSplitter
    /// The connection's queue is full: decode no more frames and hold back reads.
    private var paused = false
    /// A read was requested while paused.
    private var readHeld = false
    private var inputClosed = false
    private var inputEndReported = false
    private var failed = false
    private var lastInput = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    init(connection: VarlinkServerConnection, maxFrameSize: Int, maxDecodedCallSize: Int, idleTimeout: TimeAmount?) {
        self.connection = connection
        self.idleTimeout = idleTimeout
        self.maxDecodedCallSize = maxDecodedCallSize
        self.splitter = FrameSplitter(maxFrameSize: maxFrameSize)
    }

    func channelActive(context: ChannelHandlerContext) {
        if let idleTimeout { scheduleIdleCheck(context: context, at: .now() + idleTimeout) }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleCheck?.cancel()
        idleCheck = nil
        connection.channelClosed()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = Self.unwrapInboundIn(data)
        if idleTimeout != nil { lastInput = .now() }
        buffer.withUnsafeReadableBytes { splitter.append($0) }
        decodeCalls(context: context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is VarlinkResumeReading {
            paused = false
            decodeCalls(context: context)
            if !paused && readHeld {
                readHeld = false
                context.read()
            }
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            decodeCalls(context: context)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A failing socket (reset by peer, …) only ends this connection.
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if paused {
            readHeld = true
        } else {
            context.read()
        }
    }

    /// Hands complete frames to the connection until the input runs out or the queue is full.
    private func decodeCalls(context: ChannelHandlerContext) {
        while !paused && !failed {
            let call: VarlinkCall
            let size: Int
            do {
                // Parsed where it was received: a 4 MB upload is not copied out of the buffer first, and the pages
                // of the buffer are given back as the parser passes them, so the upload's bytes and the string they
                // decode to are not both held (docs/performance.md, peak RSS).
                // The queues count what the call holds decoded, not its frame's length (VarlinkServerConnection).
                guard let frame = try splitter.nextFrameBounds() else { break }
                (call, size) = try splitter.withConsumableBytes(in: frame) { bytes throws(VarlinkProtocolError) in
                    try VarlinkCall.decode(consumingFrame: bytes, maxDecodedSize: maxDecodedCallSize)
                }
            } catch {
                // Oversized (as text or decoded) or undecodable message: the peer does not speak varlink; hang up.
                failed = true
                context.close(promise: nil)
                return
            }
            if connection.enqueue(call, size: size) { paused = true }
        }
        splitter.releaseConsumed()
        if inputClosed && !paused && !failed && !inputEndReported {
            inputEndReported = true
            connection.inputEnded()
        }
    }

    private func scheduleIdleCheck(context: ChannelHandlerContext, at deadline: NIODeadline) {
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.checkIdle(context: context)
        }
    }

    private func checkIdle(context: ChannelHandlerContext) {
        guard let idleTimeout, context.channel.isActive else { return }
        let (isIdle, idleSince) = connection.idleState()
        let lastActivity = max(idleSince, lastInput)
        let now = NIODeadline.now()
        if isIdle && now - lastActivity >= idleTimeout {
            context.close(promise: nil)
        } else if let waiting = connection.replyWaitingSince(), now - waiting >= idleTimeout {
            // A call in progress, but the peer has not read its replies for as long: it is not coming back for them.
            context.close(promise: nil)
        } else {
            scheduleIdleCheck(context: context, at: isIdle ? lastActivity + idleTimeout : now + idleTimeout)
        }
    }
}

@available(*, unavailable)
extension VarlinkChannelHandler: Sendable {}
