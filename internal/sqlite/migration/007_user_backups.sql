-- User-data backups are per account: a daily snapshot of one account's
-- items. Log backups leave account empty.
ALTER TABLE backups ADD COLUMN account TEXT NOT NULL DEFAULT '';

CREATE INDEX backups_account ON backups (account) WHERE account <> '';
