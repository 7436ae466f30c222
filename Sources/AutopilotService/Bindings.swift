import AutopilotDomain
import AutopilotInterface
import AutopilotStore

/// The one table binding each declared method to its store operation. The dispatcher has already decoded the
/// parameters and applied the method's permission row and scope; each line only calls the store and shapes the reply.
extension Dispatcher {
    static let bindings: [Binding] = [
        // directory
        bind(Registry.CreateTenant.self) { d, c in
            .init(try await d.store.createTenant(c.context, name: c.parameters.name, domain: c.parameters.domain, id: c.parameters.id))
        },
        bind(Registry.AddTenantDomain.self) { d, c in
            .init(try await d.store.addTenantDomain(c.context, tenant: c.parameters.tenant, domain: c.parameters.domain))
        },
        bind(Registry.AddAccount.self) { d, c in
            .init(try await d.store.addAccount(c.context, tenant: c.parameters.tenant, upn: c.parameters.upn, roles: c.parameters.roles))
        },
        bind(Registry.SetAccountRoles.self) { d, c in
            .init(try await d.store.setAccountRoles(c.context, upn: c.parameters.upn, roles: c.parameters.roles))
        },
        bind(Registry.RemoveAccount.self) { d, c in
            try await d.store.removeAccount(c.context, upn: c.parameters.upn)
            d.identity.rulesChanged()
            return Empty()
        },
        bind(Registry.GetTenant.self) { d, c in .init(try await d.store.getTenant(c.context, id: c.parameters.tenant)) },
        bind(Registry.ListTenants.self) { d, c in .init(try await d.store.listTenants(c.context)) },
        bind(Registry.RegisterPartner.self) { d, c in
            let p = c.parameters
            return .init(try await d.store.registerPartner(c.context, name: p.name, kind: p.kind, provider: p.provider,
                                                           oemDirectApi: p.oemDirectApi ?? false, id: p.id))
        },
        bind(Registry.SetOemEligibility.self) { d, c in
            .init(try await d.store.setOemEligibility(c.context, partner: c.parameters.partner, eligible: c.parameters.eligible))
        },
        bind(Registry.GetPartner.self) { d, c in .init(try await d.store.getPartner(c.context, id: c.parameters.partner)) },
        bind(Registry.ListPartners.self) { d, c in .init(try await d.store.listPartners(c.context)) },

        // consent
        bind(Registry.RequestResellerRelationship.self) { d, c in
            let p = c.parameters
            return try await d.store.requestResellerRelationship(c.context, partner: p.partner, delegatedAdmin: p.delegatedAdmin,
                                                                 roles: p.roles ?? [], dapDays: p.dapDays)
        },
        bind(Registry.IssueOemLink.self) { d, c in .init(try await d.store.issueOemLink(c.context, partner: c.parameters.partner)) },
        bind(Registry.RevokeLink.self) { d, c in .init(try await d.store.revokeLink(c.context, link: c.parameters.link)) },
        bind(Registry.DescribeLink.self) { d, c in try await d.store.describeLink(c.context, link: c.parameters.link) },
        bind(Registry.AcceptLink.self) { d, c in
            .init(try await d.store.acceptLink(c.context, link: c.parameters.link, account: try c.actingAccount()))
        },
        bind(Registry.ListCustomers.self) { d, c in .init(try await d.store.listCustomers(c.context, partner: c.parameters.partner)) },
        bind(Registry.ListGrants.self) { d, c in
            .init(try await d.store.listGrants(c.context, tenant: c.tenant, partner: c.partner, status: c.parameters.status))
        },
        bindText(Registry.ValidateSubmission.self) { d, c in
            let p = c.parameters, devices = p.devices ?? []
            let check = try await d.store.validateSubmission(c.context, partner: p.partner, tenant: p.tenant,
                                                             devices: devices)
            // A consent check's reply repeats until consent changes: its text is kept (ReplyTextMemo).
            guard devices.isEmpty else { return check.wireText }
            return d.consentReplies.text(of: check, for: ConsentPair(partner: p.partner, tenant: p.tenant))
        },
        bind(Registry.RemoveDelegatedAdmin.self) { d, c in
            .init(try await d.store.removeDelegatedAdmin(c.context, partner: c.parameters.partner, account: try c.actingAccount()))
        },
        bind(Registry.EndRelationship.self) { d, c in
            .init(try await d.store.endRelationship(c.context, partner: c.parameters.partner, account: c.account,
                                                    tenant: c.parameters.tenant))
        },
        bind(Registry.FileRevocationRequest.self) { d, c in
            let p = c.parameters
            return .init(try await d.store.fileRevocationRequest(c.context, partner: p.partner, account: try c.actingAccount(),
                                                                 reason: p.reason))
        },
        bind(Registry.ListRevocationRequests.self) { d, c in
            .init(try await d.store.listRevocationRequests(c.context, tenant: c.tenant, partner: c.partner, status: c.parameters.status))
        },
        bind(Registry.DecideRevocationRequest.self) { d, c in
            let p = c.parameters
            return .init(try await d.store.decideRevocationRequest(c.context, request: p.request, approve: p.approve, note: p.note))
        },
        bind(Registry.WithdrawRevocationRequest.self) { d, c in
            .init(try await d.store.withdrawRevocationRequest(c.context, request: c.parameters.request,
                                                              account: try c.actingAccount()))
        },
        // Events after the caller's `after` (or from now), then each as it commits, until the peer goes away.
        bindOpenStream(Registry.WatchConsent.self) { d, c, stream in
            var cursor = try await d.store.startConsentWatch(c.context, partner: c.partner, tenant: c.tenant,
                                                             after: c.parameters.after)
            try await stream.send(.init(nil))
            while true {
                let page = try await d.store.consentEvents(after: cursor, partner: c.partner, tenant: c.tenant,
                                                           limit: 256)
                for event in page.events { try await stream.send(.init(event)) }
                cursor = page.lastSeq
                if page.events.count < 256 { await d.store.waitForConsentEvent(after: cursor) }
                try Task.checkCancellation()
            }
        },

        // devices
        bind(Registry.CreateDeviceBatch.self) { d, c in
            let p = c.parameters
            return .init(try await d.store.createDeviceBatch(c.context, partner: p.partner, tenant: p.tenant, name: p.name,
                                                             channel: p.channel))
        },
        bind(Registry.AddDevices.self) { d, c in
            try await d.store.addDevices(c.context, batch: c.parameters.batch, devices: c.parameters.devices,
                                         updateExisting: c.parameters.updateExisting ?? false)
        },
        bind(Registry.UploadDeviceCsv.self) { d, c in
            let p = c.parameters
            return try await d.store.uploadDeviceCsv(c.context, batch: p.batch, csv: p.csv, line: p.line,
                                                     updateExisting: p.updateExisting ?? false)
        },
        bind(Registry.GetBatch.self) { d, c in
            try await d.store.getBatch(c.context, batch: c.parameters.batch, from: c.parameters.from, limit: c.parameters.limit)
        },
        bind(Registry.ListBatches.self) { d, c in .init(try await d.store.listBatches(c.context, partner: c.partner, tenant: c.tenant)) },
        // Page by page, so memory stays bounded whatever the registry holds.
        bindStream(Registry.ListDevices.self) { d, c, stream in
            var cursor: DeviceCursor?
            repeat {
                let page = try await d.store.listDevices(c.context, filter: c.parameters, after: cursor)
                for device in page.devices { try await stream.send(.init(device)) }
                cursor = page.next
            } while cursor != nil
        },
        // The partner's side (c.account nil) takes the partner a partner caller's scope filled in, or the one an
        // operator names; the store refuses a call naming neither side, or both.
        bind(Registry.DeregisterDevice.self) { d, c in
            let p = c.parameters
            return .init(try await d.store.deregisterDevice(
                c.context, partner: p.partner, account: c.account, device: p.device, serialNumber: p.serialNumber,
                manufacturer: p.manufacturer, model: p.model, productKey: p.productKey, tenant: p.tenant))
        },
        bind(Registry.UpdateDevice.self) { d, c in
            let p = c.parameters
            return .init(try await d.store.updateDevice(
                c.context, device: p.device, account: c.account, groupTag: p.groupTag, assignedUser: p.assignedUser,
                displayName: p.displayName, purchaseOrder: p.purchaseOrder))
        },

        // access
        bind(Registry.AddAccessRule.self) { d, c in
            let p = c.parameters
            let rule = try await d.store.addAccessRule(c.context, uid: p.uid, gid: p.gid, role: p.role, partner: p.partner,
                                                       tenant: p.tenant, account: p.account)
            d.identity.rulesChanged()
            return .init(rule)
        },
        bind(Registry.RemoveAccessRule.self) { d, c in
            try await d.store.removeAccessRule(c.context, id: c.parameters.rule)
            d.identity.rulesChanged()
            return Empty()
        },
        bind(Registry.ListAccessRules.self) { d, c in .init(try await d.store.listAccessRules(c.context)) },

        // audit and service
        bindStream(Registry.ListAuditEvents.self) { d, c, stream in
            try await d.store.forEachAuditEvent(c.context, after: c.parameters.after, limit: c.parameters.limit) { event in
                try await stream.send(.init(event))
            }
        },
        bind(Registry.VerifyAudit.self) { d, c in
            try await d.store.verifyAudit(c.context, head: try c.parameters.head.map { try AuditHead(parsing: $0) })
        },
        bind(Registry.GetAuditHead.self) { d, c in .init(try await d.store.auditHead(c.context)) },
        bind(Registry.Backup.self) { d, c in try await d.store.backup(c.context, to: c.parameters.path) },
        bind(Registry.GetStatus.self) { d, _ in
            .init(version: AutopilotVersion.current, schemaVersion: RegistryStore.schemaVersion,
                  database: d.store.databasePath, startedAt: d.startedAt, counts: try await d.store.counts())
        },
        bind(Registry.WhoAmI.self) { _, c in .init(c.caller) },
    ]
}
