import AutopilotClient
import Foundation
import Varlink

/// The path of a CSV fixture of this test target. Fixtures are read by path from the source tree (the real
/// autopilotctl opens them), so they are not SwiftPM resources.
func serviceFixture(_ name: String) -> String {
    let here = #filePath
    let support = here[..<here.lastIndex(of: "/")!]
    return support[..<support.lastIndex(of: "/")!] + "/Fixtures/" + name
}

/// Device-test setup through the daemon's own calls, made as root (an operator).
extension TestDaemon {
    /// Creates a tenant `<id>.onmicrosoft.com` with its Global Administrator `admin@<id>.onmicrosoft.com`.
    func addTenant(_ id: String) throws {
        _ = try call("CreateTenant", ["name": .string(id.capitalized), "domain": .string("\(id).onmicrosoft.com"),
                                      "id": .string(id)])
        _ = try call("AddAccount", ["tenant": .string(id), "upn": .string(Self.admin(id)),
                                    "roles": ["GlobalAdministrator"]])
    }

    /// The tenant's Global Administrator.
    static func admin(_ tenant: String) -> String { "admin@\(tenant).onmicrosoft.com" }

    /// Registers a partner; an OEM is made eligible for the Direct API.
    func addPartner(_ id: String, kind: String, provider: String? = nil) throws {
        var parameters: JSONObject = ["name": .string(id.capitalized), "kind": .string(kind), "id": .string(id)]
        if let provider { parameters["provider"] = .string(provider) }
        if kind == "oem" { parameters["oemDirectApi"] = true }
        _ = try call("RegisterPartner", parameters)
    }

    /// The tenant's administrator accepts a new link of the partner (the OEM link for an OEM).
    func giveConsent(partner: String, kind: String = "directCsp", tenant: String) throws {
        let link: JSONObject
        if kind == "oem" {
            link = try call("IssueOemLink", ["partner": .string(partner)])["link"]?.objectValue ?? [:]
        } else {
            link = try call("RequestResellerRelationship", ["partner": .string(partner), "delegatedAdmin": false])["link"]?
                .objectValue ?? [:]
        }
        guard let url = link["url"]?.stringValue else { throw TestFailure("no link URL for \(partner)") }
        _ = try call("AcceptLink", ["link": .string(url), "account": .string(Self.admin(tenant))])
    }

    /// Every reply of a streaming call, made with `more`.
    func stream(_ method: String, _ parameters: JSONObject = [:]) throws -> [JSONObject] {
        let connection = try connect()
        defer { connection.close() }
        var replies: [JSONObject] = []
        try connection.callMore("io.autopilotd.registry." + method, parameters) { replies.append($0) }
        return replies
    }
}

/// The varlink error a call failed with, or nil when it succeeded (or failed otherwise).
func remoteError(_ body: () throws -> Void) -> VarlinkError? {
    do {
        try body()
        return nil
    } catch let VarlinkClientError.remote(error) {
        return error
    } catch {
        return nil
    }
}
