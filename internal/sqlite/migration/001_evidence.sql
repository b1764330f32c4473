-- Evidence: what every engine did, for which clause of the policy, when,
-- against which deadline and with what outcome. The compliance report reads
-- nothing else, so the table is append-only: the triggers refuse changes.
-- Times are RFC 3339 UTC text of fixed width (microseconds), so text order
-- is time order and the file stays readable with the sqlite3 shell.
CREATE TABLE evidence (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	at       TEXT NOT NULL,
	clause   TEXT NOT NULL,
	action   TEXT NOT NULL,
	subject  TEXT NOT NULL DEFAULT '',
	deadline TEXT,
	outcome  TEXT NOT NULL CHECK (outcome IN ('ok', 'late', 'failed', 'violated')),
	detail   TEXT NOT NULL DEFAULT '',
	node     TEXT NOT NULL DEFAULT ''
);

CREATE INDEX evidence_at ON evidence (at);
CREATE INDEX evidence_clause_at ON evidence (clause, at);

CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
BEGIN
	SELECT RAISE(ABORT, 'evidence is append-only');
END;

CREATE TRIGGER evidence_no_delete BEFORE DELETE ON evidence
BEGIN
	SELECT RAISE(ABORT, 'evidence is append-only');
END;
