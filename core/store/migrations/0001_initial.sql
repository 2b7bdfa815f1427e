-- Sessions, tasks, the PEER loop's cycles and findings, deliberations and votes,
-- confirmations, usage and learnings. Timestamps are ISO-8601 UTC text.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'active',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    requester TEXT,
    options_json TEXT NOT NULL,
    category TEXT,
    decision TEXT,
    score REAL,
    iterations INTEGER NOT NULL DEFAULT 0,
    output TEXT,
    error TEXT,
    directive_json TEXT,
    directive_fallback INTEGER NOT NULL DEFAULT 0,
    plan_json TEXT,
    simulation_json TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tasks_session ON tasks(session_id, created_at);
CREATE INDEX tasks_status ON tasks(status);

CREATE TABLE iteration_cycles (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    iteration INTEGER NOT NULL,
    output TEXT NOT NULL,
    output_hash TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    evaluation_json TEXT,
    score REAL,
    dimension_scores_json TEXT,
    decision TEXT,
    decision_reason TEXT,
    incremental INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (task_id, iteration)
);

CREATE TABLE findings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cycle_id TEXT NOT NULL REFERENCES iteration_cycles(id) ON DELETE CASCADE,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    severity TEXT NOT NULL,
    dimension TEXT NOT NULL,
    description TEXT NOT NULL,
    fix TEXT NOT NULL,
    quote TEXT
);
CREATE INDEX findings_task ON findings(task_id);

CREATE TABLE deliberations (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    fail_closed INTEGER NOT NULL DEFAULT 0,
    reversibility TEXT,
    blast_radius TEXT,
    permission_level TEXT,
    model TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX deliberations_task ON deliberations(task_id);

CREATE TABLE votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deliberation_id TEXT NOT NULL REFERENCES deliberations(id) ON DELETE CASCADE,
    agency TEXT NOT NULL,
    vote TEXT NOT NULL,
    reason TEXT NOT NULL,
    caveat TEXT
);

CREATE TABLE confirmations (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by TEXT,
    decided_by TEXT,
    decided_at TEXT,
    expires_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX confirmations_task ON confirmations(task_id);

CREATE TABLE usage (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT REFERENCES tasks(id) ON DELETE CASCADE,
    phase TEXT NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    priced INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX usage_task ON usage(task_id);
CREATE INDEX usage_created ON usage(created_at);

CREATE TABLE learnings (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    confidence REAL NOT NULL,
    reinforcements INTEGER NOT NULL DEFAULT 0,
    source_task_id TEXT REFERENCES tasks(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL
);

-- Full-text index over learnings for task-relevant recall; kept in step by triggers.
CREATE VIRTUAL TABLE learnings_fts USING fts5(text, content='learnings', content_rowid='rowid');
CREATE TRIGGER learnings_ai AFTER INSERT ON learnings BEGIN
    INSERT INTO learnings_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER learnings_ad AFTER DELETE ON learnings BEGIN
    INSERT INTO learnings_fts(learnings_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
CREATE TRIGGER learnings_au AFTER UPDATE OF text ON learnings BEGIN
    INSERT INTO learnings_fts(learnings_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    INSERT INTO learnings_fts(rowid, text) VALUES (new.rowid, new.text);
END;
