import AutopilotDomain
import AutopilotInterface
import AutopilotStore
import Foundation
import Synchronization
import Testing

/// Consent checks (ValidateSubmission without devices) may be answered from memory; every change to consent must
/// show in the very next check, and other writes must not throw the answers away.
@Suite struct ConsentCacheTests {
    typealias W = ConsentWorld

    func check(_ w: W, _ partner: String = "fourthcoffee", _ tenant: String = "contoso") async throws
        -> (consented: Bool, grant: Grant?)
    {
        let answer = try await w.store.validateSubmission(asPartner(partner, Registry.ValidateSubmission.info), partner: partner,
                                                          tenant: tenant, devices: [])
        return (answer.consented, answer.grant)
    }

    @Test func everyChangeToConsentShowsInTheNextCheck() async throws {
        let w = try await W()
        // Asked twice before consent: the second answer may come from memory, and is still "no".
        #expect(try await check(w).consented == false)
        #expect(try await check(w).consented == false)

        _ = try await w.store.acceptLink(asTenant("contoso", Registry.AcceptLink.info),
                                         link: try await w.resellerLink("fourthcoffee", dap: true,
                                                                        roles: ["GlobalReader", "IntuneAdministrator"]),
                                         account: W.admin)
        let granted = try await check(w)
        #expect(granted.consented && granted.grant?.delegatedAdmin == true)
        #expect(granted.grant?.roles == [.globalReader, .intuneAdministrator])
        #expect(try await check(w).grant?.id == granted.grant?.id)

        // Removing DAP changes the grant's row only; its roles (a table SQLite reports no changes of) go with it.
        _ = try await w.store.removeDelegatedAdmin(asTenant("contoso", Registry.RemoveDelegatedAdmin.info), partner: "fourthcoffee",
                                                   account: W.admin)
        let withoutDAP = try await check(w)
        #expect(withoutDAP.consented && withoutDAP.grant?.delegatedAdmin == false && withoutDAP.grant?.roles == [])

        _ = try await w.store.endRelationship(asTenant("contoso", Registry.EndRelationship.info), partner: "fourthcoffee",
                                              account: W.admin)
        let ended = try await check(w)
        #expect(!ended.consented && ended.grant == nil)
    }

    @Test func anApprovedRevocationRequestShowsInTheNextCheck() async throws {
        let w = try await W()
        _ = try await w.store.acceptLink(asTenant("contoso", Registry.AcceptLink.info), link: try await w.oemLink(), account: W.admin)
        #expect(try await check(w, "litware").consented)
        let request = try await w.store.fileRevocationRequest(asTenant("contoso", Registry.FileRevocationRequest.info),
                                                              partner: "litware", account: W.admin, reason: "contract ended")
        #expect(try await check(w, "litware").consented, "a request alone revokes nothing")
        _ = try await w.store.decideRevocationRequest(asOperator(Registry.DecideRevocationRequest.info), request: request.id,
                                                      approve: true, note: nil)
        #expect(try await check(w, "litware").consented == false)
    }

    @Test func onlyCommitsThatChangeConsentMoveTheGeneration() async throws {
        let w = try await W()
        let link = try await w.resellerLink("fourthcoffee")
        let before = w.store.consentGenerationForTesting
        // A link, an account, a refused acceptance (its audit event commits; the grant it would make does not exist).
        _ = try await w.resellerLink("woodgrove")
        _ = try await w.store.addAccount(asOperator(Registry.AddAccount.info), tenant: "contoso", upn: "eve@contoso.onmicrosoft.com",
                                         roles: ["GlobalReader"])
        await #expect(throws: RegistryError.self) {
            _ = try await w.store.acceptLink(asTenant("contoso", Registry.AcceptLink.info), link: link, account: W.helpdesk)
        }
        #expect(w.store.consentGenerationForTesting == before)

        _ = try await w.store.acceptLink(asTenant("contoso", Registry.AcceptLink.info), link: link, account: W.admin)
        let afterGrant = w.store.consentGenerationForTesting
        #expect(afterGrant > before)

        // Registering devices under that consent leaves the answers valid.
        let batch = try await w.store.createDeviceBatch(asOperator(Registry.CreateDeviceBatch.info), partner: "fourthcoffee",
                                                        tenant: "contoso", name: "b", channel: .api)
        _ = try await w.store.addDevices(asOperator(Registry.AddDevices.info), batch: batch.id, devices: [
            DeviceInput(serialNumber: "S1", manufacturer: "Contoso", model: "Laptop 7"),
        ])
        #expect(w.store.consentGenerationForTesting == afterGrant)
        _ = try await w.store.createTenant(asOperator(Registry.CreateTenant.info), name: "Northwind", domain: "northwind.onmicrosoft.com",
                                           id: "northwind")
        #expect(w.store.consentGenerationForTesting > afterGrant, "tenants are observed, conservatively")
    }

    @Test func unknownPartnersAndTenantsAreNeverRemembered() async throws {
        let w = try await W()
        for _ in 0..<2 {
            await #expect(throws: RegistryError.notFound(kind: "tenant", id: "nowhere")) {
                _ = try await check(w, "fourthcoffee", "nowhere")
            }
        }
        _ = try await w.store.createTenant(asOperator(Registry.CreateTenant.info), name: "Nowhere", domain: "nowhere.onmicrosoft.com",
                                           id: "nowhere")
        #expect(try await check(w, "fourthcoffee", "nowhere").consented == false)
    }

    /// Checks run without pause from several tasks while the tenant ends the relationship: no check that starts after
    /// the end was acknowledged may say yes.
    @Test func noCheckStartedAfterARevocationWasAcknowledgedSeesTheOldConsent() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for round in 0..<20 {
            let w = try await W(path: directory + "/registry-\(round).sqlite")
            _ = try await w.store.acceptLink(asTenant("contoso", Registry.AcceptLink.info), link: try await w.resellerLink("fourthcoffee"),
                                             account: W.admin)
            let ended = Flag()
            let stale = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var stale = 0
                        for _ in 0..<300 {
                            let afterEnd = ended.isSet
                            if try await check(w).consented && afterEnd { stale += 1 }
                        }
                        return stale
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(2))
                    _ = try await w.store.endRelationship(asTenant("contoso", Registry.EndRelationship.info), partner: "fourthcoffee",
                                                          account: W.admin)
                    ended.set()
                    return 0
                }
                return try await group.reduce(0, +)
            }
            #expect(stale == 0, "round \(round)")
            #expect(try await check(w).consented == false)
            try w.store.close()
        }
    }
}

/// A flag one task raises and others read.
private final class Flag: Sendable {
    private let raised = Atomic<Bool>(false)
    var isSet: Bool { raised.load(ordering: .acquiring) }
    func set() { raised.store(true, ordering: .releasing) }
}
