-- The HTTP API (issue 18): every engine event of a task, kept so that a client following a task over
-- Server-Sent Events can resume where it left off (Last-Event-ID is the row id), and an index for listing
-- tasks newest first a page at a time (a keyset cursor on created_at, id).
CREATE TABLE task_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    type TEXT NOT NULL,          -- the event's kind in snake case: task_started, evaluated, task_finished …
    data_json TEXT NOT NULL,     -- its fields, redacted and clipped
    created_at TEXT NOT NULL
);
CREATE INDEX task_events_task ON task_events(task_id, id);

CREATE INDEX tasks_created ON tasks(created_at, id);
