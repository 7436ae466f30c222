-- Directory: tenants, their domains, accounts with roles, partners, and the access rules that map Unix
-- identities to registry roles. Times are RFC 3339 UTC text with milliseconds (2026-11-25T10:46:00.000Z),
-- which sorts in time order. Ids are lowercase UUIDs unless the operator chose one.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  TEXT NOT NULL
) STRICT;

-- Every domain a tenant owns. Exactly one per tenant is its initial <label>.onmicrosoft.com domain.
-- A domain belongs to one tenant only (the primary key), and is stored lowercased.
CREATE TABLE tenant_domains (
    domain      TEXT PRIMARY KEY NOT NULL CHECK (domain = lower(domain) AND length(domain) BETWEEN 3 AND 253),
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    is_initial  INTEGER NOT NULL CHECK (is_initial IN (0, 1)),
    added_at    TEXT NOT NULL,
    CHECK (is_initial = 0 OR domain LIKE '%.onmicrosoft.com')
) STRICT;
CREATE UNIQUE INDEX tenant_domains_one_initial ON tenant_domains(tenant_id) WHERE is_initial = 1;
CREATE INDEX tenant_domains_by_tenant ON tenant_domains(tenant_id);

-- Accounts (users) of a tenant, by lowercased UPN. The UPN's domain is one of the tenant's domains.
CREATE TABLE accounts (
    upn         TEXT PRIMARY KEY NOT NULL CHECK (upn = lower(upn) AND instr(upn, '@') > 1),
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    domain      TEXT NOT NULL REFERENCES tenant_domains(domain),
    created_at  TEXT NOT NULL,
    CHECK (substr(upn, instr(upn, '@') + 1) = domain)
) STRICT;
CREATE INDEX accounts_by_tenant ON accounts(tenant_id);

-- The directory roles an account holds (the fixed list of interface.md).
CREATE TABLE account_roles (
    upn         TEXT NOT NULL REFERENCES accounts(upn),
    role        TEXT NOT NULL CHECK (role IN ('GlobalAdministrator', 'GlobalReader', 'IntuneAdministrator',
                    'CloudDeviceAdministrator', 'HelpdeskAdministrator', 'UserAdministrator',
                    'BillingAdministrator', 'SecurityAdministrator')),
    PRIMARY KEY (upn, role)
) STRICT, WITHOUT ROWID;

-- The account's domain must belong to the account's tenant.
CREATE TRIGGER accounts_domain_of_tenant BEFORE INSERT ON accounts
WHEN (SELECT tenant_id FROM tenant_domains WHERE domain = NEW.domain) IS NOT NEW.tenant_id
BEGIN
    SELECT RAISE(ABORT, 'account domain belongs to another tenant');
END;

-- Partners. An indirect reseller names its indirect provider; only OEMs can be eligible for the Direct API.
CREATE TABLE partners (
    id              TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
    name            TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 200),
    kind            TEXT NOT NULL CHECK (kind IN ('directCsp', 'indirectProvider', 'indirectReseller', 'oem')),
    provider_id     TEXT REFERENCES partners(id),
    oem_direct_api  INTEGER NOT NULL DEFAULT 0 CHECK (oem_direct_api IN (0, 1)),
    created_at      TEXT NOT NULL,
    CHECK ((kind = 'indirectReseller') = (provider_id IS NOT NULL)),
    CHECK (oem_direct_api = 0 OR kind = 'oem')
) STRICT;
CREATE INDEX partners_by_provider ON partners(provider_id) WHERE provider_id IS NOT NULL;

CREATE TRIGGER partners_provider_kind BEFORE INSERT ON partners
WHEN NEW.provider_id IS NOT NULL
     AND (SELECT kind FROM partners WHERE id = NEW.provider_id) IS NOT 'indirectProvider'
BEGIN
    SELECT RAISE(ABORT, 'a reseller''s provider must be an indirect provider');
END;

-- Access rules: a Unix uid or gid (as seen through SO_PEERCRED) mapped to a role. Removing a rule keeps the
-- row with removed_at set, so past access can be shown. At most one active rule per uid and per gid.
CREATE TABLE access_rules (
    id          TEXT PRIMARY KEY NOT NULL,
    uid         INTEGER CHECK (uid BETWEEN 0 AND 4294967295),
    gid         INTEGER CHECK (gid BETWEEN 0 AND 4294967295),
    role        TEXT NOT NULL CHECK (role IN ('operator', 'auditor', 'partner', 'tenant')),
    partner_id  TEXT REFERENCES partners(id),
    tenant_id   TEXT REFERENCES tenants(id),
    created_at  TEXT NOT NULL,
    removed_at  TEXT,
    CHECK ((uid IS NULL) <> (gid IS NULL)),
    CHECK ((role = 'partner') = (partner_id IS NOT NULL)),
    CHECK ((role = 'tenant') = (tenant_id IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX access_rules_active_uid ON access_rules(uid) WHERE uid IS NOT NULL AND removed_at IS NULL;
CREATE UNIQUE INDEX access_rules_active_gid ON access_rules(gid) WHERE gid IS NOT NULL AND removed_at IS NULL;
