"""Learnings: what the agent took away from tasks, deduplicated and searchable by text."""

from __future__ import annotations

import re
from typing import Any

from core.models import new_id, utcnow
from core.store.db import Database

DEDUP_JACCARD = 0.8  # reinforce an existing learning instead of storing a near-duplicate

_WORD = re.compile(r"\w+", re.UNICODE)


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def jaccard(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / len(wa | wb)


class LearningRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, kind: str, text: str, confidence: float, task_id: str | None) -> tuple[str, bool]:
        """Store a learning; returns (id, reinforced) where reinforced means a near-duplicate existed."""
        candidates = await self.search(text, limit=20)
        for existing in candidates:
            if jaccard(existing["text"], text) > DEDUP_JACCARD:
                await self.db.execute(
                    """UPDATE learnings SET reinforcements = reinforcements + 1, last_used_at = ?,
                              confidence = MIN(1.0, MAX(confidence, ?)) WHERE id = ?""",
                    (utcnow().isoformat(), confidence, existing["id"]),
                )
                return str(existing["id"]), True
        learning_id = new_id()
        now = utcnow().isoformat()
        await self.db.execute(
            """INSERT INTO learnings (id, kind, text, confidence, source_task_id, created_at, last_used_at)
               VALUES (?,?,?,?,?,?,?)""",
            (learning_id, kind, text, confidence, task_id, now, now),
        )
        return learning_id, False

    async def search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        """Learnings relevant to ``query``, best first (BM25 weighted by confidence)."""
        terms = sorted(words(query))
        if not terms:
            return []
        # Quote every term so user text can never be read as FTS5 query syntax.
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        rows = await self.db.fetchall(
            """SELECT l.*, bm25(learnings_fts) AS rank FROM learnings_fts
               JOIN learnings l ON l.rowid = learnings_fts.rowid
               WHERE learnings_fts MATCH ? ORDER BY bm25(learnings_fts) * l.confidence LIMIT ?""",
            (match, limit),
        )
        return [dict(r) for r in rows]

    async def touch(self, ids: list[str]) -> None:
        if ids:
            marks = ",".join("?" * len(ids))
            await self.db.execute(
                f"UPDATE learnings SET last_used_at = ? WHERE id IN ({marks})", (utcnow().isoformat(), *ids)
            )

    async def for_task(self, task_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall(
            "SELECT * FROM learnings WHERE source_task_id = ? ORDER BY created_at", (task_id,)
        )
        return [dict(r) for r in rows]

    async def count(self) -> int:
        row = await self.db.fetchone("SELECT COUNT(*) FROM learnings")
        return int(row[0]) if row else 0
