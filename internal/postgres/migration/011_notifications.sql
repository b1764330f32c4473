-- Subscribers and the notification outbox. Incidents and maintenance
-- windows write their announcement in the same transaction as the change;
-- a delivery is unique per (announcement, subscriber), so a notice goes
-- once whatever crashes, retries or nodes there are. Leases say which
-- node is sending a delivery, and until when.
CREATE TABLE subscribers (
	id           text PRIMARY KEY,
	channel      text NOT NULL CHECK (channel IN ('email', 'webhook')),
	address      text NOT NULL,
	lang         text NOT NULL CHECK (lang IN ('ja', 'en')),
	components   jsonb NOT NULL,
	secret       bytea NOT NULL,
	created_at   timestamptz NOT NULL,
	confirmed_at timestamptz,
	UNIQUE (channel, address)
);

CREATE TABLE announcements (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind        text NOT NULL,
	at          timestamptz NOT NULL,
	incident    text NOT NULL DEFAULT '',
	update_id   bigint NOT NULL DEFAULT 0,
	maintenance text NOT NULL DEFAULT '',
	start_at    timestamptz,
	end_at      timestamptz,
	components  jsonb NOT NULL,
	key         text UNIQUE,
	fanned_out  boolean NOT NULL DEFAULT false,
	done_at     timestamptz
);

CREATE INDEX announcements_pending ON announcements (fanned_out, done_at);
CREATE INDEX announcements_maintenance ON announcements (maintenance) WHERE maintenance <> '';

CREATE TABLE deliveries (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	announcement bigint REFERENCES announcements (id) ON DELETE CASCADE,
	subscriber   text NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	state        text NOT NULL CHECK (state IN ('pending', 'in_doubt', 'sent', 'failed')),
	attempts     integer NOT NULL DEFAULT 0,
	next_at      timestamptz NOT NULL,
	lease_node   text NOT NULL DEFAULT '',
	lease_until  timestamptz,
	sent_at      timestamptz,
	error        text NOT NULL DEFAULT '',
	UNIQUE (announcement, subscriber)
);

CREATE INDEX deliveries_due ON deliveries (next_at) WHERE state = 'pending';
CREATE INDEX deliveries_subscriber ON deliveries (subscriber);
