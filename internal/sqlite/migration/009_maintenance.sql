-- Maintenance windows: announced stops, which are not downtime.
-- components is a JSON array of component IDs; empty: all of them.
CREATE TABLE maintenances (
	id           TEXT PRIMARY KEY,
	components   TEXT NOT NULL,
	title_ja     TEXT NOT NULL,
	title_en     TEXT NOT NULL,
	body_ja      TEXT NOT NULL DEFAULT '',
	body_en      TEXT NOT NULL DEFAULT '',
	start_at     TEXT NOT NULL,
	end_at       TEXT NOT NULL,
	emergency    INTEGER NOT NULL DEFAULT 0,
	reason       TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	cancelled_at TEXT,
	CHECK (end_at > start_at)
);

CREATE INDEX maintenances_start ON maintenances (start_at);
