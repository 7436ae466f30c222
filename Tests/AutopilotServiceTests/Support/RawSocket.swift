import Foundation
import Varlink

/// A bare Unix stream socket to the daemon, for bytes that are not valid varlink and for watching what the daemon
/// does with them: which replies come back, and whether it closes the connection.
/// Reading and writing may happen on two threads at once (one each); nothing else is shared.
final class RawSocket: @unchecked Sendable {
    /// How reading ended.
    enum End: Equatable {
        /// The number of final replies asked for arrived.
        case complete
        /// The daemon closed the connection.
        case closed
        /// Nothing more arrived within the timeout: the connection was left open.
        case timedOut
        /// The daemon sent something that is not a varlink reply.
        case garbage(String)
    }

    private(set) var fd: CInt
    private var splitter = FrameSplitter(maxFrameSize: 1 << 30)

    /// Connects to `path`; reads give up after `timeout` seconds of silence.
    init(path: String, timeout: Int = 20) throws {
        fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestFailure("connect \(path): \(String(cString: strerror(code)))")
        }
        var time = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Writes all of `bytes`; returns false when the daemon closed the connection first.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, CInt(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return false
            }
        }
        return true
    }

    /// Tells the daemon nothing more will be sent.
    func shutdownWrite() { shutdown(fd, CInt(SHUT_WR)) }

    /// Reads replies until `finalReplies` replies without `continues` arrived (or `anyReplies` replies of any kind),
    /// the daemon closed, or it went silent.
    func read(finalReplies: Int = .max, anyReplies: Int = .max) -> (replies: [VarlinkReply], end: End) {
        var replies: [VarlinkReply] = []
        var finals = 0
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            do {
                while let frame = try splitter.nextFrame() {
                    let reply = try VarlinkReply(frame: frame)
                    replies.append(reply)
                    if !reply.continues { finals += 1 }
                    if finals >= finalReplies || replies.count >= anyReplies { return (replies, .complete) }
                }
            } catch {
                return (replies, .garbage("\(error)"))
            }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.withUnsafeBytes { splitter.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            } else if count == 0 || errno == ECONNRESET {
                return (replies, splitter.bufferedByteCount == 0 ? .closed : .garbage("a partial reply, then closed"))
            } else if errno == EINTR {
                continue
            } else {
                return (replies, .timedOut)
            }
        }
    }
}
