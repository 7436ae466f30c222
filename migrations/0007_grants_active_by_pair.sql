-- The consent gate: every ValidateSubmission, CreateDeviceBatch and AddDevices looks up the active grants of one
-- partner for one tenant. SQLite answered that from grants_by_partner (partner_id, status), reading every active
-- grant of the partner to keep one tenant's and sorting the result: a partner with 10,000 customers read 10,000
-- rows per check. This partial index holds active grants only, by partner and tenant, in grant order, so the check
-- reads exactly the grants it returns.
CREATE INDEX grants_active_by_pair ON grants(partner_id, tenant_id, granted_at) WHERE status = 'active';
