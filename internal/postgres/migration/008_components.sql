-- Components of the service, as the status page shows them, each with the
-- probe that checks it (JSON, as slokeeper.Probe).
CREATE TABLE components (
	id          text PRIMARY KEY,
	grp         text NOT NULL DEFAULT '',
	name_ja     text NOT NULL,
	name_en     text NOT NULL,
	probe       jsonb NOT NULL,
	ord         integer NOT NULL DEFAULT 0,
	hidden      boolean NOT NULL DEFAULT false,
	target      double precision NOT NULL DEFAULT 0,
	interval_ns bigint NOT NULL,
	failures    integer NOT NULL,
	updated_at  timestamptz NOT NULL
);

-- Every check, by every node. Kept for a short while: uptime history is
-- kept as daily tallies.
CREATE TABLE check_results (
	component  text NOT NULL REFERENCES components (id) ON DELETE CASCADE,
	node       text NOT NULL,
	at         timestamptz NOT NULL,
	ok         boolean NOT NULL,
	latency_ns bigint NOT NULL,
	detail     text NOT NULL DEFAULT ''
);

CREATE INDEX check_results_component_at ON check_results (component, at);
CREATE INDEX check_results_at ON check_results (at);

-- Uptime history: a tally per component and calendar day (in the policy's
-- zone), kept after the results it was counted from are pruned.
CREATE TABLE component_days (
	component      text NOT NULL REFERENCES components (id) ON DELETE CASCADE,
	day            text NOT NULL,
	observed_ns    bigint NOT NULL,
	down_ns        bigint NOT NULL,
	maintenance_ns bigint NOT NULL,
	PRIMARY KEY (component, day)
);
