import Testing
import Varlink

@Suite struct VarlinkServiceInterfaceTests {
    static let example = """
        # An example interface.
        # With two comment lines.

        interface org.example.ping

        # Answers.
        method Ping(text: string) -> (text: string)
        """

    func makeService() throws -> VarlinkServiceInterface {
        VarlinkServiceInterface(
            info: VarlinkServiceInfo(vendor: "Example", product: "pingd", version: "1.2.3", url: "https://example.org"),
            interfaces: [try VarlinkInterfaceDescription(Self.example)]
        )
    }

    @Test func getInfoListsTheServiceInterfaceFirst() throws {
        let result = try makeService().handle(VarlinkCall(method: "org.varlink.service.GetInfo")).get()
        #expect(result == [
            "vendor": "Example", "product": "pingd", "version": "1.2.3", "url": "https://example.org",
            "interfaces": ["org.varlink.service", "org.example.ping"],
        ])
    }

    @Test func getInterfaceDescriptionReturnsTheText() throws {
        let service = try makeService()
        let call = VarlinkCall(method: "org.varlink.service.GetInterfaceDescription", parameters: ["interface": "org.example.ping"])
        #expect(try service.handle(call).get() == ["description": .string(Self.example)])
    }

    @Test func serviceInterfaceDescribesItself() throws {
        let call = VarlinkCall(method: "org.varlink.service.GetInterfaceDescription", parameters: ["interface": "org.varlink.service"])
        let description = try #require(try makeService().handle(call).get()["description"]?.stringValue)
        #expect(try VarlinkInterfaceDescription(description).name == "org.varlink.service")
        #expect(description.contains("method GetInfo()"))
        #expect(description.contains("method GetInterfaceDescription(interface: string) -> (description: string)"))
        #expect(description.contains("error ExpectedMore ()"))
    }

    @Test func unknownInterfaceDescriptionIsInterfaceNotFound() throws {
        let call = VarlinkCall(method: "org.varlink.service.GetInterfaceDescription", parameters: ["interface": "org.nope"])
        #expect(try makeService().handle(call) == .failure(.interfaceNotFound("org.nope")))
    }

    @Test func missingInterfaceParameterIsInvalidParameter() throws {
        let call = VarlinkCall(method: "org.varlink.service.GetInterfaceDescription")
        #expect(try makeService().handle(call) == .failure(.invalidParameter("interface")))
    }

    @Test func unknownMemberIsMethodNotFound() throws {
        let call = VarlinkCall(method: "org.varlink.service.Nope")
        #expect(try makeService().handle(call) == .failure(.methodNotFound("org.varlink.service.Nope")))
    }

    @Test func interfaceNameSkipsCommentsAndBlankLines() throws {
        #expect(try VarlinkInterfaceDescription(Self.example).name == "org.example.ping")
        #expect(try VarlinkInterfaceDescription("interface io.autopilotd.registry\n").name == "io.autopilotd.registry")
    }

    @Test(arguments: ["", "# only a comment\n", "method Foo() -> ()\ninterface a.b", "interface", "interface Org.Example",
                      "interface single", "interface a..b", "interface a.b-", "interface 1a.b"])
    func descriptionWithoutAValidInterfaceLineIsRejected(_ text: String) {
        #expect(throws: VarlinkProtocolError.self) { try VarlinkInterfaceDescription(text) }
    }
}
