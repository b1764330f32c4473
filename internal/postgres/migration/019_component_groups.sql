-- Components' groups get names for the status page's headings, in
-- Japanese and English; empty: the group's ID.
ALTER TABLE components ADD COLUMN group_ja TEXT NOT NULL DEFAULT '';
ALTER TABLE components ADD COLUMN group_en TEXT NOT NULL DEFAULT '';
