-- Reflection digests posted into chat, and the proposal cards they carry (issue 10).
--
-- `digest_posts` is claimed (one INSERT) before anything is posted in a channel, so a scheduled
-- digest goes out at most once per (period, platform, channel), even across a crash mid-post: a row
-- left 'claimed' is never posted again. Only a 'failed' row with no message out may be claimed again.
CREATE TABLE digest_posts (
    period_key TEXT NOT NULL,            -- Period.key, e.g. "day:2026-11-30", "week:2026-11-23"
    platform TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('claimed', 'posted', 'failed')),
    message_ids_json TEXT NOT NULL DEFAULT '[]',  -- every message posted so far, in order
    error TEXT,
    claimed_at TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (period_key, platform, channel_id)
);

-- One skill proposal shown in one chat message. Its id is what the Approve/Dismiss buttons carry,
-- so a press says where it happened (to edit that message) and when the buttons expire.
CREATE TABLE proposal_cards (
    id TEXT PRIMARY KEY,
    proposal_id TEXT NOT NULL REFERENCES skill_proposals(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT,                     -- set once the message is posted
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX proposal_cards_proposal ON proposal_cards(proposal_id);
