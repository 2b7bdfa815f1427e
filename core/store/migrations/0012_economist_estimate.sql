-- The Economist's estimate of a task's whole model cost (issue 10: `openkoi reflect honest` compares
-- it with what the task cost). NULL for the other agencies and for deliberations before this.
ALTER TABLE votes ADD COLUMN estimate_usd REAL;
