"""People's 👍/👎 on finished tasks: one vote per person per task (a second press changes it),
the opaque ids the buttons carry, and what a vote does to the learnings the task produced."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from core.models import new_id, utcnow
from core.store.db import Database, Repository
from core.store.rows import from_row


@dataclass(frozen=True)
class Tally:
    up: int = 0
    down: int = 0


@dataclass(frozen=True)
class FeedbackVote:
    """A person's vote on a task as it stands (a second press changed it rather than adding one)."""

    task_id: str
    voter: str  # "<platform>:<user id>", or "terminal:<os user>"
    vote: int  # +1 👍, -1 👎
    note: str | None
    created_at: datetime  # when first cast
    updated_at: datetime  # when last changed


# The memories a vote moves: those the task produced, and those it recalled and used.
_TASK_MEMORIES = "source_task_id = ? OR seq IN (SELECT memory_seq FROM memory_uses WHERE task_id = ?)"


async def adjust_learning_confidence(conn: aiosqlite.Connection, task_id: str, delta: float) -> int:
    """Move the confidence of the memories ``task_id`` produced or used by ``delta`` (kept within 0–1);
    returns how many changed. Runs inside the vote's transaction.

    With ``learning_confidences``, the one place feedback reaches the agent's memories.
    """
    cursor = await conn.execute(
        f"UPDATE memories SET confidence = MIN(1.0, MAX(0.0, confidence + ?)) WHERE {_TASK_MEMORIES}",
        (delta, task_id, task_id),
    )
    return cursor.rowcount


async def learning_confidences(db: Database, task_id: str) -> list[float]:
    """The confidence of each memory ``task_id`` produced or used, oldest first: what votes move."""
    rows = await db.fetchall(
        f"SELECT confidence FROM memories WHERE {_TASK_MEMORIES} ORDER BY created_at, seq", (task_id, task_id)
    )
    return [float(r[0]) for r in rows]


class FeedbackRepository(Repository):
    async def request_for(self, task_id: str) -> str:
        """The opaque id for the task's feedback buttons, created on first use (the same id ever after)."""
        await self.db.execute(
            "INSERT OR IGNORE INTO feedback_requests (id, task_id, created_at) VALUES (?,?,?)",
            (new_id(), task_id, utcnow().isoformat()),
        )
        row = await self.db.fetchone("SELECT id FROM feedback_requests WHERE task_id = ?", (task_id,))
        assert row is not None
        return str(row[0])

    async def task_of_request(self, request_id: str) -> str | None:
        row = await self.db.fetchone("SELECT task_id FROM feedback_requests WHERE id = ?", (request_id,))
        return str(row[0]) if row else None

    async def vote(self, task_id: str, voter: str, vote: int, note: str | None, confidence_step: float) -> int | None:
        """Record ``voter``'s vote (+1 or -1) on the task, replacing theirs if they had one; returns
        the previous vote (None if there was none).

        In the same transaction, the learnings the task produced move by ``confidence_step`` per
        point of change: a first 👍 raises them one step, turning it into a 👎 lowers them two, and
        pressing the same button again changes nothing. A note is kept unless a new one is given.
        """
        if vote not in (1, -1):
            raise ValueError(f"a vote is +1 or -1, not {vote!r}")
        now = utcnow().isoformat()
        async with self.db.transaction() as conn:
            cursor = await conn.execute("SELECT vote FROM feedback WHERE task_id = ? AND voter = ?", (task_id, voter))
            row = await cursor.fetchone()
            await cursor.close()
            previous = int(row[0]) if row else None
            await conn.execute(
                """INSERT INTO feedback (task_id, voter, vote, note, created_at, updated_at) VALUES (?,?,?,?,?,?)
                   ON CONFLICT (task_id, voter) DO UPDATE SET vote = excluded.vote,
                       note = COALESCE(excluded.note, feedback.note), updated_at = excluded.updated_at""",
                (task_id, voter, vote, note, now, now),
            )
            change = vote - (previous or 0)
            if change:
                await adjust_learning_confidence(conn, task_id, confidence_step * change)
        return previous

    async def tally(self, task_id: str) -> Tally:
        row = await self.db.fetchone(
            "SELECT COALESCE(SUM(vote = 1), 0), COALESCE(SUM(vote = -1), 0) FROM feedback WHERE task_id = ?",
            (task_id,),
        )
        return Tally(int(row[0]), int(row[1])) if row else Tally()

    async def learning_confidences(self, task_id: str) -> list[float]:
        return await learning_confidences(self.db, task_id)

    async def for_task(self, task_id: str) -> list[FeedbackVote]:
        """Every vote on the task, first cast first."""
        rows = await self.db.fetchall("SELECT * FROM feedback WHERE task_id = ? ORDER BY created_at", (task_id,))
        return [from_row(FeedbackVote, r) for r in rows]
