"""Intake: inbound chat deliveries persisted in batches, each with the task it creates (if any).

Under a burst of commands, one transaction per command makes every acknowledgement wait for the
others' round trips to the SQLite thread. A batch costs the same handful of round trips whatever
its size, and stays all-or-nothing: a delivery key, its task, its session and its conversation are
written together or not at all.

The same transaction enforces the per-person and per-channel limits on unfinished tasks (read from
``chat_load``, which triggers keep in step with the tasks, so two commands racing each other cannot
both slip under a limit) and tells each new task how many queued tasks are ahead of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.models import Session, Task, TaskStatus, utcnow
from core.store.conversations import CONVERSATION_INSERT, DELIVERY_INSERT, Conversation, conversation_row
from core.store.db import Repository
from core.store.tasks import SESSION_INSERT, TASK_INSERT, session_row, task_row

_KEYS_PER_QUERY = 500  # well under SQLite's limit on bound parameters


@dataclass(frozen=True)
class NewTask:
    """Everything a command that starts a task creates."""

    session: Session
    task: Task
    conversation: Conversation


@dataclass(frozen=True)
class Intake:
    """One inbound delivery: the platform's key for it and, for a command that starts a task, that task."""

    platform: str
    key: str
    new: NewTask | None = None


class Outcome(StrEnum):
    CREATED = "created"  # the task is saved (with its delivery key)
    CLAIMED = "claimed"  # the delivery is recorded; it creates no task (help, status, …)
    DUPLICATE = "duplicate"  # the key was taken before: a retry or replay, or twice in one batch
    USER_LIMIT = "user_limit"  # refused: the person has their limit of unfinished tasks (key recorded)
    CHANNEL_LIMIT = "channel_limit"  # refused: the channel has its limit of unfinished tasks (key recorded)


@dataclass(frozen=True)
class Recorded:
    """What became of one delivery. ``count``: for CREATED, the queued tasks ahead of it; for a
    refusal, how many unfinished tasks the person or channel already has."""

    outcome: Outcome
    count: int = 0


@dataclass(frozen=True)
class QueueLimits:
    """Most unfinished (queued or running) chat tasks one person, or one channel, may have; None: no limit."""

    per_user: int | None = None
    per_channel: int | None = None


class IntakeRepository(Repository):
    async def record(
        self, items: Sequence[Intake], limits: QueueLimits | None = None, wait: float | None = None
    ) -> list[Recorded]:
        """Persist ``items`` in one transaction; one ``Recorded`` per item, in order.

        ``wait`` bounds how long to wait for the database's write lock (``StoreBusy`` after it,
        with nothing written). Any other error also leaves nothing of the batch behind."""
        if not items:
            return []
        return await self.db.run_batch(lambda conn: _record(conn, items, limits or QueueLimits()), wait)


def _record(conn: sqlite3.Connection, items: Sequence[Intake], limits: QueueLimits) -> list[Recorded]:
    """The whole batch on the SQLite thread: one hop instead of one per statement."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        results = _decide(conn, items, limits)
        now = utcnow().isoformat()
        kept = [(i, r) for i, r in zip(items, results, strict=True) if r.outcome is not Outcome.DUPLICATE]
        created = [i.new for i, r in kept if r.outcome is Outcome.CREATED and i.new is not None]
        deliveries = [
            (i.platform, i.key, i.new.task.id if r.outcome is Outcome.CREATED and i.new else None, now) for i, r in kept
        ]
        conn.executemany(DELIVERY_INSERT, deliveries)
        if created:
            conn.executemany(SESSION_INSERT, [session_row(n.session) for n in created])
            conn.executemany(TASK_INSERT, [task_row(n.task) for n in created])
            conn.executemany(CONVERSATION_INSERT, [conversation_row(n.conversation) for n in created])
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return results


def _decide(conn: sqlite3.Connection, items: Sequence[Intake], limits: QueueLimits) -> list[Recorded]:
    taken = _taken(conn, items)
    queued = _queued(conn)
    load = _Load(conn)
    results: list[Recorded] = []
    for item in items:
        key = (item.platform, item.key)
        if key in taken:
            results.append(Recorded(Outcome.DUPLICATE))
            continue
        taken.add(key)
        if item.new is None:
            results.append(Recorded(Outcome.CLAIMED))
            continue
        c = item.new.conversation
        user, channel = load.of(c.platform, "user", c.requester_id), load.of(c.platform, "channel", c.channel_id)
        if limits.per_user is not None and user >= limits.per_user:
            results.append(Recorded(Outcome.USER_LIMIT, user))
        elif limits.per_channel is not None and channel >= limits.per_channel:
            results.append(Recorded(Outcome.CHANNEL_LIMIT, channel))
        else:
            results.append(Recorded(Outcome.CREATED, queued))
            queued += 1
            load.add(c.platform, "user", c.requester_id)
            load.add(c.platform, "channel", c.channel_id)
    return results


def _queued(conn: sqlite3.Connection) -> int:
    """Queued tasks, all of them chat tasks in practice (a terminal task runs as soon as it is made)."""
    row = conn.execute("SELECT COUNT(*) FROM tasks WHERE status = ?", (TaskStatus.QUEUED.value,)).fetchone()
    return int(row[0])


class _Load:
    """Unfinished tasks per person and per channel: ``chat_load`` (kept by triggers, see migration
    0003) plus what this batch has added so far."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.counts: dict[tuple[str, str, str], int] = {}

    def of(self, platform: str, scope: str, key: str) -> int:
        k = (platform, scope, key)
        if k not in self.counts:
            row = self.conn.execute(
                "SELECT unfinished FROM chat_load WHERE platform = ? AND scope = ? AND key = ?", k
            ).fetchone()
            self.counts[k] = int(row[0]) if row else 0
        return self.counts[k]

    def add(self, platform: str, scope: str, key: str) -> None:
        self.counts[(platform, scope, key)] = self.of(platform, scope, key) + 1


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
