import Foundation

/// A running program the test talks to: it writes lines to its standard input and waits for lines on its standard
/// output (`sqlite3` holding a transaction open, `autopilotctl audit log --follow`).
final class InteractiveProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe(), output = Pipe(), errors = Pipe()
    private let lock = NSLock()
    private var outputData = Data(), errorData = Data()
    /// Lines already returned by `waitForLine`; the next wait looks after them.
    private var consumed = 0

    /// Starts `commandLine` (program path first) with the test's environment plus `environment`.
    init(_ commandLine: [String], environment: [String: String] = [:]) throws {
        process.executableURL = URL(fileURLWithPath: commandLine[0])
        process.arguments = Array(commandLine.dropFirst())
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self else { return }
            self.lock.lock()
            self.outputData.append(chunk)
            self.lock.unlock()
        }
        errors.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self else { return }
            self.lock.lock()
            self.errorData.append(chunk)
            self.lock.unlock()
        }
        try process.run()
    }

    /// Writes `text` to the program's standard input.
    func send(_ text: String) {
        input.fileHandleForWriting.write(Data(text.utf8))
    }

    /// Complete lines written to standard output so far.
    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        var all = String(decoding: outputData, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        all.removeLast()  // the part after the last newline is not a complete line yet
        return all.map(String.init)
    }

    /// What the program wrote to standard error so far.
    var errorOutput: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: errorData, as: UTF8.self)
    }

    /// Waits for the next output line that satisfies `predicate` and returns it. Fails when the program exits or
    /// nothing matches within `timeout` seconds (a generous bound against hanging, not a timing assertion).
    func waitForLine(timeout: TimeInterval = 60, _ predicate: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let all = lines
            if let index = all.indices.dropFirst(consumed).first(where: { predicate(all[$0]) }) {
                consumed = index + 1
                return all[index]
            }
            if !process.isRunning || Date() > deadline {
                throw TestFailure("no expected line from \(process.executableURL?.path ?? "?"); output:\n"
                                  + all.joined(separator: "\n") + "\nerrors:\n" + errorOutput)
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Closes standard input and waits for the program to exit; returns its exit status.
    @discardableResult
    func finish() -> Int32 {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Kills the program and waits for it. SIGKILL, because a child started from a test thread inherits that
    /// thread's signal mask, in which SIGTERM may be blocked.
    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        output.fileHandleForReading.readabilityHandler = nil
        errors.fileHandleForReading.readabilityHandler = nil
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
