-- User-data backups are per account: a daily snapshot of one account's
-- items. Log backups leave account empty.
ALTER TABLE backups ADD COLUMN account TEXT NOT NULL DEFAULT '';

CREATE INDEX backups_account ON backups (account) WHERE account <> '';

-- The lifecycle pass reads the live backups every few minutes, in this
-- order; erased rows stay for the record and outnumber them in time.
CREATE INDEX backups_live ON backups (class, account, day, created_at, id) WHERE erased_at IS NULL;
