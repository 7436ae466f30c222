-- Device identity: the registry knows which machine a hardware hash is (hardware-hash.md), and says on which line of
-- an uploaded CSV file each result's row was.
--
-- A device registered by hash has its manufacturer, model and serial number read from the hash. Two submissions are
-- the same machine when their hashes are identical, their product keys are equal, or their (manufacturer, model,
-- serial number) are equal, unless the serial number is a placeholder the firmware left ("None",
-- "SMBIOS_STRING_INDEX_0", ...): such a tuple names no machine. `tuple_identifies` is 1 when the tuple names one
-- machine; the daemon decides it (the placeholder list lives in one place, in the daemon's domain rules), and the
-- unique index below lets no two registered devices share an identifying tuple, whatever races.
--
-- When an existing database is upgraded, the daemon fills the new columns from the stored hashes right after this
-- file runs. It never deregisters or drops anything: a stored hash that does not decode, a machine that turns out to
-- be registered twice, or a submitted value that contradicts its own hash is written to device_identity_findings
-- for an operator to resolve (the later registration of a machine registered twice keeps tuple_identifies = 0).
ALTER TABLE devices ADD COLUMN tuple_identifies INTEGER NOT NULL DEFAULT 0
    CHECK (tuple_identifies IN (0, 1)
           AND (tuple_identifies = 0 OR (manufacturer IS NOT NULL AND model IS NOT NULL AND serial_number IS NOT NULL)));

DROP INDEX devices_registered_tuple;
CREATE UNIQUE INDEX devices_registered_machine ON devices(manufacturer, model, serial_number)
    WHERE status = 'registered' AND tuple_identifies = 1;

-- The file line of the row a result is for: set by UploadDeviceCsv, NULL for AddDevices.
ALTER TABLE device_results ADD COLUMN line INTEGER CHECK (line IS NULL OR line >= 1);

-- What the upgrade found about devices registered before the registry knew identity, one row per finding:
--   undecodableHash   the stored hash is not an Autopilot hardware hash; the device stays registered as it was;
--   sameMachine       device_id is the same machine as other_device_id, registered earlier; both stay registered
--                     until an operator deregisters one;
--   contradictsHash   a serial number, manufacturer or model submitted with the device is not what its hash says.
CREATE TABLE device_identity_findings (
    id               INTEGER PRIMARY KEY NOT NULL,
    found_at         TEXT NOT NULL,
    device_id        TEXT NOT NULL REFERENCES devices(id),
    kind             TEXT NOT NULL CHECK (kind IN ('undecodableHash', 'sameMachine', 'contradictsHash')),
    other_device_id  TEXT REFERENCES devices(id),
    detail           TEXT NOT NULL
) STRICT;
CREATE INDEX device_identity_findings_by_device ON device_identity_findings(device_id);
