import AutopilotClient
import AutopilotService
import Glibc
import NIOCore
import NIOPosix
import Synchronization
import Testing
import Varlink

/// What the test handler saw, shared with the test.
private final class HandlerLog: Sendable {
    private let entries = Mutex<[String]>([])

    func record(_ entry: String) {
        entries.withLock { $0.append(entry) }
    }

    var all: [String] { entries.withLock { $0 } }

    /// Polls until `entry` was recorded, for up to `seconds`.
    func waitFor(_ entry: String, seconds: Double = 60) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if all.contains(entry) { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }
}

/// A tiny service under `test.`: Echo, Sleep, Stream, Peer, Record.
private struct TestHandler: VarlinkCallHandler {
    let log: HandlerLog

    func handle(_ call: VarlinkCall, peer: PeerCredentials, replies: any VarlinkReplySink) async {
        do {
            try await answer(call, peer: peer, replies: replies)
        } catch let error as VarlinkError {
            try? await replies.send(VarlinkReply(error: error))
        } catch {
            log.record("send failed: \(error)")
        }
    }

    private func answer(_ call: VarlinkCall, peer: PeerCredentials, replies: any VarlinkReplySink) async throws {
        switch call.memberName {
        case "Echo":
            try await replies.send(VarlinkReply(parameters: call.parameters))
        case "Sleep":
            let tag = try call.parameters.string("tag")
            log.record("started \(tag)")
            try await Task.sleep(for: .milliseconds(try call.parameters.int("milliseconds")))
            log.record("finished \(tag)")
            try await replies.send(VarlinkReply(parameters: ["tag": .string(tag)]))
        case "Stream":
            guard call.more else { throw VarlinkError.expectedMore }
            let count = try call.parameters.int("count")
            for index in 0..<count {
                try await replies.send(VarlinkReply(parameters: ["index": .int(index)], continues: true))
            }
            try await replies.send(VarlinkReply(parameters: ["done": true]))
        case "Peer":
            try await replies.send(VarlinkReply(parameters: [
                "pid": .int(Int(peer.pid)), "uid": .int(Int(peer.uid)), "gid": .int(Int(peer.gid)),
            ]))
        case "Record":
            log.record("record \(try call.parameters.string("value"))")
            try await replies.send(VarlinkReply(parameters: ["recorded": true]))
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }
}

/// Runs blocking client code on its own threads, never on the cooperative pool the server's handlers need.
private let clientThreads: NIOThreadPool = {
    let pool = NIOThreadPool(numberOfThreads: 8)
    pool.start()
    return pool
}()

private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await clientThreads.runIfActive(body)
}

/// A fresh temporary directory, removed with its content by `remove()`.
private struct TemporaryDirectory {
    let path: String

    init() {
        var template = Array("/tmp/varlink-server-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    func remove() {
        if let directory = opendir(path) {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(directory)
        }
        rmdir(path)
    }
}

/// Starts a server with the test handler on a socket in a new temporary directory, runs `body`, then
/// shuts the server down and removes the directory.
private func withServer(
    limits: VarlinkServerLimits = .init(),
    group: MultiThreadedEventLoopGroup = .singleton,
    _ body: (_ server: VarlinkServer, _ path: String, _ log: HandlerLog) async throws -> Void
) async throws {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    let log = HandlerLog()
    let server = VarlinkServer(handler: TestHandler(log: log), limits: limits, group: group)
    let path = directory.path + "/test.sock"
    try await server.bind(path: path, mode: 0o660)
    do {
        try await body(server, path, log)
    } catch {
        await server.shutdown()
        throw error
    }
    await server.shutdown()
}

private func call(_ path: String, _ method: String, _ parameters: JSONObject = [:]) async throws -> JSONObject {
    try await blocking { try VarlinkConnection(path: path).call(method, parameters) }
}

private func isConnectionClosed(_ error: (any Error)?) -> Bool {
    if case .connectionClosed? = error as? VarlinkClientError { return true }
    return false
}

@Suite struct ServerTests {
    @Test func callIsAnswered() async throws {
        try await withServer { _, path, _ in
            let reply = try await call(path, "test.Echo", ["text": "hello", "n": 3])
            #expect(reply == ["text": "hello", "n": 3])
        }
    }

    @Test func errorFromTheHandlerReachesTheClient() async throws {
        try await withServer { _, path, _ in
            let error = await #expect(throws: VarlinkClientError.self) { try await call(path, "test.Nope") }
            guard case .remote(let remote)? = error else {
                Issue.record("expected a remote error, got \(String(describing: error))")
                return
            }
            #expect(remote == .methodNotFound("test.Nope"))
        }
    }

    @Test func pipelinedCallsAnswerInCallOrderEvenWhenTheFirstIsSlowest() async throws {
        try await withServer { _, path, _ in
            let tags = try await blocking { () -> [String] in
                let connection = try VarlinkConnection(path: path)
                try connection.send(VarlinkCall(method: "test.Sleep", parameters: ["tag": "first", "milliseconds": 300]))
                try connection.send(VarlinkCall(method: "test.Sleep", parameters: ["tag": "second", "milliseconds": 1]))
                try connection.send(VarlinkCall(method: "test.Echo", parameters: ["tag": "third"]))
                return try (0..<3).map { _ in try connection.receive().parameters["tag"]?.stringValue ?? "?" }
            }
            #expect(tags == ["first", "second", "third"])
        }
    }

    @Test func manyPipelinedCallsBeyondTheQueueLimitAreAllAnsweredInOrder() async throws {
        var limits = VarlinkServerLimits()
        limits.maxQueuedCallsPerConnection = 4
        try await withServer(limits: limits) { _, path, _ in
            let indices = try await blocking { () -> [Int] in
                let connection = try VarlinkConnection(path: path)
                for index in 0..<500 {
                    try connection.send(VarlinkCall(method: "test.Echo", parameters: ["index": .int(index)]))
                }
                return try (0..<500).map { _ in try connection.receive().parameters["index"]?.intValue ?? -1 }
            }
            #expect(indices == Array(0..<500))
        }
    }

    @Test func moreCallStreamsRepliesThenAFinalOne() async throws {
        try await withServer { _, path, _ in
            let replies = try await blocking { () -> [VarlinkReply] in
                let connection = try VarlinkConnection(path: path)
                try connection.send(VarlinkCall(method: "test.Stream", parameters: ["count": 5], more: true))
                var replies: [VarlinkReply] = []
                repeat { replies.append(try connection.receive()) } while replies.last!.continues
                return replies
            }
            #expect(replies.count == 6)
            #expect(replies.dropLast().map { $0.parameters["index"] } == (0..<5).map { .int($0) })
            #expect(replies.dropLast().allSatisfy { $0.continues })
            #expect(replies.last == VarlinkReply(parameters: ["done": true]))
        }
    }

    @Test func longStreamArrivesCompleteAndInOrder() async throws {
        try await withServer { _, path, _ in
            let count = 100_000
            let received = try await blocking { () -> (Int, Bool) in
                var next = 0
                var inOrder = true
                try VarlinkConnection(path: path).callMore("test.Stream", ["count": .int(count)]) { parameters in
                    if let index = parameters["index"]?.intValue {
                        inOrder = inOrder && index == next
                        next += 1
                    }
                }
                return (next, inOrder)
            }
            #expect(received.0 == count)
            #expect(received.1)
        }
    }

    @Test func onewayCallIsHandledButGetsNoReply() async throws {
        try await withServer { _, path, log in
            let reply = try await blocking { () -> VarlinkReply in
                let connection = try VarlinkConnection(path: path)
                try connection.send(VarlinkCall(method: "test.Record", parameters: ["value": "quiet"], oneway: true))
                try connection.send(VarlinkCall(method: "test.Echo", parameters: ["after": true]))
                return try connection.receive()
            }
            #expect(reply.parameters == ["after": true])
            #expect(log.all.contains("record quiet"))
        }
    }

    @Test func oversizeFrameClosesThatConnectionOnly() async throws {
        var limits = VarlinkServerLimits()
        limits.maxFrameSize = 1024
        try await withServer(limits: limits) { _, path, _ in
            let (oversizeError, otherReply) = try await blocking { () -> ((any Error)?, JSONObject) in
                let bystander = try VarlinkConnection(path: path)
                let offender = try VarlinkConnection(path: path)
                // No NUL: the server must give up as soon as the frame passes the limit.
                try offender.sendRaw([UInt8](repeating: UInt8(ascii: "a"), count: 1025))
                var oversizeError: (any Error)?
                do { _ = try offender.receive() } catch { oversizeError = error }
                return (oversizeError, try bystander.call("test.Echo", ["still": "here"]))
            }
            #expect(isConnectionClosed(oversizeError))
            #expect(otherReply == ["still": "here"])
        }
    }

    @Test func frameAtTheSizeLimitIsAccepted() async throws {
        var limits = VarlinkServerLimits()
        limits.maxFrameSize = 1024
        try await withServer(limits: limits) { _, path, _ in
            let prefix = #"{"method":"test.Echo","parameters":{"p":""#
            let suffix = #""}}"#
            let padding = String(repeating: "x", count: 1024 - prefix.utf8.count - suffix.utf8.count)
            let reply = try await blocking { () -> VarlinkReply in
                let connection = try VarlinkConnection(path: path)
                try connection.sendRaw(Array((prefix + padding + suffix).utf8) + [0])
                return try connection.receive()
            }
            #expect(reply.parameters == ["p": .string(padding)])
        }
    }

    @Test(arguments: ["not json", #"{"method":"test.Echo","parameters":[]}"#, #"{"method":"test.Stream","more":true,"oneway":true}"#, "[1]"])
    func malformedCallClosesTheConnection(_ frame: String) async throws {
        try await withServer { _, path, _ in
            let error = try await blocking { () -> (any Error)? in
                let connection = try VarlinkConnection(path: path)
                try connection.sendRaw(Array(frame.utf8) + [0])
                do {
                    _ = try connection.receive()
                    return nil
                } catch {
                    return error
                }
            }
            #expect(isConnectionClosed(error))
        }
    }

    @Test func handlerSeesTheCallersCredentials() async throws {
        try await withServer { _, path, _ in
            let reply = try await call(path, "test.Peer")
            #expect(reply["pid"]?.intValue == Int(getpid()))
            #expect(reply["uid"]?.intValue == Int(getuid()))
            #expect(reply["gid"]?.intValue == Int(getgid()))
        }
    }

    @Test func socketFileHasTheRequestedMode() async throws {
        try await withServer { _, path, _ in
            var status = stat()
            #expect(lstat(path, &status) == 0)
            #expect(status.st_mode & S_IFMT == S_IFSOCK)
            #expect(status.st_mode & 0o7777 == 0o660)
        }
    }

    @Test func secondBindOnALivePathFails() async throws {
        try await withServer { server, path, _ in
            #expect(server.localPath == path)
            let second = VarlinkServer(handler: TestHandler(log: HandlerLog()), group: MultiThreadedEventLoopGroup.singleton)
            let error = await #expect(throws: VarlinkServerError.self) { try await second.bind(path: path, mode: 0o660) }
            #expect(error?.description == "another daemon is already listening on \(path)")
            await second.shutdown()
            // The live server's socket is untouched.
            let reply = try await call(path, "test.Echo", ["ok": true])
            #expect(reply == ["ok": true])
        }
    }

    @Test func bindReplacesAStaleSocketFile() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/stale.sock"
        // A socket file whose socket is gone: bound, then closed without unlinking.
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let stale = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        close(stale)
        #expect(access(path, F_OK) == 0)

        let server = VarlinkServer(handler: TestHandler(log: HandlerLog()), group: MultiThreadedEventLoopGroup.singleton)
        try await server.bind(path: path, mode: 0o660)
        let reply = try await call(path, "test.Echo", ["fresh": true])
        await server.shutdown()
        #expect(reply == ["fresh": true])
        #expect(access(path, F_OK) != 0, "shutdown removes the socket file it created")
    }

    @Test func bindLeavesAFileThatIsNotASocketAlone() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.path + "/plain"
        close(open(path, O_CREAT | O_WRONLY, 0o600))
        let server = VarlinkServer(handler: TestHandler(log: HandlerLog()), group: MultiThreadedEventLoopGroup.singleton)
        await #expect(throws: VarlinkServerError.self) { try await server.bind(path: path, mode: 0o660) }
        #expect(access(path, F_OK) == 0)
        await server.shutdown()
    }

    @Test func shutdownWaitsForTheCallInProgressAndDeliversItsReply() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let log = HandlerLog()
        let server = VarlinkServer(handler: TestHandler(log: log), group: MultiThreadedEventLoopGroup.singleton)
        let path = directory.path + "/test.sock"
        try await server.bind(path: path, mode: 0o660)
        // An idle connection must not hold up shutdown; it is closed.
        let idleClient = Task {
            try await blocking { () -> Bool in
                let connection = try VarlinkConnection(path: path)
                _ = try connection.call("test.Record", ["value": "idle"])
                do {
                    _ = try connection.receive()
                    return false
                } catch {
                    return isConnectionClosed(error)
                }
            }
        }
        #expect(try await log.waitFor("record idle"))
        let slowCall = Task {
            try await call(path, "test.Sleep", ["tag": "slow", "milliseconds": 400])
        }
        #expect(try await log.waitFor("started slow"))
        await server.shutdown()
        #expect(log.all.contains("finished slow"), "shutdown returned before the call in progress finished")
        #expect(try await slowCall.value == ["tag": "slow"])
        #expect(try await idleClient.value)
        #expect(access(path, F_OK) != 0)
        let error = await #expect(throws: VarlinkClientError.self) { try await call(path, "test.Echo") }
        if case .cannotConnect(_, let code)? = error {
            #expect(code == ENOENT)
        } else {
            Issue.record("expected cannotConnect, got \(String(describing: error))")
        }
        await server.shutdown()  // idempotent
    }

    @Test func idleConnectionIsClosedButAConnectionWithACallInProgressIsNot() async throws {
        var limits = VarlinkServerLimits()
        // A second of idleness, so that a loaded machine (an event loop starved for a few hundred milliseconds
        // before it reads the busy connection's call) cannot make the busy connection look idle. The server has an
        // event loop of its own, so that the other server tests running beside it cannot hold up its reads too: on
        // the shared loops, in a full run (which also compiles the release build), the busy connection's call once
        // stayed unread past the timeout.
        limits.idleTimeout = .seconds(1)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }
        try await withServer(limits: limits, group: group) { _, path, _ in
            let (idleError, busyReply) = try await blocking { () -> ((any Error)?, VarlinkReply) in
                let idle = try VarlinkConnection(path: path)
                let busy = try VarlinkConnection(path: path)
                try busy.send(VarlinkCall(method: "test.Sleep", parameters: ["tag": "long", "milliseconds": 3_500]))
                usleep(2_500_000)
                var idleError: (any Error)?
                do { _ = try idle.receive() } catch { idleError = error }
                return (idleError, try busy.receive())
            }
            #expect(isConnectionClosed(idleError))
            #expect(busyReply.parameters == ["tag": "long"])
        }
    }

    @Test func connectionsBeyondThePerUserLimitAreClosed() async throws {
        var limits = VarlinkServerLimits()
        limits.maxConnectionsPerUID = 2
        try await withServer(limits: limits) { _, path, _ in
            let (first, second, third) = try await blocking { () -> (Bool, Bool, (any Error)?) in
                // Each accepted connection is set up on its own event loop, so connections opened together may be
                // counted in any order: the first two are made to count (a round trip each) before the third opens.
                let connections = try (0..<2).map { _ in try VarlinkConnection(path: path) }
                let first = try connections[0].call("test.Echo", ["n": 1]) == ["n": 1]
                let second = try connections[1].call("test.Echo", ["n": 2]) == ["n": 2]
                var thirdError: (any Error)?
                do { _ = try VarlinkConnection(path: path).call("test.Echo") } catch { thirdError = error }
                return (first, second, thirdError)
            }
            #expect(first && second)
            #expect(isConnectionClosed(third))
        }
    }

    @Test func closingAConnectionFreesItsSlotForTheLimit() async throws {
        var limits = VarlinkServerLimits()
        limits.maxConnections = 1
        try await withServer(limits: limits) { _, path, _ in
            #expect(try await call(path, "test.Echo", ["n": 1]) == ["n": 1])
            // The slot is released once the server saw the first connection close.
            var reply: JSONObject?
            for _ in 0..<100 where reply == nil {
                reply = try? await call(path, "test.Echo", ["n": 2])
                if reply == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            #expect(reply == ["n": 2])
        }
    }
}
