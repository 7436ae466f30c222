import AutopilotClient
import AutopilotTestSupport
import Foundation
import Testing
import Varlink

/// Devices after day one through the real daemon and the real autopilotctl, people as real Unix users: a tenant's
/// device administrators change and remove their own devices (and nobody else's), a partner's reach follows its
/// consent, a batch is re-tagged by export, edit and import --update-existing, batch names are unique, and export
/// names every device its form cannot carry.
@Suite(.serialized, .ownThread) struct DeviceLifecycleEndToEndTests {
    static let contoso = "contoso", fabrikam = "fabrikam", csp = "woodgrove", oem = "litware"
    static let intune = "intune@contoso.onmicrosoft.com", reader = "reader@contoso.onmicrosoft.com"
    static let admin = "admin@contoso.onmicrosoft.com"

    /// The Unix users of these tests: Contoso's Intune Administrator and Global Reader (each bound to their account),
    /// a tenant-wide Contoso rule, and the people of Woodgrove (with consent from both tenants) and Litware (an OEM
    /// with consent from Fabrikam only).
    struct Cast {
        let intune, reader, wide, woodgrove, litware: TestUser
    }

    /// A daemon with tenants contoso (with contoso.com, an Intune Administrator and a Global Reader) and fabrikam,
    /// woodgrove holding consent from both, litware from fabrikam; HP's real file registered to Contoso and
    /// Lenovo's to Fabrikam. Returns the two devices' ids.
    func start() throws -> (TestDaemon, Cast, hp: String, lenovo: String) {
        try #require(TestUser.available, "the suite must run as root with useradd and setpriv")
        let daemon = try TestDaemon(config: ["socket_mode = 0666"])
        try daemon.addTenant(Self.contoso)
        try daemon.addTenant(Self.fabrikam)
        _ = try daemon.call("AddTenantDomain", ["tenant": "contoso", "domain": "contoso.com"])
        _ = try daemon.call("AddAccount", ["tenant": "contoso", "upn": .string(Self.intune), "roles": ["IntuneAdministrator"]])
        _ = try daemon.call("AddAccount", ["tenant": "contoso", "upn": .string(Self.reader), "roles": ["GlobalReader"]])
        try daemon.addPartner(Self.csp, kind: "directCsp")
        try daemon.addPartner(Self.oem, kind: "oem")
        try daemon.giveConsent(partner: Self.csp, tenant: Self.contoso)
        try daemon.giveConsent(partner: Self.csp, tenant: Self.fabrikam)
        try daemon.giveConsent(partner: Self.oem, kind: "oem", tenant: Self.fabrikam)
        let cast = Cast(intune: try TestUser.make("ap-life-intune"), reader: try TestUser.make("ap-life-reader"),
                        wide: try TestUser.make("ap-life-wide"), woodgrove: try TestUser.make("ap-life-wg"),
                        litware: try TestUser.make("ap-life-lw"))
        for (user, rule) in [(cast.intune, ["--role", "tenant", "--tenant", "contoso", "--account", Self.intune]),
                             (cast.reader, ["--role", "tenant", "--tenant", "contoso", "--account", Self.reader]),
                             (cast.wide, ["--role", "tenant", "--tenant", "contoso"]),
                             (cast.woodgrove, ["--role", "partner", "--partner", Self.csp]),
                             (cast.litware, ["--role", "partner", "--partner", Self.oem])] {
            let added = try daemon.ctl(["access", "add", "--user", user.name] + rule)
            #expect(added.status == 0, "\(added)")
        }
        #expect(try importing(daemon, try realDataFile(containing: "churlbap_"), tenant: Self.contoso).status == 0)
        #expect(try importing(daemon, try realDataFile(containing: "tklawun_"), tenant: Self.fabrikam).status == 0)
        let hp = try #require(try device(daemon, serial: "5CD349G8VJ")?["id"]?.stringValue)
        let lenovo = try #require(try device(daemon, serial: "PC0NVWSH")?["id"]?.stringValue)
        return (daemon, cast, hp, lenovo)
    }

    func importing(_ daemon: TestDaemon, _ file: String, partner: String = csp, tenant: String = contoso,
                   _ extra: [String] = []) throws -> CommandResult {
        try daemon.ctl(["devices", "import", file, "--partner", partner, "--tenant", tenant] + extra)
    }

    /// The registered device with this serial number, as `devices list --json` shows it.
    func device(_ daemon: TestDaemon, serial: String, all: Bool = false) throws -> JSONObject? {
        let listed = try daemon.ctl(["devices", "list", "--serial", serial, "--json"] + (all ? ["--all"] : []))
        return try JSON.parse(listed.stdout).arrayValue?.first?.objectValue?["device"]?.objectValue
    }

    func shows(_ result: CommandResult, _ key: String, _ value: String) -> Bool {
        result.stdout.split(separator: "\n").contains { $0.hasPrefix(key + ":") && $0.hasSuffix(" " + value) }
    }

    // MARK: the tenant's side

    @Test func aTenantsDeviceAdministratorChangesAndRemovesItsOwnDevicesAndNobodyElsesAndEveryStepIsRecorded() throws {
        let (daemon, cast, hp, lenovo) = try start()
        defer { daemon.cleanup() }

        // The Intune Administrator, bound to its account, needs no --as; it is told whom it acts as.
        let update = try daemon.ctl(as: cast.intune, ["devices", "update", hp, "--group-tag", "Reception",
                                                      "--display-name", "CTS-RECEPT-01", "--assigned-user", "Ann@Contoso.com"])
        #expect(update.status == 0, "\(update)")
        #expect(update.stdout.hasPrefix("Acting as \(Self.intune), the account your access rule binds you to.\n"), "\(update)")
        #expect(shows(update, "group tag", "Reception") && shows(update, "display name", "CTS-RECEPT-01")
            && shows(update, "assigned user", "ann@contoso.com"), "\(update)")
        // The purchase order is the partner's to state: the tenant's admins read it.
        let ordering = try daemon.ctl(as: cast.intune, ["devices", "update", hp, "--purchase-order", "PO-2026-118"])
        #expect(ordering.status == 1 && ordering.stderr.contains("InvalidInput")
                && ordering.stderr.contains("purchaseOrder"), "\(ordering)")
        let json = try JSON.parse(try daemon.ctl(as: cast.woodgrove, ["devices", "update", hp, "--purchase-order",
                                                                      "PO-2026-118", "--json"]).stdout).objectValue
        #expect(json?["device"]?.objectValue?["purchaseOrder"] == "PO-2026-118")
        #expect(json?["device"]?.objectValue?["groupTag"] == "Reception")
        // An empty value clears; the listing shows what is left.
        #expect(try daemon.ctl(as: cast.intune, ["devices", "update", hp, "--assigned-user", ""]).status == 0)
        let listed = try #require(try device(daemon, serial: "5CD349G8VJ"))
        #expect(listed["assignedUser"] == .null && listed["displayName"] == "CTS-RECEPT-01" && listed["groupTag"] == "Reception")
        let table = try daemon.ctl(["devices", "list", "--tenant", Self.contoso])
        #expect(table.stdout.contains("DISPLAY NAME") && table.stdout.contains("CTS-RECEPT-01")
            && table.stdout.contains("PO-2026-118"), "\(table)")

        // Refusals: a reader lacks the role, a tenant-wide rule acts as nobody, another tenant's device is not its own,
        // an assigned user outside the tenant and a display name Windows refuses are bad values.
        let reader = try daemon.ctl(as: cast.reader, ["devices", "update", hp, "--group-tag", "Nope"])
        #expect(reader.status == 1 && reader.stderr.contains("AccountRoleRequired")
            && reader.stderr.contains("GlobalAdministrator, IntuneAdministrator, CloudDeviceAdministrator"), "\(reader)")
        let wide = try daemon.ctl(as: cast.wide, ["devices", "update", hp, "--group-tag", "Nope"])
        #expect(wide.status == 1 && wide.stderr.contains("PermissionDenied"), "\(wide)")
        let impersonating = try daemon.ctl(as: cast.reader, ["devices", "update", hp, "--group-tag", "Nope", "--as", Self.admin])
        #expect(impersonating.status == 1 && impersonating.stderr.contains("PermissionDenied"), "\(impersonating)")
        let theirs = try daemon.ctl(as: cast.intune, ["devices", "update", lenovo, "--group-tag", "Mine"])
        #expect(theirs.status == 1 && theirs.stderr.contains("PermissionDenied"), "\(theirs)")
        let outsider = try daemon.ctl(as: cast.intune, ["devices", "update", hp, "--assigned-user", "eve@fabrikam.onmicrosoft.com"])
        #expect(outsider.status == 1 && outsider.stderr.contains("InvalidInput: assignedUser"), "\(outsider)")
        let longName = try daemon.ctl(as: cast.intune, ["devices", "update", hp, "--display-name", "CONTOSO-RECEPTION-1"])
        #expect(longName.status == 1 && longName.stderr.contains("InvalidInput: displayName"), "\(longName)")
        let nothing = try daemon.ctl(as: cast.intune, ["devices", "update", hp])
        #expect(nothing.status == 64 && nothing.stderr.contains("nothing to change"), "\(nothing)")
        #expect(try device(daemon, serial: "PC0NVWSH")?["groupTag"] == .null)

        // Removing: the reader may not, Fabrikam's Lenovo is not Contoso's (by id refused, by tuple not there), the
        // Intune Administrator removes the HP Woodgrove registered, and again is 807.
        let readerRemove = try daemon.ctl(as: cast.reader, ["devices", "remove", "--device", hp])
        #expect(readerRemove.status == 1 && readerRemove.stderr.contains("AccountRoleRequired"), "\(readerRemove)")
        let foreign = try daemon.ctl(as: cast.intune, ["devices", "remove", "--device", lenovo])
        #expect(foreign.status == 1 && foreign.stderr.contains("PermissionDenied"), "\(foreign)")
        let foreignTuple = try daemon.ctl(as: cast.intune, ["devices", "remove", "--serial", "PC0NVWSH", "--manufacturer",
                                                            "LENOVO", "--model", "20K5S0B700"])
        #expect(foreignTuple.status == 1 && foreignTuple.stderr.contains("807"), "\(foreignTuple)")
        let removed = try daemon.ctl(as: cast.intune, ["devices", "remove", "--serial", "5CD349G8VJ", "--manufacturer", "HP",
                                                       "--model", "HP EliteBook 650 15.6 inch G10 Notebook PC"])
        #expect(removed.status == 0 && removed.stdout.contains("deregistered device \(hp)")
            && shows(removed, "status", "deregistered"), "\(removed)")
        let again = try daemon.ctl(as: cast.intune, ["devices", "remove", "--device", hp])
        #expect(again.status == 1 && again.stderr.contains("807"), "\(again)")
        let late = try daemon.ctl(as: cast.intune, ["devices", "update", hp, "--group-tag", "Late"])
        #expect(late.status == 1 && late.stderr.contains("807"), "\(late)")
        // A partner named on the tenant's side is refused, not ignored.
        let both = try daemon.ctl(["devices", "remove", "--partner", Self.csp, "--as", Self.intune, "--device", lenovo])
        #expect(both.status == 64, "\(both)")
        let raw = try daemon.callError("DeregisterDevice", ["partner": "woodgrove", "account": .string(Self.intune),
                                                            "device": .string(lenovo)])
        #expect(raw?.name == "io.autopilotd.registry.InvalidInput" && raw?.parameters["field"] == "partner")
        let neither = try daemon.callError("DeregisterDevice", ["device": .string(lenovo)])
        #expect(neither?.name == "io.autopilotd.registry.InvalidInput" && neither?.parameters["field"] == "partner")
        #expect(try device(daemon, serial: "PC0NVWSH") != nil)

        // The auditor's view: who changed what, when, old and new; who removed the HP.
        let history = try daemon.sql("""
            SELECT changed_by || '|' || method || '|' || property || '|' || ifnull(old_value, '') || '|' || ifnull(new_value, '')
            FROM device_change_history ORDER BY change_id
            """).split(separator: "\n").map(String.init)
        #expect(history == [
            "\(Self.intune)|UpdateDevice|group_tag||Reception", "\(Self.intune)|UpdateDevice|assigned_user||ann@contoso.com",
            "\(Self.intune)|UpdateDevice|display_name||CTS-RECEPT-01", "\(Self.csp)|UpdateDevice|purchase_order||PO-2026-118",
            "\(Self.intune)|UpdateDevice|assigned_user|ann@contoso.com|", "\(Self.intune)|DeregisterDevice|status|registered|deregistered",
        ], "\(history)")
        #expect(try daemon.sql("SELECT deregistered_by_account FROM device_registrations WHERE device_id = '\(hp)'") == Self.intune)
        let refused = try daemon.sql("""
            SELECT method || ' ' || outcome || ' ' || ifnull(actor_account, '-') FROM refused_calls
            WHERE method IN ('UpdateDevice', 'DeregisterDevice') ORDER BY seq
            """).split(separator: "\n").map(String.init)
        #expect(refused == [
            "UpdateDevice InvalidInput \(Self.intune)", "UpdateDevice AccountRoleRequired \(Self.reader)", "UpdateDevice PermissionDenied -",
            "UpdateDevice PermissionDenied \(Self.admin)", "UpdateDevice PermissionDenied \(Self.intune)",
            "UpdateDevice InvalidInput \(Self.intune)", "UpdateDevice InvalidInput \(Self.intune)",
            "DeregisterDevice AccountRoleRequired \(Self.reader)", "DeregisterDevice PermissionDenied \(Self.intune)",
            "DeregisterDevice DeviceError \(Self.intune)", "DeregisterDevice DeviceError \(Self.intune)",
            "UpdateDevice DeviceError \(Self.intune)", "DeregisterDevice InvalidInput \(Self.intune)",
            "DeregisterDevice InvalidInput -",
        ], "\(refused)")
        #expect(try daemon.call("VerifyAudit")["ok"] == true)
    }

    // MARK: the partner's side

    @Test func aPartnersReachFollowsItsConsentAndItMayStillRemoveWhatItRegistered() throws {
        let (daemon, cast, hp, lenovo) = try start()
        defer { daemon.cleanup() }
        // Woodgrove changes its customers' devices; Litware has no consent from Contoso and did not register the HP.
        let tagged = try daemon.ctl(as: cast.woodgrove, ["devices", "update", hp, "--group-tag", "Retail"])
        #expect(tagged.status == 0 && !tagged.stdout.contains("Acting as") && shows(tagged, "group tag", "Retail"), "\(tagged)")
        let stranger = try daemon.ctl(as: cast.litware, ["devices", "update", hp, "--group-tag", "OEM"])
        #expect(stranger.status == 1 && stranger.stderr.contains("PermissionDenied"), "\(stranger)")
        #expect(!stranger.stderr.contains(Self.contoso), "a stranger learns nothing of the device: \(stranger)")
        // Litware holds consent from Fabrikam, so it may re-tag the Lenovo Woodgrove registered there.
        #expect(try daemon.ctl(as: cast.litware, ["devices", "update", lenovo, "--purchase-order", "LW-7"]).status == 0)
        // Contoso ends Woodgrove's relationship: no more changes, but it may still deregister what it registered,
        // and needs no --partner for it.
        #expect(try daemon.ctl(["consent", "end", "--partner", Self.csp, "--as", Self.admin]).status == 0)
        let ended = try daemon.ctl(as: cast.woodgrove, ["devices", "update", hp, "--group-tag", "After"])
        #expect(ended.status == 1 && ended.stderr.contains("ConsentRequired"), "\(ended)")
        let removed = try daemon.ctl(as: cast.woodgrove, ["devices", "deregister", "--device", hp])
        #expect(removed.status == 0 && shows(removed, "status", "deregistered"), "\(removed)")
        // An operator names a side.
        let operatorNeither = try daemon.ctl(["devices", "deregister", "--device", lenovo])
        #expect(operatorNeither.status == 64 && operatorNeither.stderr.contains("--partner ID") , "\(operatorNeither)")
        // Litware loses its Direct API eligibility: its grant stays, but it changes and removes nothing.
        #expect(try daemon.ctl(["partner", "set-oem-eligibility", Self.oem, "--eligible", "false"]).status == 0)
        for args in [["devices", "update", lenovo, "--purchase-order", "LW-8"], ["devices", "deregister", "--device", lenovo]] {
            let refused = try daemon.ctl(as: cast.litware, args)
            #expect(refused.status == 1 && refused.stderr.contains("OemNotEligible")
                    && refused.stderr.contains("not eligible for the OEM Direct API")
                    && refused.stderr.contains("set-oem-eligibility \(Self.oem) --eligible true"), "\(refused)")
        }
        let history = try daemon.sql("""
            SELECT changed_by || ' ' || property || ' ' || new_value FROM device_change_history ORDER BY change_id
            """).split(separator: "\n").map(String.init)
        #expect(history == ["woodgrove group_tag Retail", "litware purchase_order LW-7", "woodgrove status deregistered"])
        #expect(try daemon.sql("SELECT deregistered_by FROM device_registrations WHERE device_id = '\(hp)'") == Self.csp)
    }

    // MARK: re-tagging a batch

    @Test func aBatchIsReTaggedByExportEditAndImportWithUpdateExistingAndOtherTenantsStay808() throws {
        let (daemon, _, _, _) = try start()
        defer { daemon.cleanup() }
        // Every real file into Contoso: the machines whose hash holds a product key can travel in the Intune form.
        for file in realDataImportFiles() where !file.contains("churlbap_") && !file.contains("tklawun_") {
            #expect(try importing(daemon, file).status == 0, "\(file)")
        }
        let devices = try JSON.parse(try daemon.ctl(["devices", "list", "--tenant", Self.contoso, "--json"]).stdout)
            .arrayValue?.compactMap { $0.objectValue?["device"]?.objectValue } ?? []
        let withKey = devices.filter { $0["productKey"] != .null }
        let withoutKey = devices.filter { $0["productKey"] == .null }
        #expect(devices.count == 10 && !withKey.isEmpty && !withoutKey.isEmpty, "\(devices)")
        #expect(devices.contains { $0["groupTag"] == "SP001_STD01" }, "HexDK's file carries a group tag")

        let file = daemon.directory + "/contoso-tags.csv"
        let export = try daemon.ctl(["devices", "export", "--tenant", Self.contoso, "--form", "intune", "--output", file])
        // Never silently dropped: each device the form cannot carry is named, and the exit status says so.
        #expect(export.status == 2, "\(export)")
        for device in withoutKey {
            #expect(export.stderr.contains("device \(device["id"]!.stringValue!) skipped: it has no product key"), "\(export)")
        }
        #expect(export.stderr.contains("exported \(withKey.count) device\(withKey.count == 1 ? "" : "s") to \(file), "
            + "skipped \(withoutKey.count)"), "\(export)")
        let exported = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(exported.first == "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User")
        #expect(exported.count == withKey.count + 1)

        // Without --update-existing the file only says what is already there.
        let plain = try importing(daemon, file)
        #expect(plain.status == 2 && plain.stdout.contains("ZtdDeviceAlreadyAssigned (806)"), "\(plain)")

        // The partner edits the Group Tag column and imports with --update-existing.
        let edited = [exported[0]] + exported.dropFirst().map { row -> String in
            var fields = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            fields[3] = "Kiosk-2027"
            return fields.joined(separator: ",")
        }
        try (edited.joined(separator: "\r\n") + "\r\n").write(toFile: file, atomically: true, encoding: .utf8)
        let retag = try importing(daemon, file, ["--update-existing"])
        #expect(retag.status == 0, "\(retag)")
        #expect(retag.stdout.hasPrefix("registered 0, updated \(withKey.count), failed 0 (batch "), "\(retag)")
        let after = try JSON.parse(try daemon.ctl(["devices", "list", "--tenant", Self.contoso, "--json"]).stdout)
            .arrayValue?.compactMap { $0.objectValue?["device"]?.objectValue } ?? []
        #expect(after.filter { $0["groupTag"] == "Kiosk-2027" }.count == withKey.count)
        #expect(after.filter { $0["productKey"] == .null }.allSatisfy { $0["groupTag"] != "Kiosk-2027" })
        let batchID = String(retag.stdout.split(separator: " ").last!.dropLast(2))
        let shown = try JSON.parse(try daemon.ctl(["batch", "show", batchID, "--json"]).stdout).objectValue
        #expect(shown?["batch"]?.objectValue?["updated"] == .int(withKey.count))
        #expect(shown?["results"]?.arrayValue?.allSatisfy { $0.objectValue?["status"] == "updated" } == true)
        // The auditor sees which devices the upload re-tagged, and from what.
        #expect(try daemon.sql("""
            SELECT count(*) FROM device_change_history
            WHERE method = 'UploadDeviceCsv' AND property = 'group_tag' AND new_value = 'Kiosk-2027' AND upload_batch_id = '\(batchID)'
            """) == String(withKey.count))

        // The same file for Fabrikam: those devices belong to Contoso, so --update-existing changes nothing there.
        let elsewhere = try importing(daemon, file, tenant: Self.fabrikam, ["--update-existing", "--name", "not ours"])
        #expect(elsewhere.status == 2, "\(elsewhere)")
        let lines = elsewhere.stdout.split(separator: "\n")
        #expect(lines.dropLast().allSatisfy { $0.contains("ZtdDeviceAssignedToOtherTenant (808)") } && lines.count == withKey.count + 1,
                "\(elsewhere)")
        #expect(lines.last?.hasPrefix("registered 0, updated 0, failed \(withKey.count) (batch ") == true, "\(elsewhere)")
    }

    @Test func anOEMReImportsThroughTheAPIWithUpdateExistingAndAFormWithoutTagsChangesNoTag() throws {
        let (daemon, cast, _, _) = try start()
        defer { daemon.cleanup() }
        let file = daemon.directory + "/litware.csv"
        try "Device Serial Number,Windows Product ID,Hardware Hash,Manufacturer name,Device model\nLW-001,,,Litware,LW-14\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        let first = try daemon.ctl(as: cast.litware, ["devices", "import", file, "--partner", Self.oem, "--tenant", Self.fabrikam])
        #expect(first.status == 0, "\(first)")
        let id = try #require(try device(daemon, serial: "LW-001")?["id"]?.stringValue)
        #expect(try daemon.ctl(as: cast.litware, ["devices", "update", id, "--group-tag", "Warehouse"]).status == 0)
        let again = try daemon.ctl(as: cast.litware, ["devices", "import", file, "--partner", Self.oem, "--tenant", Self.fabrikam,
                                                      "--update-existing"])
        #expect(again.status == 0 && again.stdout.hasPrefix("registered 0, updated 1, failed 0"), "\(again)")
        #expect(try device(daemon, serial: "LW-001")?["groupTag"] == "Warehouse")
        #expect(try daemon.sql("SELECT count(*) FROM device_change_history WHERE method = 'AddDevices'") == "0")
    }

    // MARK: batch names

    @Test func batchNamesAreUniquePerPartnerAndTenantAndImportsNameTheirBatchesApart() throws {
        let (daemon, _, _, _) = try start()
        defer { daemon.cleanup() }
        let create = { (tenant: String, name: String) throws -> VarlinkError? in
            try daemon.callError("CreateDeviceBatch", ["partner": "woodgrove", "tenant": .string(tenant),
                                                       "name": .string(name), "channel": "upload"])
        }
        #expect(try create(Self.contoso, "March laptops") == nil)
        let taken = try create(Self.contoso, " MARCH laptops")
        #expect(taken?.name == "io.autopilotd.registry.AlreadyExists" && taken?.parameters["kind"] == "batch"
            && taken?.parameters["id"] == "MARCH laptops", "\(String(describing: taken))")
        #expect(try create(Self.fabrikam, "March laptops") == nil)

        // An import without --name names its batch after the file, then "(2)"; a taken --name sends nothing.
        let file = try realDataFile(containing: "Pmedley26_PowerShell__AutopilotHWID@6cc4304")
        #expect(try importing(daemon, file).status == 0)
        #expect(try importing(daemon, file).status == 2)
        let named = try daemon.ctl(["devices", "import", file, "--partner", Self.csp, "--tenant", Self.contoso,
                                    "--name", "march LAPTOPS"])
        #expect(named.status == 1 && named.stderr.contains("already has a batch named 'march LAPTOPS'")
            && named.stderr.contains("--batch "), "\(named)")
        let names = try daemon.sql("SELECT name FROM batches WHERE partner_id = 'woodgrove' AND tenant_id = 'contoso' ORDER BY rowid")
            .split(separator: "\n").map(String.init)
        #expect(names == ["churlbap_ponise__AutopilotHWID.csv", "March laptops", "Pmedley26_PowerShell__AutopilotHWID@6cc4304.csv",
                          "Pmedley26_PowerShell__AutopilotHWID@6cc4304.csv (2)"], "\(names)")
        #expect(try daemon.sql("SELECT count(*) FROM refused_calls WHERE method = 'CreateDeviceBatch' AND outcome = 'AlreadyExists'")
            == "2")
    }

    // MARK: export

    @Test func exportToStdoutNamesWhatItSkipsAndExitsTwoAndABatchExportsAlone() throws {
        let (daemon, _, _, _) = try start()
        defer { daemon.cleanup() }
        let qemu = try importing(daemon, try realDataFile(containing: "AutopilotHWID@a5f2af5"))
        #expect(qemu.status == 0)
        let out = try daemon.ctl(["devices", "export", "--tenant", Self.contoso])
        #expect(out.status == 2, "\(out)")
        #expect(out.stdout.split(separator: "\n").count == 2 && out.stdout.contains("5CD349G8VJ,3556129472828,,HP,"), "\(out)")
        #expect(out.stderr.contains("skipped: it is identified only by its hardware hash")
            && out.stderr.contains("exported 1 device, skipped 1"), "\(out)")
        let batch = try #require(qemu.stdout.split(separator: " ").last.map { String($0.dropLast(2)) })
        let one = try daemon.ctl(["devices", "export", "--tenant", Self.contoso, "--batch", batch, "--form", "intune"])
        #expect(one.status == 2 && one.stdout == "Device Serial Number,Windows Product ID,Hardware Hash,Group Tag,Assigned User\n",
                "\(one)")
        let clean = try daemon.ctl(["devices", "export", "--tenant", Self.fabrikam, "--form", "intune"])
        #expect(clean.status == 0 && clean.stderr.isEmpty && clean.stdout.split(separator: "\n").count == 2, "\(clean)")
    }
}
