import Glibc
import Varlink

/// Why a varlink call from the client failed.
public enum VarlinkClientError: Error, Sendable, CustomStringConvertible {
    /// The socket could not be connected (`ENOENT`, `ECONNREFUSED`: the daemon is probably not running).
    case cannotConnect(path: String, errno: Int32)
    /// The daemon closed the connection before a complete reply arrived.
    case connectionClosed
    /// The daemon sent something that is not a valid varlink reply, or the socket failed.
    case protocolError(String)
    /// The daemon answered with an error.
    case remote(VarlinkError)

    /// The failure in one line for people: the path and the system's reason, or the daemon's error as it came.
    public var description: String {
        switch self {
        case .cannotConnect(let path, let code):
            "cannot connect to \(path): \(String(cString: strerror(code)))"
        case .connectionClosed:
            "the daemon closed the connection"
        case .protocolError(let reason):
            "varlink protocol error: \(reason)"
        case .remote(let error):
            error.description
        }
    }
}

/// A blocking varlink connection over a Unix stream socket.
///
/// Not thread-safe: use one connection per thread. Replies come back in call order, so several calls
/// may be sent with ``send(_:)`` before reading their replies with ``receive()``.
public final class VarlinkConnection {
    /// Bytes asked of the kernel per read.
    private static let readChunkSize = 64 * 1024

    private var fd: CInt
    private var splitter = FrameSplitter()
    private var readBuffer = [UInt8](repeating: 0, count: readChunkSize)

    /// Connects to the varlink socket at `path`.
    ///
    /// - Throws: `.cannotConnect` with the `errno` of the failed `socket` or `connect`.
    public init(path: String) throws(VarlinkClientError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !pathBytes.isEmpty, pathBytes.count < capacity, !pathBytes.contains(0) else {
            throw .cannotConnect(path: path, errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            sunPath.copyBytes(from: pathBytes)
            sunPath[pathBytes.count] = 0
        }
        fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .cannotConnect(path: path, errno: errno) }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connectRetryingInterrupts(fd, $0) }
        }
        if result != 0 {
            let code = errno
            Glibc.close(fd)
            fd = -1
            throw .cannotConnect(path: path, errno: code)
        }
    }

    deinit {
        close()
    }

    /// Calls `method` and returns the reply parameters.
    ///
    /// - Throws: `.remote` when the daemon answers with an error; `.connectionClosed` or `.protocolError`
    ///   when the connection fails.
    public func call(_ method: String, _ parameters: JSONObject = [:]) throws(VarlinkClientError) -> JSONObject {
        try send(VarlinkCall(method: method, parameters: parameters))
        let reply = try receive()
        if let error = reply.varlinkError { throw .remote(error) }
        guard !reply.continues else { throw .protocolError("streamed reply to a call without \"more\"") }
        return reply.parameters
    }

    /// Calls `method` with `more` and passes each reply's parameters to `each`, until the final reply.
    ///
    /// - Throws: `VarlinkClientError` as ``call(_:_:)``, or whatever `each` throws (the connection is then
    ///   closed, since unread replies would be mistaken for those of the next call).
    public func callMore(_ method: String, _ parameters: JSONObject = [:], _ each: (JSONObject) throws -> Void) throws {
        try send(VarlinkCall(method: method, parameters: parameters, more: true))
        while true {
            let reply = try receive()
            if let error = reply.varlinkError { throw VarlinkClientError.remote(error) }
            do {
                try each(reply.parameters)
            } catch {
                if reply.continues { close() }
                throw error
            }
            if !reply.continues { return }
        }
    }

    /// Writes one call without waiting for its reply.
    ///
    /// - Throws: `.connectionClosed` when the daemon went away, `.protocolError` on other socket errors.
    public func send(_ call: VarlinkCall) throws(VarlinkClientError) {
        try writeAll(call.encoded())
    }

    /// Writes raw bytes, e.g. a hand-made frame with its NUL; for tests and benchmarks.
    ///
    /// - Throws: `.connectionClosed` when the daemon went away, `.protocolError` on other socket errors.
    public func sendRaw(_ bytes: [UInt8]) throws(VarlinkClientError) {
        try writeAll(bytes)
    }

    /// Reads the next reply.
    ///
    /// - Throws: `.connectionClosed` when the daemon closed the connection first, `.protocolError` when
    ///   the reply is malformed or too large.
    public func receive() throws(VarlinkClientError) -> VarlinkReply {
        guard fd >= 0 else { throw .connectionClosed }
        while true {
            let frame: [UInt8]?
            do {
                frame = try splitter.nextFrame()
            } catch {
                throw .protocolError(error.description)
            }
            if let frame {
                do {
                    return try VarlinkReply(frame: frame)
                } catch {
                    throw .protocolError(error.reason)
                }
            }
            let count = readBuffer.withUnsafeMutableBytes { buffer in
                recv(fd, buffer.baseAddress, buffer.count, 0)
            }
            if count > 0 {
                readBuffer.withUnsafeBytes { splitter.append(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            } else if count == 0 {
                throw .connectionClosed
            } else if errno != EINTR {
                throw socketError("recv")
            }
        }
    }

    /// Closes the socket; later calls fail with `.connectionClosed`.
    public func close() {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }

    private func writeAll(_ bytes: [UInt8]) throws(VarlinkClientError) {
        guard fd >= 0 else { throw .connectionClosed }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, CInt(MSG_NOSIGNAL))
            }
            if written >= 0 {
                offset += written
            } else if errno != EINTR {
                throw socketError("send")
            }
        }
    }

    private func socketError(_ operation: String) -> VarlinkClientError {
        let code = errno
        if code == EPIPE || code == ECONNRESET { return .connectionClosed }
        return .protocolError("\(operation): \(String(cString: strerror(code)))")
    }
}

/// `connect`, waiting for completion when a signal interrupts it.
private func connectRetryingInterrupts(_ socket: CInt, _ address: UnsafePointer<sockaddr>) -> CInt {
    if connect(socket, address, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 { return 0 }
    guard errno == EINTR else { return -1 }
    // The connection continues in the background; wait until it settles and fetch its outcome.
    var descriptor = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
    while poll(&descriptor, 1, -1) < 0 {
        guard errno == EINTR else { return -1 }
    }
    var error: CInt = 0
    var length = socklen_t(MemoryLayout<CInt>.size)
    guard getsockopt(socket, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return -1 }
    if error != 0 {
        errno = error
        return -1
    }
    return 0
}
