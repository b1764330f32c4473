-- Which content a backup holds: the partition's sealed checksum and record
-- count (user data: the snapshot's), as its manifest has them. A backup
-- covers a partition only while they are the partition's own: a day
-- sealed again with other content is due a new backup. Existing rows take
-- them from their stored manifest.
ALTER TABLE backups ADD COLUMN checksum text NOT NULL DEFAULT '';
ALTER TABLE backups ADD COLUMN records bigint NOT NULL DEFAULT 0;

-- A manifest that does not parse (none should) leaves its row's content
-- unknown, which covers nothing: the partition is backed up again.
DO $$
DECLARE
	r record;
	m jsonb;
BEGIN
	FOR r IN SELECT id, manifest FROM backups LOOP
		BEGIN
			m := convert_from(r.manifest, 'UTF8')::jsonb;
			UPDATE backups SET checksum = coalesce(m ->> 'checksum', ''), records = coalesce((m ->> 'records')::bigint, 0)
			WHERE id = r.id;
		EXCEPTION WHEN others THEN
			NULL;
		END;
	END LOOP;
END
$$;
