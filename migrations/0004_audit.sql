-- The audit log: one event per call that changes state (whether it succeeded or failed) and per call refused
-- with PermissionDenied, written in the same transaction as the change it records. It never holds secrets:
-- no link tokens and no hardware-hash bytes.
--
-- Append-only: the triggers below refuse UPDATE and DELETE.
--
-- Tamper-evident: each event's `hash` is a SHA-256 chained over the previous event's hash and this event's
-- canonical content, so rewriting any event breaks every hash after it. To recompute event N:
--
--   canonical(N) = the ten fields below, in this order, joined with a line feed (0x0A):
--       seq, at, actor_uid, actor_role, actor_partner, actor_tenant, actor_account, method, target, outcome
--     each written as UTF-8 text: integers in decimal, NULL as the empty string, and within a value every
--     backslash written as two backslashes and every line feed as backslash + 'n'.
--   hash(N) = lowercase hex of SHA-256( hash(N-1) || 0x0A || canonical(N) ), where hash(N-1) is the previous
--     event's `hash` text (64 hex characters) and, for the first event, 64 '0' characters.
--
-- Example, in Python:
--   prev = '0' * 64
--   for row in db.execute('SELECT seq, at, actor_uid, actor_role, actor_partner, actor_tenant, actor_account,
--                          method, target, outcome, hash FROM audit_events ORDER BY seq'):
--       esc = lambda v: '' if v is None else str(v).replace('\\', '\\\\').replace('\n', '\\n')
--       text = '\n'.join(esc(v) for v in row[:10])
--       assert hashlib.sha256((prev + '\n' + text).encode()).hexdigest() == row[10]
--       prev = row[10]
CREATE TABLE audit_events (
    seq             INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
    at              TEXT NOT NULL,
    actor_uid       INTEGER NOT NULL,
    actor_role      TEXT NOT NULL CHECK (actor_role IN ('operator', 'auditor', 'partner', 'tenant', 'none')),
    actor_partner   TEXT,
    actor_tenant    TEXT,
    actor_account   TEXT,
    method          TEXT NOT NULL,
    target          TEXT,
    outcome         TEXT NOT NULL,
    hash            TEXT NOT NULL CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX audit_events_by_outcome ON audit_events(outcome) WHERE outcome <> 'ok';

-- Events are numbered 1, 2, 3… with no gap.
CREATE TRIGGER audit_events_sequential BEFORE INSERT ON audit_events
WHEN NEW.seq <> ifnull((SELECT max(seq) FROM audit_events), 0) + 1
BEGIN
    SELECT RAISE(ABORT, 'audit_events: seq must follow the last event');
END;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;
