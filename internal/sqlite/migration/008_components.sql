-- Components of the service, as the status page shows them, each with the
-- probe that checks it (JSON, as slokeeper.Probe).
CREATE TABLE components (
	id          TEXT PRIMARY KEY,
	grp         TEXT NOT NULL DEFAULT '',
	name_ja     TEXT NOT NULL,
	name_en     TEXT NOT NULL,
	probe       TEXT NOT NULL,
	ord         INTEGER NOT NULL DEFAULT 0,
	hidden      INTEGER NOT NULL DEFAULT 0,
	target      REAL NOT NULL DEFAULT 0,
	interval_ns INTEGER NOT NULL,
	failures    INTEGER NOT NULL,
	updated_at  TEXT NOT NULL
);

-- Every check, by every node. Kept for a short while: uptime history is
-- kept as daily tallies.
CREATE TABLE check_results (
	component  TEXT NOT NULL REFERENCES components (id) ON DELETE CASCADE,
	node       TEXT NOT NULL,
	at         TEXT NOT NULL,
	ok         INTEGER NOT NULL,
	latency_ns INTEGER NOT NULL,
	detail     TEXT NOT NULL DEFAULT ''
);

CREATE INDEX check_results_component_at ON check_results (component, at);
CREATE INDEX check_results_at ON check_results (at);

-- Uptime history: a tally per component and calendar day (in the policy's
-- zone), kept after the results it was counted from are pruned.
CREATE TABLE component_days (
	component      TEXT NOT NULL REFERENCES components (id) ON DELETE CASCADE,
	day            TEXT NOT NULL,
	observed_ns    INTEGER NOT NULL,
	down_ns        INTEGER NOT NULL,
	maintenance_ns INTEGER NOT NULL,
	PRIMARY KEY (component, day)
);
