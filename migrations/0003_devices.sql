-- Devices: batches of submissions, registrations, and each submitted device's result.

CREATE TABLE batches (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    partner_id  TEXT NOT NULL REFERENCES partners(id),
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    channel     TEXT NOT NULL CHECK (channel IN ('api', 'upload')),
    created_at  TEXT NOT NULL,
    submitted   INTEGER NOT NULL DEFAULT 0 CHECK (submitted >= 0),
    registered  INTEGER NOT NULL DEFAULT 0 CHECK (registered >= 0),
    failed      INTEGER NOT NULL DEFAULT 0 CHECK (failed >= 0),
    CHECK (registered + failed = submitted)
) STRICT;
CREATE INDEX batches_by_partner ON batches(partner_id, created_at);
CREATE INDEX batches_by_tenant ON batches(tenant_id, created_at);

-- Decoded hardware hashes, addressed by their lowercase hex SHA-256. They live apart from `devices` so that a
-- device row stays a few hundred bytes: with ~3,000-byte hashes inline, every row would fill a page and any scan or
-- count over a million devices would read ~4 GB instead of ~0.3 GB. A hash registered, deregistered and registered
-- again is stored once.
CREATE TABLE hardware_hashes (
    sha256  TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
    bytes   BLOB NOT NULL CHECK (length(bytes) BETWEEN 1024 AND 16384)
) STRICT;

-- A registration. hardware_hash_sha256 names the device's decoded hash in hardware_hashes.
-- A deregistered row is kept with deregistered_at; the same device may then be registered again, anywhere.
-- While registered, a device is unique by hash digest, by product key, and by (manufacturer, model, serial),
-- compared case-sensitively: the partial unique indexes below enforce it.
CREATE TABLE devices (
    id                      TEXT PRIMARY KEY NOT NULL,
    tenant_id               TEXT NOT NULL REFERENCES tenants(id),
    partner_id              TEXT NOT NULL REFERENCES partners(id),
    batch_id                TEXT NOT NULL REFERENCES batches(id),
    serial_number           TEXT,
    product_key             TEXT,
    manufacturer            TEXT,
    model                   TEXT,
    hardware_hash_sha256    TEXT REFERENCES hardware_hashes(sha256),
    group_tag               TEXT,
    assigned_user           TEXT,
    status                  TEXT NOT NULL DEFAULT 'registered' CHECK (status IN ('registered', 'deregistered')),
    registered_at           TEXT NOT NULL,
    deregistered_at         TEXT,
    deregistered_by         TEXT REFERENCES partners(id),
    CHECK (hardware_hash_sha256 IS NOT NULL OR product_key IS NOT NULL
           OR (manufacturer IS NOT NULL AND model IS NOT NULL AND serial_number IS NOT NULL)),
    CHECK ((status = 'registered') = (deregistered_at IS NULL))
) STRICT;
CREATE UNIQUE INDEX devices_registered_hash ON devices(hardware_hash_sha256)
    WHERE status = 'registered' AND hardware_hash_sha256 IS NOT NULL;
CREATE UNIQUE INDEX devices_registered_product_key ON devices(product_key)
    WHERE status = 'registered' AND product_key IS NOT NULL;
CREATE UNIQUE INDEX devices_registered_tuple ON devices(manufacturer, model, serial_number)
    WHERE status = 'registered' AND manufacturer IS NOT NULL AND model IS NOT NULL AND serial_number IS NOT NULL;
CREATE INDEX devices_by_tenant ON devices(tenant_id, registered_at);
CREATE INDEX devices_by_partner ON devices(partner_id, registered_at);
CREATE INDEX devices_by_batch ON devices(batch_id);
CREATE INDEX devices_by_serial ON devices(serial_number) WHERE serial_number IS NOT NULL;

-- The result of each submitted device, by its index within the batch (from 0, in submission order).
CREATE TABLE device_results (
    batch_id    TEXT NOT NULL REFERENCES batches(id),
    idx         INTEGER NOT NULL CHECK (idx >= 0),
    status      TEXT NOT NULL CHECK (status IN ('registered', 'failed')),
    device_id   TEXT REFERENCES devices(id),
    error_code  INTEGER,
    error_name  TEXT,
    message     TEXT,
    PRIMARY KEY (batch_id, idx),
    CHECK ((status = 'registered') = (device_id IS NOT NULL AND error_name IS NULL))
) STRICT, WITHOUT ROWID;
