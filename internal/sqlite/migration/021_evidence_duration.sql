-- Evidence gets how long its action took, in milliseconds, where the clause
-- promises a time: a restore drill is timed (SOC 2 A1.3 asks for restores
-- tested and timed). 0: not measured. Adding a column leaves the rows as they
-- were; evidence stays append-only.
ALTER TABLE evidence ADD COLUMN duration_ms INTEGER NOT NULL DEFAULT 0 CHECK (duration_ms >= 0);
