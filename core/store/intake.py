"""Intake: new chat tasks persisted in batches, each with the delivery key that brought it.

Under a burst of commands, one transaction per command makes every acknowledgement wait for the
others' round trips to the SQLite thread. A batch costs the same handful of round trips whatever
its size, and stays all-or-nothing: a delivery key, its task, its session and its conversation are
written together or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from core.models import Session, Task, utcnow
from core.store.conversations import CONVERSATION_INSERT, DELIVERY_INSERT, Conversation, conversation_row
from core.store.db import Database
from core.store.tasks import SESSION_INSERT, TASK_INSERT, session_row, task_row

_KEYS_PER_QUERY = 500  # well under SQLite's limit on bound parameters


@dataclass(frozen=True)
class Intake:
    """Everything one inbound command creates."""

    platform: str
    key: str
    session: Session
    task: Task
    conversation: Conversation


class IntakeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, items: Sequence[Intake]) -> list[bool]:
        """Persist ``items`` in one transaction. Per item: True if created, False if its delivery key
        was taken before (a retry or replay) or earlier in the same batch."""
        if not items:
            return []
        return await self.db.run_batch(lambda conn: _record(conn, items))


def _record(conn: sqlite3.Connection, items: Sequence[Intake]) -> list[bool]:
    """The whole batch on the SQLite thread: one hop instead of one per statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        taken = _taken(conn, items)
        created: list[bool] = []
        fresh: list[Intake] = []
        for item in items:
            key = (item.platform, item.key)
            created.append(key not in taken)
            if key not in taken:
                taken.add(key)
                fresh.append(item)
        if fresh:
            now = utcnow().isoformat()
            conn.executemany(DELIVERY_INSERT, [(i.platform, i.key, i.task.id, now) for i in fresh])
            conn.executemany(SESSION_INSERT, [session_row(i.session) for i in fresh])
            conn.executemany(TASK_INSERT, [task_row(i.task) for i in fresh])
            conn.executemany(CONVERSATION_INSERT, [conversation_row(i.conversation) for i in fresh])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return created


def _taken(conn: sqlite3.Connection, items: Sequence[Intake]) -> set[tuple[str, str]]:
    taken: set[tuple[str, str]] = set()
    by_platform: dict[str, list[str]] = {}
    for item in items:
        by_platform.setdefault(item.platform, []).append(item.key)
    for platform, keys in by_platform.items():
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            marks = ",".join("?" for _ in chunk)
            rows = conn.execute(
                f"SELECT key FROM inbound_deliveries WHERE platform = ? AND key IN ({marks})", (platform, *chunk)
            ).fetchall()
            taken.update((platform, str(r[0])) for r in rows)
    return taken
