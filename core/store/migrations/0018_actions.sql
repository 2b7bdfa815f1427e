-- Acting (issue 17): actions waiting for a person, standing "allow always" grants, and every tool call for the
-- tool atlas. Arguments are never stored: a hash of the exact tool and arguments (the fingerprint an approval is
-- bound to) and a redacted, shortened preview.

-- A proposed action that needs a person's Allow / Deny: decided once (an atomic UPDATE … WHERE status =
-- 'pending'), only for the same fingerprint, never after it expired.
CREATE TABLE action_approvals (
    id TEXT PRIMARY KEY,
    task_id TEXT,
    tool TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    preview TEXT NOT NULL,             -- the arguments, redacted and shortened
    reason TEXT NOT NULL DEFAULT '',   -- why the agent wants it (redacted, shortened)
    effect TEXT NOT NULL CHECK (effect IN ('read', 'write', 'destructive')),
    source TEXT NOT NULL,              -- who classified it: team, declared, floor, hints, unknown
    rules_json TEXT NOT NULL DEFAULT '[]',  -- the floor rules that matched
    domain TEXT NOT NULL,
    level TEXT NOT NULL,               -- the trust level in force when it was asked
    requested_by TEXT,                 -- who asked for the task (four eyes: they may not approve it)
    requested_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'allowed_once', 'allowed_always', 'denied', 'expired')),
    decided_by TEXT,
    decided_at TEXT,
    grant_id TEXT                      -- the standing grant an 'allowed_always' made
);
CREATE INDEX action_approvals_pending ON action_approvals(status, expires_at);

-- "Allow always for this tool in this domain": rows only ever added, like trust_grants; a revoke is a row of
-- its own, and the latest row for a (tool, domain) decides.
CREATE TABLE action_grants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    tool TEXT NOT NULL,
    domain TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'revoke')),
    granted_by TEXT NOT NULL,
    approval_id TEXT,                  -- the approval whose "allow always" made it
    reason TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX action_grants_tool ON action_grants(tool, domain, seq);

CREATE TRIGGER action_grants_append_only_update BEFORE UPDATE ON action_grants BEGIN
    SELECT RAISE(ABORT, 'action grants are append-only: add a grant or a revoke instead');
END;
CREATE TRIGGER action_grants_append_only_delete BEFORE DELETE ON action_grants BEGIN
    SELECT RAISE(ABORT, 'action grants are append-only: add a grant or a revoke instead');
END;

-- One row per call that ran or was refused, for the tool atlas: never its output.
CREATE TABLE tool_calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    task_id TEXT,
    tool TEXT NOT NULL,
    effect TEXT NOT NULL CHECK (effect IN ('read', 'write', 'destructive')),
    decision TEXT NOT NULL CHECK (decision IN ('run', 'ask', 'deny')),   -- the gate's
    approval_id TEXT,
    decided_by TEXT,                   -- the person who allowed or denied it; NULL for the gate's own decision
    rule TEXT,                         -- the [tools] pattern, or the floor rules, that decided
    grant_id TEXT,                     -- the standing grant that let it run
    started_at TEXT NOT NULL,
    duration_ms REAL,                  -- NULL when it never ran
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'denied', 'expired', 'timeout')),
    error TEXT,                        -- one line, redacted
    fingerprint TEXT NOT NULL,
    preview TEXT NOT NULL
);
CREATE INDEX tool_calls_tool ON tool_calls(tool, started_at);

-- An action's audit rows carry what was called (tool, class, fingerprint, redacted preview, rule, grant,
-- approval, duration) as one JSON document; NULL for the other kinds.
ALTER TABLE gate_audit ADD COLUMN action_json TEXT;
