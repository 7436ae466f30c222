import Foundation
import Testing

/// Every public declaration in Sources/ (types, functions, initialisers, properties, typealiases, subscripts) has a
/// `///` summary directly above it, attributes aside, whose first line says something. Members of a `public extension`
/// would be public without saying so, out of this scan's sight: such an extension is refused, and each member says
/// `public` itself. Enum cases take their enum's access level and are not checked.
@Suite struct DocumentationTests {
    /// The package root, from this file's place in Tests/AutopilotInterfaceTests.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A public declaration the rule above is not met for.
    struct Problem: Equatable, CustomStringConvertible {
        /// The file, relative to the package root.
        var file: String
        /// Its line, from 1.
        var line: Int
        /// What is wrong.
        var why: String
        /// The declaration's line, trimmed.
        var text: String

        /// `path:line: why: declaration`, as compilers point at lines.
        var description: String { "\(file):\(line): \(why): \(text)" }
    }

    /// What a scan found: how many public declarations it saw, and the problems among them.
    struct Scan {
        /// Public declarations seen.
        var declarations = 0
        /// Those that break the rule.
        var problems: [Problem] = []
    }

    /// Words that may stand before or after the access level in a declaration, besides attributes.
    static let modifiers: Set<Substring> = [
        "final", "static", "nonisolated", "override", "mutating", "nonmutating", "convenience", "required", "indirect",
        "dynamic", "lazy", "weak", "unowned", "optional", "prefix", "postfix", "infix", "consuming", "borrowing",
        "distributed",
    ]

    /// The keywords a declaration is made with (`init` also as `init?(`, `init<T>(`, `init(`).
    static let declarationKeywords: [Substring] = [
        "class", "struct", "enum", "protocol", "actor", "extension", "func", "init", "var", "let", "typealias",
        "subscript", "associatedtype", "macro", "operator", "precedencegroup",
    ]

    /// Skips what is left of an attribute open since an earlier line (`depth` parentheses), then the attributes the
    /// line starts with (`@MainActor`, `@available(…)`). Returns the rest of the line, and how many parentheses are
    /// still open at its end: an attribute that goes on to the next line leaves nothing of this one.
    static func skippingAttributes(_ line: Substring, depth: Int) -> (rest: Substring, depth: Int) {
        var rest = line
        var depth = depth
        /// Drops characters up to the parenthesis that closes `depth`; false when the line ends first.
        func close() -> Bool {
            var inString = false
            var previous: Character = " "
            while let c = rest.first {
                rest = rest.dropFirst()
                if c == "\"" && previous != "\\" { inString.toggle() }
                if !inString && c == "(" { depth += 1 }
                if !inString && c == ")" { depth -= 1 }
                previous = c
                if depth == 0 { return true }
            }
            return false
        }
        if depth > 0 && !close() { return ("", depth) }
        rest = rest.drop(while: \.isWhitespace)
        while rest.first == "@" {
            rest = rest.dropFirst().drop { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
            if rest.first == "(" && !close() { return ("", depth) }
            rest = rest.drop(while: \.isWhitespace)
        }
        return (rest, 0)
    }

    /// Whether a line declares something public or open: the access level among the declaration's modifiers (after
    /// any attributes), then a declaration keyword. `public import` is not a declaration of this module's.
    static func isPublicDeclaration(_ line: Substring) -> Bool {
        let words = skippingAttributes(line, depth: 0).rest.split(whereSeparator: { $0 == " " || $0 == "\t" })
        var isPublic = false
        for word in words {
            if word == "public" || word == "open" {
                isPublic = true
            } else if modifiers.contains(word) || word.hasSuffix("(set)") || word.hasPrefix("nonisolated(") {
                continue
            } else {
                return isPublic && declarationKeywords.contains { keyword in
                    word == keyword || (word.hasPrefix(keyword) && "(<?!".contains(word[word.index(word.startIndex, offsetBy: keyword.count)]))
                }
            }
        }
        return false
    }

    /// Scans one file's text. A summary is the `///` block directly above a declaration, with only attribute lines
    /// between; a blank line, a plain comment or code in between ends it. Lines inside multi-line string literals are
    /// text, not declarations.
    static func scan(_ text: String, file: String) -> Scan {
        var result = Scan()
        var summary: Bool?  // the doc block above: nil for none, else whether its first line has text
        var depth = 0
        var inString = false
        /// Whether a line opens or closes a multi-line string literal.
        func togglesString(_ line: Substring) -> Bool { line.components(separatedBy: "\"\"\"").count % 2 == 0 }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if inString {
                if togglesString(line) { inString = false }
                summary = nil
                continue
            }
            let wasAttribute = line.trimmingCharacters(in: .whitespaces).hasPrefix("@") || depth > 0
            let (rest, open) = skippingAttributes(line, depth: depth)
            depth = open
            let trimmed = rest.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty {
                if !wasAttribute { summary = nil }
                continue
            }
            if trimmed.hasPrefix("///") {
                if summary == nil { summary = !trimmed.dropFirst(3).trimmingCharacters(in: .whitespaces).isEmpty }
                continue
            }
            if trimmed.hasPrefix("//") {
                summary = nil
                continue
            }
            if isPublicDeclaration(rest) {
                result.declarations += 1
                let why: String? =
                    trimmed.split(separator: " ").contains("extension")
                        ? "a public extension (write public on each member instead, with its summary)"
                        : summary == nil ? "no /// summary" : summary == false ? "the /// summary's first line is empty" : nil
                if let why { result.problems.append(Problem(file: file, line: index + 1, why: why, text: trimmed)) }
            }
            summary = nil
            if togglesString(line) { inString = true }
        }
        return result
    }

    /// Scans every Swift file under `Sources/`.
    static func scanSources() throws -> Scan {
        var result = Scan()
        let sources = root.appendingPathComponent("Sources")
        guard let files = FileManager.default.enumerator(atPath: sources.path) else {
            result.problems.append(Problem(file: "Sources", line: 0, why: "cannot list", text: sources.path))
            return result
        }
        for case let file as String in files where file.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            let scan = scan(text, file: "Sources/" + file)
            result.declarations += scan.declarations
            result.problems += scan.problems
        }
        result.problems.sort { ($0.file, $0.line) < ($1.file, $1.line) }
        return result
    }

    @Test func everyPublicDeclarationInSourcesHasASummary() throws {
        let scan = try Self.scanSources()
        // Far fewer would mean the scan no longer sees them, not that they went away.
        #expect(scan.declarations > 1000, "only \(scan.declarations) public declarations seen in Sources/")
        #expect(scan.problems.isEmpty, """
            \(scan.problems.count) of \(scan.declarations) public declarations lack a /// summary:
            \(scan.problems.map(\.description).joined(separator: "\n"))
            """)
    }

    @Test(arguments: [
        "public struct A {", "    public init(x: Int) {", "public init?(code: Int) {", "public init<T>(_ t: T) {",
        "    public var x: Int", "public let y = 1", "public static let z = 2", "public static func < (a: A, b: A) -> Bool {",
        "@inlinable public func f() {}", "@MainActor public final class B {}", "final public class C {}",
        "public private(set) var rows: [[String]] = []", "nonisolated(unsafe) public static var shared = 0",
        "public mutating func next() -> Int? {", "public subscript(key: String) -> Int {", "public typealias T = Int",
        "public enum E: String, Sendable {", "public protocol P {", "open class D {}", "public extension A {",
        "@available(*, deprecated, message: \"use g()\") public func f() {}", "public convenience init(path: String) {",
        "public static var scope: Scope<Parameters> { Scope() }",
    ])
    func aPublicDeclarationIsSeen(_ line: String) {
        #expect(Self.isPublicDeclaration(Substring(line)))
    }

    @Test(arguments: [
        "func f() {}", "    var x = 1", "private var y = 2", "internal struct S {}", "/// public func f()",
        "// public var x", "let text = \"public var x\"", "    case public", "let fd = open(path, O_RDONLY)",
        "public import Foundation", "publicKey.verify()", "    open(path)", "@Option(help: \"The id.\") var id: String",
        "package func g() {}", "return public", "@usableFromInline var buffer: [UInt8] = []",
    ])
    func anythingElseIsNot(_ line: String) {
        #expect(!Self.isPublicDeclaration(Substring(line)))
    }

    @Test func anUndocumentedDeclarationIsFoundWhereverItHides() {
        let sample = """
            /// Documented.
            public struct A {
                public var undocumented: Int
                /// Documented, behind an attribute.
                @inlinable
                public func f() {}
                /// Documented, behind an attribute on three lines.
                @available(*, deprecated,
                           message: "use (g)")
                public func g() {}
                ///
                /// A summary that starts a line too late.
                public init() {}
                /// Documented, then cut off by a blank line.

                public static let cut = 1
                // A plain comment is not a summary.
                public typealias T = Int
                var internalOnesNeedNone = 0
                let text = \"\"\"
                    public var insideAStringIsText: Int
                    \"\"\"
                /// Documented after the string.
                public static func h() {}
                @Option(help: "(") var notPublic: String
                public var afterAnAttributedLine = 0
            }
            public extension A {}
            /// Documented, but public extensions are not allowed.
            public extension A {}
            """
        let scan = Self.scan(sample, file: "Sample.swift")
        #expect(scan.declarations == 11)
        #expect(scan.problems.map(\.line) == [3, 13, 16, 18, 26, 28, 30])
        #expect(scan.problems.first == Problem(file: "Sample.swift", line: 3, why: "no /// summary",
                                               text: "public var undocumented: Int"))
        #expect(scan.problems[1].why == "the /// summary's first line is empty")
    }
}
