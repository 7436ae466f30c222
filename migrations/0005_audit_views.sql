-- Views for auditors, who read the live database with `sqlite3 -readonly`. Their names and columns are part of the
-- product: a later version may add columns at the end, never rename or remove one. Each column is documented in
-- docs/auditing.md ("The views"), which a test keeps in step with these definitions.
-- Times are RFC 3339 UTC text with milliseconds (2026-11-25T10:46:00.000Z), so they compare and sort as times.
-- Booleans are 0 or 1. None of the views exposes a secret: no link token (the tables keep only its SHA-256) and no
-- hardware-hash bytes (only their SHA-256).

-- consent_history: every grant ever given, one row per grant, active or not.
CREATE VIEW consent_history AS
SELECT g.id                     AS grant_id,
       g.tenant_id              AS tenant_id,
       t.name                   AS tenant_name,
       g.partner_id             AS partner_id,
       p.name                   AS partner_name,
       p.kind                   AS partner_kind,
       g.basis                  AS basis,
       g.via_grant_id           AS via_grant_id,
       g.link_id                AS link_id,
       l.kind                   AS link_kind,
       l.created_at             AS link_created_at,
       l.delegated_admin        AS dap_requested,
       (SELECT group_concat(role, ',')
          FROM (SELECT role FROM grant_roles WHERE grant_id = g.id ORDER BY role)) AS dap_roles,
       g.delegated_admin        AS delegated_admin,
       g.dap_removed_at         AS dap_removed_at,
       g.dap_removed_by         AS dap_removed_by,
       g.granted_by             AS granted_by,
       g.granted_at             AS granted_at,
       g.status                 AS status,
       g.ended_at               AS ended_at,
       g.ended_by               AS ended_by,
       g.end_reason             AS end_reason,
       g.revocation_request_id  AS revocation_request_id
  FROM grants g
  JOIN tenants t  ON t.id = g.tenant_id
  JOIN partners p ON p.id = g.partner_id
  JOIN links l    ON l.id = g.link_id;

-- active_consents: the grants in force now, one row per grant (an indirect provider holds one per reseller the
-- tenant accepted). A partner with a row here for a tenant may register that tenant's devices.
CREATE VIEW active_consents AS
SELECT grant_id, tenant_id, tenant_name, partner_id, partner_name, partner_kind, basis, via_grant_id, link_id,
       delegated_admin,
       CASE WHEN delegated_admin = 1 THEN dap_roles END AS dap_roles,
       granted_by, granted_at
  FROM consent_history
 WHERE status = 'active';

-- device_registrations: every registration, one row per registered device, including those deregistered since
-- (a device registered again later has one row per registration). Failed submissions are not here; they are in
-- device_results.
CREATE VIEW device_registrations AS
SELECT d.id                     AS device_id,
       d.tenant_id              AS tenant_id,
       t.name                   AS tenant_name,
       d.partner_id             AS partner_id,
       p.name                   AS partner_name,
       p.kind                   AS partner_kind,
       d.batch_id               AS batch_id,
       b.name                   AS batch_name,
       b.channel                AS channel,
       d.serial_number          AS serial_number,
       d.product_key            AS product_key,
       d.manufacturer           AS manufacturer,
       d.model                  AS model,
       d.hardware_hash_sha256   AS hardware_hash_sha256,
       d.group_tag              AS group_tag,
       d.assigned_user          AS assigned_user,
       d.status                 AS status,
       d.registered_at          AS registered_at,
       d.deregistered_at        AS deregistered_at,
       d.deregistered_by        AS deregistered_by
  FROM devices d
  JOIN tenants t  ON t.id = d.tenant_id
  JOIN partners p ON p.id = d.partner_id
  JOIN batches b  ON b.id = d.batch_id;

-- revocation_history: every revocation request a tenant filed with the operator (the only way to remove an OEM),
-- one row per request, with its decision. Relationships a tenant ended itself are not requests: see consent_history
-- (end_reason = 'endedByTenant').
CREATE VIEW revocation_history AS
SELECT r.id                     AS request_id,
       r.tenant_id              AS tenant_id,
       t.name                   AS tenant_name,
       r.partner_id             AS partner_id,
       p.name                   AS partner_name,
       p.kind                   AS partner_kind,
       r.requested_by           AS requested_by,
       r.reason                 AS reason,
       r.created_at             AS requested_at,
       r.status                 AS status,
       r.decided_by             AS decided_by,
       r.decided_at             AS decided_at,
       r.note                   AS note,
       (SELECT count(*) FROM grants g WHERE g.revocation_request_id = r.id) AS grants_revoked,
       (SELECT group_concat(id, ',')
          FROM (SELECT id FROM grants WHERE revocation_request_id = r.id ORDER BY id)) AS revoked_grant_ids
  FROM revocation_requests r
  JOIN tenants t  ON t.id = r.tenant_id
  JOIN partners p ON p.id = r.partner_id;

-- refused_calls: every audit event whose outcome is not `ok`, oldest first. That is both kinds of refusal the log
-- records: calls refused by the permission table (outcome PermissionDenied: the caller's role may not make the
-- call, or not for that partner or tenant), and state-changing calls that passed the permission check but failed
-- (outcome is the error's name, such as GlobalAdminRequired, ConsentRequired, LinkRevoked, NotFound; nothing was
-- changed). Malformed calls (org.varlink.service.InvalidParameter) and failed reads other than PermissionDenied
-- are never recorded, so they are not here.
CREATE VIEW refused_calls AS
SELECT seq, at, actor_uid, actor_role, actor_partner, actor_tenant, actor_account, method, target, outcome,
       outcome = 'PermissionDenied' AS permission_denied
  FROM audit_events
 WHERE outcome <> 'ok'
 ORDER BY seq;
