"""Each task's engine events as they happened, for clients that follow a task and may reconnect.

An event is stored once, under an id that only grows (across all tasks), so "everything after id N" is
the whole of what a client missed. What is stored is already small and redacted (the API's event log
decides that); this module only keeps it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from core.models import utcnow
from core.store.db import Repository
from core.store.rows import from_row

# What one read returns at most: a client that is further behind reads again.
PAGE = 500


@dataclass(frozen=True)
class StoredEvent:
    id: int
    task_id: str
    type: str
    data_json: str  # the event's fields as a JSON object
    created_at: str


class TaskEventRepository(Repository):
    async def append(self, task_id: str, type_: str, data_json: str) -> int | None:
        """Store one event; its id, or None when the task does not exist (an event of no stored task)."""
        try:
            async with self.db.write_lock:
                cursor = await self.db.conn.execute(
                    "INSERT INTO task_events (task_id, type, data_json, created_at) VALUES (?,?,?,?)",
                    (task_id, type_, data_json, utcnow().isoformat()),
                )
                return cursor.lastrowid
        except sqlite3.IntegrityError:  # the foreign key: no such task
            return None

    async def after(self, task_id: str, after_id: int = 0, limit: int = PAGE) -> list[StoredEvent]:
        """The task's events with an id above ``after_id``, oldest first, at most ``limit``."""
        rows = await self.db.fetchall(
            "SELECT * FROM task_events WHERE task_id = ? AND id > ? ORDER BY id LIMIT ?", (task_id, after_id, limit)
        )
        return [from_row(StoredEvent, row) for row in rows]
