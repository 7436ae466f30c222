import Glibc

/// A socket file this process created, identified by device and inode so that it is only removed
/// while it is still ours (a newer server may have replaced it).
struct UnixSocketFile: Sendable {
    let path: String
    let device: UInt64
    let inode: UInt64

    /// Creates a Unix stream socket bound at `path` with file mode `mode`, not yet listening.
    ///
    /// A stale socket file (nobody accepts on it) is removed first. The mode is set before `listen`,
    /// so no client can connect while the file still has the umask's mode.
    /// - Returns: the socket descriptor, owned by the caller, and the file it created.
    /// - Throws: `VarlinkServerError`.
    static func bind(path: String, mode: mode_t) throws(VarlinkServerError) -> (CInt, UnixSocketFile) {
        var address = try unixAddress(path)
        try removeIfStale(path: path, address: address)
        let descriptor = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .system(operation: "socket", path: nil, errno: errno) }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let code = errno
            close(descriptor)
            throw code == EADDRINUSE ? .alreadyListening(path: path) : .system(operation: "bind", path: path, errno: code)
        }
        var status = stat()
        guard chmod(path, mode) == 0, lstat(path, &status) == 0 else {
            let code = errno
            close(descriptor)
            unlink(path)
            throw .system(operation: "chmod", path: path, errno: code)
        }
        return (descriptor, UnixSocketFile(path: path, device: UInt64(status.st_dev), inode: UInt64(status.st_ino)))
    }

    /// Removes the socket file if it is still the one created here.
    func removeIfUnchanged() {
        var status = stat()
        guard lstat(path, &status) == 0, UInt64(status.st_dev) == device, UInt64(status.st_ino) == inode else { return }
        unlink(path)
    }

    /// Removes a socket file nobody listens on; leaves a missing path alone.
    /// - Throws: `.alreadyListening` when a server accepts on it, `.notASocket` for other file types.
    private static func removeIfStale(path: String, address: sockaddr_un) throws(VarlinkServerError) {
        var status = stat()
        if lstat(path, &status) != 0 {
            if errno == ENOENT { return }
            throw .system(operation: "stat", path: path, errno: errno)
        }
        guard status.st_mode & S_IFMT == S_IFSOCK else { throw .notASocket(path: path) }

        // Non-blocking, so a live but busy server (full backlog) cannot stall the probe.
        let probe = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue) | CInt(SOCK_NONBLOCK.rawValue), 0)
        guard probe >= 0 else { throw .system(operation: "socket", path: nil, errno: errno) }
        defer { close(probe) }
        var address = address
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 { throw .alreadyListening(path: path) }
        switch errno {
        case EAGAIN, EINPROGRESS:
            throw .alreadyListening(path: path)
        case ECONNREFUSED:
            if unlink(path) != 0 && errno != ENOENT {
                throw .system(operation: "unlink", path: path, errno: errno)
            }
        case ENOENT:
            return
        case let code:
            throw .system(operation: "connect", path: path, errno: code)
        }
    }

    private static func unixAddress(_ path: String) throws(VarlinkServerError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: address.sun_path), !bytes.contains(0) else {
            throw .invalidPath(path: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { sunPath in
            sunPath.copyBytes(from: bytes)
            sunPath[bytes.count] = 0
        }
        return address
    }
}
