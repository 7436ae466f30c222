-- Devices after day one (interface.md, "Lifecycle after day one"): a registered device's group tag, assigned user,
-- display name and purchase order can be changed (UpdateDevice, and uploads with updateExisting); a tenant's own
-- administrators can deregister its devices; batch names are unique per partner and tenant; and every change to a
-- device is kept with its old and new value, for auditors (device_changes, device_change_history).
--
-- The tables batches and device_results are rebuilt (SQLite cannot change a CHECK constraint in place): their rows,
-- rowids, indexes and foreign keys are kept. The view device_registrations reads batches, so it is dropped first and
-- created again below, with three more columns at its end.

-- Devices: two properties a tenant's administrators set after registration, and who deregistered a device when it
-- was a tenant account rather than a partner.
ALTER TABLE devices ADD COLUMN display_name TEXT
    CHECK (display_name IS NULL OR length(display_name) BETWEEN 1 AND 15);
ALTER TABLE devices ADD COLUMN purchase_order TEXT
    CHECK (purchase_order IS NULL OR length(purchase_order) BETWEEN 1 AND 255);
ALTER TABLE devices ADD COLUMN deregistered_by_account TEXT REFERENCES accounts(upn)
    CHECK (deregistered_by_account IS NULL OR (deregistered_by IS NULL AND status = 'deregistered'));

DROP VIEW device_registrations;

-- Batches: `updated` counts devices an upload with updateExisting changed rather than registered, so that
-- submitted = registered + updated + failed still holds.
--
-- Batch names are unique per partner and tenant, compared as partner names are: trimmed (every name is stored
-- trimmed) and ignoring ASCII case, so "March laptops" and "march laptops " are the same batch name. A database
-- from before this rule may hold several batches of one name for a partner and tenant. None is renamed, so the
-- names in reports and in the audit trail stay true: the earliest batch of each name (by created_at, then
-- creation order) keeps the name as its own, and each later one records that earlier batch in
-- `duplicate_name_of`. The unique index covers only batches whose duplicate_name_of is NULL, so every batch
-- created from now on has a name no other batch of its partner and tenant has, and those older duplicates stay
-- visible as such.
CREATE TABLE batches_new (
    id                  TEXT PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    partner_id          TEXT NOT NULL REFERENCES partners(id),
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    channel             TEXT NOT NULL CHECK (channel IN ('api', 'upload')),
    created_at          TEXT NOT NULL,
    submitted           INTEGER NOT NULL DEFAULT 0 CHECK (submitted >= 0),
    registered          INTEGER NOT NULL DEFAULT 0 CHECK (registered >= 0),
    failed              INTEGER NOT NULL DEFAULT 0 CHECK (failed >= 0),
    updated             INTEGER NOT NULL DEFAULT 0 CHECK (updated >= 0),
    duplicate_name_of   TEXT REFERENCES batches(id) CHECK (duplicate_name_of IS NULL OR duplicate_name_of <> id),
    CHECK (registered + updated + failed = submitted)
) STRICT;
INSERT INTO batches_new (rowid, id, name, partner_id, tenant_id, channel, created_at, submitted, registered, failed,
                         updated, duplicate_name_of)
SELECT b.rowid, b.id, b.name, b.partner_id, b.tenant_id, b.channel, b.created_at, b.submitted, b.registered, b.failed,
       0,
       (SELECT f.id FROM batches f
         WHERE f.partner_id = b.partner_id AND f.tenant_id = b.tenant_id AND f.name = b.name COLLATE NOCASE
           AND (f.created_at < b.created_at OR (f.created_at = b.created_at AND f.rowid < b.rowid))
         ORDER BY f.created_at, f.rowid LIMIT 1)
  FROM batches b
 ORDER BY b.rowid;
DROP TABLE batches;
ALTER TABLE batches_new RENAME TO batches;
CREATE INDEX batches_by_partner ON batches(partner_id, created_at);
CREATE INDEX batches_by_tenant ON batches(tenant_id, created_at);
CREATE UNIQUE INDEX batches_unique_name ON batches(partner_id, tenant_id, name COLLATE NOCASE)
    WHERE duplicate_name_of IS NULL;

-- Device results: `updated` is the result of a device already registered to the batch's tenant that an upload with
-- updateExisting changed; like `registered`, it names the device.
CREATE TABLE device_results_new (
    batch_id    TEXT NOT NULL REFERENCES batches(id),
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    status      TEXT NOT NULL CHECK (status IN ('registered', 'failed', 'updated')),
    device_id   TEXT REFERENCES devices(id),
    error_code  INTEGER,
    error_name  TEXT,
    message     TEXT,
    line        INTEGER CHECK (line IS NULL OR line >= 1),
    PRIMARY KEY (batch_id, idx),
    CHECK ((status IN ('registered', 'updated')) = (device_id IS NOT NULL AND error_name IS NULL))
) STRICT, WITHOUT ROWID;
INSERT INTO device_results_new (batch_id, idx, status, device_id, error_code, error_name, message, line)
SELECT batch_id, idx, status, device_id, error_code, error_name, message, line FROM device_results;
DROP TABLE device_results;
ALTER TABLE device_results_new RENAME TO device_results;

-- Every change to a registered device, one row per property changed: by UpdateDevice, by an upload with
-- updateExisting (upload_batch_id names its batch), and by a deregistration (property 'status', from 'registered'
-- to 'deregistered'). Written in the same transaction as the change and as the call's audit event, which
-- `audit_seq` names: who made the call, when, and as which account are that event's. A value that did not change
-- gets no row. Registrations themselves are in device_registrations; changes made before this migration are not
-- recorded here (a deregistration is still in device_registrations).
--
-- Append-only, like the audit log: the triggers below refuse UPDATE and DELETE.
CREATE TABLE device_changes (
    id               INTEGER PRIMARY KEY NOT NULL,
    audit_seq        INTEGER NOT NULL REFERENCES audit_events(seq) DEFERRABLE INITIALLY DEFERRED,
    device_id        TEXT NOT NULL REFERENCES devices(id),
    property         TEXT NOT NULL
                     CHECK (property IN ('group_tag', 'assigned_user', 'display_name', 'purchase_order', 'status')),
    old_value        TEXT,
    new_value        TEXT,
    upload_batch_id  TEXT REFERENCES batches(id),
    CHECK (old_value IS NOT new_value)
) STRICT;
CREATE INDEX device_changes_by_device ON device_changes(device_id);
CREATE INDEX device_changes_by_event ON device_changes(audit_seq);

CREATE TRIGGER device_changes_no_update BEFORE UPDATE ON device_changes
BEGIN
    SELECT RAISE(ABORT, 'device_changes is append-only');
END;

CREATE TRIGGER device_changes_no_delete BEFORE DELETE ON device_changes
BEGIN
    SELECT RAISE(ABORT, 'device_changes is append-only');
END;

-- device_registrations: as in 0005_audit_views.sql, with the display name, the purchase order and the tenant account
-- that deregistered the device at the end.
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
       d.deregistered_by        AS deregistered_by,
       d.display_name           AS display_name,
       d.purchase_order         AS purchase_order,
       d.deregistered_by_account AS deregistered_by_account
  FROM devices d
  JOIN tenants t  ON t.id = d.tenant_id
  JOIN partners p ON p.id = d.partner_id
  JOIN batches b  ON b.id = d.batch_id;

-- device_change_history: every change to a device, oldest first, with the device, who changed it and when.
-- `changed_by` reads as the audit log's actor: the tenant account acted as, else the partner a partner's person acts
-- for, else the operator's Unix user as uid=N.
CREATE VIEW device_change_history AS
SELECT c.id                     AS change_id,
       e.at                     AS changed_at,
       coalesce(e.actor_account, e.actor_partner, 'uid=' || e.actor_uid) AS changed_by,
       e.method                 AS method,
       c.property               AS property,
       c.old_value              AS old_value,
       c.new_value              AS new_value,
       c.device_id              AS device_id,
       d.tenant_id              AS tenant_id,
       t.name                   AS tenant_name,
       d.partner_id             AS partner_id,
       p.name                   AS partner_name,
       d.batch_id               AS batch_id,
       d.serial_number          AS serial_number,
       d.manufacturer           AS manufacturer,
       d.model                  AS model,
       c.upload_batch_id        AS upload_batch_id,
       e.seq                    AS audit_seq,
       e.actor_uid              AS actor_uid,
       e.actor_role             AS actor_role,
       e.actor_partner          AS actor_partner,
       e.actor_tenant           AS actor_tenant,
       e.actor_account          AS actor_account
  FROM device_changes c
  JOIN audit_events e ON e.seq = c.audit_seq
  JOIN devices d      ON d.id = c.device_id
  JOIN tenants t      ON t.id = d.tenant_id
  JOIN partners p     ON p.id = d.partner_id
 ORDER BY c.id;
