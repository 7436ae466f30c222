import AutopilotDomain
import Testing

/// The pure rules for devices after registration: who manages them, what values they take, what an upload with
/// updateExisting states, and what an export form can carry.
@Suite struct DeviceLifecycleRulesTests {
    static let t0 = Timestamp(millisecondsSinceEpoch: 0)

    func device(serial: String? = "SN-1", key: String? = nil, manufacturer: String? = "HP", model: String? = "X",
                groupTag: String? = nil, assignedUser: String? = nil) -> Device {
        Device(id: "d1", tenant: "t", partner: "p", batch: "b", serialNumber: serial, productKey: key,
               manufacturer: manufacturer, model: model, hardwareHashSha256: nil, groupTag: groupTag,
               assignedUser: assignedUser, status: .registered, registeredAt: Self.t0, deregisteredAt: nil)
    }

    @Test(arguments: AccountRole.allCases)
    func onlyTheThreeDeviceRolesManageDevices(role: AccountRole) {
        let account = Account(tenant: "t", upn: "a@t.onmicrosoft.com", roles: [role], cloudNative: true)
        let allowed = (try? DeviceRules.checkDeviceAdmin(account)) != nil
        #expect(allowed == [.globalAdministrator, .intuneAdministrator, .cloudDeviceAdministrator].contains(role))
        if !allowed {
            #expect(throws: RegistryError.accountRoleRequired(account: account.upn, roles: DeviceRules.deviceAdminRoles)) {
                try DeviceRules.checkDeviceAdmin(account)
            }
        }
    }

    @Test func aChangeTrimsClearsOnEmptyAndLeavesWhatIsNotGiven() throws {
        let change = try DeviceRules.propertyChange(groupTag: " Kiosk ", assignedUser: "Bob@Contoso.com", displayName: "",
                                                    purchaseOrder: nil)
        #expect(change.groupTag == .some("Kiosk") && change.assignedUser == .some("bob@contoso.com"))
        #expect(change.displayName == .some(nil) && change.purchaseOrder == nil && !change.isEmpty)
        let before = device(groupTag: "Kiosk", assignedUser: "ann@contoso.com")
        let differences = change.differences(from: before)
        #expect(differences.map(\.property) == [.assignedUser])
        #expect(differences.first?.old == "ann@contoso.com" && differences.first?.new == "bob@contoso.com")
        #expect(change.applied(to: before).assignedUser == "bob@contoso.com")
        #expect(try DeviceRules.propertyChange(groupTag: nil, assignedUser: nil, displayName: nil, purchaseOrder: nil).isEmpty)
    }

    @Test(arguments: [("DESKTOP-7", true), ("A23456789012345", true), ("A234567890123456", false), ("12345", false),
                      ("LAB PC", false), ("LAB_PC", false), ("ÄRGER", false), ("x", true)])
    func aDisplayNameIsAWindowsComputerName(name: String, valid: Bool) {
        let accepted = (try? DeviceRules.checkDisplayName(name)) != nil
        #expect(accepted == valid, "\(name)")
    }

    @Test func anAssignedUserMustBeInADomainOfTheTenant() throws {
        try DeviceRules.checkAssignedUserDomain("a@contoso.com", tenantDomains: ["contoso.com", "contoso.onmicrosoft.com"])
        #expect(throws: RegistryError.self) {
            try DeviceRules.checkAssignedUserDomain("a@fabrikam.com", tenantDomains: ["contoso.com"])
        }
    }

    @Test func aFormStatesOnlyTheColumnsItHas() {
        let row = DeviceInput(serialNumber: "S", productKey: "P")
        #expect(DeviceCSV.Format.intune.stating(row) == row)
        #expect(DeviceCSV.Format.partnerCenter.stating(row) == row)
        #expect(DeviceCSV.Format.intuneWithGroupTag.stating(row).groupTag == "")
        #expect(DeviceCSV.Format.intuneWithGroupTag.stating(row).assignedUser == nil)
        let both = DeviceCSV.Format.intuneWithGroupTagAndUser.stating(DeviceInput(serialNumber: "S", groupTag: "G"))
        #expect(both.groupTag == "G" && both.assignedUser == "")
        // What the stated row asks of an existing device: an empty cell clears, a missing column leaves.
        let stated = DeviceCSV.Format.intuneWithGroupTag.stating(row)
        let update = DeviceRules.updateFromSubmission(stated, normalized: NormalizedDevice(productKey: "P"))
        #expect(update.groupTag == .some(nil) && update.assignedUser == nil)
    }

    @Test func theIntuneExportCarriesTagsAndNamesDevicesByProductKeyOnly() throws {
        let form = DeviceCSV.Format.intuneWithGroupTagAndUser
        #expect(DeviceCSV.exportForms == [.partnerCenter, .intuneWithGroupTagAndUser])
        let row = try DeviceCSV.exportRow(device(key: "3556129472828", groupTag: "Kiosk", assignedUser: "a@contoso.com"),
                                          form: form)
        #expect(row == "SN-1,3556129472828,,Kiosk,a@contoso.com")
        #expect(try form.parse(line: row, number: 2)?.groupTag == "Kiosk")
        let error = #expect(throws: DeviceCSV.ExportError.self) { try DeviceCSV.exportRow(device(), form: form) }
        #expect(error?.reason.contains("no product key") == true && error?.reason.contains("Partner Center form") == true)
        // The Partner Center form carries that device, without its tag.
        #expect(try DeviceCSV.exportRow(device(groupTag: "Kiosk")) == "SN-1,,,HP,X")
        let comma = #expect(throws: DeviceCSV.ExportError.self) {
            try DeviceCSV.exportRow(device(key: "1", groupTag: "Sales, North"), form: form)
        }
        #expect(comma?.reason.contains("Group Tag") == true)
    }
}
