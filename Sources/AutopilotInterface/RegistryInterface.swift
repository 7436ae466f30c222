/// The varlink interface `io.autopilotd.registry`: the contract outside clients call (shared/interface.md).
///
/// This text is served by `org.varlink.service.GetInterfaceDescription` and is the single description of every
/// type, method and error; the daemon and `autopilotctl` both build on it.
public enum RegistryInterface {
    public static let name = "io.autopilotd.registry"

    public static let description = #"""
# Windows Autopilot customer consent and device registration.
#
# Partners (CSPs and OEMs) register a customer's Autopilot devices only after the customer's Global
# Administrator consented. Ids are lowercase UUIDs unless the operator chose one; times are RFC 3339 UTC
# with milliseconds; enums are camelCase strings; optional inputs may be omitted.
# Callers are identified by their Unix credentials (SO_PEERCRED); access rules give them a role.
interface io.autopilotd.registry

# A customer organisation (an Entra tenant).
type Tenant (
  # Tenant id.
  id: string,
  # Display name.
  name: string,
  # Initial, cloud-native domain: <label>.onmicrosoft.com.
  domain: string,
  # Every domain of the tenant, the initial one first.
  domains: []string,
  # When the tenant was created.
  createdAt: string
)

# A user of a tenant.
type Account (
  # Tenant id.
  tenant: string,
  # User principal name, lowercased.
  upn: string,
  # Directory roles: GlobalAdministrator, GlobalReader, IntuneAdministrator, CloudDeviceAdministrator,
  # HelpdeskAdministrator, UserAdministrator, BillingAdministrator, SecurityAdministrator.
  roles: []string,
  # Whether the UPN is in the tenant's onmicrosoft.com domain.
  cloudNative: bool
)

# A partner acting for customers.
type Partner (
  # Partner id.
  id: string,
  # Display name, unique regardless of case.
  name: string,
  # Direct CSP, indirect CSP provider, indirect CSP reseller, or OEM.
  kind: (directCsp, indirectProvider, indirectReseller, oem),
  # The indirect provider of an indirect reseller.
  provider: ?string,
  # Whether an OEM is eligible for the OEM Direct API (OEMs only).
  oemDirectApi: bool,
  # When the partner was registered.
  createdAt: string
)

# A consent link a partner sends to customers.
type Link (
  # Link id (not the secret token).
  id: string,
  # <base>/consent/<token>; only in the reply that created the link, null elsewhere.
  url: ?string,
  # The partner that asks for consent.
  partner: string,
  # A CSP's reseller-relationship request or an OEM's consent link.
  kind: (resellerRelationship, oemConsent),
  # Whether delegated admin privileges (DAP) are requested.
  delegatedAdmin: bool,
  # Admin roles requested with DAP.
  roles: []string,
  # Whether the link can still be accepted.
  status: (active, revoked, expired),
  # When the link was created.
  createdAt: string,
  # When a reseller link stops being accepted; null for OEM links, which do not expire.
  expiresAt: ?string,
  # When the link was revoked.
  revokedAt: ?string
)

# A tenant's consent for one partner.
type Grant (
  # Grant id.
  id: string,
  # The consenting tenant.
  tenant: string,
  # The authorised partner.
  partner: string,
  # direct: the partner's own link; viaReseller: an indirect provider's implicit consent; oem: an OEM's link.
  basis: (direct, viaReseller, oem),
  # For viaReseller: the id of the reseller's grant that produced this one.
  via: ?string,
  # Whether delegated admin privileges are held now (never for OEMs).
  delegatedAdmin: bool,
  # Admin roles held with DAP; empty without DAP.
  roles: []string,
  # UPN of the Global Administrator who accepted.
  grantedBy: string,
  # When consent was given.
  grantedAt: string,
  # active; ended by the tenant (or with the reseller grant it came through); revoked by the operator.
  status: (active, ended, revoked),
  # When the grant stopped being active.
  endedAt: ?string,
  # The link that was accepted.
  link: ?string
)

# A tenant that is a partner's customer, with the grant that makes it one.
type Customer (
  # The tenant.
  tenant: Tenant,
  # The active grant.
  grant: Grant
)

# A tenant's request that the operator remove a partner's consent (the only way for an OEM).
type RevocationRequest (
  # Request id.
  id: string,
  # The requesting tenant.
  tenant: string,
  # The partner to remove.
  partner: string,
  # UPN of the Global Administrator who filed it.
  requestedBy: string,
  # Why, in the tenant's words.
  reason: string,
  # open until the operator approves or rejects it.
  status: (open, approved, rejected),
  # When it was filed.
  createdAt: string,
  # Who decided (the operator's Unix identity).
  decidedBy: ?string,
  # When it was decided.
  decidedAt: ?string,
  # The operator's note.
  note: ?string
)

# A device as a partner submits it. Which identifiers count depends on the partner: CSP partners give a hardware
# hash, a product key, or manufacturer + model + serialNumber; OEMs give the tuple or the product key, never a hash.
# Identity: two submissions are the same machine when their decoded hashes are identical, their product keys are
# equal, or their (manufacturer, model, serialNumber) are equal, whether given as fields or read from inside the
# hash, unless the serial number is a placeholder firmware leaves (None, SMBIOS_STRING_INDEX_0, To Be Filled By
# O.E.M., ...), which names no machine. So a second capture of a registered machine is 806 (same tenant) or 808.
type DeviceInput (
  # Serial number (part of the tuple). With a hash, it must agree with the hash's (else 801).
  serialNumber: ?string,
  # Windows Product Key ID (PKID). Without one, a hash's own product key ID counts.
  productKey: ?string,
  # The 4K hardware hash: base64 (padding optional) of an Autopilot hardware hash, 1,024 to 16,384 bytes once
  # decoded, which names the machine's manufacturer, model and serial number (802 when it is not one).
  hardwareHash: ?string,
  # Manufacturer name (part of the tuple). With a hash, it must agree with the hash's (else 801).
  manufacturer: ?string,
  # Device model (part of the tuple). With a hash, it must agree with the hash's (else 801).
  model: ?string,
  # Optional group tag.
  groupTag: ?string,
  # Optional assigned user (UPN); its domain must belong to the tenant.
  assignedUser: ?string
)

# The outcome for one submitted device.
type DeviceResult (
  # Position in the batch, from 0, in submission order across all calls.
  index: int,
  # registered; valid (ValidateSubmission only: would register); failed.
  status: (registered, valid, failed),
  # The registered device's id.
  device: ?string,
  # Per-device error code (801, 802, 803, 806, 807, 808, 811, 813); null for ZtdDeviceDuplicated.
  errorCode: ?int,
  # Per-device error name, such as ZtdDeviceAlreadyAssigned.
  errorName: ?string,
  # A plain-language explanation.
  message: ?string,
  # The file line of the row, for devices sent with UploadDeviceCsv; null for AddDevices.
  line: ?int
)

# A group of device submissions by one partner for one tenant.
type Batch (
  # Batch id.
  id: string,
  # Name chosen by the uploader.
  name: string,
  # The submitting partner.
  partner: string,
  # The tenant the devices are registered to.
  tenant: string,
  # api (Partner Center API / OEM Direct API: AddDevices) or upload (CSV upload: UploadDeviceCsv).
  channel: (api, upload),
  # processing until devices arrive; then finished, or finishedWithErrors when any device failed.
  status: (processing, finished, finishedWithErrors),
  # When the batch was created.
  createdAt: string,
  # Devices submitted so far.
  submitted: int,
  # Devices registered.
  registered: int,
  # Devices that failed.
  failed: int
)

# A registered (or formerly registered) device. The hash bytes are never sent back.
type Device (
  # Device id.
  id: string,
  # The tenant it is registered to.
  tenant: string,
  # The partner that registered it.
  partner: string,
  # The batch it came in.
  batch: string,
  # Serial number.
  serialNumber: ?string,
  # Product key (PKID).
  productKey: ?string,
  # Manufacturer name.
  manufacturer: ?string,
  # Model.
  model: ?string,
  # Lowercase hex SHA-256 of the decoded hardware hash.
  hardwareHashSha256: ?string,
  # Group tag.
  groupTag: ?string,
  # Assigned user (UPN).
  assignedUser: ?string,
  # registered, or deregistered (the row is kept).
  status: (registered, deregistered),
  # When it was registered.
  registeredAt: string,
  # When it was deregistered.
  deregisteredAt: ?string
)

# Binds a Unix uid or gid (as seen through SO_PEERCRED) to a role. root and the daemon's own uid are always
# operators; a caller no rule matches has role none. A uid rule wins over group rules.
type AccessRule (
  # Rule id.
  id: string,
  # The Unix user id, or null for a group rule.
  uid: ?int,
  # The Unix group id, or null for a user rule.
  gid: ?int,
  # The role the rule grants.
  role: (operator, auditor, partner, tenant),
  # For partner rules: the one partner the caller acts for.
  partner: ?string,
  # For tenant rules: the one tenant the caller acts for.
  tenant: ?string,
  # When the rule was added.
  createdAt: string
)

# One entry of the append-only, hash-chained audit log.
type AuditEvent (
  # Sequence number, from 1, without gaps.
  seq: int,
  # When it happened.
  at: string,
  # Who: uid, role, and the partner, tenant and tenant account acting.
  actor: string,
  # The method called.
  method: string,
  # The ids involved, as kind:id separated by spaces.
  target: ?string,
  # ok, or the error's short name.
  outcome: string,
  # SHA-256 chained over the previous event's hash and this event's canonical content.
  hash: string
)

# Creates a tenant with its initial <label>.onmicrosoft.com domain. Operator only.
method CreateTenant(name: string, domain: string, id: ?string) -> (tenant: Tenant)

# Adds a custom domain (a DNS name not under onmicrosoft.com, unique across tenants). Operator only.
method AddTenantDomain(tenant: string, domain: string) -> (tenant: Tenant)

# Adds an account; its UPN's domain must be one of the tenant's domains. Operator only.
method AddAccount(tenant: string, upn: string, roles: []string) -> (account: Account)

# Replaces an account's directory roles. Operator only.
method SetAccountRoles(upn: string, roles: []string) -> (account: Account)

# Returns a tenant. Partners see their customers; tenants themselves.
method GetTenant(tenant: string) -> (tenant: Tenant)

# Lists the tenants the caller may see.
method ListTenants() -> (tenants: []Tenant)

# Registers a partner. An indirect reseller names its indirect provider; only OEMs may be Direct API eligible.
# Operator only.
method RegisterPartner(
  name: string,
  kind: (directCsp, indirectProvider, indirectReseller, oem),
  provider: ?string,
  oemDirectApi: ?bool,
  id: ?string
) -> (partner: Partner)

# Marks an OEM eligible (or not) for the OEM Direct API. Operator only.
method SetOemEligibility(partner: string, eligible: bool) -> (partner: Partner)

# Returns a partner. Partners see themselves; tenants see partners they consented to.
method GetPartner(partner: string) -> (partner: Partner)

# Lists the partners the caller may see.
method ListPartners() -> (partners: []Partner)

# Creates a reseller-relationship link for a direct CSP or an indirect reseller, optionally requesting delegated
# admin (DAP) with admin roles. Returns the link (with its URL, shown only here) and a ready-to-send email.
method RequestResellerRelationship(partner: string, delegatedAdmin: bool, roles: ?[]string) -> (link: Link, email: string)

# Issues an OEM's unique consent link, revoking its previous one. Operator only; the OEM must be eligible.
method IssueOemLink(partner: string) -> (link: Link)

# Revokes a link (the whole URL, the bare token, or the link id). Accepted grants stay.
method RevokeLink(link: string) -> (link: Link)

# What the customer is shown on the consent page: the partner, the kind of request, DAP and roles. For an indirect
# reseller's link, provider is the indirect provider that accepting also authorises (null otherwise); it is an
# addition to the contract, so clients may ignore it.
method DescribeLink(link: string) -> (link: Link, partner: Partner, provider: ?Partner)

# A tenant's Global Administrator accepts a link (an OEM link needs a cloud-native account). Accepting an indirect
# reseller's link also grants its provider. Idempotent: accepting again returns the active grants. An OEM that
# has lost its Direct API eligibility gets no new consent (OemNotEligible).
method AcceptLink(link: string, account: string) -> (grants: []Grant)

# Tenants holding an active grant for the partner: how a partner confirms that a customer accepted.
method ListCustomers(partner: string) -> (customers: []Customer)

# Grants, filtered; partners and tenants see their own.
method ListGrants(tenant: ?string, partner: ?string, status: ?(active, ended, revoked)) -> (grants: []Grant)

# Whether the partner may register devices for the tenant, and, given devices, what each would get. Writes
# nothing and never fails for lack of consent.
method ValidateSubmission(partner: string, tenant: string, devices: ?[]DeviceInput) -> (
  consented: bool,
  grant: ?Grant,
  results: []DeviceResult
)

# The tenant removes a partner's delegated admin privileges, and those an indirect provider holds through the
# partner's grants (they came with the reseller's request); consent to register devices stays.
method RemoveDelegatedAdmin(partner: string, account: string) -> (grant: Grant)

# The tenant ends a CSP relationship; ending a reseller's also ends the provider grants that came through it.
# Refused for OEMs (OemRemovalRequiresRequest).
method EndRelationship(partner: string, account: string) -> (grants: []Grant)

# The tenant asks the operator to remove a partner holding an active grant.
method FileRevocationRequest(partner: string, account: string, reason: string) -> (request: RevocationRequest)

# Revocation requests, optionally by status; partners and tenants see their own.
method ListRevocationRequests(status: ?(open, approved, rejected)) -> (requests: []RevocationRequest)

# The operator approves (the partner's active grants for the tenant are revoked at once) or rejects a request.
method DecideRevocationRequest(request: string, approve: bool, note: ?string) -> (request: RevocationRequest)

# Opens a device batch; needs an active grant and a channel the partner's kind may use.
method CreateDeviceBatch(partner: string, tenant: string, name: string, channel: (api, upload)) -> (batch: Batch)

# Submits 1 to 1,000 devices to an api batch in one transaction; consent is checked again. An upload batch takes
# devices only through UploadDeviceCsv (ChannelNotAllowed).
method AddDevices(batch: string, devices: []DeviceInput) -> (batch: Batch, results: []DeviceResult)

# The upload channel (Partner Center's CSV upload): registers the rows of a device CSV in an upload batch, in one
# transaction, parsed as autopilotctl parses files. Results carry the file line of their row and are stored, so
# GetBatch names a failed row by its line later. A row with the wrong number of columns or a quote fails alone with
# 801. An api batch takes devices only through AddDevices (ChannelNotAllowed).
method UploadDeviceCsv(
  batch: string,
  # The text: one header line of a known form (names matched ignoring case and surrounding spaces), then 1 to
  # 1,000 data rows (BatchTooLarge beyond). Blank lines are skipped but counted. A bad header is InvalidInput(csv).
  csv: string,
  # The file line number of the header line (default 1): a client sending a long file in parts gives each part
  # the header and the number of the line before its first row.
  line: ?int
) -> (batch: Batch, results: []DeviceResult)

# A batch with every device's result, in index order.
method GetBatch(
  batch: string,
  # The results from this index on (an addition to the contract; default 0).
  from: ?int,
  # At most this many results (an addition to the contract; default all). A batch of a few hundred thousand
  # devices has more results than one 16 MiB message holds: read it in pages, up to the batch's `submitted`.
  limit: ?int
) -> (batch: Batch, results: []DeviceResult)

# Batches, filtered; partners and tenants see their own.
method ListBatches(partner: ?string, tenant: ?string) -> (batches: []Batch)

# Devices, one reply per device; needs "more". With no match, one reply without a device.
method ListDevices(
  tenant: ?string,
  partner: ?string,
  batch: ?string,
  serialNumber: ?string,
  includeDeregistered: ?bool,
  # Only the device with this id (an addition to the contract): one indexed lookup instead of a scan of everything
  # the caller may see. A deregistered device is found only with includeDeregistered.
  device: ?string
) -> (device: ?Device)

# Deregisters a device by id, by manufacturer + model + serialNumber, or by productKey. A partner may always
# deregister devices it registered; others need an active grant for the device's tenant (811). OEMs need not name
# the tenant.
method DeregisterDevice(
  partner: string,
  device: ?string,
  serialNumber: ?string,
  manufacturer: ?string,
  model: ?string,
  productKey: ?string,
  tenant: ?string
) -> (device: Device)

# Adds an access rule for exactly one of uid or gid. Operator only.
method AddAccessRule(uid: ?int, gid: ?int, role: (operator, auditor, partner, tenant), partner: ?string, tenant: ?string) -> (rule: AccessRule)

# Removes an access rule (kept in the database as removed). Operator only.
method RemoveAccessRule(rule: string) -> ()

# The access rules in force.
method ListAccessRules() -> (rules: []AccessRule)

# Audit events after a sequence number, one reply each; needs "more". Without limit, everything after `after`.
method ListAuditEvents(after: ?int, limit: ?int) -> (event: ?AuditEvent)

# Recomputes the audit chain; firstBroken is the seq of the first event that does not verify.
method VerifyAudit() -> (ok: bool, events: int, firstBroken: ?int)

# Writes a consistent copy of the live database to an absolute path the daemon can write. Operator only.
method Backup(path: string) -> (path: string, bytes: int)

# The daemon's version, schema version, database and counts.
method GetStatus() -> (
  version: string,
  schemaVersion: int,
  database: string,
  startedAt: string,
  tenants: int,
  partners: int,
  grants: int,
  devices: int
)

# What the daemon sees of the caller.
method WhoAmI() -> (
  uid: int,
  role: (operator, auditor, partner, tenant, none),
  partner: ?string,
  tenant: ?string
)

# The caller's role may not make this call, or not for that partner or tenant.
error PermissionDenied (method: string, role: string)

# No such tenant, account, partner, link, grant, batch, device, request or access rule.
error NotFound (kind: string, id: string)

# A unique id, domain, UPN or name is taken.
error AlreadyExists (kind: string, id: string)

# A value breaks a rule; field names the parameter.
error InvalidInput (field: string, reason: string)

# The account lacks Global Administrator (the "you need permission" page).
error GlobalAdminRequired (account: string)

# OEM consent needs a cloud-native (onmicrosoft.com) account.
error CloudNativeAccountRequired (account: string)

# The link expired.
error LinkExpired (link: string)

# The link was revoked.
error LinkRevoked (link: string)

# This kind of partner may not do this.
error NotAllowedForPartnerKind (kind: string, action: string)

# The OEM is not eligible for the OEM Direct API.
error OemNotEligible (partner: string)

# No active grant for this partner and tenant.
error ConsentRequired (partner: string, tenant: string)

# This kind of partner may not use this channel.
error ChannelNotAllowed (kind: string, channel: string)

# A tenant cannot end an OEM's consent itself; it files a revocation request.
error OemRemovalRequiresRequest (partner: string)

# The revocation request was already approved or rejected.
error AlreadyDecided (request: string)

# More than `limit` devices in one AddDevices call.
error BatchTooLarge (limit: int)

# A single-device call failed with a per-device error (code is null for ZtdDeviceDuplicated).
error DeviceError (code: ?int, name: string)

# The database cannot grow (disk full); reads keep working.
error StorageFull ()

# An unexpected failure inside the daemon; details are in the daemon's log.
error InternalError ()
"""#
}
