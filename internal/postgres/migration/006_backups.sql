-- The backup catalog: every backup made, when it was verified and erased,
-- and its manifest as written to the target, which stays the source of
-- truth (`backup catalog rebuild` recreates these rows from the target).
CREATE TABLE backups (
	id          text PRIMARY KEY,
	class       text NOT NULL,
	day         text NOT NULL,
	created_at  timestamptz NOT NULL,
	verified_at timestamptz,
	erased_at   timestamptz,
	manifest    bytea NOT NULL
);

CREATE INDEX backups_class_day ON backups (class, day);
