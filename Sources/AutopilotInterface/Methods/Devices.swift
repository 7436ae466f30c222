import AutopilotDomain
import Varlink

extension RegistryInterface {
    /// The device methods: batches, registration, listing and deregistration.
    static let deviceMethods: [any MethodDeclaration.Type] = [
        Registry.CreateDeviceBatch.self, Registry.AddDevices.self, Registry.UploadDeviceCsv.self, Registry.GetBatch.self,
        Registry.ListBatches.self, Registry.ListDevices.self, Registry.DeregisterDevice.self, Registry.UpdateDevice.self,
    ]
}

/// The comment of the `account` parameter of the device calls that a partner makes as itself and a tenant as one of
/// its accounts.
let deviceAccountDoc = "The tenant account acted as (a UPN) on the tenant's side: it must hold GlobalAdministrator, "
    + "IntuneAdministrator or CloudDeviceAdministrator (AccountRoleRequired). A tenant caller bound to an account may "
    + "omit it, which means that account; naming another is PermissionDenied. A partner caller names none (it acts as "
    + "itself); an operator acts as the account it names, or on the partner's side when it names none."

/// The comment of `updateExisting` on the two upload methods.
let updateExistingDoc = "When true, a device already registered to the batch's tenant is not refused (806): it takes "
    + "the group tag and assigned user the submission states (an empty value clears one; a member the device input "
    + "omits, or a column the CSV form lacks, leaves it as it is) and its result is updated, with its id. A device "
    + "registered to another tenant is still 808. Default false."

/// The errors of `AddDevices` and `UploadDeviceCsv`, the two ways into a batch, which share one store path.
let submissionErrors: [RegistryErrorName] = [
    .permissionDenied, .notFound, .channelNotAllowed, .oemNotEligible, .consentRequired, .batchTooLarge, .invalidInput,
]

extension Registry {
    /// Opens a device batch.
    public enum CreateDeviceBatch: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "CreateDeviceBatch",
            "Opens a device batch; needs an active grant and a channel the partner's kind may use. Batch names are "
                + "unique per partner and tenant: a second batch of the same name (trimmed, ignoring ASCII case) is "
                + "AlreadyExists(kind: batch, id: name).",
            policy: MethodPolicy(partner: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .alreadyExists, .channelNotAllowed, .oemNotEligible, .consentRequired,
                     .invalidInput])
        /// The partner named must be a partner caller's own.
        public static let scope = Scope<Parameters>(partner: .named(\Parameters.partner))

        /// `(partner: string, tenant: string, name: string, channel: (api, upload))`.
        public struct Parameters: WireRecord {
            /// The registering partner.
            public var partner = ""
            /// The tenant the devices are for.
            public var tenant = ""
            /// The batch's name, unique for the partner and tenant.
            public var name = ""
            /// How its devices will come: AddDevices (api) or UploadDeviceCsv (upload).
            public var channel = Channel.api
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(partner: String, tenant: String, name: String, channel: Channel) {
                self.partner = partner; self.tenant = tenant; self.name = name; self.channel = channel
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("partner", \.partner, ""), .init("tenant", \.tenant, ""),
                .init("name", \.name,
                      "1 to 200 characters, trimmed; unique among the partner's batches for the tenant, ignoring ASCII "
                        + "case (AlreadyExists). Batches of one name from before names were unique keep it."),
                .init("channel", \.channel, ""),
            ]
        }

        /// `(batch: Batch)`.
        public struct Reply: WireRecord {
            /// The new batch.
            public var batch = Batch()
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `batch`.
            public init(_ batch: Batch) { self.batch = batch }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("batch", \.batch, "")]
        }
    }

    /// Registers devices in an api batch.
    public enum AddDevices: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "AddDevices",
            "Submits 1 to 1,000 devices to an api batch in one transaction; consent is checked again. An upload batch "
                + "takes devices only through UploadDeviceCsv (ChannelNotAllowed).",
            policy: MethodPolicy(partner: .own), kind: .change, errors: submissionErrors)
        /// The batch and every device's result.
        public typealias Reply = BatchResults

        /// `(batch: string, devices: []DeviceInput, updateExisting: ?bool)`.
        public struct Parameters: WireRecord {
            /// The batch's id.
            public var batch = ""
            /// 1 to 1,000 devices.
            public var devices: [DeviceInput] = []
            /// Whether a device already registered to the tenant is updated instead of refused.
            public var updateExisting: Bool?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(batch: String, devices: [DeviceInput], updateExisting: Bool? = nil) {
                self.batch = batch; self.devices = devices; self.updateExisting = updateExisting
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("batch", \.batch, ""), .init("devices", \.devices, ""),
                .init("updateExisting", \.updateExisting, updateExistingDoc),
            ]
        }
    }

    /// The upload channel: the rows of a device CSV.
    public enum UploadDeviceCsv: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "UploadDeviceCsv",
            "The upload channel (Partner Center's CSV upload): registers the rows of a device CSV in an upload batch, in "
                + "one transaction, parsed as autopilotctl parses files. Results carry the file line of their row and are "
                + "stored, so GetBatch names a failed row by its line later. A row with the wrong number of columns or a "
                + "quote fails alone with 801. An api batch takes devices only through AddDevices (ChannelNotAllowed).",
            policy: MethodPolicy(partner: .own), kind: .change, errors: submissionErrors)
        /// The batch and every row's result, with its line.
        public typealias Reply = BatchResults

        /// `(batch: string, csv: string, line: ?int, updateExisting: ?bool)`.
        public struct Parameters: WireRecord {
            /// The upload batch's id.
            public var batch = ""
            /// The header line, then 1 to 1,000 data rows.
            public var csv = ""
            /// The file line of the header (default 1).
            public var line: Int?
            /// Whether a device already registered to the tenant is updated instead of refused.
            public var updateExisting: Bool?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(batch: String, csv: String, line: Int? = nil, updateExisting: Bool? = nil) {
                self.batch = batch; self.csv = csv; self.line = line; self.updateExisting = updateExisting
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("batch", \.batch, ""),
                .init("csv", \.csv,
                      "The text: one header line of a known form (names matched ignoring case and surrounding spaces), "
                        + "then 1 to 1,000 data rows (BatchTooLarge beyond). Blank lines are skipped but counted. A bad "
                        + "header is InvalidInput(csv)."),
                .init("line", \.line,
                      "The file line number of the header line (default 1): a client sending a long file in parts gives "
                        + "each part the header and the number of the line before its first row."),
                .init("updateExisting", \.updateExisting, updateExistingDoc),
            ]
        }
    }

    /// A batch and its results.
    public enum GetBatch: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "GetBatch", "A batch with every device's result, in index order.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .read,
            errors: [.permissionDenied, .notFound, .invalidInput])
        /// The batch and its results.
        public typealias Reply = BatchResults

        /// `(batch: string, from: ?int, limit: ?int)`.
        public struct Parameters: WireRecord {
            /// The batch's id.
            public var batch = ""
            /// The first index.
            public var from: Int?
            /// How many results at most.
            public var limit: Int?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(batch: String, from: Int? = nil, limit: Int? = nil) { self.batch = batch; self.from = from; self.limit = limit }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("batch", \.batch, ""),
                .init("from", \.from, "The results from this index on (an addition to the contract; default 0)."),
                .init("limit", \.limit,
                      "At most this many results (an addition to the contract; default all). A batch of a few hundred "
                        + "thousand devices has more results than one 16 MiB message holds: read it in pages, up to the "
                        + "batch's `submitted`."),
            ]
        }
    }

    /// Batches, filtered.
    public enum ListBatches: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListBatches", "Batches, filtered; partners and tenants see their own.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .read, errors: [.permissionDenied])
        /// Partners and tenants list their own.
        public static let scope = Scope<Parameters>(partner: .filter(\Parameters.partner), tenant: .filter(\Parameters.tenant))

        /// `(partner: ?string, tenant: ?string)`.
        public struct Parameters: WireRecord {
            /// Only this partner's batches.
            public var partner: String?
            /// Only batches for this tenant.
            public var tenant: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(partner: String? = nil, tenant: String? = nil) { self.partner = partner; self.tenant = tenant }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("partner", \.partner, ""), .init("tenant", \.tenant, "")]
        }

        /// `(batches: []Batch)`.
        public struct Reply: WireRecord {
            /// The batches, oldest first.
            public var batches: [Batch] = []
            /// An empty reply, for decoding to fill.
            public init() {}
            /// The reply for `batches`.
            public init(_ batches: [Batch]) { self.batches = batches }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("batches", \.batches, "")]
        }
    }

    /// Devices, streamed.
    public enum ListDevices: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "ListDevices", "Devices, one reply per device; needs \"more\". With no match, one reply without a device.",
            policy: MethodPolicy(auditor: true, partner: .own, tenant: .own), kind: .stream, errors: [.permissionDenied])
        /// Partners and tenants list their own.
        public static let scope = Scope<Parameters>(partner: .filter(\Parameters.partner), tenant: .filter(\Parameters.tenant))

        /// The filters.
        public typealias Parameters = DeviceFilter

        /// `(device: ?Device)`: one reply of the stream.
        public struct Reply: WireRecord {
            /// A device; none in the one reply of a stream that matched nothing.
            public var device: Device?
            /// An empty reply.
            public init() {}
            /// The reply for `device`.
            public init(_ device: Device?) { self.device = device }
            /// The members.
            public static let fields: [WireField<Self>] = [.init("device", \.device, "")]
        }
    }

    /// Deregisters a device.
    public enum DeregisterDevice: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "DeregisterDevice",
            "Deregisters a device by id, by manufacturer + model + serialNumber, or by productKey. On the partner's "
                + "side (partner, no account): a partner may always deregister devices it registered; others need an "
                + "active grant for the device's tenant (811); OEMs need not name the tenant, and an OEM no longer "
                + "eligible for the Direct API deregisters nothing (OemNotEligible). On the tenant's side "
                + "(account, no partner): an account holding GlobalAdministrator, IntuneAdministrator or "
                + "CloudDeviceAdministrator removes a device of its own tenant, whoever registered it "
                + "(AccountRoleRequired); a device not registered in that tenant is 807. The registration is kept, "
                + "marked deregistered.",
            policy: MethodPolicy(partner: .own, tenant: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .oemNotEligible, .accountRoleRequired, .deviceError, .invalidInput])
        /// A partner caller acts as itself (its own partner when it names none); a tenant caller as its account.
        public static let scope = Scope<Parameters>(partner: .filter(\Parameters.partner), tenant: .filter(\Parameters.tenant),
                                                    account: \Parameters.account, sides: .partnerOrAccount)

        /// `(partner: ?string, account: ?string, device: ?string, serialNumber: ?string, manufacturer: ?string,
        /// model: ?string, productKey: ?string, tenant: ?string)`.
        public struct Parameters: WireRecord {
            /// The acting partner, on the partner's side.
            public var partner: String?
            /// The acting tenant account, on the tenant's side.
            public var account: String?
            /// The device's id.
            public var device: String?
            /// Its serial number (with manufacturer and model).
            public var serialNumber: String?
            /// Its manufacturer.
            public var manufacturer: String?
            /// Its model.
            public var model: String?
            /// Its product key.
            public var productKey: String?
            /// The tenant it must be registered to.
            public var tenant: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a partner-side call naming the device by `target`.
            public init(partner: String?, _ target: DeregistrationTarget, tenant: String? = nil) {
                self.init(target, tenant: tenant)
                self.partner = partner
            }
            /// The parameters of a tenant-side call, as `account` (nil: the caller's bound account).
            public init(account: String?, _ target: DeregistrationTarget) {
                self.init(target, tenant: nil)
                self.account = account
            }
            private init(_ target: DeregistrationTarget, tenant: String?) {
                self.tenant = tenant
                switch target {
                case let .id(id): device = id
                case let .productKey(key): productKey = key
                case let .tuple(t): serialNumber = t.serialNumber; manufacturer = t.manufacturer; model = t.model
                }
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("partner", \.partner,
                      "The acting partner, on the partner's side: a partner caller may omit it (its own); an operator "
                        + "names it or an account. Not given on the tenant's side (InvalidInput)."),
                .init("account", \.account, deviceAccountDoc),
                .init("device", \.device, ""), .init("serialNumber", \.serialNumber, ""),
                .init("manufacturer", \.manufacturer, ""), .init("model", \.model, ""),
                .init("productKey", \.productKey, ""),
                .init("tenant", \.tenant,
                      "The tenant the device must be registered to (else 807); a tenant caller may name only its own."),
            ]
        }

        /// `(device: Device)`.
        public typealias Reply = DeviceReply
    }

    /// Changes a registered device's group tag, assigned user, display name or purchase order.
    public enum UpdateDevice: MethodDeclaration {
        /// What the method is, who may call it, and what it may answer.
        public static let facts = MethodFacts(
            "UpdateDevice",
            "Sets the properties it is given on a registered device and returns it; an empty string clears one, an "
                + "omitted one stays. A partner caller needs an active grant for the device's tenant (ConsentRequired "
                + "for a device it registered; another partner's device in a tenant it holds no grant from is "
                + "PermissionDenied); an OEM no longer eligible for the Direct API changes nothing (OemNotEligible). "
                + "A tenant caller acts as an account of the device's tenant holding "
                + "GlobalAdministrator, IntuneAdministrator or CloudDeviceAdministrator (AccountRoleRequired), and "
                + "reads the purchase order, which only the partner's side sets (InvalidInput(purchaseOrder)). A "
                + "deregistered device, or one outside the acting account's tenant, is 807. Each property that changes "
                + "is recorded, with its old and new value, in the auditors' device_change_history.",
            policy: MethodPolicy(partner: .own, tenant: .own), kind: .change,
            errors: [.permissionDenied, .notFound, .oemNotEligible, .accountRoleRequired, .consentRequired, .deviceError,
                     .invalidInput])
        /// A partner caller acts as itself; a tenant caller as its account.
        public static let scope = Scope<Parameters>(account: \Parameters.account, sides: .partnerOrAccount)

        /// `(device: string, account: ?string, groupTag: ?string, assignedUser: ?string, displayName: ?string,
        /// purchaseOrder: ?string)`.
        public struct Parameters: WireRecord {
            /// The device's id.
            public var device = ""
            /// The acting tenant account, on the tenant's side.
            public var account: String?
            /// The new group tag ("" clears it).
            public var groupTag: String?
            /// The new assigned user's UPN ("" clears it).
            public var assignedUser: String?
            /// The new display name ("" clears it).
            public var displayName: String?
            /// The new purchase order ("" clears it).
            public var purchaseOrder: String?
            /// Empty parameters, for decoding to fill.
            public init() {}
            /// The parameters of a call.
            public init(device: String, account: String? = nil, groupTag: String? = nil, assignedUser: String? = nil,
                        displayName: String? = nil, purchaseOrder: String? = nil) {
                self.device = device; self.account = account; self.groupTag = groupTag; self.assignedUser = assignedUser
                self.displayName = displayName; self.purchaseOrder = purchaseOrder
            }
            /// The members.
            public static let fields: [WireField<Self>] = [
                .init("device", \.device, "The device's id (a registered device)."),
                .init("account", \.account, deviceAccountDoc),
                .init("groupTag", \.groupTag,
                      "The group tag: at most 255 bytes, no control characters; an empty string clears it."),
                .init("assignedUser", \.assignedUser,
                      "The assigned user: a UPN whose domain is one of the device's tenant (InvalidInput); an empty "
                        + "string clears it."),
                .init("displayName", \.displayName,
                      "The name Windows gives the machine during setup, a computer name: 1 to 15 letters, digits and "
                        + "hyphens, not only digits; an empty string clears it."),
                .init("purchaseOrder", \.purchaseOrder,
                      "The purchase order: at most 255 bytes, no control characters; an empty string clears it."),
            ]
        }

        /// `(device: Device)`.
        public typealias Reply = DeviceReply
    }

    /// `(device: Device)`: a device after a call changed it.
    public struct DeviceReply: WireRecord {
        /// The device, as the call left it.
        public var device = Device()
        /// An empty reply, for decoding to fill.
        public init() {}
        /// The reply for `device`.
        public init(_ device: Device) { self.device = device }
        /// The members.
        public static let fields: [WireField<Self>] = [.init("device", \.device, "")]
    }
}

extension DeviceFilter: WireRecord {
    /// No filter.
    public init() { self.init(tenant: nil) }
    /// `(tenant: ?string, partner: ?string, batch: ?string, serialNumber: ?string, includeDeregistered: ?bool,
    /// device: ?string)`.
    public static let fields: [WireField<Self>] = [
        .init("tenant", \.tenant, ""), .init("partner", \.partner, ""), .init("batch", \.batch, ""),
        .init("serialNumber", \.serialNumber, ""),
        .init("includeDeregistered", "", get: { $0.includeDeregistered ? true : nil },
              set: { $0.includeDeregistered = $1 ?? false }),
        .init("device", \.device,
              "Only the device with this id (an addition to the contract): one indexed lookup instead of a scan of "
                + "everything the caller may see. A deregistered device is found only with includeDeregistered."),
    ]
}
