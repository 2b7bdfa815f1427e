-- Reflection (issue 10) reads figures by time range. Every range it reads is served by an index:
-- usage_events(finished_at), usage(created_at), feedback(updated_at) and tasks(status, created_at)
-- exist already; these add the decision time of confirmations, the birth of memories, and the
-- votes of a deliberation (read for dissent, which had no index on its foreign key).
CREATE INDEX IF NOT EXISTS confirmations_decided ON confirmations(decided_at);
CREATE INDEX IF NOT EXISTS memories_created ON memories(created_at);
CREATE INDEX IF NOT EXISTS votes_deliberation ON votes(deliberation_id);
