"""The chat task queue, which is the tasks table itself: what a free worker should run next.

Nothing is held in memory, so nothing can be refused for lack of room or lost in a crash: a task
saved as ``queued`` is run by the first free worker, in order, in this process or the next.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from core.models import TaskStatus
from core.store.db import Repository


@dataclass(frozen=True)
class Backlog:
    """The queued chat tasks of one platform: how many, and when the oldest was saved (ISO 8601, UTC)."""

    platform: str
    queued: int
    oldest_created_at: str


@dataclass(frozen=True)
class Runnable:
    """A task a worker may take: a queued one to run, or one whose override was approved and
    that has not continued yet (``continuation``)."""

    task_id: str
    continuation: bool


class QueueRepository(Repository):
    async def next(self, platforms: Collection[str], busy: Collection[str] = ()) -> Runnable | None:
        """The task to run next among chat tasks of ``platforms``, skipping the task ids in ``busy``
        (taken by a worker but maybe not marked running yet).

        Approved overrides come first (a person is waiting on their decision), then queued tasks,
        oldest first. Tasks of other platforms (or with no conversation, e.g. from the terminal)
        are never taken."""
        if not platforms:
            return None
        where_platform = ",".join("?" for _ in platforms)
        skip = ",".join("?" for _ in busy)
        not_busy = f"AND t.id NOT IN ({skip})" if busy else ""
        approved = await self.db.fetchone(
            f"""SELECT t.id FROM tasks t JOIN conversations c ON c.task_id = t.id
                WHERE t.status = ? AND c.platform IN ({where_platform}) {not_busy}
                  AND (SELECT f.status FROM confirmations f WHERE f.task_id = t.id
                       ORDER BY f.created_at DESC, f.rowid DESC LIMIT 1) = 'approved'
                ORDER BY t.created_at, t.rowid LIMIT 1""",
            (TaskStatus.AWAITING_CONFIRMATION.value, *platforms, *busy),
        )
        if approved is not None:
            return Runnable(str(approved[0]), continuation=True)
        queued = await self.db.fetchone(
            f"""SELECT t.id FROM tasks t JOIN conversations c ON c.task_id = t.id
                WHERE t.status = ? AND c.platform IN ({where_platform}) {not_busy}
                ORDER BY t.created_at, t.rowid LIMIT 1""",
            (TaskStatus.QUEUED.value, *platforms, *busy),
        )
        return None if queued is None else Runnable(str(queued[0]), continuation=False)

    async def waiting(self, platforms: Collection[str]) -> int:
        """How many chat tasks of ``platforms`` are queued."""
        if not platforms:
            return 0
        marks = ",".join("?" for _ in platforms)
        row = await self.db.fetchone(
            f"""SELECT COUNT(*) FROM tasks t JOIN conversations c ON c.task_id = t.id
                WHERE t.status = ? AND c.platform IN ({marks})""",
            (TaskStatus.QUEUED.value, *platforms),
        )
        return int(row[0]) if row else 0

    async def backlog(self) -> list[Backlog]:
        """Queued chat tasks per platform with the oldest one's creation time, platforms with none left out.
        One query over the tasks' (status, created_at) index: cheap enough for every metrics scrape."""
        rows = await self.db.fetchall(
            """SELECT c.platform, COUNT(*), MIN(t.created_at) FROM tasks t JOIN conversations c ON c.task_id = t.id
               WHERE t.status = ? GROUP BY c.platform ORDER BY c.platform""",
            (TaskStatus.QUEUED.value,),
        )
        return [Backlog(str(r[0]), int(r[1]), str(r[2])) for r in rows]
