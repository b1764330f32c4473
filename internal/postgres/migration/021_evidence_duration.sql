-- Evidence gets how long its action took, in milliseconds, where the clause
-- promises a time: a restore drill is timed (SOC 2 A1.3 asks for restores
-- tested and timed). 0: not measured. Adding a column with a constant
-- default rewrites no row (and fires no append-only trigger).
ALTER TABLE evidence ADD COLUMN duration_ms bigint NOT NULL DEFAULT 0 CHECK (duration_ms >= 0);
