-- ListDevices for a partner caller always filters by partner, and usually by tenant too (`devices list --tenant`,
-- `devices export`). With only devices_by_tenant and devices_by_partner, SQLite answered that from the partner index
-- and read every one of the partner's devices to keep one tenant's: over a million devices, a partner's export of a
-- small customer read them all. This index serves both filters together, in the same order (registration time,
-- then rowid) as the single-column ones, so each page is read straight from it.
CREATE INDEX devices_by_tenant_partner ON devices(tenant_id, partner_id, registered_at);
