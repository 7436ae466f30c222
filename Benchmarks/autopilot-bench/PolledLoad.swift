import Foundation
import Histogram
#if canImport(Glibc)
import Glibc
#endif

/// The calls a polled closed loop makes, and how it knows an answer is right without decoding it.
struct PolledCalls {
    /// Call frames; connection `k` sends them in turn from index `k × 7919`.
    var frames: [[UInt8]]
    /// Bytes every correct reply contains (e.g. `"consented":true`). A reply without them, or an error reply, fails
    /// the run.
    var expect: [UInt8]
    /// How replies are delimited and how an error looks.
    var protocolKind: WireProtocol = .varlink
}

/// The two protocols the generator speaks: the same loop drives the daemon and redis, so that a ratio between
/// them compares the servers, not two clients.
enum WireProtocol {
    /// Varlink: each reply ends with a NUL; an error reply has an `"error"` member.
    case varlink
    /// RESP, for redis `GET`: a bulk string `$LEN\r\nDATA\r\n`; an error reply starts with `-`.
    case redis

    /// The length of the first complete reply at the start of `bytes`, or nil while it is incomplete.
    func replyLength(_ bytes: [UInt8]) -> Int? {
        switch self {
        case .varlink:
            return bytes.firstIndex(of: 0).map { $0 + 1 }
        case .redis:
            guard let cr = bytes.firstIndex(of: 13), cr + 1 < bytes.count else { return nil }
            guard bytes.first == UInt8(ascii: "$") else { return cr + 2 }  // a simple string or an error: one line
            // The length's digits are read in place: no String per reply in the loop that drives redis.
            var length = 0
            for digit in bytes[1..<cr] {
                guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { length = -1; break }
                length = length * 10 + Int(digit - UInt8(ascii: "0"))
            }
            let total = length < 0 ? cr + 2 : cr + 2 + length + 2
            return bytes.count >= total ? total : nil
        }
    }

    /// The member every varlink error reply has, made once rather than per reply.
    private static let errorMember = Array(#""error":"#.utf8)

    /// Whether a complete reply is an error.
    func isError(_ reply: ArraySlice<UInt8>) -> Bool {
        switch self {
        case .varlink: return contains(reply, Self.errorMember)
        case .redis: return reply.first != UInt8(ascii: "$")
        }
    }
}

/// Runs `connections` closed loops from one thread, as `redis-benchmark` drives redis: every connection sends a
/// prepared call, and `poll(2)` tells which replies arrived; each reply is checked for `expect` and answered with the
/// connection's next call. `warmup` seconds run unmeasured, then `duration` seconds measured; a call counts when it was
/// sent inside the window. The CPU samples are taken on this thread at the window's edges.
///
/// Against the thread-per-connection loop (`runClosedLoop`), whose blocking client decodes every reply as
/// `autopilotctl` does, this costs a third of the CPU per call; since the generator and the server share the
/// machine's cores, that CPU is what the comparison with redis (driven by an equally lean client) must not include.
func runPolledLoop(socket path: String, connections: Int, duration: Double, warmup: Double,
                   serverCPU: (() -> Double)? = nil, calls: PolledCalls) throws -> LoadResult {
    guard !calls.frames.isEmpty else { throw BenchError("no call to send") }
    var links: [PolledConnection] = []
    defer { for link in links { close(link.fd) } }
    for k in 0..<connections {
        links.append(PolledConnection(fd: try connectUnix(path), next: (k * 7919) % calls.frames.count))
    }
    var pollSet = links.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
    var histogram = latencyHistogram()
    var count = 0
    var scratch = [UInt8](repeating: 0, count: 64 * 1024)
    let wire = calls.protocolKind

    let start = monotonicNanoseconds()
    let windowStart = start + UInt64(warmup * 1e9)
    let windowEnd = windowStart + UInt64(duration * 1e9)
    var clientBefore: Double?, serverBefore: Double?
    var clientAfter: Double?, serverAfter: Double?
    for k in links.indices { try links[k].send(calls.frames, at: start) }
    var open = connections

    while open > 0 {
        let now = monotonicNanoseconds()
        if clientBefore == nil && now >= windowStart { clientBefore = processCPUSeconds(); serverBefore = serverCPU?() }
        if clientAfter == nil && now >= windowEnd { clientAfter = processCPUSeconds(); serverAfter = serverCPU?() }
        if now >= windowEnd + 30_000_000_000 { throw BenchError("\(open) connections got no reply for 30 s") }
        let ready = poll(&pollSet, nfds_t(pollSet.count), 100)
        if ready < 0 {
            if errno == EINTR { continue }
            throw BenchError("poll: \(String(cString: strerror(errno)))")
        }
        guard ready > 0 else { continue }
        for k in pollSet.indices where pollSet[k].revents != 0 && links[k].waiting {
            let got = scratch.withUnsafeMutableBytes { read(links[k].fd, $0.baseAddress, $0.count) }
            if got < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard got > 0 else { throw BenchError("connection \(k): the server closed the connection") }
            links[k].received.append(contentsOf: scratch[0..<got])
            guard let length = wire.replyLength(links[k].received) else { continue }
            let reply = links[k].received[..<length]
            if !contains(reply, calls.expect) || wire.isError(reply) {
                let text = String(decoding: reply.prefix(300), as: UTF8.self)
                throw BenchError("connection \(k): unexpected reply \(text)")
            }
            guard length == links[k].received.count else {
                throw BenchError("connection \(k): a reply arrived that no call asked for")
            }
            links[k].received.removeAll(keepingCapacity: true)
            let done = monotonicNanoseconds()
            if links[k].sentAt >= windowStart && links[k].sentAt < windowEnd {
                histogram.record(done - links[k].sentAt)
                count += 1
            }
            if done >= windowEnd {
                links[k].waiting = false
                pollSet[k].events = 0
                open -= 1
            } else {
                try links[k].send(calls.frames, at: done)
            }
        }
    }
    return LoadResult(
        connections: connections, calls: count, errors: 0, firstError: nil, seconds: duration, histogram: histogram,
        clientCPUSeconds: (clientAfter ?? processCPUSeconds()) - (clientBefore ?? 0),
        serverCPUSeconds: serverBefore.flatMap { before in (serverAfter ?? serverCPU?()).map { $0 - before } })
}

private struct PolledConnection {
    let fd: CInt
    var next: Int
    var sentAt: UInt64 = 0
    var waiting = true
    var received: [UInt8] = []

    init(fd: CInt, next: Int) {
        self.fd = fd
        self.next = next
        received.reserveCapacity(4096)
    }

    /// Writes the next call whole (a call is far smaller than the socket's buffer, which holds nothing else).
    mutating func send(_ frames: [[UInt8]], at time: UInt64) throws {
        let frame = frames[next]
        next = (next + 1) % frames.count
        sentAt = time
        var offset = 0
        while offset < frame.count {
            let sent = frame.withUnsafeBytes { write(fd, $0.baseAddress! + offset, frame.count - offset) }
            if sent < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw BenchError("write: \(String(cString: strerror(errno)))")
            }
            offset += sent
        }
    }
}

/// A connected Unix stream socket, non-blocking unless asked.
func connectUnix(_ path: String, nonBlocking: Bool = true) throws -> CInt {
    var address = try unixSocketAddress(path)
    let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else {
        let reason = String(cString: strerror(errno))
        close(fd)
        throw BenchError("connect \(path): \(reason)")
    }
    if nonBlocking { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    return fd
}

/// Whether `needle` occurs in `haystack`, with `memchr` and `memcmp`: the standard library's `firstRange(of:)` made
/// the generator ten times as costly per call (27 µs instead of 2.6 against the echo server).
func contains(_ haystack: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
    guard let first = needle.first else { return true }
    return haystack.withUnsafeBytes { h in
        needle.withUnsafeBytes { n in
            guard h.count >= n.count else { return false }
            var i = 0
            while i <= h.count - n.count {
                guard let found = memchr(h.baseAddress! + i, Int32(first), h.count - n.count - i + 1) else { return false }
                i = h.baseAddress!.distance(to: UnsafeRawPointer(found))
                if memcmp(h.baseAddress! + i, n.baseAddress!, n.count) == 0 { return true }
                i += 1
            }
            return false
        }
    }
}
