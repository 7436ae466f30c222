import AutopilotClient
import AutopilotTestSupport
import Foundation
import Testing
import Varlink

/// A hostile or careless peer against the real daemon: malformed input, coverage-guided fuzzing of the decoders,
/// every resource limit at its configured value, and secrets that must never leave the daemon.
@Suite(.serialized, .ownThread) struct AbuseTests {
    /// The package's root directory, for the fuzz harness's sources.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func frame(_ message: JSONObject) -> [UInt8] { MalformedCaseGenerator.frame(message) }

    /// A WhoAmI call whose `padding` parameter is a list of `count` zeros, with its NUL: two bytes of text per element,
    /// twenty-four decoded.
    static func listOfZeros(_ count: Int) -> [UInt8] {
        Array(#"{"method":"io.autopilotd.registry.WhoAmI","parameters":{"padding":["#.utf8)
            + Array(repeating: Array("0,".utf8), count: count - 1).joined() + Array("0]}}".utf8) + [0]
    }

    /// A ValidateSubmission frame for woodgrove in contoso (`makeCustomer`) of 1,000 devices with a 600-character user
    /// each, answered with a reply of about 650 KB: more than the socket and the daemon's write buffer take.
    static let callWithALargeReply = frame(["method": "io.autopilotd.registry.ValidateSubmission",
                                            "parameters": ["partner": "woodgrove", "tenant": "contoso", "devices": .array(
                                                Array(repeating: .object(["assignedUser": .string(String(repeating: "u", count: 600))]),
                                                      count: 1000))]])

    /// A call of `method` padded to exactly `size` bytes (without the NUL) by a string member the daemon ignores, which
    /// takes about as much memory decoded as it takes bytes.
    static func padded(_ method: String, to size: Int) -> [UInt8] {
        let head = Array(#"{"method":"io.autopilotd.registry.\#(method)","padding":""#.utf8), tail = Array(#""}"#.utf8)
        return head + [UInt8](repeating: UInt8(ascii: "a"), count: size - head.count - tail.count) + tail
    }

    // MARK: malformed input

    @Test func tenThousandMalformedCasesGetTheRightErrorOrAClosedConnection() throws {
        let maxFrameSize = 1 << 20
        let daemon = try TestDaemon(config: ["max_frame_size = \(maxFrameSize)", "max_connections = 4096",
                                             "max_connections_per_uid = 4096"])
        defer { daemon.cleanup() }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        try daemon.makeCustomer(tenant: "steady", partner: "stablepartner")
        func batch(_ partner: String, _ tenant: String) throws -> String {
            try #require(try daemon.call("CreateDeviceBatch", ["partner": .string(partner), "tenant": .string(tenant),
                                                              "name": "fuzz", "channel": "api"])["batch"]?.objectValue?["id"]?.stringValue)
        }
        let link = try #require(try daemon.call("RequestResellerRelationship", ["partner": "woodgrove", "delegatedAdmin": false])["link"]?
            .objectValue?["url"]?.stringValue)
        let targets = MalformedCaseGenerator.Targets(
            strings: ["contoso", "woodgrove", "admin@contoso.onmicrosoft.com", "contoso.onmicrosoft.com", "contoso.com",
                      try batch("woodgrove", "contoso"), link, String(link.split(separator: "/").last!), "ghost"],
            stableBatch: try batch("stablepartner", "steady"), stablePartner: "stablepartner", stableTenant: "steady",
            directory: daemon.directory)
        var generator = MalformedCaseGenerator(seed: 0x5EED_2026, maxFrameSize: maxFrameSize, targets: targets)

        var failures: [String] = []
        var kinds: [String: Int] = [:]
        var baseline = 0
        // First `more`, `oneway` and both on every method, then 10,000 drawn at random.
        var everyMethod = generator.flagsOnEveryMethod()
        #expect(everyMethod.count == 3 * (InterfaceTable.methods.count + InterfaceTable.serviceMethods.count))
        for index in 0..<(everyMethod.count + 10_000) {
            let test = everyMethod.isEmpty ? generator.next() : everyMethod.removeFirst()
            kinds[test.kind, default: 0] += 1
            if let problem = test.run(socket: daemon.socket) {
                let preview = String(decoding: test.bytes.prefix(300), as: UTF8.self)
                failures.append("case \(index) (\(test.kind)): \(problem)\n  sent \(test.bytes.count) bytes: \(preview)")
                if failures.count >= 10 { break }
            }
            if index == 1_000 { baseline = try daemon.residentKiB() }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(Set(kinds.keys) == Set(MalformedCaseGenerator.kinds), "\(kinds)")
        #expect(daemon.process.isRunning, "the daemon died: \(daemon.log.suffix(2000))")
        // Memory stays bounded: the next nine thousand cases need little more than the first thousand did (SQLite's page
        // caches grow with the database).
        let final = try daemon.residentKiB()
        #expect(final - baseline < 32 * 1024, "VmRSS grew from \(baseline) KiB to \(final) KiB")
        #expect(try daemon.call("WhoAmI")["role"] == "operator")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
        let troubles = daemon.log.split(separator: "\n").filter { $0.contains("Fatal error") || $0.contains("InternalError") }
        #expect(troubles.isEmpty, "\(troubles.prefix(10).joined(separator: "\n"))")
    }

    @Test func varlinkDecodersSurviveCoverageGuidedFuzzing() throws {
        try Self.fuzz("varlink", module: "VarlinkFuzz", sources: "Sources/Varlink", target: "Fuzz/VarlinkFuzzTarget.swift",
                      corpus: "Fuzz/corpus")
    }

    @Test func hardwareHashDecoderSurvivesCoverageGuidedFuzzing() throws {
        try Self.fuzz("hardware-hash", module: "HardwareHashFuzz", sources: "Sources/AutopilotDomain",
                      target: "Fuzz/HardwareHashFuzzTarget.swift", corpus: "Fuzz/hardware-hash-corpus")
    }

    /// Builds the libFuzzer target `target` with the Swift files of `sources` (paths from the package root) and runs
    /// it for 20 seconds from a copy of the seed corpus `corpus`; any crash or broken invariant fails the test.
    static func fuzz(_ name: String, module: String, sources: String, target: String, corpus: String) throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-fuzz-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: work + "/corpus", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let directory = packageRoot + "/" + sources
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".swift") }.sorted()
            .map { directory + "/" + $0 } + [packageRoot + "/" + target]
        let build = try runProgram(swiftc(), ["-O", "-sanitize=fuzzer,address", "-parse-as-library",
                                              "-module-name", module] + files + ["-o", work + "/fuzz"],
                                   timeout: 900)
        try #require(build.status == 0, "\(build.stderr.split(separator: "\n").filter { !$0.contains("Cannot export local symbol") }.suffix(30))")
        // A copy of the seed corpus: libFuzzer adds what it finds to the first directory.
        for seed in try FileManager.default.contentsOfDirectory(atPath: packageRoot + "/" + corpus) {
            try FileManager.default.copyItem(atPath: packageRoot + "/" + corpus + "/" + seed, toPath: work + "/corpus/" + seed)
        }
        // Swift's own backtracer would catch a crash before libFuzzer and AddressSanitizer report it, and can hang
        // there: leave crashes to them.
        let run = try runProgram(work + "/fuzz", ["-max_total_time=20", "-seed=20261125", "-timeout=10",
                                                  "-rss_limit_mb=2048", "-artifact_prefix=\(work)/", work + "/corpus"],
                                 environment: ["SWIFT_BACKTRACE": "enable=no"], timeout: 600)
        #expect(run.status == 0, "libFuzzer found a failing input:\n\(run.stderr.suffix(4000))")
        #expect(run.stderr.contains("Done "), "\(run.stderr.suffix(2000))")
    }

    /// The swiftc of the toolchain on PATH, else the one installed in /opt/swift.
    static func swiftc() -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/swiftc") {
            return "\(directory)/swiftc"
        }
        return "/opt/swift/usr/bin/swiftc"
    }

    // MARK: resource limits

    @Test func framesUpToTheConfiguredSizeAreAnsweredAndLongerOnesClose() throws {
        for (config, limit) in [(["max_frame_size = 1024"], 1024), ([], 16 * 1024 * 1024)] {
            let daemon = try TestDaemon(config: config)
            defer { daemon.cleanup() }
            let atLimit = try RawSocket(path: daemon.socket)
            #expect(atLimit.send(Self.padded("WhoAmI", to: limit) + [0]))
            let answer = atLimit.read(finalReplies: 1)
            #expect(answer.end == .complete && answer.replies.first?.parameters["role"] == "operator", "limit \(limit)")
            let over = try RawSocket(path: daemon.socket)
            over.send(Self.padded("WhoAmI", to: limit + 1) + [0])
            let refused = over.read()
            #expect(refused.end == .closed && refused.replies.isEmpty, "limit \(limit): \(refused)")
            guard config.isEmpty else { continue }
            // Within the length limit, but twelve times as large decoded: refused once it reaches the limit and 1 MiB
            // decoded, before the rest is built.
            let before = try procStatusKiB("VmHWM", pid: daemon.pid)
            let dense = try RawSocket(path: daemon.socket)
            let zeros = Self.listOfZeros(limit / 2 - 64)
            #expect(zeros.count <= limit)
            dense.send(zeros)
            let closed = dense.read()
            #expect(closed.end == .closed && closed.replies.isEmpty, "\(closed)")
            let grown = try procStatusKiB("VmHWM", pid: daemon.pid) - before
            #expect(grown < 48 * 1024, "the daemon's peak RSS grew by \(grown / 1024) MiB for a refused frame")
            #expect(try daemon.call("WhoAmI")["role"] == "operator")
        }
    }

    @Test func connectionsBeyondTheConfiguredLimitAreClosedAndAFreedSlotIsReused() throws {
        let daemon = try TestDaemon(config: ["max_connections = 4", "max_connections_per_uid = 100"])
        defer { daemon.cleanup() }
        // Slots are released once the daemon has seen a connection go; retry until the earlier ones are gone.
        func answeredConnection() throws -> VarlinkConnection? {
            for _ in 0..<200 {
                let connection = try daemon.connect()
                if (try? connection.call("io.autopilotd.registry.WhoAmI")) != nil { return connection }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return nil
        }
        let held = try (0..<4).map { _ in try #require(try answeredConnection()) }
        let fifth = try daemon.connect()
        #expect(throws: VarlinkClientError.self) { try fifth.call("io.autopilotd.registry.WhoAmI") }
        for connection in held { #expect(try connection.call("io.autopilotd.registry.WhoAmI")["role"] == "operator") }
        held[0].close()
        #expect(try answeredConnection() != nil)
    }

    @Test func connectionsBeyondThePerUserLimitAreClosedWhileOtherUsersStillConnect() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let daemon = try TestDaemon(config: ["socket_mode = 0666", "max_connections_per_uid = 3", "max_connections = 100"])
        defer { daemon.cleanup() }
        let script = try CallScript.install(in: daemon.directory)
        let first = try TestUser.make("ap-limit-a"), second = try TestUser.make("ap-limit-b")

        // The first user holds its connections open while the others connect.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        holder.arguments = ["--reuid", String(first.uid), "--regid", String(first.gid), "--clear-groups", "--",
                            "/usr/bin/python3", script, daemon.socket, "--hold", "4"]
        let input = Pipe(), output = Pipe()
        holder.standardInput = input
        holder.standardOutput = output
        try holder.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        #expect(try JSON.parse(Array(line)) == ["ok", "ok", "ok", "closed"], "\(String(decoding: line, as: UTF8.self))")

        let other = try runProgram("/usr/bin/setpriv", ["--reuid", String(second.uid), "--regid", String(second.gid),
                                                        "--clear-groups", "--", "/usr/bin/python3", script, daemon.socket,
                                                        "--hold", "3"], stdin: "")
        #expect(try JSON.parse(other.stdout) == ["ok", "ok", "ok"], "\(other)")
        #expect(try daemon.call("WhoAmI")["role"] == "operator")

        try input.fileHandleForWriting.close()
        holder.waitUntilExit()
        // Once the daemon has seen them go, the first user's slots are free again.
        var again: JSONValue?
        for _ in 0..<100 where again != ["ok", "ok", "ok"] {
            let result = try runProgram("/usr/bin/setpriv", ["--reuid", String(first.uid), "--regid", String(first.gid),
                                                             "--clear-groups", "--", "/usr/bin/python3", script, daemon.socket,
                                                             "--hold", "3"], stdin: "")
            again = try JSON.parse(result.stdout)
            if again != ["ok", "ok", "ok"] { Thread.sleep(forTimeInterval: 0.05) }
        }
        #expect(again == ["ok", "ok", "ok"])
    }

    @Test func idleConnectionIsClosedAfterTheConfiguredTimeoutWhileABusyOneStaysOpen() throws {
        let daemon = try TestDaemon(config: ["idle_timeout_seconds = 2"])
        defer { daemon.cleanup() }
        let idle = try RawSocket(path: daemon.socket, timeout: 30)
        idle.send(Self.frame(["method": "io.autopilotd.registry.WhoAmI"]))
        #expect(idle.read(finalReplies: 1).end == .complete)
        // Calls every 200 ms for 4 s keep another connection alive past the timeout.
        let busy = try daemon.connect()
        for _ in 0..<20 {
            #expect(try busy.call("io.autopilotd.registry.WhoAmI")["role"] == "operator")
            Thread.sleep(forTimeInterval: 0.2)
        }
        let end = idle.read()
        #expect(end.end == .closed && end.replies.isEmpty, "\(end)")
        #expect(try busy.call("io.autopilotd.registry.WhoAmI")["role"] == "operator")
    }

    /// A peer whose call is in progress but which reads none of its reply is not idle, yet it is not coming back
    /// for it: once a reply has waited for it as long as the idle timeout, the daemon closes the connection, which
    /// frees the call and its queue. A peer that reads within the timeout gets everything.
    @Test func aPeerThatLeavesItsReplyUnreadIsClosedAfterTheIdleTimeout() throws {
        let daemon = try TestDaemon(config: ["idle_timeout_seconds = 2"])
        defer { daemon.cleanup() }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        // Replies of about 650 KB: more than the socket and the daemon's write buffer take.
        let calls = Self.callWithALargeReply + Self.frame(["method": "io.autopilotd.registry.WhoAmI"])
        let away = try RawSocket(path: daemon.socket, timeout: 30)
        let back = try RawSocket(path: daemon.socket, timeout: 30)
        #expect(away.send(calls) && back.send(calls))
        Thread.sleep(forTimeInterval: 1)
        let answered = back.read(finalReplies: 2)
        #expect(answered.end == .complete && answered.replies.last?.parameters["role"] == "operator", "\(answered.end)")
        // Three times the timeout: the check runs every timeout, and the reply waited from the first second.
        Thread.sleep(forTimeInterval: 5)
        let cut = away.read(finalReplies: 2)
        #expect(cut.end != .complete && cut.replies.isEmpty, "\(cut.end), \(cut.replies.count) replies")
        #expect(try daemon.call("WhoAmI")["role"] == "operator")
    }

    /// Four calls of 256 KiB reach either limit: `max_queued_calls = 4`, or, with the default 64, calls holding
    /// `max_frame_size` (1 MiB) decoded: their padding is a string, as long decoded as it is in the frame.
    @Test(arguments: [["max_queued_calls = 4"], ["max_frame_size = 1048576"]])
    func pipelinedCallsBeyondTheQueueLimitStopTheDaemonReadingYetAllAreAnswered(_ config: [String]) throws {
        let queueLimit = 4
        let daemon = try TestDaemon(config: config)
        defer { daemon.cleanup() }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let connection = try RawSocket(path: daemon.socket, timeout: 60)
        // A call with a reply of about 650 KB that the client does not read yet: its handler waits to write it.
        #expect(connection.send(Self.callWithALargeReply))
        // Then calls of 256 KiB each, without blocking, until the daemon stops reading.
        let frameSize = 256 * 1024
        let filler = Self.padded("WhoAmI", to: frameSize - 1) + [0]
        let accepted = try Self.sendUntilTheDaemonStopsReading(connection, Array(Array(repeating: filler, count: 80).joined()))
        let framesTaken = accepted / frameSize
        // The queue, the frame being read, and what the kernel buffers: nowhere near the 80 offered.
        #expect(framesTaken >= queueLimit && framesTaken <= queueLimit + 4, "\(framesTaken) calls were taken")

        // Reading the replies lets the daemon go on; every call sent is answered, in order.
        let sent = framesTaken + (accepted % frameSize > 0 ? 1 : 0)
        let replies = LockedBox<(replies: [VarlinkReply], end: RawSocket.End)?>(nil)
        let reader = Thread { replies.mutate { $0 = connection.read(finalReplies: 1 + sent) } }
        reader.start()
        if accepted % frameSize > 0 { #expect(connection.send(Array(filler[(accepted % frameSize)...]))) }
        while replies.value == nil { Thread.sleep(forTimeInterval: 0.01) }
        let (answers, end) = try #require(replies.value)
        #expect(end == .complete)
        #expect(answers.count == 1 + sent)
        #expect(answers.first?.parameters["results"]?.arrayValue?.count == 1000)
        #expect(answers.dropFirst().allSatisfy { $0.error == nil && $0.parameters["role"] == "operator" })
    }

    /// Peers that pipeline calls and never read the replies: the daemon stops reading them once their waiting calls
    /// hold a largest frame's worth decoded, and once all connections' waiting calls hold four (64 MiB), each
    /// connection keeps one waiting call at most. The calls here are 256 KiB lists of small objects, which take some
    /// twenty times their length decoded: counted by length, sixteen peers sending such calls (lists of zeros, twelve
    /// times) made the daemon hold 3.9 GB.
    @Test func peersThatNeverReadTheirRepliesMakeTheDaemonHoldBoundedMemoryAndEveryCallIsAnswered() throws {
        let daemon = try TestDaemon()
        defer { daemon.cleanup() }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let baseline = try procStatusKiB("VmHWM", pid: daemon.pid)
        // First a call with a reply of about 650 KB, more than the socket and the daemon's write buffer take, so that
        // the calls after it wait; then 12 calls of 256 KiB, each a list of 32,700 objects `{"a":0}` (5 MiB decoded).
        let largeReply = Self.callWithALargeReply
        let objects = Array(#"{"method":"io.autopilotd.registry.WhoAmI","parameters":{"padding":["#.utf8)
            + Array(repeating: Array(#"{"a":0},"#.utf8), count: 32_700).joined() + Array(#"{"a":0}]}}"#.utf8) + [0]
        let waitingCalls = 12
        let stream = largeReply + Array(Array(repeating: objects, count: waitingCalls).joined())
        let peers = try (0..<12).map { _ in try RawSocket(path: daemon.socket, timeout: 120) }
        // All at once, each on its own thread, as twelve processes would.
        let sent = LockedBox([Int?](repeating: nil, count: peers.count))
        let senders = peers.enumerated().map { index, peer in
            Thread {
                let count = (try? Self.sendUntilTheDaemonStopsReading(peer, stream)) ?? -1
                sent.mutate { $0[index] = count }
            }
        }
        senders.forEach { $0.start() }
        while sent.value.contains(nil) { Thread.sleep(forTimeInterval: 0.05) }
        let accepted = sent.value.compactMap { $0 }
        try #require(!accepted.contains(-1), "a send failed: \(accepted)")
        let held = try procStatusKiB("VmHWM", pid: daemon.pid) - baseline
        let taken = accepted.map { max(0, $0 - largeReply.count) / objects.count }
        #expect(taken.allSatisfy { $0 >= 1 } && taken.contains { $0 < waitingCalls }, "calls of 256 KiB taken: \(taken)")
        // 64 MiB for all queues, and per connection one waiting call, one being handled and one being read, 5 MiB
        // each: 240 MiB, where the frames' lengths let every connection queue all 12 calls (720 MiB in all).
        print("AbuseTests: 12 peers that do not read: the daemon's peak RSS grew by \(held / 1024) MiB; calls of 256 KiB "
              + "taken before it stopped reading: \(taken)")
        #expect(held < 256 * 1024, "the daemon's peak RSS grew by \(held / 1024) MiB; calls taken: \(taken)")
        // Another client is answered meanwhile.
        #expect(try daemon.call("WhoAmI")["role"] == "operator")

        // Reading the replies lets each peer's calls go on: every call is answered, in order.
        for (peer, sentBefore) in zip(peers, accepted) {
            let replies = LockedBox<(replies: [VarlinkReply], end: RawSocket.End)?>(nil)
            let reader = Thread { replies.mutate { $0 = peer.read(finalReplies: 1 + waitingCalls) } }
            reader.start()
            #expect(peer.send(Array(stream[sentBefore...])))
            while replies.value == nil { Thread.sleep(forTimeInterval: 0.01) }
            let (answers, end) = try #require(replies.value)
            #expect(end == .complete && answers.count == 1 + waitingCalls, "\(end), \(answers.count) replies")
            #expect(answers.first?.parameters["results"]?.arrayValue?.count == 1000)
            let outcomes = Set(answers.dropFirst().map { $0.error ?? "ok" })
            #expect(outcomes.count == 1, "\(outcomes)")
        }
        #expect(daemon.process.isRunning)
    }

    /// Writes `bytes` to `socket` without blocking until the daemon stops reading (four seconds without room; it
    /// reads a waiting frame in milliseconds) or all are written; returns how many were written.
    static func sendUntilTheDaemonStopsReading(_ socket: RawSocket, _ bytes: [UInt8]) throws -> Int {
        var accepted = 0
        while accepted < bytes.count {
            let written = bytes.withUnsafeBytes {
                Glibc.send(socket.fd, $0.baseAddress! + accepted, $0.count - accepted, CInt(MSG_DONTWAIT | MSG_NOSIGNAL))
            }
            if written > 0 {
                accepted += written
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                var descriptor = pollfd(fd: socket.fd, events: Int16(POLLOUT), revents: 0)
                if poll(&descriptor, 1, 4000) == 0 { break }
            } else if errno != EINTR {
                throw TestFailure("send: \(String(cString: strerror(errno)))")
            }
        }
        return accepted
    }

    // MARK: secrets and files

    @Test func linkTokensAndHashBytesNeverReachTheLogErrorsOrTheAuditTable() throws {
        let daemon = try TestDaemon(config: ["log_level = debug"])
        defer { daemon.cleanup() }
        var replies: [String] = []
        /// Calls and keeps the reply's text (error or not), except the one reply allowed to carry a new link's URL.
        @discardableResult
        func call(_ method: String, _ parameters: JSONObject, keep: Bool = true) throws -> JSONObject {
            do {
                let reply = try daemon.call(method, parameters)
                if keep { replies.append(JSON.serialize(.object(reply))) }
                return reply
            } catch VarlinkClientError.remote(let error) {
                replies.append(error.name + JSON.serialize(.object(error.parameters)))
                return [:]
            }
        }
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        try call("AddTenantDomain", ["tenant": "contoso", "domain": "contoso.com"])
        try call("AddAccount", ["tenant": "contoso", "upn": "reader@contoso.onmicrosoft.com", "roles": ["GlobalReader"]])
        try call("AddAccount", ["tenant": "contoso", "upn": "boss@contoso.com", "roles": ["GlobalAdministrator"]])
        try call("CreateTenant", ["name": "Fabrikam", "domain": "fabrikam.onmicrosoft.com", "id": "fabrikam"])
        try call("AddAccount", ["tenant": "fabrikam", "upn": "admin@fabrikam.onmicrosoft.com", "roles": ["GlobalAdministrator"]])
        try call("RegisterPartner", ["name": "Oem", "kind": "oem", "oemDirectApi": true, "id": "oem"])

        var tokens: [String] = []
        func newLink(_ method: String, _ parameters: JSONObject) throws -> String {
            let url = try #require(try call(method, parameters, keep: false)["link"]?.objectValue?["url"]?.stringValue)
            tokens.append(String(url.split(separator: "/").last!))
            return url
        }
        let reseller = try newLink("RequestResellerRelationship", ["partner": "woodgrove", "delegatedAdmin": false])
        let oemFirst = try newLink("IssueOemLink", ["partner": "oem"])
        let oemSecond = try newLink("IssueOemLink", ["partner": "oem"])
        let cli = try daemon.ctl(["consent", "request", "--partner", "woodgrove", "--json"])
        #expect(cli.status == 0, "\(cli)")
        let cliURL = try #require(try JSON.parse(cli.stdout).objectValue?["link"]?.objectValue?["url"]?.stringValue)
        tokens.append(String(cliURL.split(separator: "/").last!))
        let madeUp = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        tokens.append(madeUp)

        for link in [reseller, tokens[0], cliURL, oemSecond, madeUp, "https://elsewhere.invalid/x/" + tokens[0]] {
            try call("DescribeLink", ["link": .string(link)])
        }
        try call("AcceptLink", ["link": .string(reseller), "account": "reader@contoso.onmicrosoft.com"])
        try call("AcceptLink", ["link": .string(tokens[0]), "account": "admin@fabrikam.onmicrosoft.com"])
        try call("AcceptLink", ["link": .string(oemSecond), "account": "boss@contoso.com"])
        try call("AcceptLink", ["link": .string(oemFirst), "account": "admin@contoso.onmicrosoft.com"])
        try call("AcceptLink", ["link": .string(madeUp), "account": "admin@contoso.onmicrosoft.com"])
        try call("RevokeLink", ["link": .string(tokens[0])])
        try call("AcceptLink", ["link": .string(reseller), "account": "admin@contoso.onmicrosoft.com"])
        #expect(try daemon.ctl(["consent", "show", cliURL]).status == 0)
        #expect(try daemon.ctl(["consent", "accept", "--yes", cliURL, "--as", "reader@contoso.onmicrosoft.com"]).status == 1)

        // Hashes: registered, refused, validated, listed, imported with autopilotctl.
        let hashBytes = ["H0", "H1", "H2", "H3", "C1"].enumerated().map {
            SyntheticHardwareHash(seed: UInt64(11 + $0.offset), serialNumber: $0.element).bytes()
        }
        let hashes = hashBytes.map(SyntheticHardwareHash.base64)
        let batch = try #require(try call("CreateDeviceBatch", ["partner": "woodgrove", "tenant": "contoso", "name": "s",
                                                                "channel": "api"])["batch"]?.objectValue?["id"]?.stringValue)
        try call("AddDevices", ["batch": .string(batch), "devices": [
            ["serialNumber": "H0", "hardwareHash": .string(hashes[0])],
            ["serialNumber": "H1", "hardwareHash": .string(hashes[1])],
            ["serialNumber": "H1b", "hardwareHash": .string(hashes[1])],
            ["serialNumber": "bad", "hardwareHash": .string(String(hashes[2].prefix(600)) + "!")],
            ["serialNumber": "short", "hardwareHash": .string(String(hashes[2].prefix(400)))],
        ]])
        try call("AddDevices", ["batch": .string(batch), "devices": [["serialNumber": "again", "hardwareHash": .string(hashes[0])]]])
        try call("AddDevices", ["batch": "no-such-batch", "devices": [["hardwareHash": .string(hashes[3])]]])
        try call("AddDevices", ["batch": .string(batch), "devices": .array(Array(repeating: ["hardwareHash": .string(hashes[3])], count: 1001))])
        try call("ValidateSubmission", ["partner": "woodgrove", "tenant": "contoso", "devices": [["hardwareHash": .string(hashes[3])]]])
        try call("ValidateSubmission", ["partner": "oem", "tenant": "contoso", "devices": [["hardwareHash": .string(hashes[3])]]])
        try call("GetBatch", ["batch": .string(batch)])
        let csv = daemon.directory + "/devices.csv"
        try "\(DeviceCSVFixture.header)\nC1,,\(hashes[4])\nC2,,\(hashes[4])\nC3,,\(hashes[2].prefix(500))\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        let imported = try daemon.ctl(["devices", "import", csv, "--partner", "woodgrove", "--tenant", "contoso"])
        #expect(imported.status == 2, "\(imported)")
        replies += try daemon.stream("ListDevices", ["tenant": "contoso"]).map { JSON.serialize(.object($0)) }
        let device = try #require(try daemon.sql("SELECT id FROM devices WHERE serial_number = 'H0'").nilIfEmpty)
        try call("DeregisterDevice", ["partner": "woodgrove", "device": .string(device)])
        try call("DeregisterDevice", ["partner": "woodgrove", "device": .string(device)])

        // The secrets as they could leak: tokens; hashes as base64, hex or a list of byte values.
        var secrets = tokens
        for (text, bytes) in zip(hashes, hashBytes) {
            secrets.append(String(text.prefix(24)))
            secrets.append(String(text.dropFirst(600).prefix(24)))  // inside the records, not the zeros after them
            secrets.append(bytes.prefix(12).map { String(format: "%02x", $0) }.joined())
            secrets.append(bytes.prefix(6).map(String.init).joined(separator: ", "))
        }
        let audit = try daemon.sql("SELECT * FROM audit_events")
        let tables = try daemon.sql("SELECT * FROM device_results; SELECT * FROM devices; SELECT * FROM links; SELECT * FROM grants;")
        #expect(daemon.log.contains("debug"), "the daemon did not log at debug level")
        #expect(audit.contains("AcceptLink") && audit.contains("AddDevices"))
        for secret in secrets {
            #expect(!daemon.log.contains(secret), "the daemon's log shows \(secret)")
            #expect(!audit.contains(secret), "audit_events shows \(secret)")
            #expect(!tables.contains(secret), "a table shows \(secret)")
            #expect(!replies.contains { $0.contains(secret) }, "a reply shows \(secret)")
        }
    }

    @Test func databaseWalSocketAndBackupFilesHaveTheDocumentedModesWhateverTheUmask() throws {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let auditors = try TestUser.make("ap-auditors")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("autopilotd-modes-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let daemon = try TestDaemon(config: ["auditors_group = ap-auditors"], directory: directory,
                                    databaseName: "state/registry/registry.sqlite", umask: 0)
        defer { daemon.cleanup() }
        let database = daemon.database
        try daemon.makeCustomer(tenant: "contoso", partner: "woodgrove")
        let backup = directory + "/backup.sqlite"
        #expect(try daemon.call("Backup", ["path": .string(backup)])["bytes"]?.intValue ?? 0 > 0)

        func mode(_ path: String) -> (mode: mode_t, gid: gid_t)? {
            var st = stat()
            guard lstat(path, &st) == 0 else { return nil }
            return (st.st_mode & 0o7777, st.st_gid)
        }
        #expect(mode(directory + "/state/registry")?.mode == 0o750, "database directory")
        for file in [database, database + "-wal", database + "-shm", backup] {
            let found = try #require(mode(file), "\(file) is missing")
            #expect(found.mode == 0o640, "\(file): \(String(found.mode, radix: 8))")
            #expect(found.gid == auditors.gid, "\(file) is not in the auditors group")
        }
        #expect(mode(daemon.socket)?.mode == 0o660, "socket")
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
