-- Reflection (issue 10) reads figures by time range. Every range it reads is served by an index:
-- usage_events(finished_at), feedback(updated_at) and tasks(status, created_at) exist already;
-- these add the decision time of confirmations and the birth of memories, and make the three
-- biggest reads index-only (a week holds ~12,000 tasks, 40,000 model calls and 60,000 votes at
-- 100,000 tasks in 8 weeks): model calls by time, votes by deliberation, scored iterations by task.
CREATE INDEX IF NOT EXISTS confirmations_decided ON confirmations(decided_at);
CREATE INDEX IF NOT EXISTS memories_created ON memories(created_at);
CREATE INDEX IF NOT EXISTS votes_deliberation ON votes(deliberation_id, vote, agency);
CREATE INDEX IF NOT EXISTS usage_created_spend
    ON usage(created_at, model, cost_usd, prompt_tokens, completion_tokens, priced);
DROP INDEX IF EXISTS usage_created;  -- served by the covering index above (same leading column)
CREATE INDEX IF NOT EXISTS cycles_task_scores ON iteration_cycles(task_id, iteration, score);
