-- Accounts (the service's customers) and their data. Every item is stored
-- only as ciphertext under the account's key, which lives in the separate
-- key store: destroying it shreds every copy of these rows, backups too.
CREATE TABLE accounts (
	id                    text PRIMARY KEY,
	name                  text NOT NULL,
	status                text NOT NULL CHECK (status IN ('active', 'deleting', 'deleted')),
	created_at            timestamptz NOT NULL,
	deletion_requested_at timestamptz,
	deletion_due_at       timestamptz,
	deleted_at            timestamptz
);

CREATE TABLE account_items (
	account    text NOT NULL REFERENCES accounts (id),
	kind       text NOT NULL CHECK (kind IN ('document', 'data', 'credential')),
	key        text NOT NULL,
	ciphertext bytea NOT NULL,
	size       integer NOT NULL,
	updated_at timestamptz NOT NULL,
	PRIMARY KEY (account, kind, key)
);

-- Just-in-time access grants: who may read which account's data, why,
-- approved by whom, until when.
CREATE TABLE grants (
	id           text PRIMARY KEY,
	operator_id  text NOT NULL REFERENCES operators (id),
	account      text NOT NULL REFERENCES accounts (id),
	scope        text NOT NULL CHECK (scope IN ('document', 'data', 'credential', 'all')),
	reason       text NOT NULL,
	duration_ns  bigint NOT NULL,
	requested_at timestamptz NOT NULL,
	approver_id  text REFERENCES operators (id),
	approved_at  timestamptz,
	expires_at   timestamptz,
	revoked_at   timestamptz
);

CREATE INDEX grants_operator_account ON grants (operator_id, account);
