import Foundation
import Varlink

/// A varlink caller in Python (standard library only) that tests run as another Unix user through setpriv, so that
/// the daemon sees that user's uid with SO_PEERCRED.
///
/// `python3 calls.py SOCKET` reads a JSON array of `{method, parameters, more?, firstOnly?}` on stdin, makes the calls
/// in order on one connection (reconnecting after a close; `firstOnly` keeps the first reply of a stream that never
/// ends and closes the connection) and prints a JSON array with, per call, `error` (the error name, null
/// on success, or "closed"), `errorParameters` and `replies` (the parameters of every reply).
/// `python3 calls.py SOCKET --hold N` opens N connections, calls WhoAmI on each, prints a JSON array of "ok", an error
/// name, or "closed" per connection, and keeps the connections open until stdin is closed.
enum CallScript {
    static let source = #"""
        import json, socket, sys

        class Connection:
            def __init__(self, path):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(60)
                self.sock.connect(path)
                self.buffer = b""

            def send(self, message):
                self.sock.sendall(json.dumps(message).encode() + b"\0")

            def receive(self):
                while b"\0" not in self.buffer:
                    chunk = self.sock.recv(65536)
                    if not chunk:
                        raise ConnectionError("closed")
                    self.buffer += chunk
                frame, self.buffer = self.buffer.split(b"\0", 1)
                return json.loads(frame)

        def call(connection, request):
            message = {"method": request["method"], "parameters": request.get("parameters", {})}
            if request.get("more"):
                message["more"] = True
            connection.send(message)
            replies = []
            while True:
                reply = connection.receive()
                if "error" in reply:
                    return {"error": reply["error"], "errorParameters": reply.get("parameters", {}), "replies": replies}
                replies.append(reply.get("parameters", {}))
                if not reply.get("continues") or request.get("firstOnly"):
                    return {"error": None, "errorParameters": {}, "replies": replies}

        def run(path):
            results = []
            connection = None
            for request in json.load(sys.stdin):
                try:
                    if connection is None:
                        connection = Connection(path)
                    results.append(call(connection, request))
                    if request.get("firstOnly"):
                        connection.sock.close()
                        connection = None
                except (OSError, ConnectionError, ValueError):
                    results.append({"error": "closed", "errorParameters": {}, "replies": []})
                    connection = None
            print(json.dumps(results))

        def hold(path, count):
            connections, outcomes = [], []
            for _ in range(count):
                try:
                    connection = Connection(path)
                    connection.send({"method": "io.autopilotd.registry.WhoAmI", "parameters": {}})
                    reply = connection.receive()
                    outcomes.append(reply.get("error") or "ok")
                    connections.append(connection)
                except (OSError, ConnectionError, ValueError):
                    outcomes.append("closed")
            print(json.dumps(outcomes), flush=True)
            sys.stdin.read()

        if len(sys.argv) == 4 and sys.argv[2] == "--hold":
            hold(sys.argv[1], int(sys.argv[3]))
        else:
            run(sys.argv[1])
        """#

    /// One call to make.
    struct Call: Sendable {
        var method: String
        var parameters: JSONObject = [:]
        var more = false
        /// Keep only the first reply of a stream that never ends, then close the connection.
        var firstOnly = false

        var json: JSONValue {
            var o: JSONObject = ["method": .string(method), "parameters": .object(parameters)]
            if more { o["more"] = true }
            if firstOnly { o["firstOnly"] = true }
            return .object(o)
        }
    }

    /// What a call got: the error name (nil on success, "closed" when the connection closed) and the replies' text.
    struct Outcome: Sendable {
        var error: String?
        var errorParameters: JSONObject
        var replies: [JSONValue]
        /// The whole answer as JSON text, to search for identifiers that must not appear.
        var text: String { JSON.serialize(.object(["error": error.map(JSONValue.string) ?? .null,
                                                    "errorParameters": .object(errorParameters), "replies": .array(replies)])) }
    }

    /// Writes the script into `directory` (readable by everyone) and returns its path.
    static func install(in directory: String) throws -> String {
        let path = directory + "/calls.py"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        return path
    }

    /// Makes `calls` as `user` and returns one outcome per call.
    static func run(_ calls: [Call], as user: TestUser, socket: String, script: String) throws -> [Outcome] {
        let input = JSON.serialize(.array(calls.map(\.json)))
        let result = try runProgram("/usr/bin/setpriv",
                                    ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups", "--",
                                     "/usr/bin/python3", script, socket],
                                    stdin: input, timeout: 300)
        guard result.status == 0, let array = try JSON.parse(result.stdout).arrayValue, array.count == calls.count else {
            throw TestFailure("calls.py as \(user.name): \(result)")
        }
        return array.map { value in
            let o = value.objectValue ?? [:]
            return Outcome(error: o["error"]?.stringValue, errorParameters: o["errorParameters"]?.objectValue ?? [:],
                           replies: o["replies"]?.arrayValue ?? [])
        }
    }
}
