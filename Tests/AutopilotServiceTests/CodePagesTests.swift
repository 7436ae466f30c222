import CProcessMemory
import Foundation
import Testing

/// The daemon gives back the pages of code it mapped and is not running: once when it is ready, then whenever it has
/// had no call for `idle_release_seconds` (docs/performance.md, "Peak and idle RSS").
@Suite(.serialized) struct CodePagesTests {
    /// `RssFile` of a process (file pages mapped: its code, read-only data, libraries), in KiB.
    static func residentFileKiB(pid: Int32 = getpid()) throws -> Int { try procStatusKiB("RssFile", pid: pid) }

    /// This process's pagemap entry for the page holding `address`.
    static func pagemapEntry(_ address: UInt) throws -> UInt64 {
        let fd = open("/proc/self/pagemap", O_RDONLY)
        guard fd >= 0 else { throw TestFailure("cannot open /proc/self/pagemap") }
        defer { close(fd) }
        var entry: UInt64 = 0
        let offset = off_t(address / UInt(sysconf(Int32(_SC_PAGESIZE)))) * 8
        guard pread(fd, &entry, 8, offset) == 8 else { throw TestFailure("cannot read /proc/self/pagemap") }
        return entry
    }

    /// Pagemap bits (the kernel's admin-guide/mm/pagemap): the page is mapped; it is a file page or shared anonymous.
    static let pagePresent: UInt64 = 1 << 63, pageFileOrShared: UInt64 = 1 << 61

    /// Whether a pagemap entry is a page mapped privately (present, not a file or shared page).
    static func isPrivateCopy(_ entry: UInt64) -> Bool {
        entry & pagePresent != 0 && entry & pageFileOrShared == 0
    }

    @Test func releasingUnmapsThisProcessCodeWhichGoesOnRunning() throws {
        let before = try Self.residentFileKiB()
        let released = process_memory_release_code_pages()
        let after = try Self.residentFileKiB()
        #expect(released > 1_048_576, "released \(released) bytes")
        #expect(after + 1024 < before, "RssFile \(before) KiB before, \(after) KiB after")
        // Everything still runs from the pages mapped again on demand.
        let squares: [Int] = (1...1000).map { $0 * $0 }
        let sum: Int = squares.reduce(0, +)
        #expect(sum == 333_833_500)
    }

    /// A page of code with a private copy (what a debugger's breakpoint or a uprobe makes) holds bytes the file does
    /// not; unmapping it would lose them, so it stays.
    @Test func aPageOfCodeWithAPrivateCopyIsKept() throws {
        let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let function: @convention(c) () -> Int = process_memory_release_code_pages
        let address = UInt(bitPattern: unsafeBitCast(function, to: UnsafeRawPointer.self))
        let page = UnsafeMutableRawPointer(bitPattern: address & ~(pageSize - 1))!
        try #require(mprotect(page, Int(pageSize), PROT_READ | PROT_WRITE | PROT_EXEC) == 0)
        page.storeBytes(of: page.load(as: UInt8.self), as: UInt8.self)  // the same byte: a private copy, same code
        try #require(mprotect(page, Int(pageSize), PROT_READ | PROT_EXEC) == 0)
        let copied = try Self.pagemapEntry(UInt(bitPattern: page))
        try #require(Self.isPrivateCopy(copied), "not a private copy: \(String(copied, radix: 16))")

        #expect(process_memory_release_code_pages() > 0)

        // Released, the page would have been mapped again from the file to run the function on it.
        let entry = try Self.pagemapEntry(UInt(bitPattern: page))
        #expect(Self.isPrivateCopy(entry), "pagemap entry \(String(entry, radix: 16))")
    }

    @Test func theDaemonReleasesItsCodeWhenReadyAndAfterAQuietSpell() throws {
        let daemon = try TestDaemon(config: ["idle_release_seconds = 1", "log_level = debug"])
        defer { daemon.cleanup() }
        try Self.waitFor(daemon, "when=ready")
        _ = try daemon.call("WhoAmI")
        _ = try daemon.call("GetStatus")
        let busy = try Self.residentFileKiB(pid: daemon.pid)
        try Self.waitFor(daemon, "when=idle")
        let quiet = try Self.residentFileKiB(pid: daemon.pid)
        #expect(quiet < busy * 3 / 4, "RssFile \(busy) KiB after the calls, \(quiet) KiB after the quiet spell")
        // One release per quiet spell: none while nothing is called, and no timer waking the daemon to look (the
        // loop used to wake 4 times a second here, at about 20 context switches a second; the rest of an idle
        // daemon wakes about once a second).
        let before = try Self.contextSwitches(pid: daemon.pid)
        Thread.sleep(forTimeInterval: 2)
        let woken = try Self.contextSwitches(pid: daemon.pid, since: before)
        #expect(daemon.log.components(separatedBy: "when=idle").count == 2, "\(daemon.log)")
        #expect(woken <= 10, "\(woken) context switches in 2 s without calls")

        // The next call runs as before, and the next quiet spell releases again.
        let status = try daemon.call("GetStatus")
        #expect(status["schemaVersion"] != nil, "\(status)")
        try Self.waitFor(daemon, "when=idle", count: 2)
    }

    /// Waits up to 20 s for the daemon's `RssFile` to fall below three quarters of what it is now (just after a call).
    static func expectCodeReleasedWhenQuiet(_ daemon: TestDaemon, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let busy = try residentFileKiB(pid: daemon.pid)
        let deadline = Date().addingTimeInterval(20)
        var quiet = busy
        while quiet >= busy * 3 / 4 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.25)
            quiet = try residentFileKiB(pid: daemon.pid)
        }
        #expect(quiet < busy * 3 / 4, "RssFile \(busy) KiB after the call, \(quiet) KiB 20 s later",
                sourceLocation: sourceLocation)
    }

    /// Context switches of each thread of a process, by thread id.
    static func contextSwitches(pid: Int32) throws -> [String: Int] {
        var switches: [String: Int] = [:]
        for thread in try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task") {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/status", encoding: .utf8)
            else { continue }  // the thread has just ended
            switches[thread] = status.split(separator: "\n").filter { $0.contains("ctxt_switches:") }
                .compactMap { Int($0.split(separator: "\t").last ?? "") }.reduce(0, +)
        }
        return switches
    }

    /// Context switches of a process's threads since `earlier` (a thread that ended in between is not counted).
    static func contextSwitches(pid: Int32, since earlier: [String: Int]) throws -> Int {
        try contextSwitches(pid: pid).reduce(0) { $0 + $1.value - (earlier[$1.key] ?? 0) }
    }

    /// Pages of `mapping` (`pages` long) that are mapped, by this process's pagemap.
    static func mappedPages(_ mapping: UnsafeRawPointer, _ pages: Int) throws -> Int {
        let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))
        return try (0..<pages).filter { page in
            try pagemapEntry(UInt(bitPattern: mapping) + UInt(page) * pageSize) & pagePresent != 0
        }.count
    }

    /// A fault maps one page in a range registered by page, where the kernel otherwise maps its cached neighbours too.
    @Test func aRangeRegisteredByPageMapsOnePagePerFault() throws {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE))), pages = 64
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("by-page-\(getpid())").path
        let bytes = (0..<pages * pageSize).map { UInt8(truncatingIfNeeded: $0 / pageSize + $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }

        // Mapped as a program's code is: private, read-only, from a file whose pages are all cached.
        func touchPage20(registered: Bool) throws -> (mapped: Int, byte: UInt8) {
            let length = pages * pageSize
            let mapping = try #require(mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0))
            try #require(mapping != MAP_FAILED)
            defer { munmap(mapping, length) }
            if registered {
                try #require(process_memory_map_range_by_page(mapping, length) == 0)
                #expect(process_memory_map_range_by_page(mapping, length) == 0, "registering twice")
            }
            let byte = mapping.load(fromByteOffset: 20 * pageSize + 7, as: UInt8.self)
            return (try Self.mappedPages(mapping, pages), byte)
        }
        let around = try touchPage20(registered: false)
        try #require(around.mapped > 1, "this kernel maps no neighbours (fault_around_bytes is one page)")
        let byPage = try touchPage20(registered: true)
        #expect(byPage.mapped == 1, "\(byPage.mapped) pages mapped, \(around.mapped) without registering")
        #expect(byPage.byte == bytes[20 * pageSize + 7] && around.byte == byPage.byte)
    }

    /// At the default log level (the release is logged at debug), the daemon has its code mapped by page and releases
    /// it after a quiet spell.
    @Test func theDaemonMapsItsCodeByPageAndReleasesItWhenQuiet() throws {
        let daemon = try TestDaemon(config: ["idle_release_seconds = 1"])
        defer { daemon.cleanup() }
        try Self.waitFor(daemon, "fault_around=off when=ready")
        let smaps = try String(contentsOfFile: "/proc/\(daemon.pid)/smaps", encoding: .utf8)
        let code = smaps.components(separatedBy: "\n").drop { !($0.contains(" r-xp ") && $0.hasSuffix("/autopilotd")) }
        let flags = try #require(code.first { $0.hasPrefix("VmFlags:") }, "no code mapping of autopilotd:\n\(smaps)")
        #expect(flags.split(separator: " ").contains("uw"), "\(flags)")

        _ = try daemon.call("WhoAmI")
        try Self.expectCodeReleasedWhenQuiet(daemon)
    }

    /// Runs a program with the userfaultfd system call refused (ENOSYS), as an older kernel or a stricter sandbox
    /// than the unit's would: a seccomp filter installed by Python, which then execs the program.
    static let withoutUserfaultfd = """
        import ctypes, os, platform, struct, sys
        arch, number = {"x86_64": (0xC000003E, 323), "aarch64": (0xC00000B7, 282)}[platform.machine()]
        def op(code, k, jt=0, jf=0): return struct.pack("HBBI", code, jt, jf, k)
        program = b"".join([
            op(0x20, 4),                   # load the architecture
            op(0x15, arch, 0, 3),          # not ours: allow
            op(0x20, 0),                   # load the system call's number
            op(0x15, number, 0, 1),        # not userfaultfd: allow
            op(0x06, 0x00050000 | 38),     # SECCOMP_RET_ERRNO | ENOSYS
            op(0x06, 0x7FFF0000),          # SECCOMP_RET_ALLOW
        ])
        class Program(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(Program(6, program)), 0, 0) != 0:
            sys.exit("seccomp: " + os.strerror(ctypes.get_errno()))
        os.execv(sys.argv[1], sys.argv[1:])
        """

    @Test func whereUserfaultfdIsRefusedTheDaemonSaysSoAndStillReleases() throws {
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("no-userfaultfd-\(getpid()).py").path
        try Self.withoutUserfaultfd.write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let daemon = try TestDaemon(config: ["idle_release_seconds = 1"], launcher: ["/usr/bin/python3", script])
        defer { daemon.cleanup() }
        try Self.waitFor(daemon, "when=ready")
        #expect(daemon.log.contains("fault_around=on (this kernel has no userfaultfd) when=ready"), "\(daemon.log)")
        let smaps = try String(contentsOfFile: "/proc/\(daemon.pid)/smaps", encoding: .utf8)
        #expect(!smaps.contains(" uw"), "a range registered with a userfaultfd:\n\(smaps)")

        // It serves and releases as it did before it mapped code by page.
        #expect(try daemon.call("GetStatus")["schemaVersion"] != nil)
        try Self.expectCodeReleasedWhenQuiet(daemon)
    }

    @Test func zeroTurnsTheReleaseOff() throws {
        let daemon = try TestDaemon(config: ["idle_release_seconds = 0", "log_level = debug"])
        defer { daemon.cleanup() }
        _ = try daemon.call("WhoAmI")
        Thread.sleep(forTimeInterval: 2)
        #expect(!daemon.log.contains("released code pages"), "\(daemon.log)")
    }

    static func waitFor(_ daemon: TestDaemon, _ text: String, count: Int = 1) throws {
        let deadline = Date().addingTimeInterval(20)
        while daemon.log.components(separatedBy: text).count <= count {
            guard Date() < deadline else { throw TestFailure("no '\(text)' (x\(count)) in the log:\n\(daemon.log)") }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }
}
