-- Operators: staff who sign in. Passwords are argon2id hashes; TOTP secrets
-- are encrypted under the master key; sessions and API tokens are stored
-- as hashes only.
CREATE TABLE operators (
	id                   text PRIMARY KEY,
	name                 text NOT NULL UNIQUE,
	role                 text NOT NULL CHECK (role IN ('admin', 'operator', 'support', 'auditor')),
	email                text NOT NULL DEFAULT '',
	password_hash        text NOT NULL,
	totp_secret          bytea,
	last_totp_step       bigint NOT NULL DEFAULT 0,
	must_change_password boolean NOT NULL DEFAULT false,
	created_at           timestamptz NOT NULL,
	disabled_at          timestamptz
);

CREATE TABLE operator_sessions (
	token_hash  bytea PRIMARY KEY,
	operator_id text NOT NULL REFERENCES operators (id),
	created_at  timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL
);

CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);

CREATE TABLE api_tokens (
	id          text PRIMARY KEY,
	operator_id text NOT NULL REFERENCES operators (id),
	name        text NOT NULL,
	scope       text NOT NULL CHECK (scope IN ('read', 'write')),
	token_hash  bytea NOT NULL UNIQUE,
	created_at  timestamptz NOT NULL,
	expires_at  timestamptz NOT NULL,
	revoked_at  timestamptz
);
