-- Operators: staff who sign in. Passwords are argon2id hashes; TOTP secrets
-- are encrypted under the master key; sessions and API tokens are stored
-- as hashes only.
CREATE TABLE operators (
	id                   TEXT PRIMARY KEY,
	name                 TEXT NOT NULL UNIQUE,
	role                 TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'support', 'auditor')),
	email                TEXT NOT NULL DEFAULT '',
	password_hash        TEXT NOT NULL,
	totp_secret          BLOB,
	last_totp_step       INTEGER NOT NULL DEFAULT 0,
	must_change_password INTEGER NOT NULL DEFAULT 0,
	created_at           TEXT NOT NULL,
	disabled_at          TEXT
);

CREATE TABLE operator_sessions (
	token_hash  BLOB PRIMARY KEY,
	operator_id TEXT NOT NULL REFERENCES operators (id),
	created_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL
);

CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

CREATE TABLE api_tokens (
	id          TEXT PRIMARY KEY,
	operator_id TEXT NOT NULL REFERENCES operators (id),
	name        TEXT NOT NULL,
	scope       TEXT NOT NULL CHECK (scope IN ('read', 'write')),
	token_hash  BLOB NOT NULL UNIQUE,
	created_at  TEXT NOT NULL,
	expires_at  TEXT NOT NULL,
	revoked_at  TEXT
);
