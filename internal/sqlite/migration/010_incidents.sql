-- Incidents and their timelines. A component's confirmed failure opens at
-- most one incident at a time (auto_component), even with several nodes.
CREATE TABLE incidents (
	id             TEXT PRIMARY KEY,
	components     TEXT NOT NULL,
	title_ja       TEXT NOT NULL,
	title_en       TEXT NOT NULL,
	impact         TEXT NOT NULL CHECK (impact IN ('minor', 'major', 'critical')),
	status         TEXT NOT NULL,
	detected_at    TEXT NOT NULL,
	opened_at      TEXT NOT NULL,
	resolved_at    TEXT,
	auto_component TEXT NOT NULL DEFAULT '',
	postmortem_ja  TEXT NOT NULL DEFAULT '',
	postmortem_en  TEXT NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX incidents_one_open_per_component ON incidents (auto_component) WHERE resolved_at IS NULL AND auto_component <> '';
CREATE INDEX incidents_opened ON incidents (opened_at);

CREATE TABLE incident_updates (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	incident TEXT NOT NULL REFERENCES incidents (id),
	at       TEXT NOT NULL,
	status   TEXT NOT NULL CHECK (status IN ('investigating', 'identified', 'monitoring', 'resolved')),
	body_ja  TEXT NOT NULL,
	body_en  TEXT NOT NULL,
	by_whom  TEXT NOT NULL
);

CREATE INDEX incident_updates_incident ON incident_updates (incident, id);
