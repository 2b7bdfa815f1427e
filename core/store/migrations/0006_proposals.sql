-- Skill proposals drafted from mined usage patterns (issue 10).
--
-- A proposal is decided once: `status` leaves 'pending' in a single guarded UPDATE, so of two
-- concurrent presses (or a press and `openkoi learn approve`) only one wins. `pattern_key` is the
-- pattern's stable identity: a dismissed pattern is proposed again only when its evidence doubles.
CREATE TABLE skill_proposals (
    id TEXT PRIMARY KEY,             -- opaque; what Approve/Dismiss buttons carry
    pattern_key TEXT NOT NULL,       -- e.g. "recurring:<centroid signature>", "sequence:deploy>announce"
    kind TEXT NOT NULL CHECK (kind IN ('recurring', 'time', 'sequence')),
    name TEXT NOT NULL,              -- the skill's name, a slug
    description TEXT NOT NULL,
    skill_md TEXT NOT NULL,          -- the whole SKILL.md installed on approval
    drafted_by TEXT NOT NULL,        -- the model that drafted it, or 'template'
    support INTEGER NOT NULL,        -- how many tasks support the pattern
    confidence REAL NOT NULL,        -- 0-1
    evidence_json TEXT NOT NULL,     -- the ids of the tasks it came from
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'dismissed')),
    decided_by TEXT,                 -- "<platform>:<user id>" or "terminal:<os user>"
    decided_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX skill_proposals_status ON skill_proposals(status, created_at);
CREATE INDEX skill_proposals_pattern ON skill_proposals(pattern_key, created_at);
