-- The cluster's nodes, from their own heartbeats: a node not seen for the
-- heartbeat bound is marked stopped (stopped_at, its last beat) by
-- whichever node notices first, exactly once, and cleared when it beats
-- again. cluster_values holds what every node must agree on: the master
-- key's check value, which cluster-wide alerts are raised.
CREATE TABLE nodes (
	name       TEXT PRIMARY KEY,
	started_at TEXT NOT NULL,
	last_seen  TEXT NOT NULL,
	version    TEXT NOT NULL DEFAULT '',
	address    TEXT NOT NULL DEFAULT '',
	stopped_at TEXT
);
CREATE TABLE cluster_values (
	name       TEXT PRIMARY KEY,
	value      BLOB NOT NULL
);
