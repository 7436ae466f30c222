/// What `org.varlink.service.GetInfo` reports about the service.
public struct VarlinkServiceInfo: Sendable {
    /// Who makes the service.
    public var vendor: String
    /// The product's name.
    public var product: String
    /// The product's version.
    public var version: String
    /// Where to read about it.
    public var url: String

    /// The facts `GetInfo` reports.
    public init(vendor: String, product: String, version: String, url: String) {
        self.vendor = vendor
        self.product = product
        self.version = version
        self.url = url
    }
}

/// The text of a varlink interface description together with the interface name it declares.
public struct VarlinkInterfaceDescription: Sendable {
    /// The interface name, e.g. `io.autopilotd.registry`.
    public let name: String
    /// The full description text, as served by `GetInterfaceDescription`.
    public let text: String

    /// Reads the name from the `interface x.y.z` line, skipping blank lines and `#` comments before it.
    ///
    /// - Throws: `VarlinkProtocolError` when the first other line is not an `interface` line with a
    ///   valid reverse-domain name.
    public init(_ text: String) throws(VarlinkProtocolError) {
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = rawLine.trimmingASCIIWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count == 2, words[0] == "interface" else {
                throw VarlinkProtocolError(reason: "interface description does not start with an interface line")
            }
            let name = String(words[1])
            guard Self.isValidInterfaceName(name) else {
                throw VarlinkProtocolError(reason: "invalid interface name \"\(name)\"")
            }
            self.name = name
            self.text = text
            return
        }
        throw VarlinkProtocolError(reason: "interface description has no interface line")
    }

    /// Whether `name` is a varlink interface name: lowercase reverse-domain labels of letters, digits
    /// and inner dashes, at least two labels, the first starting with a letter.
    public static func isValidInterfaceName(_ name: String) -> Bool {
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        for (position, label) in labels.enumerated() {
            guard let first = label.utf8.first, let last = label.utf8.last else { return false }
            let isLower = { (byte: UInt8) in byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") }
            let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
            if position == 0 ? !isLower(first) : !(isLower(first) || isDigit(first)) { return false }
            guard last != UInt8(ascii: "-") else { return false }
            guard label.utf8.allSatisfy({ isLower($0) || isDigit($0) || $0 == UInt8(ascii: "-") }) else { return false }
        }
        return true
    }
}

extension Substring {
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let isSpace = { (c: Character) in c == " " || c == "\t" || c == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return self[endIndex...] }
        let end = lastIndex(where: { !isSpace($0) })!
        return self[start...end]
    }
}

/// The `org.varlink.service` interface every varlink service implements: `GetInfo` and `GetInterfaceDescription`.
public struct VarlinkServiceInterface: Sendable {
    /// `org.varlink.service`.
    public static let interfaceName = "org.varlink.service"

    /// The description of `org.varlink.service` itself, following the varlink specification.
    public static let description: VarlinkInterfaceDescription = {
        do {
            return try VarlinkInterfaceDescription(serviceInterfaceText)
        } catch {
            fatalError("built-in org.varlink.service description is invalid: \(error)")
        }
    }()

    /// What `GetInfo` answers with, besides the interface names.
    public let info: VarlinkServiceInfo
    /// All interfaces served, `org.varlink.service` first.
    public let interfaces: [VarlinkInterfaceDescription]

    /// - Parameter interfaces: the service's own interfaces; `org.varlink.service` is added in front.
    public init(info: VarlinkServiceInfo, interfaces: [VarlinkInterfaceDescription]) {
        self.info = info
        self.interfaces = [Self.description] + interfaces.filter { $0.name != Self.interfaceName }
    }

    /// The names of all interfaces served, `org.varlink.service` first.
    public var interfaceNames: [String] { interfaces.map(\.name) }

    /// Answers a call to `org.varlink.service`.
    ///
    /// Returns `InterfaceNotFound` for calls to other interfaces or descriptions of unknown ones,
    /// `MethodNotFound` for other members and `InvalidParameter(interface)` when that parameter is missing.
    public func handle(_ call: VarlinkCall) -> Result<JSONObject, VarlinkError> {
        guard call.interfaceName == Self.interfaceName else {
            return .failure(.interfaceNotFound(String(call.interfaceName)))
        }
        switch call.memberName {
        case "GetInfo":
            return .success([
                "vendor": .string(info.vendor),
                "product": .string(info.product),
                "version": .string(info.version),
                "url": .string(info.url),
                "interfaces": .array(interfaces.map { .string($0.name) }),
            ])
        case "GetInterfaceDescription":
            let name: String
            do {
                name = try call.parameters.string("interface")
            } catch {
                return .failure(error)
            }
            guard let interface = interfaces.first(where: { $0.name == name }) else {
                return .failure(.interfaceNotFound(name))
            }
            return .success(["description": .string(interface.text)])
        default:
            return .failure(.methodNotFound(call.method))
        }
    }
}

private let serviceInterfaceText = """
    # The interface every varlink service provides: it tells a client who implements the
    # service and which interfaces it offers, and hands out their descriptions.
    interface org.varlink.service

    # Describes the service: who made it, what it is, which version runs, where to read more,
    # and the names of all interfaces it implements, this one first.
    method GetInfo() -> (
      vendor: string,
      product: string,
      version: string,
      url: string,
      interfaces: []string
    )

    # Returns the description text of one interface the service implements.
    method GetInterfaceDescription(interface: string) -> (description: string)

    # The service does not implement the named interface.
    error InterfaceNotFound (interface: string)

    # The interface has no method by that name.
    error MethodNotFound (method: string)

    # The interface declares the method, but this service does not implement it.
    error MethodNotImplemented (method: string)

    # A parameter is missing, has the wrong type, or has a value the method refuses.
    error InvalidParameter (parameter: string)

    # The caller is not allowed to make this call.
    error PermissionDenied ()

    # The method sends several replies and must be called with "more" set.
    error ExpectedMore ()

    """
