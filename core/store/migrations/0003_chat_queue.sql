-- The chat queue lives in the tasks table: workers take the oldest queued task, and intake counts
-- each person's and channel's unfinished tasks. These keep both to index lookups.
CREATE INDEX tasks_status_created ON tasks(status, created_at);
CREATE INDEX conversations_requester ON conversations(platform, requester_id);
CREATE INDEX conversations_channel ON conversations(platform, channel_id);
