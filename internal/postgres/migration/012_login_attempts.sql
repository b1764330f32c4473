-- Sign-in attempts per (login name, client address), counted before the
-- password is checked, so that concurrent guesses cannot all be evaluated,
-- and kept in the database so that every node sees the same counts.
CREATE TABLE login_attempts (
	name         text NOT NULL,
	addr         text NOT NULL,
	attempts     bigint NOT NULL, -- in the current window, refused ones included
	window_start timestamptz NOT NULL,
	locked_until timestamptz, -- NULL: no lock
	lockouts     integer NOT NULL DEFAULT 0, -- since the last success, for the backoff
	updated_at   timestamptz NOT NULL,
	PRIMARY KEY (name, addr)
);

CREATE INDEX login_attempts_updated ON login_attempts (updated_at);
