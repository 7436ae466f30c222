#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import AutopilotClient
import AutopilotInterface
import Varlink

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The daemon's varlink socket (default: $AUTOPILOT_SOCKET, else your own daemon's, else the system one).",
            valueName: "path"))
    var socket: String?

    @Flag(name: .long, help: "Print the daemon's reply as JSON: the method's declared reply, every member present.")
    var json = false

    /// The socket to connect to.
    var socketPath: String { socket ?? DefaultLocations.clientSocket() }

    /// `arguments` with the options every command takes (`--socket PATH`, `--socket=PATH`, `--json`) moved from
    /// before the command to after it, so that `autopilotctl --socket PATH whoami` works as in most tools: the parser
    /// only reads a command's options after its name. They go at the end, or before a `--` that ends the options.
    static func movedAfterTheCommand(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            if argument == "--json" || argument.hasPrefix("--socket=") {
                leading.append(argument)
                index += 1
            } else if argument == "--socket", index + 1 < arguments.endIndex {
                leading += [argument, arguments[index + 1]]
                index += 2
            } else {
                break
            }
        }
        guard !leading.isEmpty, index < arguments.endIndex else { return arguments }
        var rest = Array(arguments[index...])
        rest.insert(contentsOf: leading, at: rest.firstIndex(of: "--") ?? rest.endIndex)
        return rest
    }

    /// Connects, runs `body`, and turns any failure into one line on stderr and an exit code.
    func run(_ body: (Session) throws -> Void) throws {
        do {
            let client = try RegistryClient(path: socketPath)
            defer { client.close() }
            try body(Session(client: client, json: json))
        } catch {
            throw ExitStatus.report(error, socket: socketPath)
        }
    }
}

/// A failure found locally, before or instead of calling the daemon.
struct CLIError: Error {
    var message: String
    var code: Int32
    init(_ message: String, code: Int32 = ExitStatus.dataError) { self.message = message; self.code = code }
}

/// The exit codes of autopilotctl (listed in the root command's help).
enum ExitStatus {
    static let refused: Int32 = 1
    static let usage: Int32 = 64
    static let someFailed: Int32 = 2
    static let notConsented: Int32 = 3
    static let dataError: Int32 = 65
    static let noInput: Int32 = 66
    static let noUser: Int32 = 67
    static let unavailable: Int32 = 69
    static let cannotCreate: Int32 = 73
    static let protocolError: Int32 = 76
    static let noPermission: Int32 = 77

    /// Prints one line about `error` on stderr and returns the exit code to leave with.
    static func report(_ error: any Error, socket: String) -> ExitCode {
        switch error {
        case let code as ExitCode:
            return code
        case let error as CLIError:
            Output.error(error.message)
            return ExitCode(error.code)
        case let error as VarlinkClientError:
            return report(error, socket: socket)
        case let error as DeviceCSVFile.FileError:
            Output.error(error.description)
            if case .cannotOpen = error { return ExitCode(noInput) }
            return ExitCode(dataError)
        default:
            Output.error("\(error)")
            return ExitCode(refused)
        }
    }

    static func report(_ error: VarlinkClientError, socket: String) -> ExitCode {
        switch error {
        case let .cannotConnect(path, code) where code == EACCES || code == EPERM:
            Output.error("permission denied on autopilotd's socket \(path) (ask the operator for access)")
            return ExitCode(noPermission)
        case let .cannotConnect(path, code) where code == ENOENT || code == ECONNREFUSED:
            Output.error(
                "cannot connect to autopilotd at \(path) (is the daemon running? start it with 'autopilotd', or set --socket / AUTOPILOT_SOCKET)"
            )
            return ExitCode(unavailable)
        case let .cannotConnect(path, code):
            Output.error("cannot connect to autopilotd at \(path): \(String(cString: strerror(code)))")
            return ExitCode(unavailable)
        case .connectionClosed:
            Output.error("autopilotd at \(socket) closed the connection before answering")
            return ExitCode(protocolError)
        case let .protocolError(reason):
            Output.error("autopilotd at \(socket) sent a bad reply: \(reason)")
            return ExitCode(protocolError)
        case let .remote(error):
            Output.error("\(shortName(error)): \(RegistryErrors.explanation(error))")
            if let hint = hint(error) { Output.stderrWrite("  \(hint)\n") }
            return ExitCode(refused)
        }
    }

    /// What a person can do about `error`, when the error alone does not say.
    static func hint(_ error: VarlinkError) -> String? {
        switch RegistryErrors.registryError(error) {
        case let .oemNotEligible(partner)?:
            "the consent its customers gave stays as it was; an operator makes the OEM eligible again with "
                + "'autopilotctl partner set-oem-eligibility \(partner) --eligible true'"
        default:
            nil
        }
    }

    /// `GlobalAdminRequired` for this interface's errors, the full name for others.
    static func shortName(_ error: VarlinkError) -> String {
        let prefix = RegistryInterface.name + "."
        return error.name.hasPrefix(prefix) ? String(error.name.dropFirst(prefix.count)) : error.name
    }
}

/// A connected client and how to show results.
struct Session {
    let client: RegistryClient
    let json: Bool

    /// Calls method `M` with `parameters`.
    func call<M: MethodDeclaration>(_ method: M.Type, _ parameters: M.Parameters) throws(VarlinkClientError) -> M.Reply {
        try client.call(method, parameters)
    }

    /// Calls method `M`, which takes no parameters.
    func call<M: MethodDeclaration>(_ method: M.Type) throws(VarlinkClientError) -> M.Reply where M.Parameters == Empty {
        try client.call(method)
    }

    /// The account a tenant-side command acts as: the one `--as` names, else the one the caller's access rule binds
    /// it to (said on stdout, so that nobody acts as someone without seeing it). A tenant-wide caller gets nil, which
    /// the daemon refuses (and records).
    /// - Throws: `CLIError` when an operator names no account.
    func actingAccount(_ named: String?) throws -> String? {
        if let named { return named }
        let me = try call(Registry.WhoAmI.self)
        if let bound = me.account {
            if !json { Output.out("Acting as \(bound), the account your access rule binds you to.\n") }
            return bound
        }
        if me.role == .tenant { return nil }
        throw CLIError("name the account you act as with --as UPN (a Global Administrator of the tenant)",
                       code: ExitStatus.usage)
    }

    /// Prints `reply` as pretty JSON when --json is set; returns whether it did.
    @discardableResult
    func printJSON(_ reply: some WireRecord) -> Bool {
        guard json else { return false }
        Output.out(JSON.prettyPrint(reply.wire))
        return true
    }
}

/// Writing to stdout (buffered, through `print`) and stderr (unbuffered, straight to file descriptor 2).
enum Output {
    /// Writes a line to stdout.
    static func out(_ text: String) { print(text) }

    /// Writes text to stdout without adding a newline.
    static func write(_ text: String) { print(text, terminator: "") }

    /// Writes `error: message` to stderr.
    static func error(_ message: String) { stderrWrite("error: \(message)\n") }

    /// Writes `warning: message` to stderr.
    static func warning(_ message: String) { stderrWrite("warning: \(message)\n") }

    /// Writes raw text to stderr.
    static func stderrWrite(_ text: String) {
        fflush(nil)
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            bytes = bytes.dropFirst(n)
        }
    }

    /// Pushes buffered stdout to its destination (for output that trickles, such as `audit log --follow`).
    static func flush() { fflush(nil) }

    static var stderrIsTerminal: Bool { isatty(2) == 1 }
}

/// Writes a JSON array element by element, so a stream of replies is printed as it arrives.
struct JSONArrayWriter {
    private var count = 0

    mutating func append(_ object: JSONObject) {
        let text = JSON.prettyPrint(.object(object)).split(separator: "\n", omittingEmptySubsequences: false)
            .map { "  " + $0 }.joined(separator: "\n")
        Output.write((count == 0 ? "[\n" : ",\n") + text)
        count += 1
    }

    func finish() {
        Output.write(count == 0 ? "[]\n" : "\n]\n")
    }
}
