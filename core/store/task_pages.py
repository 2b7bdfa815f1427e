"""Tasks a page at a time, newest first, for clients that list them (the HTTP API).

Pages are cut by a keyset (the last task's creation time and id), not an offset: a page costs the same
at the ten-thousandth task as at the first, and tasks created while a client pages never shift the
pages it has not read yet.
"""

from __future__ import annotations

from typing import Any

from core.models import Task, TaskStatus
from core.store.db import Repository
from core.store.tasks import _task_from_row


class TaskPageRepository(Repository):
    async def page(
        self, *, status: TaskStatus | None = None, limit: int = 50, before: tuple[str, str] | None = None
    ) -> list[Task]:
        """Up to ``limit`` tasks (of ``status``, if given) created before the task ``before`` names as
        (created_at, id) in ISO-8601 text and hex, newest first."""
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            where.append("status = ?")
            params.append(status.value)
        if before is not None:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params += [before[0], before[0], before[1]]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = await self.db.fetchall(
            f"SELECT * FROM tasks {clause} ORDER BY created_at DESC, id DESC LIMIT ?", (*params, limit)
        )
        return [_task_from_row(row) for row in rows]
