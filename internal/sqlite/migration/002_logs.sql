-- The log store's catalog: one row per (class, day) partition, so the
-- lifecycle engine plans backups and erasure from the database alone.
-- Open partitions are listed as soon as they exist; counts, checksum and
-- sealed_at are final once sealed.
CREATE TABLE log_partitions (
	class        TEXT NOT NULL CHECK (class IN ('system', 'exec')),
	day          TEXT NOT NULL,
	records      INTEGER NOT NULL DEFAULT 0,
	bytes        INTEGER NOT NULL DEFAULT 0,
	sealed       INTEGER NOT NULL DEFAULT 0,
	checksum     TEXT NOT NULL DEFAULT '',
	min_received TEXT,
	max_received TEXT,
	sealed_at    TEXT,
	PRIMARY KEY (class, day)
);

-- Log sources and the hash of their bearer token; the token itself is
-- shown once, at creation, and never stored.
CREATE TABLE log_sources (
	id         TEXT PRIMARY KEY,
	account    TEXT NOT NULL DEFAULT '',
	kind       TEXT NOT NULL CHECK (kind IN ('cloud', 'agent', 'device', 'app')),
	name       TEXT NOT NULL,
	token_hash BLOB NOT NULL UNIQUE,
	created_at TEXT NOT NULL,
	revoked_at TEXT
);

CREATE INDEX log_sources_account ON log_sources (account);
