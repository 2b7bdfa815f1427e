-- Memory: learnings, anti-patterns, preferences and task summaries as canonical rows, each in the
-- scope of the task that taught it. A memory's embedding is derived from its text (none until
-- embedded, and again none when the embedder changes); the sqlite-vec index is derived from the
-- embeddings and lives outside the migrations (its dimension depends on the embedder).
CREATE TABLE memories (
    -- an alias of the rowid, so it survives VACUUM: the vector index refers to rows by it
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    confidence REAL NOT NULL,
    reinforcements INTEGER NOT NULL DEFAULT 0,
    -- the scope the memory is recalled in: 'global' when marked so, else its own scope's key
    scope_key TEXT NOT NULL,
    platform TEXT NOT NULL,
    workspace TEXT,
    team TEXT,
    channel TEXT,
    is_global INTEGER NOT NULL DEFAULT 0,
    source_task_id TEXT REFERENCES tasks(id) ON DELETE SET NULL,
    -- which embedder made the row in memory_embeddings; NULL: not embedded (yet)
    embedder TEXT,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL
);
CREATE INDEX memories_scope ON memories(scope_key);
CREATE INDEX memories_unembedded ON memories(scope_key) WHERE embedder IS NULL;
CREATE INDEX memories_task ON memories(source_task_id);
CREATE INDEX memories_used ON memories(last_used_at);

-- The embeddings (float32, little-endian), apart from the rows so that scanning memories stays cheap.
CREATE TABLE memory_embeddings (
    seq INTEGER PRIMARY KEY REFERENCES memories(seq) ON DELETE CASCADE,
    vector BLOB NOT NULL
);

-- Which memories each task was given (for feedback on the memories a task used).
CREATE TABLE memory_uses (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    memory_seq INTEGER NOT NULL REFERENCES memories(seq) ON DELETE CASCADE,
    similarity REAL NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, memory_seq)
);
CREATE INDEX memory_uses_memory ON memory_uses(memory_seq);

-- Facts about the derived index, e.g. which embedder produced the stored embeddings.
CREATE TABLE memory_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Every existing learning becomes a memory, to be embedded lazily (or by `openkoi memory reindex`).
-- A learning from a chat task keeps to that task's channel. One from the terminal (whose workspace
-- was never recorded) or of unknown origin is shared by terminal tasks only: the terminal's
-- operator owns the database anyway, while a chat channel must not see it.
INSERT INTO memories (id, kind, text, confidence, reinforcements, scope_key, platform, channel,
                      source_task_id, created_at, last_used_at)
SELECT l.id, l.kind, l.text, l.confidence, l.reinforcements,
       CASE WHEN c.task_id IS NULL THEN 'platform:terminal'
            ELSE 'channel:' || c.platform || ':' || c.channel_id END,
       COALESCE(c.platform, 'terminal'), c.channel_id, l.source_task_id, l.created_at, l.last_used_at
FROM learnings l LEFT JOIN conversations c ON c.task_id = l.source_task_id
ORDER BY l.created_at;

DROP TRIGGER learnings_ai;
DROP TRIGGER learnings_ad;
DROP TRIGGER learnings_au;
DROP TABLE learnings_fts;
DROP TABLE learnings;

-- Each task's scope, and what its recall cost.
ALTER TABLE tasks ADD COLUMN scope_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE tasks ADD COLUMN recall_ms REAL;
ALTER TABLE tasks ADD COLUMN recall_tokens INTEGER;
ALTER TABLE tasks ADD COLUMN recall_memories INTEGER;
-- When the task's iteration transcripts were compacted into a summary memory.
ALTER TABLE tasks ADD COLUMN compacted_at TEXT;
UPDATE tasks SET scope_json = json_object('platform', c.platform, 'channel', c.channel_id)
FROM conversations c WHERE c.task_id = tasks.id;
