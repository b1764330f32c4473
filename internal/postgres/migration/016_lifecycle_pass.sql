-- The node running the cluster's lifecycle pass, beside the lock that
-- makes it the only one (an advisory lock on PostgreSQL, a file lock
-- beside the database on SQLite). The holder writes it after taking the
-- lock and clears it at the end; a row whose holder died is stale, and
-- the next holder replaces it (and says so).
CREATE TABLE lifecycle_pass (
	id          smallint PRIMARY KEY CHECK (id = 1),
	node        text NOT NULL,
	started_at  timestamptz NOT NULL,
	backend_pid integer NOT NULL DEFAULT 0 -- the session holding the lock
);
