/// A customer organisation. `domain` is its initial `<label>.onmicrosoft.com` domain; `domains` lists all, initial first.
public struct Tenant: Sendable, Hashable {
    /// The tenant's id: a UUID, or the id the operator chose.
    public var id: String
    /// Its display name.
    public var name: String
    /// Its initial, cloud-native domain, `<label>.onmicrosoft.com`.
    public var domain: String
    /// Every domain of the tenant, the initial one first.
    public var domains: [String]
    /// When the tenant was created.
    public var createdAt: Timestamp
    /// A tenant from its fields.
    public init(id: String, name: String, domain: String, domains: [String], createdAt: Timestamp) {
        self.id = id; self.name = name; self.domain = domain; self.domains = domains; self.createdAt = createdAt
    }
}

/// A user of a tenant, identified by its UPN, with its directory roles.
public struct Account: Sendable, Hashable {
    /// The tenant the account belongs to.
    public var tenant: String
    /// The user principal name, lowercased: the account's key.
    public var upn: String
    /// The directory roles it holds.
    public var roles: [AccountRole]
    /// Whether the UPN is in the tenant's onmicrosoft.com domain (only such an account may accept OEM consent).
    public var cloudNative: Bool
    /// An account from its fields.
    public init(tenant: String, upn: String, roles: [AccountRole], cloudNative: Bool) {
        self.tenant = tenant; self.upn = upn; self.roles = roles; self.cloudNative = cloudNative
    }
    /// Whether it holds Global Administrator, which accepting consent needs.
    public var isGlobalAdministrator: Bool { roles.contains(.globalAdministrator) }
}

/// A company acting for customers.
public struct Partner: Sendable, Hashable {
    /// The partner's id: a UUID, or the id the operator chose.
    public var id: String
    /// Its display name, unique regardless of case.
    public var name: String
    /// Direct CSP, indirect provider, indirect reseller or OEM: what it may do.
    public var kind: PartnerKind
    /// For an indirect reseller, the id of its indirect provider; nil for other kinds.
    public var provider: String?
    /// Whether an OEM is eligible for the OEM Direct API (always false for other kinds).
    public var oemDirectApi: Bool
    /// When the partner was registered.
    public var createdAt: Timestamp
    /// A partner from its fields.
    public init(id: String, name: String, kind: PartnerKind, provider: String?, oemDirectApi: Bool, createdAt: Timestamp) {
        self.id = id; self.name = name; self.kind = kind; self.provider = provider
        self.oemDirectApi = oemDirectApi; self.createdAt = createdAt
    }
}

/// A consent link a partner sends to customers. `url` is known only when the link is created.
public struct Link: Sendable, Hashable {
    /// The link's id, which is not its secret token.
    public var id: String
    /// `<base>/consent/<token>`, known only in the reply that created the link (the store keeps a hash of the token).
    public var url: String?
    /// The partner asking for consent.
    public var partner: String
    /// A CSP's reseller-relationship request or an OEM's consent link.
    public var kind: LinkKind
    /// Whether the link asks for delegated admin privileges (DAP).
    public var delegatedAdmin: Bool
    /// The admin roles asked for with DAP.
    public var roles: [AccountRole]
    /// Whether the link can still be accepted.
    public var status: LinkStatus
    /// When the link was created.
    public var createdAt: Timestamp
    /// When a reseller link stops being accepted; nil for an OEM link, which does not expire.
    public var expiresAt: Timestamp?
    /// When the link was revoked, if it was.
    public var revokedAt: Timestamp?
    /// How many days DAP lasts once the link is accepted; nil: until the tenant removes it.
    public var dapDays: Int?
    /// A link from its fields; `url` is given only when the link is new.
    public init(id: String, url: String? = nil, partner: String, kind: LinkKind, delegatedAdmin: Bool, roles: [AccountRole],
                status: LinkStatus, createdAt: Timestamp, expiresAt: Timestamp?, revokedAt: Timestamp? = nil,
                dapDays: Int? = nil) {
        self.id = id; self.url = url; self.partner = partner; self.kind = kind; self.delegatedAdmin = delegatedAdmin
        self.roles = roles; self.status = status; self.createdAt = createdAt; self.expiresAt = expiresAt
        self.revokedAt = revokedAt; self.dapDays = dapDays
    }
}

/// A tenant's consent for one partner.
public struct Grant: Sendable, Hashable {
    /// The grant's id.
    public var id: String
    /// The consenting tenant.
    public var tenant: String
    /// The authorised partner.
    public var partner: String
    /// Whether the partner's own link, an indirect reseller's acceptance or an OEM link gave the grant.
    public var basis: GrantBasis
    /// For `viaReseller`: the id of the reseller's grant this one came with.
    public var via: String?
    /// The id of the link that was accepted.
    public var link: String
    /// Whether the partner holds delegated admin privileges now (never an OEM).
    public var delegatedAdmin: Bool
    /// The admin roles held with DAP; empty without it.
    public var roles: [AccountRole]
    /// The UPN of the Global Administrator who accepted.
    public var grantedBy: String
    /// When consent was given.
    public var grantedAt: Timestamp
    /// Active, ended (by the tenant, the partner, or with the reseller grant it came with) or revoked by the operator.
    public var status: GrantStatus
    /// When the grant stopped being active; nil while it is.
    public var endedAt: Timestamp?
    /// When DAP ends by itself (the accepted link's `dapDays`); nil when it lasts until removed. Once past,
    /// `delegatedAdmin` is false and this stays, saying when it ended.
    public var dapExpiresAt: Timestamp?
    /// A grant from its fields.
    public init(id: String, tenant: String, partner: String, basis: GrantBasis, via: String?, link: String,
                delegatedAdmin: Bool, roles: [AccountRole], grantedBy: String, grantedAt: Timestamp,
                status: GrantStatus, endedAt: Timestamp?, dapExpiresAt: Timestamp? = nil) {
        self.id = id; self.tenant = tenant; self.partner = partner; self.basis = basis; self.via = via; self.link = link
        self.delegatedAdmin = delegatedAdmin; self.roles = roles; self.grantedBy = grantedBy; self.grantedAt = grantedAt
        self.status = status; self.endedAt = endedAt; self.dapExpiresAt = dapExpiresAt
    }
}

/// A tenant with the grant that makes it a partner's customer.
public struct Customer: Sendable, Hashable {
    /// The customer tenant.
    public var tenant: Tenant
    /// The active grant that makes it a customer.
    public var grant: Grant
    /// A customer and its grant.
    public init(tenant: Tenant, grant: Grant) { self.tenant = tenant; self.grant = grant }
}

/// A tenant's request that the operator remove a partner's consent.
public struct RevocationRequest: Sendable, Hashable {
    /// The request's id.
    public var id: String
    /// The tenant that filed it.
    public var tenant: String
    /// The partner whose consent it asks to remove.
    public var partner: String
    /// The UPN of the Global Administrator who filed it.
    public var requestedBy: String
    /// Why, in the tenant's words.
    public var reason: String
    /// Open until the operator approves or rejects it, or the tenant withdraws it.
    public var status: RevocationStatus
    /// When it was filed.
    public var createdAt: Timestamp
    /// Who decided it (the operator's Unix identity) or withdrew it (the tenant's Global Administrator); nil if open.
    public var decidedBy: String?
    /// When it was decided or withdrawn.
    public var decidedAt: Timestamp?
    /// The operator's note on the decision.
    public var note: String?
    /// A request from its fields.
    public init(id: String, tenant: String, partner: String, requestedBy: String, reason: String, status: RevocationStatus,
                createdAt: Timestamp, decidedBy: String?, decidedAt: Timestamp?, note: String?) {
        self.id = id; self.tenant = tenant; self.partner = partner; self.requestedBy = requestedBy; self.reason = reason
        self.status = status; self.createdAt = createdAt; self.decidedBy = decidedBy; self.decidedAt = decidedAt
        self.note = note
    }
}

/// One change to a grant, as it committed: what `WatchConsent` streams and `consent_events` keeps. `seq` numbers
/// the events of the whole registry from 1 and never repeats, across restarts.
public struct ConsentEvent: Sendable, Hashable {
    /// The event's number: from 1 across the registry, in commit order.
    public var seq: Int64
    /// When it happened: the commit's time, or for `dapExpired` the moment DAP ended.
    public var at: Timestamp
    /// What happened to the grant.
    public var kind: ConsentEventKind
    /// The grant as the change left it.
    public var grant: Grant
    /// Who made the change: the tenant account, `partner:<id>`, the operator `uid=N`, or `autopilotd` for an expiry.
    public var actor: String
    /// An event from its fields.
    public init(seq: Int64, at: Timestamp, kind: ConsentEventKind, grant: Grant, actor: String) {
        self.seq = seq; self.at = at; self.kind = kind; self.grant = grant; self.actor = actor
    }
}

/// A group of device submissions made by one partner for one tenant.
public struct Batch: Sendable, Hashable {
    /// The batch's id.
    public var id: String
    /// Its name, unique among the partner's batches for the tenant (ignoring ASCII case).
    public var name: String
    /// The partner that submits the devices.
    public var partner: String
    /// The tenant the devices are registered to.
    public var tenant: String
    /// The one channel the batch takes devices through: `api` (AddDevices) or `upload` (UploadDeviceCsv).
    public var channel: Channel
    /// When the batch was created.
    public var createdAt: Timestamp
    /// Devices submitted to it so far, over all calls.
    public var submitted: Int
    /// Of those, the devices registered.
    public var registered: Int
    /// Of those, the devices that failed.
    public var failed: Int
    /// Devices already registered to the tenant that an upload with `updateExisting` changed (not registered anew).
    public var updated: Int
    /// A batch from its fields and counts.
    public init(id: String, name: String, partner: String, tenant: String, channel: Channel, createdAt: Timestamp,
                submitted: Int, registered: Int, failed: Int, updated: Int = 0) {
        self.id = id; self.name = name; self.partner = partner; self.tenant = tenant; self.channel = channel
        self.createdAt = createdAt; self.submitted = submitted; self.registered = registered; self.failed = failed
        self.updated = updated
    }

    /// `processing` until the batch has received devices, then `finished` or `finishedWithErrors`.
    /// Every `AddDevices` call is one transaction, so results are final as soon as they are visible.
    public var status: BatchStatus {
        if submitted == 0 { return .processing }
        return failed == 0 ? .finished : .finishedWithErrors
    }
}

/// A device as submitted by a partner: any of the identifiers, plus optional group tag and assigned user.
public struct DeviceInput: Sendable, Hashable {
    /// The serial number, one part of the manufacturer, model and serial number tuple.
    public var serialNumber: String?
    /// The Windows product key ID (PKID).
    public var productKey: String?
    /// The base64 Autopilot hardware hash (the 4K hash).
    public var hardwareHash: String?
    /// The manufacturer, one part of the tuple.
    public var manufacturer: String?
    /// The model, one part of the tuple.
    public var model: String?
    /// An optional group tag (the CSV's `Group Tag`); with `updateExisting`, empty clears a registered device's.
    public var groupTag: String?
    /// An optional assigned user: a UPN whose domain must be one of the tenant's.
    public var assignedUser: String?
    /// A device as submitted; each identifier is optional here and validated by the domain rules.
    public init(serialNumber: String? = nil, productKey: String? = nil, hardwareHash: String? = nil,
                manufacturer: String? = nil, model: String? = nil, groupTag: String? = nil, assignedUser: String? = nil) {
        self.serialNumber = serialNumber; self.productKey = productKey; self.hardwareHash = hardwareHash
        self.manufacturer = manufacturer; self.model = model; self.groupTag = groupTag; self.assignedUser = assignedUser
    }
}

/// The outcome for one submitted device.
public struct DeviceResult: Sendable, Hashable {
    /// Its position from 0: in its batch across all the batch's calls, or in the list a check was given.
    public var index: Int
    /// Registered, updated, valid (a check only) or failed.
    public var status: DeviceResultStatus
    /// The id of the registered or updated device.
    public var device: String?
    /// The per-device error, when it failed.
    public var error: DeviceErrorCode?
    /// A plain-language explanation of the outcome.
    public var message: String?
    /// The file line of the row this result is for, when the device came in a CSV upload.
    public var line: Int?
    /// One device's outcome; what is not given is absent.
    public init(index: Int, status: DeviceResultStatus, device: String? = nil, error: DeviceErrorCode? = nil,
                message: String? = nil, line: Int? = nil) {
        self.index = index; self.status = status; self.device = device; self.error = error; self.message = message
        self.line = line
    }
}

/// A registered (or formerly registered) device. The hash bytes are never part of this record.
public struct Device: Sendable, Hashable {
    /// The device's id.
    public var id: String
    /// The tenant it is registered to.
    public var tenant: String
    /// The partner that registered it.
    public var partner: String
    /// The batch it came in.
    public var batch: String
    /// Its serial number.
    public var serialNumber: String?
    /// Its product key ID (PKID).
    public var productKey: String?
    /// Its manufacturer.
    public var manufacturer: String?
    /// Its model.
    public var model: String?
    /// Lowercase hex SHA-256 of the decoded hardware hash, which stands in for the hash everywhere it is shown.
    public var hardwareHashSha256: String?
    /// Its group tag.
    public var groupTag: String?
    /// The UPN of the user it is assigned to.
    public var assignedUser: String?
    /// Registered, or deregistered (the row is kept).
    public var status: DeviceStatus
    /// When it was registered.
    public var registeredAt: Timestamp
    /// When it was deregistered; nil while registered.
    public var deregisteredAt: Timestamp?
    /// The name Windows gives the machine during setup (a computer name), when one was set.
    public var displayName: String?
    /// The purchase order the device was bought under, when one was set.
    public var purchaseOrder: String?
    /// A device from its fields.
    public init(id: String, tenant: String, partner: String, batch: String, serialNumber: String?, productKey: String?,
                manufacturer: String?, model: String?, hardwareHashSha256: String?, groupTag: String?,
                assignedUser: String?, status: DeviceStatus, registeredAt: Timestamp, deregisteredAt: Timestamp?,
                displayName: String? = nil, purchaseOrder: String? = nil) {
        self.id = id; self.tenant = tenant; self.partner = partner; self.batch = batch; self.serialNumber = serialNumber
        self.productKey = productKey; self.manufacturer = manufacturer; self.model = model
        self.hardwareHashSha256 = hardwareHashSha256; self.groupTag = groupTag; self.assignedUser = assignedUser
        self.status = status; self.registeredAt = registeredAt; self.deregisteredAt = deregisteredAt
        self.displayName = displayName; self.purchaseOrder = purchaseOrder
    }
}

/// Binds a Unix uid or gid to a role (and, for partner and tenant roles, the one partner or tenant it acts for; a
/// tenant rule may also bind its caller to one account of the tenant, the person it is).
public struct AccessRule: Sendable, Hashable {
    /// The rule's id.
    public var id: String
    /// The Unix user id it names, or nil for a group rule.
    public var uid: UInt32?
    /// The Unix group id it names, or nil for a user rule.
    public var gid: UInt32?
    /// The role it grants.
    public var role: CallerRole
    /// For a partner rule, the partner.
    public var partner: String?
    /// For a tenant rule, the tenant.
    public var tenant: String?
    /// For a tenant rule, the account its caller is; nil covers the whole tenant, for reads only.
    public var account: String?
    /// When the rule was added.
    public var createdAt: Timestamp
    /// A rule.
    public init(id: String, uid: UInt32?, gid: UInt32?, role: CallerRole, partner: String?, tenant: String?,
                account: String? = nil, createdAt: Timestamp) {
        self.id = id; self.uid = uid; self.gid = gid; self.role = role; self.partner = partner; self.tenant = tenant
        self.account = account; self.createdAt = createdAt
    }
}

/// One entry of the append-only, hash-chained audit log.
public struct AuditEvent: Sendable, Hashable {
    /// The event's number, from 1 without gaps.
    public var seq: Int64
    /// When the call was made.
    public var at: Timestamp
    /// Who called: `uid=N role=R`, then the partner, tenant and tenant account acting, when any.
    public var actor: String
    /// The method called.
    public var method: String
    /// The ids the call involved, as `kind:id` separated by spaces; nil when none.
    public var target: String?
    /// `ok`, or the short name of the error the call got.
    public var outcome: String
    /// SHA-256 (hex) over the previous event's hash and this event's canonical content.
    public var hash: String
    /// An event from its fields.
    public init(seq: Int64, at: Timestamp, actor: String, method: String, target: String?, outcome: String, hash: String) {
        self.seq = seq; self.at = at; self.actor = actor; self.method = method; self.target = target
        self.outcome = outcome; self.hash = hash
    }
}

/// The result of recomputing the audit chain.
public struct AuditVerification: Sendable, Hashable {
    /// Whether every event verifies (and, with a head, the head is still there).
    public var ok: Bool
    /// How many events were checked.
    public var events: Int
    /// The seq of the first event whose hash does not verify; nil when none.
    public var firstBroken: Int64?
    /// With a head to check: true when the log no longer holds it (events were cut from the end, or the chain was
    /// rewritten); nil when no head was given.
    public var headMissing: Bool?
    /// A verification's answer.
    public init(ok: Bool, events: Int, firstBroken: Int64?, headMissing: Bool? = nil) {
        self.ok = ok; self.events = events; self.firstBroken = firstBroken; self.headMissing = headMissing
    }
}

/// The last event of the audit log, `SEQ:HASH`: recorded outside the database, it shows later whether events were
/// removed from the end of the log, which the hash chain alone cannot.
public struct AuditHead: Sendable, Hashable, CustomStringConvertible {
    /// The last event's seq (0 for an empty log).
    public var seq: Int64
    /// Its hash, 64 lowercase hex digits (64 zeros for an empty log).
    public var hash: String

    /// A head from its parts, unchecked.
    public init(seq: Int64, hash: String) { self.seq = seq; self.hash = hash }

    /// Reads `SEQ:HASH` (spaces around it ignored; the hash in either case).
    /// - Throws: `invalidInput(field)` naming what is wrong.
    public init(parsing text: String, field: String = "head") throws(RegistryError) {
        let trimmed = Validate.trim(text)
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let seq = Int64(parts[0]), seq >= 0 else {
            throw .invalidInput(field: field, reason: "expected SEQ:HASH (the seq and hash of an audit event, as GetAuditHead gives them), got '\(trimmed.prefix(100))'")
        }
        let hash = parts[1].lowercased()
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw .invalidInput(field: field, reason: "the hash of SEQ:HASH must be 64 hex digits")
        }
        self.seq = seq
        self.hash = hash
    }

    /// `SEQ:HASH`.
    public var description: String { "\(seq):\(hash)" }

    /// The message of the daemon's log line that witnesses the head (`audit log head head=SEQ:HASH`).
    public static let logMessage = "audit log head"

    /// Every head a daemon's log text witnesses (its own lines, or `journalctl` output), in order, each once. All of
    /// them must still be in the log: a head that was cut off, or that a rewritten chain no longer holds, is gone even
    /// when a later head (logged after the cut) is present.
    public static func all(inLog text: Substring) -> [AuditHead] {
        var heads: [AuditHead] = []
        var seen = Set<AuditHead>()
        for line in text.split(whereSeparator: \.isNewline) where line.contains(logMessage) {
            for word in line.split(separator: " ") where word.hasPrefix("head=") {
                if let head = try? AuditHead(parsing: String(word.dropFirst(5))), seen.insert(head).inserted {
                    heads.append(head)
                }
            }
        }
        return heads
    }
}

/// Counts reported by `GetStatus`.
public struct RegistryCounts: Sendable, Hashable {
    /// Tenants and partners in the registry, active grants, and devices registered now.
    public var tenants: Int, partners: Int, grants: Int, devices: Int
    /// The counts `GetStatus` reports.
    public init(tenants: Int, partners: Int, grants: Int, devices: Int) {
        self.tenants = tenants; self.partners = partners; self.grants = grants; self.devices = devices
    }
}

/// A batch with the results of its devices, in index order: what `AddDevices`, `UploadDeviceCsv` and `GetBatch`
/// answer.
public struct BatchResults: Sendable, Hashable {
    /// The batch as it stands after the call.
    public var batch: Batch
    /// The results, in index order.
    public var results: [DeviceResult]
    /// A batch and its results.
    public init(batch: Batch, results: [DeviceResult]) { self.batch = batch; self.results = results }
}

/// What `ValidateSubmission` answers: whether the partner holds consent, its first active grant, and what each
/// device would get from a real submission.
public struct SubmissionCheck: Sendable, Hashable {
    /// Whether the partner holds an active grant from the tenant.
    public var consented: Bool
    /// The first active grant, when consented.
    public var grant: Grant?
    /// Each device's outcome (`valid` or the error), in submission order.
    public var results: [DeviceResult]
    /// A check's answer.
    public init(consented: Bool, grant: Grant?, results: [DeviceResult]) {
        self.consented = consented; self.grant = grant; self.results = results
    }
}

/// Where `Backup` wrote the copy of the database, and its size.
public struct BackupResult: Sendable, Hashable {
    /// The absolute path written.
    public var path: String
    /// Its size in bytes.
    public var bytes: Int
    /// A backup's result.
    public init(path: String, bytes: Int) { self.path = path; self.bytes = bytes }
}

/// Which devices `ListDevices` lists; nil means no filter. The service narrows it to what the caller may see.
public struct DeviceFilter: Sendable, Hashable {
    /// Only this tenant's devices.
    public var tenant: String?
    /// Only devices this partner registered.
    public var partner: String?
    /// Only the devices of this batch.
    public var batch: String?
    /// Only devices with this serial number.
    public var serialNumber: String?
    /// Deregistered devices too.
    public var includeDeregistered: Bool
    /// Only the device with this id.
    public var device: String?
    /// A filter; the defaults filter nothing.
    public init(tenant: String? = nil, partner: String? = nil, batch: String? = nil, serialNumber: String? = nil,
                includeDeregistered: Bool = false, device: String? = nil) {
        self.tenant = tenant; self.partner = partner; self.batch = batch; self.serialNumber = serialNumber
        self.includeDeregistered = includeDeregistered; self.device = device
    }
}
