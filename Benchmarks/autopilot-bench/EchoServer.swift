import AutopilotDomain
import AutopilotInterface
import Foundation
import Varlink
#if canImport(Glibc)
import Glibc
#endif

/// The cheapest varlink server this machine can run: one thread, `poll`, and for every call (every NUL-terminated
/// frame) the same prepared reply, without parsing anything. Driving it with the load generator shows what the
/// client side costs and how fast the loop can go, so a slow figure elsewhere can be told apart from a slow client.
final class EchoServer: @unchecked Sendable {
    let path: String
    private let listener: CInt
    private let wake: (read: CInt, write: CInt)
    private let reply: [UInt8]
    private let finished = DispatchSemaphore(value: 0)
    private var cpuClock = clockid_t(CLOCK_THREAD_CPUTIME_ID)
    private let started = DispatchSemaphore(value: 0)

    /// A reply shaped like a real `ValidateSubmission` answer (consented, one grant, no device results), so the
    /// client decodes the same amount of JSON as against the daemon.
    static let validateReply: [UInt8] = {
        let grant = Grant(
            id: "3f1d2c4b-5a69-4e7f-8a1b-2c3d4e5f6a7b", tenant: "6c0a9e2f-1b3d-4c5e-9f7a-8b9c0d1e2f3a",
            partner: "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", basis: .direct, via: nil,
            link: "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", delegatedAdmin: false, roles: [],
            grantedBy: "admin@benchtenant0.onmicrosoft.com", grantedAt: Timestamp(millisecondsSinceEpoch: 1_790_000_000_000),
            status: .active, endedAt: nil)
        return VarlinkReply(parameters: ["consented": .bool(true), "grant": grant.wire, "results": .array([])])
            .encoded()
    }()

    /// Binds `path` and starts serving on a thread of its own.
    init(path: String, reply: [UInt8] = EchoServer.validateReply) throws {
        self.path = path
        self.reply = reply
        unlink(path)
        var address = try unixSocketAddress(path)
        let fd = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            close(fd)
            throw BenchError("bind \(path): \(String(cString: strerror(errno)))")
        }
        listener = fd
        var pipeFDs: [CInt] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw BenchError("pipe: \(String(cString: strerror(errno)))") }
        wake = (pipeFDs[0], pipeFDs[1])
        let thread = Thread { [self] in self.serve() }
        thread.start()
        started.wait()
    }

    /// CPU seconds the serving thread used so far.
    var cpuSeconds: Double {
        var ts = timespec()
        clock_gettime(cpuClock, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Stops serving, closes every connection and removes the socket file.
    func stop() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        finished.wait()
        close(listener)
        close(wake.read)
        close(wake.write)
        unlink(path)
    }

    private func serve() {
        pthread_getcpuclockid(pthread_self(), &cpuClock)
        started.signal()
        var fds = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var out: [UInt8] = []
        serving: while true {
            guard poll(&fds, nfds_t(fds.count), -1) >= 0 else {
                if errno == EINTR { continue }
                break
            }
            if fds[0].revents != 0 { break serving }
            if fds[1].revents & Int16(POLLIN) != 0 {
                let client = accept(listener, nil, nil)
                if client >= 0 { fds.append(pollfd(fd: client, events: Int16(POLLIN), revents: 0)) }
            }
            var i = 2
            while i < fds.count {
                guard fds[i].revents != 0 else { i += 1; continue }
                let fd = fds[i].fd
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count <= 0 {
                    close(fd)
                    fds.remove(at: i)
                    continue
                }
                // One reply per complete frame received; a frame split across reads is answered when its NUL arrives.
                let frames = buffer[..<count].reduce(0) { $1 == 0 ? $0 + 1 : $0 }
                if frames > 0 {
                    out.removeAll(keepingCapacity: true)
                    for _ in 0..<frames { out += reply }
                    var offset = 0
                    while offset < out.count {
                        let written = out.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, CInt(MSG_NOSIGNAL)) }
                        if written <= 0 { if errno == EINTR { continue }; break }
                        offset += written
                    }
                }
                fds[i].revents = 0
                i += 1
            }
        }
        for entry in fds.dropFirst(2) { close(entry.fd) }
        finished.signal()
    }
}
