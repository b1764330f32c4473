-- Accounts (the service's customers) and their data. Every item is stored
-- only as ciphertext under the account's key, which lives in the separate
-- key store: destroying it shreds every copy of these rows, backups too.
CREATE TABLE accounts (
	id                    TEXT PRIMARY KEY,
	name                  TEXT NOT NULL,
	status                TEXT NOT NULL CHECK (status IN ('active', 'deleting', 'deleted')),
	created_at            TEXT NOT NULL,
	deletion_requested_at TEXT,
	deletion_due_at       TEXT,
	deleted_at            TEXT
);

CREATE TABLE account_items (
	account    TEXT NOT NULL REFERENCES accounts (id),
	kind       TEXT NOT NULL CHECK (kind IN ('document', 'data', 'credential')),
	key        TEXT NOT NULL,
	ciphertext BLOB NOT NULL,
	size       INTEGER NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (account, kind, key)
);

-- Just-in-time access grants: who may read which account's data, why,
-- approved by whom, until when.
CREATE TABLE grants (
	id           TEXT PRIMARY KEY,
	operator_id  TEXT NOT NULL REFERENCES operators (id),
	account      TEXT NOT NULL REFERENCES accounts (id),
	scope        TEXT NOT NULL CHECK (scope IN ('document', 'data', 'credential', 'all')),
	reason       TEXT NOT NULL,
	duration_ns  INTEGER NOT NULL,
	requested_at TEXT NOT NULL,
	approver_id  TEXT REFERENCES operators (id),
	approved_at  TEXT,
	expires_at   TEXT,
	revoked_at   TEXT
);

CREATE INDEX grants_operator_account ON grants (operator_id, account);
