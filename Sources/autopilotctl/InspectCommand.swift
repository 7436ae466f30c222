#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import AutopilotClient
import AutopilotDomain
import Crypto
import Varlink

extension DevicesCommand {
    /// `devices inspect`: what a hardware hash says about its machine, read locally; nothing is sent to the daemon.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which machine a hardware hash is, without registering it (no daemon needed).",
            discussion: """
                INPUT is a device CSV file (every row's hash is read, in any encoding import takes), a hardware \
                hash itself, or - for standard input (a CSV file or a hash). For each hash it prints the \
                manufacturer, model and serial number the hash names (the machine's identity: the registry \
                refuses a second capture of a registered machine with 806 or 808), the product key ID, whether a \
                TPM is present, the Windows version captured, and the SHA-256 that `devices list` shows. A serial \
                number the firmware left as a placeholder (None, SMBIOS_STRING_INDEX_0, ...) is marked: it names \
                no machine. Exit 0 when every hash was read, 2 when some row's hash is not valid, 65 when the \
                only hash given is not valid.
                --json prints an array: [{line, manufacturer, model, serialNumber, serialIsPlaceholder, \
                productKeyID, tpm, windowsVersion, hardwareHashSha256, bytes, ...}] or {line, error}.
                """)
        @Flag(name: .long, help: "Print JSON.") var json = false
        @Argument(help: ArgumentHelp("A device CSV file, a hardware hash, or - for standard input.", valueName: "input"))
        var input: String

        func run() throws {
            do {
                try inspect()
            } catch {
                throw ExitStatus.report(error, socket: "")
            }
        }

        /// Reads the input and prints what each hash says.
        func inspect() throws {
            var entries: [(line: Int?, hash: String)] = []
            let source = try readInput()
            switch source {
            case let .hash(text): entries = [(nil, text)]
            case let .file(file):
                while let row = try file.next() {
                    if case let .success(device) = row.result, let hash = device.hardwareHash { entries.append((row.line, hash)) }
                }
                if entries.isEmpty { throw CLIError("\(file.path) holds no hardware hash") }
            }
            var failed = 0
            var array = JSONArrayWriter()
            for (index, entry) in entries.enumerated() {
                switch Self.decode(AutopilotDomain.Validate.trim(entry.hash)) {
                case let .success(decoded):
                    let object = Self.describe(decoded.bytes, decoded.info, line: entry.line)
                    if json {
                        array.append(object)
                    } else {
                        if index > 0 { Output.out("") }
                        Render.print(Self.block(object))
                    }
                case let .failure(problem):
                    failed += 1
                    let prefix = entry.line.map { "line \($0): " } ?? ""
                    if json {
                        array.append(["line": entry.line.map(JSONValue.int) ?? .null,
                                      "error": .string("the hardware hash is \(problem.reason)")])
                    } else if entries.count > 1 {
                        Output.stderrWrite("\(prefix)the hardware hash is \(problem.reason)\n")
                    }
                    if entries.count == 1 && !json {
                        throw CLIError("\(prefix)the hardware hash is \(problem.reason)")
                    }
                }
            }
            if json { array.finish() }
            if failed > 0 { throw ExitCode(entries.count == 1 ? ExitStatus.dataError : ExitStatus.someFailed) }
        }

        /// The hash decoded, its checksum checked as the registry checks it.
        static func decode(_ text: String) -> Result<(bytes: [UInt8], info: HardwareHashInfo), HardwareHashProblem> {
            HardwareHash.decode(text: text).flatMap { decoded in
                let digest = SHA256.hash(data: decoded.bytes[..<min(decoded.info.recordsEnd, decoded.bytes.count)])
                if let problem = HardwareHash.checksumProblem(decoded.info, digest: Array(digest)) { return .failure(problem) }
                return .success(decoded)
            }
        }

        /// Where the hashes come from.
        enum Source {
            case hash(String)
            case file(DeviceCSVFile)
        }

        /// A file whose header is a device CSV header, else the text itself as a hash; `-` is read from stdin.
        func readInput() throws -> Source {
            var path = input
            var temporary: String?
            if input == "-" {
                let text = readStandardInput()
                let trimmed = AutopilotDomain.Validate.trim(String(decoding: text, as: UTF8.self))
                if !trimmed.isEmpty && !trimmed.contains(",") { return .hash(trimmed) }
                path = try temporaryCopy(text)
                temporary = path
            }
            // The reader keeps the file open: the copy of standard input can go at once.
            defer { if let temporary { unlink(temporary) } }
            var st = stat()
            guard stat(path, &st) == 0 else {
                // Not a file: a hash given on the command line (base64 may hold '/', but a path to a missing file
                // is more likely then than a hash too short to be one).
                if input.utf8.count > 100 || !input.contains("/") { return .hash(input) }
                throw CLIError("cannot open \(input): \(String(cString: strerror(errno)))", code: ExitStatus.noInput)
            }
            do {
                return .file(try DeviceCSVFile(path: path))
            } catch {
                throw CLIError("\(error)")
            }
        }

        /// The bytes of standard input.
        func readStandardInput() -> [UInt8] {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes += buffer[..<n]
            }
            return bytes
        }

        /// Standard input written to a temporary file, so that the CSV reader can take it as a file.
        func temporaryCopy(_ bytes: [UInt8]) throws -> String {
            var template = Array("/tmp/autopilotctl-inspect-XXXXXX".utf8CString)
            let fd = mkstemp(&template)
            guard fd >= 0 else { throw CLIError("cannot create a temporary file: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            _ = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        }

        /// What the hash says, as the JSON object --json prints.
        static func describe(_ bytes: [UInt8], _ info: HardwareHashInfo, line: Int?) -> JSONObject {
            func text(_ s: String?) -> JSONValue { s.map(JSONValue.string) ?? .null }
            let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            return [
                "line": line.map(JSONValue.int) ?? .null,
                "manufacturer": text(info.manufacturer), "model": text(info.model),
                "serialNumber": text(info.serialNumber),
                "serialIsPlaceholder": .bool(SerialNumberPlaceholder.isPlaceholder(info.serialNumber)),
                "productKeyID": text(info.productKeyID), "tpm": text(info.tpm),
                "windowsVersion": text(info.windowsVersion), "cpu": text(info.cpuModel),
                "firmwareVendor": text(info.firmwareVendor), "sku": text(info.sku), "family": text(info.family),
                "hardwareHashSha256": .string(digest), "bytes": .int(bytes.count),
            ]
        }

        /// The human form of `describe`.
        static func block(_ o: JSONObject) -> KeyValueBlock {
            func value(_ key: String) -> String? { o[key]?.stringValue }
            var b = KeyValueBlock([])
            if let line = o["line"]?.intValue { b.append("line", String(line)) }
            b.append("manufacturer", Render.text(value("manufacturer")))
            b.append("model", Render.text(value("model")))
            let placeholder = o["serialIsPlaceholder"]?.boolValue == true
            b.append("serial number", Render.text(value("serialNumber"))
                + (placeholder ? " (a placeholder: names no machine)" : ""))
            b.append("product key ID", Render.text(value("productKeyID")))
            b.append("TPM", value("tpm") ?? "none")
            b.append("Windows", Render.text(value("windowsVersion")))
            b.append("CPU", Render.text(value("cpu")))
            b.append("firmware", Render.text(value("firmwareVendor")))
            b.append("SKU", Render.text(value("sku")))
            b.append("family", Render.text(value("family")))
            b.append("hardware hash sha256", Render.text(value("hardwareHashSha256")))
            return b
        }
    }
}
