-- Consent: links partners send, grants tenants give, and revocation requests tenants file.
-- Nothing here is ever deleted: ended grants, revoked links and decided requests stay with who and when.

-- A consent link. Only the SHA-256 (lowercase hex) of its token is stored; the token itself is shown once.
CREATE TABLE links (
    id              TEXT PRIMARY KEY NOT NULL,
    token_sha256    TEXT NOT NULL UNIQUE CHECK (length(token_sha256) = 64),
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    kind            TEXT NOT NULL CHECK (kind IN ('resellerRelationship', 'oemConsent')),
    delegated_admin INTEGER NOT NULL CHECK (delegated_admin IN (0, 1)),
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT,
    CHECK (kind = 'resellerRelationship' OR (delegated_admin = 0 AND expires_at IS NULL)),
    CHECK (kind = 'oemConsent' OR expires_at IS NOT NULL)
) STRICT;
CREATE INDEX links_by_partner ON links(partner_id);
-- Each OEM has at most one active (unrevoked) consent link.
CREATE UNIQUE INDEX links_one_active_oem ON links(partner_id) WHERE kind = 'oemConsent' AND revoked_at IS NULL;

-- Admin roles a DAP request asks for.
CREATE TABLE link_roles (
    link_id     TEXT NOT NULL REFERENCES links(id),
    role        TEXT NOT NULL CHECK (role IN ('GlobalAdministrator', 'GlobalReader', 'IntuneAdministrator',
                    'CloudDeviceAdministrator', 'HelpdeskAdministrator', 'UserAdministrator',
                    'BillingAdministrator', 'SecurityAdministrator')),
    PRIMARY KEY (link_id, role)
) STRICT, WITHOUT ROWID;

-- A tenant's consent for a partner.
--   basis: direct (the partner's own link), viaReseller (an indirect provider's implicit consent, produced by the
--          reseller grant named in via_grant_id), oem (an OEM's link).
--   status: active; ended (the tenant ended the relationship, or the reseller grant it came through ended);
--           revoked (the operator approved a revocation request).
--   end_reason: endedByTenant | endedWithReseller | revokedByRequest.
--   delegated_admin is the current DAP state; dap_removed_at/by record when the tenant removed it.
--   ended_by: the tenant account's UPN, or the deciding operator (uid=N) for revocations.
CREATE TABLE grants (
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
    end_reason              TEXT CHECK (end_reason IN ('endedByTenant', 'endedWithReseller', 'revokedByRequest')),
    revocation_request_id   TEXT REFERENCES revocation_requests(id),
    dap_removed_at          TEXT,
    dap_removed_by          TEXT,
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
-- One active grant per tenant and partner for each path it came through.
CREATE UNIQUE INDEX grants_one_active ON grants(tenant_id, partner_id, ifnull(via_grant_id, ''))
    WHERE status = 'active';
CREATE INDEX grants_by_partner ON grants(partner_id, status);
CREATE INDEX grants_by_via ON grants(via_grant_id) WHERE via_grant_id IS NOT NULL;

-- The admin roles granted with DAP (as requested by the link). Kept after DAP removal, for history.
CREATE TABLE grant_roles (
    grant_id    TEXT NOT NULL REFERENCES grants(id),
    role        TEXT NOT NULL CHECK (role IN ('GlobalAdministrator', 'GlobalReader', 'IntuneAdministrator',
                    'CloudDeviceAdministrator', 'HelpdeskAdministrator', 'UserAdministrator',
                    'BillingAdministrator', 'SecurityAdministrator')),
    PRIMARY KEY (grant_id, role)
) STRICT, WITHOUT ROWID;

-- A tenant's request that the operator remove a partner. decided_by is the deciding operator's identity.
CREATE TABLE revocation_requests (
    id              TEXT PRIMARY KEY NOT NULL,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    partner_id      TEXT NOT NULL REFERENCES partners(id),
    requested_by    TEXT NOT NULL REFERENCES accounts(upn),
    reason          TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'rejected')),
    created_at      TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      TEXT,
    note            TEXT CHECK (note IS NULL OR length(note) <= 2000),
    CHECK ((status = 'open') = (decided_at IS NULL)),
    CHECK ((status = 'open') = (decided_by IS NULL))
) STRICT;
CREATE INDEX revocation_requests_by_status ON revocation_requests(status, created_at);
CREATE INDEX revocation_requests_by_tenant ON revocation_requests(tenant_id);
CREATE INDEX revocation_requests_by_partner ON revocation_requests(partner_id);

-- History is kept: consent rows are never deleted, and what is over stays over. A revoked link is not
-- un-revoked, an ended or revoked grant does not become active again, a decided request is not reopened.
CREATE TRIGGER links_no_delete BEFORE DELETE ON links
BEGIN SELECT RAISE(ABORT, 'consent history is kept: links are never deleted'); END;
CREATE TRIGGER link_roles_no_delete BEFORE DELETE ON link_roles
BEGIN SELECT RAISE(ABORT, 'consent history is kept: link roles are never deleted'); END;
CREATE TRIGGER grants_no_delete BEFORE DELETE ON grants
BEGIN SELECT RAISE(ABORT, 'consent history is kept: grants are never deleted'); END;
CREATE TRIGGER grant_roles_no_delete BEFORE DELETE ON grant_roles
BEGIN SELECT RAISE(ABORT, 'consent history is kept: grant roles are never deleted'); END;
CREATE TRIGGER revocation_requests_no_delete BEFORE DELETE ON revocation_requests
BEGIN SELECT RAISE(ABORT, 'consent history is kept: revocation requests are never deleted'); END;

CREATE TRIGGER links_revocation_final BEFORE UPDATE ON links
WHEN OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS NOT OLD.revoked_at
BEGIN SELECT RAISE(ABORT, 'a revoked link stays revoked'); END;
CREATE TRIGGER grants_end_final BEFORE UPDATE ON grants
WHEN OLD.status <> 'active'
BEGIN SELECT RAISE(ABORT, 'an ended or revoked grant is final'); END;
CREATE TRIGGER revocation_requests_decision_final BEFORE UPDATE ON revocation_requests
WHEN OLD.status <> 'open'
BEGIN SELECT RAISE(ABORT, 'a decided revocation request is final'); END;
