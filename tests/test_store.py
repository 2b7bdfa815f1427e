"""SQLite persistence: WAL, versioned migrations, id prefixes, single-use confirmations."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import AmbiguousId, NotFound
from core.models import Session, Task
from core.store import Store
from core.store.conversations import Conversation
from core.store.db import _migrations
from core.store.intake import Intake


async def test_wal_and_migrations_are_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "openkoi.db"
    async with Store(path) as store:
        row = await store.db.fetchone("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
        assert await store.db.schema_version() == max(v for v, _ in _migrations())
        session = await store.sessions.create(Session(title="ünïcode ✓"))
    async with Store(path) as reopened:  # reopening must not re-run (and fail on) the migrations
        assert (await reopened.sessions.get(session.id)).title == "ünïcode ✓"


async def test_id_prefixes(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        session = await store.sessions.create(Session())
        for task_id in ("abc1000000000000", "abc2000000000000", "def0000000000000"):
            await store.tasks.create(Task(id=task_id, session_id=session.id, description="x"))
        assert await store.db.resolve_id("tasks", "def") == "def0000000000000"
        assert await store.db.resolve_id("tasks", "ABC1") == "abc1000000000000"
        with pytest.raises(AmbiguousId, match="ambiguous"):
            await store.db.resolve_id("tasks", "abc")
        for bad in ("zzz", "", "a%"):
            with pytest.raises(NotFound):
                await store.db.resolve_id("tasks", bad)


async def test_a_confirmation_is_decided_once_even_under_concurrency(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        session = await store.sessions.create(Session())
        task = await store.tasks.create(Task(session_id=session.id, description="x"))
        cid = await store.confirmations.create(task.id, "guardian_block", "risky", "alice", timedelta(minutes=30))
        results = await asyncio.gather(*(store.confirmations.decide(cid, "approved", f"user{n}") for n in range(10)))
        assert results.count(True) == 1
        decided = await store.confirmations.get(cid)
        assert decided is not None and decided["status"] == "approved"
        assert await store.confirmations.expired() == []
        expiring = await store.confirmations.create(task.id, "guardian_block", "risky", "alice", timedelta(seconds=-1))
        assert [c["id"] for c in await store.confirmations.expired()] == [expiring]


async def test_deleting_a_session_deletes_its_tasks(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        session = await store.sessions.create(Session())
        await store.tasks.create(Task(session_id=session.id, description="x"))
        await store.sessions.delete(session.id)
        assert await store.tasks.recent() == []


def _intake(key: str, platform: str = "slack") -> Intake:
    session = Session(kind=platform, title="t")
    task = Task(session_id=session.id, description=f"task {key}", source=platform, requester="u")
    return Intake(platform, key, session, task, Conversation(task.id, platform, "C1", "U1", "alice"))


async def test_intake_batches_are_all_or_nothing_and_dedupe_keys(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        first = await store.intake.record([_intake("a"), _intake("b"), _intake("a"), _intake("a", "telegram")])
        assert first == [True, True, False, True]  # a repeated key in one batch is a duplicate
        again = await store.intake.record([_intake("b"), _intake("c")])
        assert again == [False, True]
        assert sum((await store.tasks.counts()).values()) == 4
        conversation = await store.conversations.get(str(await store.inbound.task_for("slack", "c")))
        assert conversation is not None and conversation.requester_name == "alice"
        # A batch that fails half-way leaves nothing behind, not even its delivery keys.
        broken = _intake("d")
        clash = Intake("slack", "e", broken.session, broken.task, broken.conversation)  # same task id twice
        with pytest.raises(sqlite3.IntegrityError):
            await store.intake.record([broken, clash])
        assert await store.inbound.task_for("slack", "d") is None
        assert sum((await store.tasks.counts()).values()) == 4
        assert await store.intake.record([_intake("d")]) == [True]


async def test_old_delivery_keys_are_purged_and_recent_ones_kept(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        assert await store.inbound.claim("slack", "old")
        await store.db.execute("UPDATE inbound_deliveries SET received_at = '2000-01-01T00:00:00+00:00'")
        assert await store.inbound.claim("slack", "new")
        assert await store.inbound.purge(timedelta(hours=24)) == 1
        assert not await store.inbound.claim("slack", "new")  # still remembered
        assert await store.inbound.claim("slack", "old")  # forgotten after the TTL
