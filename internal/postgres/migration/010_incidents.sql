-- Incidents and their timelines. A component's confirmed failure opens at
-- most one incident at a time (auto_component), even with several nodes.
CREATE TABLE incidents (
	id             text PRIMARY KEY,
	components     jsonb NOT NULL,
	title_ja       text NOT NULL,
	title_en       text NOT NULL,
	impact         text NOT NULL CHECK (impact IN ('minor', 'major', 'critical')),
	status         text NOT NULL,
	detected_at    timestamptz NOT NULL,
	opened_at      timestamptz NOT NULL,
	resolved_at    timestamptz,
	auto_component text NOT NULL DEFAULT '',
	postmortem_ja  text NOT NULL DEFAULT '',
	postmortem_en  text NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX incidents_one_open_per_component ON incidents (auto_component) WHERE resolved_at IS NULL AND auto_component <> '';
CREATE INDEX incidents_opened ON incidents (opened_at);

CREATE TABLE incident_updates (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	incident text NOT NULL REFERENCES incidents (id),
	at       timestamptz NOT NULL,
	status   text NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
	body_ja  text NOT NULL,
	body_en  text NOT NULL,
	by_whom  text NOT NULL
);

CREATE INDEX incident_updates_incident ON incident_updates (incident, id);
