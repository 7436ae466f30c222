/// What may change on a registered device, who may change it, and how the change is recorded (interface.md,
/// "Lifecycle after day one"; domain.md, "After registration").

/// A property of a registered device that can be changed after registration, named as the `devices` table and the
/// `device_changes` history name its column; `status` is the change a deregistration makes.
public enum DeviceProperty: String, Sendable, CaseIterable, Hashable {
    case groupTag = "group_tag"
    case assignedUser = "assigned_user"
    case displayName = "display_name"
    case purchaseOrder = "purchase_order"
    case status = "status"

    /// The name the interface gives the property (its parameter of `UpdateDevice`).
    public var parameter: String {
        switch self {
        case .groupTag: "groupTag"
        case .assignedUser: "assignedUser"
        case .displayName: "displayName"
        case .purchaseOrder: "purchaseOrder"
        case .status: "status"
        }
    }
}

/// The properties one call sets on a device: for each, nil leaves it as it is, `.some(nil)` clears it, and
/// `.some(value)` sets it. Values are already checked and normalised (`DeviceRules.propertyChange`).
public struct DevicePropertyChange: Sendable, Hashable {
    /// The group tag to set or clear.
    public var groupTag: String??
    /// The assigned user (a UPN of the tenant) to set or clear.
    public var assignedUser: String??
    /// The display name (computer name) to set or clear.
    public var displayName: String??
    /// The purchase order to set or clear.
    public var purchaseOrder: String??

    /// A change of the given properties.
    public init(groupTag: String?? = nil, assignedUser: String?? = nil, displayName: String?? = nil,
                purchaseOrder: String?? = nil) {
        self.groupTag = groupTag; self.assignedUser = assignedUser; self.displayName = displayName
        self.purchaseOrder = purchaseOrder
    }

    /// Whether it names no property at all.
    public var isEmpty: Bool { groupTag == nil && assignedUser == nil && displayName == nil && purchaseOrder == nil }

    /// The properties it sets that differ from the device's, with the old and the new value, in a fixed order.
    public func differences(from device: Device) -> [(property: DeviceProperty, old: String?, new: String?)] {
        var out: [(property: DeviceProperty, old: String?, new: String?)] = []
        func compare(_ property: DeviceProperty, _ change: String??, _ current: String?) {
            guard let change, change != current else { return }
            out.append((property, current, change))
        }
        compare(.groupTag, groupTag, device.groupTag)
        compare(.assignedUser, assignedUser, device.assignedUser)
        compare(.displayName, displayName, device.displayName)
        compare(.purchaseOrder, purchaseOrder, device.purchaseOrder)
        return out
    }

    /// The device with the change applied.
    public func applied(to device: Device) -> Device {
        var d = device
        if let groupTag { d.groupTag = groupTag }
        if let assignedUser { d.assignedUser = assignedUser }
        if let displayName { d.displayName = displayName }
        if let purchaseOrder { d.purchaseOrder = purchaseOrder }
        return d
    }
}

extension DeviceRules {
    /// The tenant roles that may manage the tenant's own devices (change their properties, deregister them): the
    /// least-privileged Entra roles Intune asks for, and Global Administrator, which holds every permission.
    public static let deviceAdminRoles: [AccountRole] = [.globalAdministrator, .intuneAdministrator,
                                                          .cloudDeviceAdministrator]

    /// Longest display name: a Windows computer name (NetBIOS) is at most 15 characters, and Autopilot gives the
    /// machine its display name as its computer name during setup.
    public static let maxDisplayNameLength = 15

    /// Refuses a tenant account that holds none of `deviceAdminRoles`.
    /// - Throws: `accountRoleRequired`.
    public static func checkDeviceAdmin(_ account: Account) throws(RegistryError) {
        guard account.roles.contains(where: deviceAdminRoles.contains) else {
            throw .accountRoleRequired(account: account.upn, roles: deviceAdminRoles)
        }
    }

    /// What a tenant's admins may change: the group tag, assigned user and display name. The purchase order they
    /// read: the partner that registers a device states it (domain.md, "After registration").
    /// - Throws: `invalidInput(purchaseOrder)` for a change of the purchase order.
    public static func checkTenantChange(_ change: DevicePropertyChange) throws(RegistryError) {
        guard change.purchaseOrder == nil else {
            throw .invalidInput(field: "purchaseOrder", reason: "a tenant's admins read a device's purchase order; "
                + "the partner sets it")
        }
    }

    /// Checks and normalises the properties an `UpdateDevice` call gives: each value is trimmed, and an empty one
    /// clears the property. The group tag and purchase order follow the registration rules for free text (at most
    /// `maxFieldLength` bytes, no control characters); the assigned user is a UPN, lowercased (whether its domain
    /// is the tenant's is `checkAssignedUserDomain`); the display name is a Windows computer name: 1 to 15 letters,
    /// digits and hyphens, not only digits.
    /// - Throws: `invalidInput` naming the parameter.
    public static func propertyChange(groupTag: String?, assignedUser: String?, displayName: String?,
                                      purchaseOrder: String?) throws(RegistryError) -> DevicePropertyChange {
        func text(_ value: String?, _ field: String) throws(RegistryError) -> String?? {
            guard let value else { return nil }
            let t = Validate.trim(value)
            if t.isEmpty { return .some(nil) }
            if t.utf8.count > maxFieldLength {
                throw .invalidInput(field: field, reason: "must be at most \(maxFieldLength) bytes")
            }
            if containsControl(t) { throw .invalidInput(field: field, reason: "must not contain control characters") }
            return .some(t)
        }
        var change = DevicePropertyChange()
        change.groupTag = try text(groupTag, "groupTag")
        change.purchaseOrder = try text(purchaseOrder, "purchaseOrder")
        switch try text(assignedUser, "assignedUser") {
        case nil: break
        case .some(nil): change.assignedUser = .some(nil)
        case let .some(.some(user)): change.assignedUser = .some(try Validate.upn(user, field: "assignedUser").upn)
        }
        switch try text(displayName, "displayName") {
        case nil: break
        case .some(nil): change.displayName = .some(nil)
        case let .some(.some(name)):
            try checkDisplayName(name)
            change.displayName = .some(name)
        }
        return change
    }

    /// A display name Windows can take as the computer name.
    /// - Throws: `invalidInput(displayName)`.
    public static func checkDisplayName(_ name: String) throws(RegistryError) {
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
        guard allowed, bytes.count <= maxDisplayNameLength else {
            throw .invalidInput(field: "displayName", reason: "'\(name)' is not a Windows computer name: 1 to "
                + "\(maxDisplayNameLength) letters (A-Z, a-z), digits and hyphens, no spaces")
        }
        if bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            throw .invalidInput(field: "displayName", reason: "'\(name)' is only digits, which Windows refuses as a computer name")
        }
    }

    /// Refuses an assigned user whose domain the tenant does not own.
    /// - Throws: `invalidInput(assignedUser)`.
    public static func checkAssignedUserDomain(_ upn: String, tenantDomains: Set<String>) throws(RegistryError) {
        let domain = upn.split(separator: "@", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        guard tenantDomains.contains(domain) else {
            throw .invalidInput(field: "assignedUser", reason: "\(upn) is not in a domain of the device's tenant ("
                + "\(tenantDomains.sorted().joined(separator: ", ")))")
        }
    }

    /// The change `updateExisting` makes to a device already registered to the same tenant: the group tag and
    /// assigned user the submission states. A member the submission gives (even empty, which clears it) is stated; one
    /// it omits is left alone (`DeviceCSV.Format.stating` makes the columns of a CSV form stated).
    public static func updateFromSubmission(_ input: DeviceInput, normalized device: NormalizedDevice) -> DevicePropertyChange {
        DevicePropertyChange(groupTag: input.groupTag == nil ? nil : .some(device.groupTag),
                             assignedUser: input.assignedUser == nil ? nil : .some(device.assignedUser))
    }

    /// Whether a device may be changed (or deregistered) at all: only while registered, and, when the call acts for a
    /// tenant, only in that tenant.
    /// - Throws: `deviceError(807)`.
    public static func checkChangeable(_ device: DeviceOwnership, tenant: String?) throws(RegistryError) {
        guard device.status == .registered else { throw .deviceError(.ztdDeviceIsNotRegistered) }
        if let tenant, tenant != device.tenant { throw .deviceError(.ztdDeviceIsNotRegistered) }
    }
}
