-- Outgoing webhooks (issue 18): the durable outbox. An event is written here, one row per subscribed endpoint,
-- before any attempt to send it; the delivery worker sends what is due and keeps every attempt. A restart loses
-- nothing: what was pending (or being sent when the process died) is due again when the service starts.

-- What the service knows of each endpoint beyond config.toml: whether a 410 Gone disabled it, and a secret it
-- generated for the [api.webhooks] shorthand when none is configured. The URL is a copy, for `webhooks list`.
CREATE TABLE webhook_endpoints (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    disabled_at TEXT,                  -- set by a 410 Gone; cleared by `openkoi webhooks enable`
    disabled_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Signing secrets openkoi generated (whsec_…), by what they sign for ('api.webhooks').
CREATE TABLE webhook_keys (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- One event for one endpoint. ``body`` is the exact JSON sent (and signed) on every attempt; ``id`` is sent as
-- the webhook-id header (msg_<id>), the same on every attempt. ``step`` indexes the retry schedule;
-- ``lease_until`` is how long a claim by a sender holds (a claim by a process that died runs out).
CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    endpoint TEXT NOT NULL,
    event_type TEXT NOT NULL,
    task_id TEXT,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'gone')),
    step INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until TEXT,
    last_status INTEGER,               -- the last attempt's HTTP status; NULL when none came back
    last_error TEXT,
    finished_at TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint, seq);

-- Every attempt, kept: when, how long, what came back (or what went wrong).
CREATE TABLE webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,          -- counted from 1 over the delivery's life (redeliveries continue it)
    started_at TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    status_code INTEGER,
    outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'failed', 'gone')),
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id, seq);
