-- The gate (issue 16): trust levels per domain, grants waiting for a second approver, and the audit ledger.

-- Every trust grant and revoke is a row that is never changed or deleted: the level in force for a domain
-- is the one of its latest unexpired row, else 'ask' (core.gate.trust). A revoke is a row whose level is 'ask'.
CREATE TABLE trust_grants (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    domain TEXT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('ask', 'suggest', 'act', 'autonomous')),
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'revoke')),
    granted_by TEXT NOT NULL,
    approved_by TEXT,          -- the second approver who confirmed it in chat (four eyes)
    reason TEXT,
    source TEXT NOT NULL,      -- 'terminal', or '<platform>:<channel>'
    expires_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX trust_grants_domain ON trust_grants(domain, created_at);

CREATE TRIGGER trust_grants_append_only_update BEFORE UPDATE ON trust_grants BEGIN
    SELECT RAISE(ABORT, 'trust grants are append-only: add a grant or a revoke instead');
END;
CREATE TRIGGER trust_grants_append_only_delete BEFORE DELETE ON trust_grants BEGIN
    SELECT RAISE(ABORT, 'trust grants are append-only: add a grant or a revoke instead');
END;

-- A grant asked for in chat while four eyes are on: it waits for another approver's press, once, until it
-- expires (like an override request).
CREATE TABLE trust_requests (
    id TEXT PRIMARY KEY,
    domain TEXT NOT NULL,
    level TEXT NOT NULL,
    reason TEXT,
    duration_seconds REAL,     -- the grant's --for, if any
    requested_by TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'refused', 'expired')),
    decided_by TEXT,
    decided_at TEXT,
    grant_id TEXT,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX trust_requests_pending ON trust_requests(status, expires_at);

-- The audit ledger: every gate decision (kind 'task', later 'action') and every trust change ('grant',
-- 'revoke'). Metadata only: ids, rule ids and their descriptions, domains, votes (never their reasons),
-- levels, who decided and the outcome; never a task's output or a model's text. No foreign key: a row
-- outlives a deleted session, and only retention ([gate] audit_retention_days) removes it.
CREATE TABLE gate_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('task', 'action', 'grant', 'revoke')),
    task_id TEXT,
    domains TEXT NOT NULL DEFAULT '[]',   -- JSON list of domains
    rules TEXT NOT NULL DEFAULT '[]',     -- JSON list of {rule, domain, description}
    votes TEXT NOT NULL DEFAULT '[]',     -- JSON list of {agency, vote}
    invalid TEXT NOT NULL DEFAULT '[]',   -- JSON list of {agency, why}: ballots that did not count
    assessment TEXT,                      -- the Guardian's reversibility/blast radius/permission
    level TEXT,                           -- the trust level in force (a decision) or granted (a grant)
    outcome TEXT NOT NULL,
    block TEXT,                           -- why it was blocked: guardian_block, dissent_block, guardian_invalid, floor
    decided_by TEXT,                      -- NULL for the gate's own, automatic decisions
    category TEXT,                        -- the plan's category, once planned
    category_domain TEXT,                 -- its domain (core/gate/category_domains.toml, [gate] categories)
    simulated INTEGER NOT NULL DEFAULT 0, -- decided for --simulate: nothing ran
    note TEXT                             -- a grant's reason and expiry
);
CREATE INDEX gate_audit_at ON gate_audit(at);
CREATE INDEX gate_audit_task ON gate_audit(task_id);
