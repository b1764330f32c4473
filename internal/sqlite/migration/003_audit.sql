-- The audit ledger: every sensitive action, append-only. Each entry keeps
-- its leaf hash and chain hash so that `audit verify` can name the first
-- entry that was changed, removed or moved; signed checkpoints (size and
-- Merkle root) catch a rewrite that recomputed the hashes too.
CREATE TABLE audit_entries (
	seq        INTEGER PRIMARY KEY,
	at         TEXT NOT NULL,
	actor      TEXT NOT NULL,
	action     TEXT NOT NULL,
	target     TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '',
	leaf_hash  BLOB NOT NULL,
	chain_hash BLOB NOT NULL
);

CREATE TABLE audit_checkpoints (
	size INTEGER PRIMARY KEY,
	root BLOB NOT NULL,
	note TEXT NOT NULL,
	at   TEXT NOT NULL
);

CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
BEGIN
	SELECT RAISE(ABORT, 'the audit ledger is append-only');
END;

CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
BEGIN
	SELECT RAISE(ABORT, 'the audit ledger is append-only');
END;
