-- The log store's catalog: one row per (class, day) partition, so the
-- lifecycle engine plans backups and erasure from the database alone.
-- Open partitions are listed as soon as they exist; counts, checksum and
-- sealed_at are final once sealed.
CREATE TABLE log_partitions (
	class        text NOT NULL CHECK (class IN ('system', 'exec')),
	day          date NOT NULL,
	records      bigint NOT NULL DEFAULT 0,
	bytes        bigint NOT NULL DEFAULT 0,
	sealed       boolean NOT NULL DEFAULT false,
	checksum     text NOT NULL DEFAULT '',
	min_received timestamptz,
	max_received timestamptz,
	sealed_at    timestamptz,
	PRIMARY KEY (class, day)
);

-- Log sources and the hash of their bearer token; the token itself is
-- shown once, at creation, and never stored.
CREATE TABLE log_sources (
	id         text PRIMARY KEY,
	account    text NOT NULL DEFAULT '',
	kind       text NOT NULL CHECK (kind IN ('cloud', 'agent', 'device', 'app')),
	name       text NOT NULL,
	token_hash bytea NOT NULL UNIQUE,
	created_at timestamptz NOT NULL,
	revoked_at timestamptz
);

CREATE INDEX log_sources_account ON log_sources (account);
