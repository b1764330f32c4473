-- The log store's blocks, for several nodes on one database: every node's
-- appends land here (acknowledged after COMMIT), so every node's queries
-- see every record and a day's partition is one thing for the cluster.
-- Both tables are partitioned by LIST on part ('exec/2026-12-03'), one
-- PostgreSQL partition per (class, day), created on first use: erasing a
-- day is DROP TABLE, O(1). data is the log store's SKB1 block, the same
-- bytes as in a local segment file; the other columns are its index.
CREATE SEQUENCE log_block_seq;

CREATE TABLE log_open_blocks (
	part         text NOT NULL,
	seq          bigint NOT NULL DEFAULT nextval('log_block_seq'),
	records      integer NOT NULL,
	bytes        integer NOT NULL,
	min_received bigint NOT NULL, -- Unix ns, as in the block header
	max_received bigint NOT NULL,
	sources      text[],           -- NULL: more sources than a block lists
	key          text,             -- idempotency key; NULL for none
	node         text NOT NULL,    -- the node that took it
	data         bytea NOT NULL,
	-- A chunk sent again, to any node, is stored once.
	UNIQUE (part, key)
) PARTITION BY LIST (part);

CREATE TABLE log_sealed_blocks (
	part         text NOT NULL,
	seq          bigint NOT NULL,
	records      integer NOT NULL,
	bytes        integer NOT NULL,
	min_received bigint NOT NULL,
	max_received bigint NOT NULL,
	sources      text[],
	data         bytea NOT NULL,
	PRIMARY KEY (part, seq)
) PARTITION BY LIST (part);

-- The blocks are zstd-compressed already: store them out of line as they
-- are, without TOAST compressing them again (the day partitions inherit it).
ALTER TABLE log_open_blocks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE log_sealed_blocks ALTER COLUMN data SET STORAGE EXTERNAL;

-- The idempotency keys of a sealed day's blocks, kept when its open blocks
-- go: a migration adding a node's local copy of a chunk to a sealed day
-- adds it once.
CREATE TABLE log_sealed_keys (
	part text NOT NULL,
	key  text NOT NULL,
	PRIMARY KEY (part, key)
) PARTITION BY LIST (part);

-- "This source or many": a query for one source reads only the blocks
-- that may hold it.
CREATE INDEX log_sealed_blocks_sources ON log_sealed_blocks USING gin (sources);

-- Local partitions a node moved in (slokeeper logs migrate): each once.
CREATE TABLE log_migrations (
	id          text PRIMARY KEY, -- SHA-256 of the local partition's blocks
	class       text NOT NULL,
	day         date NOT NULL,
	node        text NOT NULL,
	blocks      integer NOT NULL,
	migrated_at timestamptz NOT NULL DEFAULT now()
);
