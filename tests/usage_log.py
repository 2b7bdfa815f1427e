"""Writing a synthetic usage log (tasks and their usage events) straight into SQLite, for the
pattern-mining tests and benchmark: what the engine would have recorded, without running tasks."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Asked:
    task_id: str
    text: str
    at: datetime  # aware; stored in UTC as the engine does
    requester: str | None = "slack:U0"
    channel: str | None = "C0"
    platform: str = "slack"
    category: str | None = None


def insert(conn: sqlite3.Connection, asked: Iterable[Asked]) -> None:
    """Insert the tasks and one usage event each, in one transaction."""
    rows = list(asked)
    with conn:
        conn.execute(
            "INSERT OR IGNORE INTO sessions (id, kind, title, status, created_at, updated_at)"
            " VALUES ('mining', 'chat', '', 'active', '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00')"
        )
        conn.executemany(
            """INSERT INTO tasks (id, session_id, description, status, source, requester, options_json, scope_json,
                                  category, score, iterations, created_at, updated_at)
               VALUES (?, 'mining', ?, 'done', ?, ?, '{}', '{}', ?, 0.9, 1, ?, ?)""",
            (
                (a.task_id, a.text, a.platform, a.requester, a.category, a.at.astimezone(UTC).isoformat(),
                 a.at.astimezone(UTC).isoformat())
                for a in rows
            ),
        )  # fmt: skip
        conn.executemany(
            """INSERT INTO usage_events (task_id, category, skills_json, platform, channel, requester, hour, weekday,
                                         iterations, score, cost_usd, outcome, finished_at)
               VALUES (?, ?, '[]', ?, ?, ?, ?, ?, 1, 0.9, 0.01, 'done', ?)""",
            (
                (a.task_id, a.category, a.platform, a.channel, a.requester, a.at.astimezone(UTC).hour,
                 a.at.astimezone(UTC).weekday(), a.at.astimezone(UTC).isoformat())
                for a in rows
            ),
        )  # fmt: skip
