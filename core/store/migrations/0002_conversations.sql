-- Chat: where each task lives in a conversation, which platform deliveries were already taken
-- (durable dedupe of retries and replays), and every message posted for a task, so a restart
-- neither loses a thread nor posts the same thing twice.
CREATE TABLE inbound_deliveries (
    platform TEXT NOT NULL,
    key TEXT NOT NULL,
    task_id TEXT,
    received_at TEXT NOT NULL,
    PRIMARY KEY (platform, key)
);
CREATE INDEX inbound_received ON inbound_deliveries(received_at);

CREATE TABLE conversations (
    task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    -- where thread replies go: Slack thread_ts, Discord thread channel id, Telegram message to reply to
    thread_id TEXT,
    -- the parent message showing the task's live status
    parent_message_id TEXT,
    requester_id TEXT NOT NULL,
    requester_name TEXT NOT NULL,
    -- platform extras needed to answer: Slack response_url, Discord interaction token, ...
    origin_json TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX conversations_platform ON conversations(platform);

CREATE TABLE outbound_messages (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    -- what the message is: directive, verdict, iteration:2, result:0, done, confirmation:<id> ...
    slot TEXT NOT NULL,
    platform TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, slot)
);
