-- Which content a backup holds: the partition's sealed checksum and record
-- count (user data: the snapshot's), as its manifest has them. A backup
-- covers a partition only while they are the partition's own: a day
-- sealed again with other content is due a new backup. Existing rows take
-- them from their stored manifest.
ALTER TABLE backups ADD COLUMN checksum TEXT NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN records INTEGER NOT NULL DEFAULT 0;

UPDATE backups SET
	checksum = coalesce(json_extract(CAST(manifest AS TEXT), '$.checksum'), ''),
	records  = coalesce(json_extract(CAST(manifest AS TEXT), '$.records'), 0)
WHERE json_valid(CAST(manifest AS TEXT));
