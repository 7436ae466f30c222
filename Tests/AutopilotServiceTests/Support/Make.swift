import Foundation

/// The path of a tool, or a failure saying which Debian package to install.
func requireTool(_ name: String, package: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
    let directories = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin"]
    for directory in directories where FileManager.default.isExecutableFile(atPath: directory + "/" + name) {
        return directory + "/" + name
    }
    throw TestFailure("\(name) is not installed: install the Debian package '\(package)' (.ci/run does)")
}

/// Held while a `make` of this checkout runs: the tests that run `make install` share its build directory (the
/// Makefile's SCRATCH, .build-release), so the release build is made once and each later make only relinks nothing
/// and regenerates the completions and man pages; two makes at once would also race on `rm -rf` of the generated files.
private let makeLock = NSLock()

/// Runs `make -C <checkout> SWIFT=<swift> ARGUMENTS` to completion, one make at a time, and prints how long it took.
func runMake(_ arguments: [String]) throws -> CommandResult {
    let make = try requireTool("make", package: "make")
    let swift = (try? requireTool("swift", package: "swift toolchain")) ?? "/opt/swift/usr/bin/swift"
    makeLock.lock()
    defer { makeLock.unlock() }
    let started = Date()
    let result = try runProgram(make, ["-C", repositoryRoot, "SWIFT=\(swift)"] + arguments, timeout: 3600)
    print("make \(arguments.joined(separator: " ")): \(Int(Date().timeIntervalSince(started))) s")
    return result
}
