-- The backup catalog: every backup made, when it was verified and erased,
-- and its manifest as written to the target, which stays the source of
-- truth (`backup catalog rebuild` recreates these rows from the target).
CREATE TABLE backups (
	id          TEXT PRIMARY KEY,
	class       TEXT NOT NULL,
	day         TEXT NOT NULL,
	created_at  TEXT NOT NULL,
	verified_at TEXT,
	erased_at   TEXT,
	manifest    BLOB NOT NULL
);

CREATE INDEX backups_class_day ON backups (class, day);
