-- People act as themselves: a tenant access rule may bind its uid or gid to one account of its tenant, and a caller
-- bound to an account acts only as that account. A tenant rule without an account covers the whole tenant for reads
-- only. Accounts of people who left are removed, not deleted: grants, revocation requests and audit events keep the
-- UPN they recorded (and reference it), the rules bound to the account are removed with it, and a removed account
-- no longer exists for any call.

ALTER TABLE access_rules ADD COLUMN account TEXT REFERENCES accounts(upn)
    CHECK (account IS NULL OR role = 'tenant');
CREATE INDEX access_rules_by_account ON access_rules(account) WHERE account IS NOT NULL;

ALTER TABLE accounts ADD COLUMN removed_at TEXT;
