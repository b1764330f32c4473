-- Evidence: what every engine did, for which clause of the policy, when,
-- against which deadline and with what outcome. The compliance report reads
-- nothing else, so the table is append-only: the trigger refuses changes.
CREATE TABLE evidence (
	id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at       timestamptz NOT NULL,
	clause   text NOT NULL,
	action   text NOT NULL,
	subject  text NOT NULL DEFAULT '',
	deadline timestamptz,
	outcome  text NOT NULL CHECK (outcome IN ('ok', 'late', 'failed', 'violated')),
	detail   text NOT NULL DEFAULT '',
	node     text NOT NULL DEFAULT ''
);

CREATE INDEX evidence_at ON evidence (at);
CREATE INDEX evidence_clause_at ON evidence (clause, at);

CREATE FUNCTION evidence_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'evidence is append-only';
END;
$$;

CREATE TRIGGER evidence_append_only BEFORE UPDATE OR DELETE ON evidence
	FOR EACH ROW EXECUTE FUNCTION evidence_append_only();
