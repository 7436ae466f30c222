import Foundation

/// sd_notify without libsystemd: datagrams to the socket named by `NOTIFY_SOCKET` (a path, or `@name` for the
/// abstract namespace).
public struct SystemdNotifier: Sendable {
    /// `NOTIFY_SOCKET` as systemd gave it: a path, or `@name` for the abstract namespace.
    public let socketPath: String

    /// How long one notification may wait for room in the receiver's queue before it is given up; a busy service
    /// manager must not stall the daemon.
    public static let sendTimeout = timeval(tv_sec: 2, tv_usec: 0)

    /// A notifier sending to `socketPath`.
    public init(socketPath: String) { self.socketPath = socketPath }

    /// The notifier for this process, when systemd (or a test) set `NOTIFY_SOCKET` to an absolute path or an
    /// abstract `@name` that fits in a socket address.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> SystemdNotifier? {
        guard let path = environment["NOTIFY_SOCKET"], path.count >= 2, path.hasPrefix("/") || path.hasPrefix("@"),
              Self.address(for: path) != nil
        else { return nil }
        return SystemdNotifier(socketPath: path)
    }

    /// The socket address for a path or `@name` and its length, or nil when it does not fit in `sun_path`.
    static func address(for path: String) -> (sockaddr_un, socklen_t)? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        // A path needs room for its terminating NUL; an abstract name is counted by the address length alone.
        guard abstract || !bytes.contains(0), bytes.count <= (abstract ? capacity : capacity - 1) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes) }
        let length = MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1)
        return (address, socklen_t(length))
    }

    /// Sends one notification (`READY=1`, `STATUS=…`, `WATCHDOG=1`…; several may be joined with newlines).
    /// Returns false when it could not be sent (no such socket, queue full for `sendTimeout`…).
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let (target, length) = Self.address(for: socketPath) else { return false }
        var address = target
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = Self.sendTimeout
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let payload = Array(message.utf8)
        var sent: Int
        repeat {
            sent = payload.withUnsafeBytes { text in
                withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        sendto(fd, text.baseAddress, text.count, Int32(MSG_NOSIGNAL), sa, length)
                    }
                }
            }
        } while sent < 0 && errno == EINTR
        return sent == payload.count
    }

    /// Half of `WATCHDOG_USEC` when it is set for this process (`WATCHDOG_PID` absent or equal to our pid), as
    /// sd_watchdog_enabled advises; nil when the watchdog is off or the values are malformed.
    public static func watchdogInterval(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let text = environment["WATCHDOG_PID"] {
            guard let pid = pid_t(text), pid == getpid() else { return nil }
        }
        return .microseconds(Int64(usec / 2))
    }
}

/// systemd socket activation: the listening sockets passed as fd 3, 4, … when `LISTEN_PID` names this process.
public enum SocketActivation {
    /// `SD_LISTEN_FDS_START`: systemd passes the first listening socket as fd 3.
    public static let firstDescriptor: CInt = 3
    /// More descriptors than this in `LISTEN_FDS` is taken as a malformed environment, not as sockets.
    public static let maxDescriptors: CInt = 1024

    /// The inherited descriptors, or an empty array when the process was not socket-activated. They are marked
    /// close-on-exec, as sd_listen_fds does, so that no child process inherits them.
    public static func listenDescriptors(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> [CInt] {
        guard let text = environment["LISTEN_PID"], let pid = pid_t(text), pid == getpid(),
              let countText = environment["LISTEN_FDS"], let count = CInt(countText), count > 0, count <= maxDescriptors
        else { return [] }
        let descriptors = (0..<count).map { firstDescriptor + $0 }
        for fd in descriptors {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
        return descriptors
    }

    /// Why `fd` cannot be served as a varlink socket (not open, not a Unix stream socket, not listening), or nil
    /// when it can; a misconfigured socket unit then fails with this reason instead of an obscure error.
    public static func problem(withListeningSocket fd: CInt) -> String? {
        func option(_ name: CInt) -> CInt? {
            var value: CInt = 0
            var size = socklen_t(MemoryLayout<CInt>.size)
            return getsockopt(fd, SOL_SOCKET, name, &value, &size) == 0 ? value : nil
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return "inherited fd \(fd) is not open" }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { return "inherited fd \(fd) is not a socket" }
        guard option(SO_DOMAIN) == AF_UNIX, option(SO_TYPE) == CInt(SOCK_STREAM.rawValue) else {
            return "inherited fd \(fd) is not a Unix stream socket (use ListenStream= with a path)"
        }
        guard option(SO_ACCEPTCONN) == 1 else { return "inherited fd \(fd) is not listening" }
        return nil
    }

    /// Removes the activation variables so child processes do not inherit them.
    public static func clearEnvironment() {
        unsetenv("LISTEN_PID"); unsetenv("LISTEN_FDS"); unsetenv("LISTEN_FDNAMES")
    }
}
