"""Task transcripts: what the PEER loop wrote on the way to a result (every iteration's full output
and evaluation), and their compaction once a task is old. The task's final output, its scores,
decisions and findings are kept; only the intermediate drafts and evaluations are dropped.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime

from core.models import Task, TaskStatus, utcnow
from core.store.cycles import CycleRecord, CycleRepository, StoredFinding
from core.store.db import Database, Repository
from core.store.tasks import TaskRepository

FINISHED = TaskStatus.values(TaskStatus.FINISHED)


@dataclass(frozen=True)
class Transcript:
    task: Task
    cycles: list[CycleRecord] = field(default_factory=list)
    findings: list[StoredFinding] = field(default_factory=list)


class TranscriptRepository(Repository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.tasks = TaskRepository(db)
        self.cycles = CycleRepository(db)

    async def compactable(self, finished_before: datetime, limit: int) -> list[str]:
        """Finished tasks last updated before ``finished_before`` whose transcript is still whole, oldest first."""
        rows = await self.db.fetchall(
            f"""SELECT t.id FROM tasks t
                WHERE t.status IN ({",".join("?" * len(FINISHED))}) AND t.updated_at < ? AND t.compacted_at IS NULL
                  AND EXISTS (SELECT 1 FROM iteration_cycles c WHERE c.task_id = t.id)
                ORDER BY t.updated_at LIMIT ?""",
            (*FINISHED, finished_before.isoformat(), limit),
        )
        return [str(r[0]) for r in rows]

    async def load(self, task_id: str) -> Transcript:
        task = await self.tasks.get(task_id)
        return Transcript(task, await self.cycles.for_task(task_id), await self.cycles.findings(task_id))

    async def compact(self, task_id: str) -> int:
        """Drop the intermediate drafts and evaluations of a task and mark it compacted; returns the
        characters freed. A task already compacted is left alone (0)."""

        def work(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                marked = conn.execute(
                    "UPDATE tasks SET compacted_at = ? WHERE id = ? AND compacted_at IS NULL",
                    (utcnow().isoformat(), task_id),
                ).rowcount
                freed = 0
                if marked:
                    row = conn.execute(
                        """SELECT COALESCE(SUM(length(output) + COALESCE(length(evaluation_json), 0)), 0)
                           FROM iteration_cycles WHERE task_id = ?""",
                        (task_id,),
                    ).fetchone()
                    freed = int(row[0])
                    conn.execute(
                        "UPDATE iteration_cycles SET output = '', evaluation_json = NULL WHERE task_id = ?", (task_id,)
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return freed

        return await self.db.run_batch(work)

    async def compacted_at(self, task_id: str) -> datetime | None:
        row = await self.db.fetchone("SELECT compacted_at FROM tasks WHERE id = ?", (task_id,))
        return datetime.fromisoformat(row[0]) if row and row[0] else None
