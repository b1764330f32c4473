-- The audit ledger: every sensitive action, append-only. Each entry keeps
-- its leaf hash and chain hash so that `audit verify` can name the first
-- entry that was changed, removed or moved; signed checkpoints (size and
-- Merkle root) catch a rewrite that recomputed the hashes too.
CREATE TABLE audit_entries (
	seq        bigint PRIMARY KEY,
	at         timestamptz NOT NULL,
	actor      text NOT NULL,
	action     text NOT NULL,
	target     text NOT NULL DEFAULT '',
	detail     text NOT NULL DEFAULT '',
	leaf_hash  bytea NOT NULL,
	chain_hash bytea NOT NULL
);

CREATE TABLE audit_checkpoints (
	size bigint PRIMARY KEY,
	root bytea NOT NULL,
	note text NOT NULL,
	at   timestamptz NOT NULL
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'the audit ledger is append-only';
END;
$$;

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
