-- Consent over time (interface.md, "Lifecycle after day one"): DAP that ends by itself, grants extended by a richer
-- link, requests a tenant withdraws, and every grant change kept as a numbered event that WatchConsent streams.

-- A reseller link may give DAP for a number of days after acceptance (1 to 730, only with DAP).
ALTER TABLE links ADD COLUMN dap_days INTEGER
    CHECK (dap_days IS NULL OR (dap_days BETWEEN 1 AND 730 AND delegated_admin = 1));

-- The views on grants and revocation_requests are dropped first and made again at the end: both tables are rebuilt,
-- since SQLite cannot change a CHECK in place.
DROP VIEW revocation_history;
DROP VIEW active_consents;
DROP VIEW consent_history;

-- Grants gain what DAP over time and a partner ending its own relationship need. DAP is in force while
-- delegated_admin = 1 and dap_expires_at is NULL or later than now. Nothing runs to end it: every read (and the
-- views below) compares with the current time, so DAP ends at its instant.
--   end_reason gains endedByPartner (the partner ended its relationship with the tenant; ended_by is partner:<id>,
--              or the operator's uid=N acting for it).
--   dap_expires_at: when DAP ends by itself (from the accepted link's dap_days); cleared when the tenant removes DAP.
--   dap_since: when the current DAP began (NULL: at granted_at). A grant given DAP again after it was removed or
--              expired starts a new period, and only roles given since then are in force.
--   dap_expiry_event: the consent_events seq of the dapExpired event, once the daemon has recorded it.
-- dap_removed_at and dap_removed_by tell the last removal; consent_events keeps every one.
DROP TRIGGER grants_no_delete;
DROP TRIGGER grants_end_final;
CREATE TABLE grants_new (
    id                      TEXT PRIMARY KEY NOT NULL,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id),
    partner_id              TEXT NOT NULL REFERENCES partners(id),
    basis                   TEXT NOT NULL CHECK (basis IN ('direct', 'viaReseller', 'oem')),
    via_grant_id            TEXT REFERENCES grants(id),
    link_id                 TEXT NOT NULL REFERENCES links(id),
    delegated_admin         INTEGER NOT NULL CHECK (delegated_admin IN (0, 1)),
    granted_by              TEXT NOT NULL REFERENCES accounts(upn),
    granted_at              TEXT NOT NULL,
    status                  TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended', 'revoked')),
    ended_at                TEXT,
    ended_by                TEXT,
    end_reason              TEXT CHECK (end_reason IN ('endedByTenant', 'endedByPartner', 'endedWithReseller',
                                                       'revokedByRequest')),
    revocation_request_id   TEXT REFERENCES revocation_requests(id),
    dap_removed_at          TEXT,
    dap_removed_by          TEXT,
    dap_expires_at          TEXT CHECK (dap_expires_at IS NULL OR delegated_admin = 1),
    dap_since               TEXT,
    dap_expiry_event        INTEGER,
    CHECK ((basis = 'viaReseller') = (via_grant_id IS NOT NULL)),
    CHECK (basis <> 'oem' OR delegated_admin = 0),
    CHECK ((status = 'active') = (ended_at IS NULL)),
    CHECK ((status = 'active') = (end_reason IS NULL)),
    CHECK ((status = 'revoked') = (ifnull(end_reason, '') = 'revokedByRequest')),
    CHECK ((ifnull(end_reason, '') = 'revokedByRequest') = (revocation_request_id IS NOT NULL)),
    CHECK ((status = 'active') = (ended_by IS NULL)),
    CHECK ((dap_removed_at IS NULL) = (dap_removed_by IS NULL)),
    CHECK (dap_removed_at IS NULL OR delegated_admin = 0)
) STRICT;
INSERT INTO grants_new (id, tenant_id, partner_id, basis, via_grant_id, link_id, delegated_admin, granted_by,
                        granted_at, status, ended_at, ended_by, end_reason, revocation_request_id, dap_removed_at,
                        dap_removed_by)
SELECT id, tenant_id, partner_id, basis, via_grant_id, link_id, delegated_admin, granted_by, granted_at, status,
       ended_at, ended_by, end_reason, revocation_request_id, dap_removed_at, dap_removed_by
  FROM grants ORDER BY rowid;
DROP TABLE grants;
ALTER TABLE grants_new RENAME TO grants;
CREATE UNIQUE INDEX grants_one_active ON grants(tenant_id, partner_id, ifnull(via_grant_id, ''))
    WHERE status = 'active';
CREATE INDEX grants_by_partner ON grants(partner_id, status);
CREATE INDEX grants_by_via ON grants(via_grant_id) WHERE via_grant_id IS NOT NULL;
CREATE INDEX grants_active_by_pair ON grants(partner_id, tenant_id, granted_at) WHERE status = 'active';
-- The grants whose DAP will end by itself and has not been reported yet: the next expiry is one index step away.
CREATE INDEX grants_dap_expiring ON grants(dap_expires_at)
    WHERE dap_expires_at IS NOT NULL AND dap_expiry_event IS NULL AND delegated_admin = 1 AND status = 'active';
CREATE TRIGGER grants_no_delete BEFORE DELETE ON grants
BEGIN SELECT RAISE(ABORT, 'consent history is kept: grants are never deleted'); END;
CREATE TRIGGER grants_end_final BEFORE UPDATE ON grants
WHEN OLD.status <> 'active'
BEGIN SELECT RAISE(ABORT, 'an ended or revoked grant is final'); END;

-- When each admin role was given (NULL: with the grant). A role is in force while DAP is and was given at or after
-- the grant's dap_since.
ALTER TABLE grant_roles ADD COLUMN since TEXT;

-- Revocation requests gain the status `withdrawn` (the tenant's Global Administrator took it back), which needs the
-- table rebuilt too.
DROP TRIGGER revocation_requests_no_delete;
DROP TRIGGER revocation_requests_decision_final;
CREATE TABLE revocation_requests_new (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    requested_by    TEXT NOT NULL REFERENCES accounts(upn),
    reason          TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'rejected', 'withdrawn')),
    created_at      TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      TEXT,
    note            TEXT CHECK (note IS NULL OR length(note) <= 2000),
    CHECK ((status = 'open') = (decided_at IS NULL)),
    CHECK ((status = 'open') = (decided_by IS NULL))
) STRICT;
INSERT INTO revocation_requests_new (id, tenant_id, partner_id, requested_by, reason, status, created_at, decided_by,
                                     decided_at, note)
SELECT id, tenant_id, partner_id, requested_by, reason, status, created_at, decided_by, decided_at, note
  FROM revocation_requests ORDER BY rowid;
DROP TABLE revocation_requests;
ALTER TABLE revocation_requests_new RENAME TO revocation_requests;
CREATE INDEX revocation_requests_by_status ON revocation_requests(status, created_at);
CREATE INDEX revocation_requests_by_tenant ON revocation_requests(tenant_id);
CREATE INDEX revocation_requests_by_partner ON revocation_requests(partner_id);

-- A tenant has at most one open request per partner. A registry that already holds several keeps the oldest open;
-- the later ones are withdrawn, saying by whom and of which request they repeat (their reasons stay as filed).
UPDATE revocation_requests AS r
   SET status = 'withdrawn',
       decided_by = 'autopilotd upgrade (0011: one open request per partner)',
       decided_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
       note = 'duplicate of ' || (SELECT f.id FROM revocation_requests f
                                   WHERE f.tenant_id = r.tenant_id AND f.partner_id = r.partner_id AND f.status = 'open'
                                   ORDER BY f.created_at, f.rowid LIMIT 1)
 WHERE r.status = 'open'
   AND EXISTS (SELECT 1 FROM revocation_requests f
                WHERE f.tenant_id = r.tenant_id AND f.partner_id = r.partner_id AND f.status = 'open'
                  AND (f.created_at, f.rowid) < (r.created_at, r.rowid));
CREATE UNIQUE INDEX revocation_requests_one_open ON revocation_requests(tenant_id, partner_id) WHERE status = 'open';

CREATE TRIGGER revocation_requests_no_delete BEFORE DELETE ON revocation_requests
BEGIN SELECT RAISE(ABORT, 'consent history is kept: revocation requests are never deleted'); END;
CREATE TRIGGER revocation_requests_decision_final BEFORE UPDATE ON revocation_requests
WHEN OLD.status <> 'open'
BEGIN SELECT RAISE(ABORT, 'a decided revocation request is final'); END;

-- Every change to a grant, in commit order: what WatchConsent streams. seq is never reused (AUTOINCREMENT, and rows
-- are never deleted), so a watcher that reconnects, even after a restart, continues where it was. The last five
-- columns are the grant as the change left it (its other fields never change: read them from grants).
--   kind: granted | extended | dapRemoved | dapExpired | ended | revoked
--   actor: the tenant account (UPN), partner:<id>, the operator uid=N, or autopilotd for an expiry.
--   audit_seq: the audit event of the call that made the change, written in the same transaction; NULL for
--              dapExpired, which no call makes.
--   link_id: the link accepted, for granted and extended.
CREATE TABLE consent_events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('granted', 'extended', 'dapRemoved', 'dapExpired', 'ended', 'revoked')),
    grant_id        TEXT NOT NULL REFERENCES grants(id),
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    actor           TEXT NOT NULL,
    audit_seq       INTEGER,
    link_id         TEXT REFERENCES links(id),
    status          TEXT NOT NULL CHECK (status IN ('active', 'ended', 'revoked')),
    delegated_admin INTEGER NOT NULL CHECK (delegated_admin IN (0, 1)),
    dap_roles       TEXT,
    dap_expires_at  TEXT,
    ended_at        TEXT,
    CHECK ((kind = 'dapExpired') = (audit_seq IS NULL))
) STRICT;
CREATE INDEX consent_events_by_partner ON consent_events(partner_id, seq);
CREATE INDEX consent_events_by_tenant ON consent_events(tenant_id, seq);
CREATE INDEX consent_events_by_grant ON consent_events(grant_id, seq);
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;

-- The views of 0005, with DAP as it is in force now (an ended grant holds none), and new columns at the end (names
-- are never changed).
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
       (g.status = 'active' AND g.delegated_admin = 1 AND (g.dap_expires_at IS NULL
            OR g.dap_expires_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))) AS delegated_admin,
       g.dap_removed_at         AS dap_removed_at,
       g.dap_removed_by         AS dap_removed_by,
       g.granted_by             AS granted_by,
       g.granted_at             AS granted_at,
       g.status                 AS status,
       g.ended_at               AS ended_at,
       g.ended_by               AS ended_by,
       g.end_reason             AS end_reason,
       g.revocation_request_id  AS revocation_request_id,
       l.dap_days               AS dap_days,
       g.dap_expires_at         AS dap_expires_at,
       (g.delegated_admin = 1 AND g.dap_expires_at IS NOT NULL
            AND g.dap_expires_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) AS dap_expired,
       (SELECT count(*) FROM consent_events e WHERE e.grant_id = g.id AND e.kind = 'extended') AS extensions
  FROM grants g
  JOIN tenants t  ON t.id = g.tenant_id
  JOIN partners p ON p.id = g.partner_id
  JOIN links l    ON l.id = g.link_id;

CREATE VIEW active_consents AS
SELECT h.grant_id, h.tenant_id, h.tenant_name, h.partner_id, h.partner_name, h.partner_kind, h.basis,
       h.via_grant_id, h.link_id, h.delegated_admin,
       CASE WHEN h.delegated_admin = 1 THEN
           (SELECT group_concat(role, ',')
              FROM (SELECT r.role FROM grant_roles r JOIN grants g ON g.id = r.grant_id
                     WHERE r.grant_id = h.grant_id
                       AND ifnull(r.since, g.granted_at) >= ifnull(g.dap_since, g.granted_at)
                     ORDER BY r.role))
       END AS dap_roles,
       h.granted_by, h.granted_at,
       CASE WHEN h.delegated_admin = 1 THEN h.dap_expires_at END AS dap_expires_at
  FROM consent_history h
 WHERE h.status = 'active';

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
