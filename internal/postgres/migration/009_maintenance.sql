-- Maintenance windows: announced stops, which are not downtime.
-- components is a JSON array of component IDs; empty: all of them.
CREATE TABLE maintenances (
	id           text PRIMARY KEY,
	components   jsonb NOT NULL,
	title_ja     text NOT NULL,
	title_en     text NOT NULL,
	body_ja      text NOT NULL DEFAULT '',
	body_en      text NOT NULL DEFAULT '',
	start_at     timestamptz NOT NULL,
	end_at       timestamptz NOT NULL,
	emergency    boolean NOT NULL DEFAULT false,
	reason       text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL,
	cancelled_at timestamptz,
	CHECK (end_at > start_at)
);

CREATE INDEX maintenances_start ON maintenances (start_at);
