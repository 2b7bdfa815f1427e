"""Pattern mining's reads and its vector cache: the usage events joined with what was asked and when,
and one embedding per distinct normalised task text (migration 0008)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from core.models import utcnow
from core.store.db import Repository


@dataclass(frozen=True)
class AskedTask:
    """One finished task as mining sees it: its text, when it was asked (ISO-8601), who and where."""

    task_id: str
    text: str
    created_at: str
    category: str | None
    platform: str
    channel: str | None
    requester: str | None


@dataclass(frozen=True)
class TaskBrief:
    task_id: str
    text: str
    created_at: str


def read_asked_tasks(conn: sqlite3.Connection, since: str | None) -> list[AskedTask]:
    """Every task with a usage event (asked at or after ``since``, ISO-8601), oldest first.
    Synchronous: for the mining process, which reads with its own connection."""
    where, params = ("WHERE t.created_at >= ?", (since,)) if since is not None else ("", ())
    sql = f"""SELECT e.task_id, t.description, t.created_at, e.category, e.platform, e.channel, e.requester
              FROM usage_events e JOIN tasks t ON t.id = e.task_id {where}
              ORDER BY t.created_at, e.task_id"""
    return [AskedTask(*row) for row in conn.execute(sql, params).fetchall()]


def read_vectors(conn: sqlite3.Connection, embedder: str, hashes: Iterable[str]) -> dict[str, bytes]:
    """The cached vectors (raw float32 bytes) for those of ``hashes`` that have one. Synchronous."""
    wanted = list(dict.fromkeys(hashes))
    found: dict[str, bytes] = {}
    for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        cursor = conn.execute(
            f"SELECT text_hash, vector FROM task_text_vectors WHERE embedder = ? AND text_hash IN ({marks})",
            (embedder, *chunk),
        )
        found.update((str(h), bytes(v)) for h, v in cursor.fetchall())
    return found


class PatternRepository(Repository):
    async def briefs(self, task_ids: Iterable[str]) -> list[TaskBrief]:
        """The text and time of each task in ``task_ids`` (those that still exist), oldest first."""
        ids = list(dict.fromkeys(task_ids))
        found: list[TaskBrief] = []
        for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self.db.fetchall(
                f"SELECT id, description, created_at FROM tasks WHERE id IN ({marks})", tuple(chunk)
            )
            found += [TaskBrief(r["id"], r["description"], r["created_at"]) for r in rows]
        return sorted(found, key=lambda b: (b.created_at, b.task_id))

    async def save_vectors(self, embedder: str, vectors: list[tuple[str, bytes]]) -> None:
        now = utcnow().isoformat()
        await self.db.executemany(
            """INSERT INTO task_text_vectors (text_hash, embedder, vector, created_at) VALUES (?,?,?,?)
               ON CONFLICT (text_hash) DO UPDATE SET vector = excluded.vector, created_at = excluded.created_at""",
            [(text_hash, embedder, vector, now) for text_hash, vector in vectors],
        )
