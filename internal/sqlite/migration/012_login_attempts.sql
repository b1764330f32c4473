-- Sign-in attempts per (login name, client address), counted before the
-- password is checked, so that concurrent guesses cannot all be evaluated,
-- and kept in the database so that every node sees the same counts.
-- Times are Unix milliseconds, not the TEXT times of other tables: the
-- lock's end (doubled at each lockout) is computed inside the one atomic
-- statement that reserves an attempt.
CREATE TABLE login_attempts (
	name         TEXT NOT NULL,
	addr         TEXT NOT NULL,
	attempts     INTEGER NOT NULL, -- in the current window, refused ones included
	window_start INTEGER NOT NULL,
	locked_until INTEGER NOT NULL DEFAULT 0, -- 0: no lock
	lockouts     INTEGER NOT NULL DEFAULT 0, -- since the last success, for the backoff
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (name, addr)
);

CREATE INDEX login_attempts_updated ON login_attempts (updated_at);
