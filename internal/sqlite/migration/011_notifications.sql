-- Subscribers and the notification outbox. Incidents and maintenance
-- windows write their announcement in the same transaction as the change;
-- a delivery is unique per (announcement, subscriber), so a notice goes
-- once whatever crashes, retries or nodes there are. Leases say which
-- node is sending a delivery, and until when.
CREATE TABLE subscribers (
	id           TEXT PRIMARY KEY,
	channel      TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
	address      TEXT NOT NULL,
	lang         TEXT NOT NULL CHECK (lang IN ('ja', 'en')),
	components   TEXT NOT NULL,
	secret       BLOB NOT NULL,
	created_at   TEXT NOT NULL,
	confirmed_at TEXT,
	UNIQUE (channel, address)
);

CREATE TABLE announcements (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	kind        TEXT NOT NULL,
	at          TEXT NOT NULL,
	incident    TEXT NOT NULL DEFAULT '',
	update_id   INTEGER NOT NULL DEFAULT 0,
	maintenance TEXT NOT NULL DEFAULT '',
	start_at    TEXT,
	end_at      TEXT,
	components  TEXT NOT NULL,
	key         TEXT UNIQUE,
	fanned_out  INTEGER NOT NULL DEFAULT 0,
	done_at     TEXT
);

CREATE INDEX announcements_pending ON announcements (fanned_out, done_at);
CREATE INDEX announcements_maintenance ON announcements (maintenance) WHERE maintenance <> '';

CREATE TABLE deliveries (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	announcement INTEGER REFERENCES announcements (id) ON DELETE CASCADE,
	subscriber   TEXT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
	state        TEXT NOT NULL CHECK (state IN ('pending', 'in_doubt', 'sent', 'failed')),
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_at      TEXT NOT NULL,
	lease_node   TEXT NOT NULL DEFAULT '',
	lease_until  TEXT,
	sent_at      TEXT,
	error        TEXT NOT NULL DEFAULT '',
	UNIQUE (announcement, subscriber)
);

CREATE INDEX deliveries_due ON deliveries (next_at) WHERE state = 'pending';
CREATE INDEX deliveries_subscriber ON deliveries (subscriber);
