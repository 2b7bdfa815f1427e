-- The chat queue lives in the tasks table: workers take the oldest queued task (by this index,
-- which also serves every lookup by status alone, so the older one goes: one index less to write).
CREATE INDEX tasks_status_created ON tasks(status, created_at);
DROP INDEX tasks_status;

-- How many unfinished (queued or running) chat tasks each person and each channel has, so that
-- intake can enforce its limits with one lookup instead of counting rows (under a burst the queue
-- holds hundreds of tasks). Kept by the triggers below, in the same transaction as the change.
CREATE TABLE chat_load (
    platform TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('user', 'channel')),
    key TEXT NOT NULL,
    unfinished INTEGER NOT NULL,
    PRIMARY KEY (platform, scope, key)
) WITHOUT ROWID;

INSERT INTO chat_load
SELECT c.platform, 'user', c.requester_id, COUNT(*) FROM conversations c JOIN tasks t ON t.id = c.task_id
 WHERE t.status IN ('queued', 'running') GROUP BY c.platform, c.requester_id;
INSERT INTO chat_load
SELECT c.platform, 'channel', c.channel_id, COUNT(*) FROM conversations c JOIN tasks t ON t.id = c.task_id
 WHERE t.status IN ('queued', 'running') GROUP BY c.platform, c.channel_id;

-- A chat task is born with its conversation (the task row is written first, then the conversation).
CREATE TRIGGER chat_load_new AFTER INSERT ON conversations
WHEN (SELECT status FROM tasks WHERE id = new.task_id) IN ('queued', 'running')
BEGIN
    INSERT INTO chat_load VALUES (new.platform, 'user', new.requester_id, 1)
        ON CONFLICT DO UPDATE SET unfinished = unfinished + 1;
    INSERT INTO chat_load VALUES (new.platform, 'channel', new.channel_id, 1)
        ON CONFLICT DO UPDATE SET unfinished = unfinished + 1;
END;

-- Back to work (an approved override continues).
CREATE TRIGGER chat_load_resumed AFTER UPDATE OF status ON tasks
WHEN old.status NOT IN ('queued', 'running') AND new.status IN ('queued', 'running')
BEGIN
    INSERT INTO chat_load SELECT platform, 'user', requester_id, 1 FROM conversations WHERE task_id = new.id
        ON CONFLICT DO UPDATE SET unfinished = unfinished + 1;
    INSERT INTO chat_load SELECT platform, 'channel', channel_id, 1 FROM conversations WHERE task_id = new.id
        ON CONFLICT DO UPDATE SET unfinished = unfinished + 1;
END;

-- Finished, or waiting for a person (which holds no worker).
CREATE TRIGGER chat_load_settled AFTER UPDATE OF status ON tasks
WHEN old.status IN ('queued', 'running') AND new.status NOT IN ('queued', 'running')
BEGIN
    UPDATE chat_load SET unfinished = unfinished - 1
     WHERE scope = 'user' AND (platform, key) IN (SELECT platform, requester_id FROM conversations WHERE task_id = new.id);
    UPDATE chat_load SET unfinished = unfinished - 1
     WHERE scope = 'channel' AND (platform, key) IN (SELECT platform, channel_id FROM conversations WHERE task_id = new.id);
END;

-- Deleted while unfinished (its session was deleted): BEFORE, while its conversation still exists.
CREATE TRIGGER chat_load_deleted BEFORE DELETE ON tasks
WHEN old.status IN ('queued', 'running')
BEGIN
    UPDATE chat_load SET unfinished = unfinished - 1
     WHERE scope = 'user' AND (platform, key) IN (SELECT platform, requester_id FROM conversations WHERE task_id = old.id);
    UPDATE chat_load SET unfinished = unfinished - 1
     WHERE scope = 'channel' AND (platform, key) IN (SELECT platform, channel_id FROM conversations WHERE task_id = old.id);
END;
