-- The scheduler: which process schedules (a lease, one row), every run of a job keyed by the cron
-- fire time it is for (so a period's run can never execute twice, even across restarts or two
-- processes), and runs asked for by `openkoi schedule run` from another process.
-- Timestamps are ISO-8601 UTC text.
CREATE TABLE schedule_lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,          -- host:pid:random
    acquired_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE job_runs (
    job TEXT NOT NULL,
    fire_time TEXT NOT NULL,      -- the cron fire time the run is for (a manual run: when it was asked)
    trigger TEXT NOT NULL CHECK (trigger IN ('schedule', 'catch-up', 'manual')),
    status TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'missed')),
    started_at TEXT,
    finished_at TEXT,
    detail TEXT NOT NULL DEFAULT '',  -- a one-line outcome, or the error's class and message
    owner TEXT,
    PRIMARY KEY (job, fire_time)
);
CREATE INDEX job_runs_recent ON job_runs(job, started_at);

CREATE TABLE job_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'taken', 'ok', 'failed', 'cancelled')),
    taken_by TEXT,
    fire_time TEXT,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX job_requests_pending ON job_requests(status, id);
