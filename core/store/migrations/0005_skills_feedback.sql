-- Skills, feedback and usage events (issue 9).
--
-- task_skills: the task skills chosen for each task; a skill's measured effectiveness is read from
-- these rows joined with the tasks' final scores and people's feedback, so it follows every outcome
-- and vote without a running total that could drift.
CREATE TABLE task_skills (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    skill TEXT NOT NULL,
    source TEXT NOT NULL,           -- bundled | managed | workspace | user | proposed
    rank INTEGER NOT NULL,          -- 1 = injected first
    forced INTEGER NOT NULL DEFAULT 0,  -- asked for by name (--skill)
    relevance REAL NOT NULL,
    tokens INTEGER NOT NULL,        -- what it took of the prompts' skill share
    PRIMARY KEY (task_id, skill)
) WITHOUT ROWID;
CREATE INDEX task_skills_skill ON task_skills(skill);

-- The opaque id a task's 👍/👎 buttons carry (Telegram allows 64 bytes of callback data, and a
-- button should not name the task it rates).
CREATE TABLE feedback_requests (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL UNIQUE REFERENCES tasks(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL
);

-- One vote per person per task; a second press changes it (the primary key), never adds one.
CREATE TABLE feedback (
    task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    voter TEXT NOT NULL,            -- "<platform>:<user id>", or "terminal:<os user>"
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    note TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (task_id, voter)
) WITHOUT ROWID;
CREATE INDEX feedback_updated ON feedback(updated_at);

-- One row per finished task: the raw material of pattern mining and the digests.
CREATE TABLE usage_events (
    task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    category TEXT,
    skills_json TEXT NOT NULL DEFAULT '[]',
    platform TEXT NOT NULL,         -- slack | discord | telegram | terminal | ...
    channel TEXT,
    requester TEXT,
    hour INTEGER NOT NULL,          -- when it was asked, UTC
    weekday INTEGER NOT NULL,       -- 0 = Monday, UTC
    iterations INTEGER NOT NULL,
    score REAL,
    cost_usd REAL NOT NULL,
    outcome TEXT NOT NULL,          -- the task's final status
    decision TEXT,
    feedback_up INTEGER NOT NULL DEFAULT 0,
    feedback_down INTEGER NOT NULL DEFAULT 0,
    finished_at TEXT NOT NULL
);
CREATE INDEX usage_events_finished ON usage_events(finished_at);

-- The event's feedback figures follow the votes, whichever door they came through.
CREATE TRIGGER usage_events_vote_added AFTER INSERT ON feedback
BEGIN
    UPDATE usage_events SET feedback_up = feedback_up + (new.vote = 1), feedback_down = feedback_down + (new.vote = -1)
     WHERE task_id = new.task_id;
END;

CREATE TRIGGER usage_events_vote_changed AFTER UPDATE OF vote ON feedback
WHEN old.vote <> new.vote
BEGIN
    UPDATE usage_events SET feedback_up = feedback_up - (old.vote = 1) + (new.vote = 1),
                            feedback_down = feedback_down - (old.vote = -1) + (new.vote = -1)
     WHERE task_id = new.task_id;
END;
