"""SQLite persistence: WAL, versioned migrations, id prefixes, single-use confirmations."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import AmbiguousId, NotFound
from core.models import Session, Task, TaskStatus
from core.store import Store
from core.store.conversations import Conversation
from core.store.db import StoreBusy, bundled_migrations
from core.store.intake import Intake, NewTask, Outcome, QueueLimits, Recorded
from core.store.queue import Runnable
from core.store.text import storable


async def test_wal_and_migrations_are_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "data" / "openkoi.db"
    async with Store(path) as store:
        row = await store.db.fetchone("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
        assert await store.db.schema_version() == max(v for v, _ in bundled_migrations())
        session = await store.sessions.create(Session(title="ünïcode ✓"))
    async with Store(path) as reopened:  # reopening must not re-run (and fail on) the migrations
        assert (await reopened.sessions.get(session.id)).title == "ünïcode ✓"


async def test_a_gap_in_the_migration_numbers_is_accepted_and_filled_when_its_script_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Branches number migrations on their own: a database may meet 0005 before another branch's
    # 0004 is merged. The later script must still run when it arrives, not be skipped as "older".
    import core.store.db as db

    bundled = bundled_migrations()
    top = max(v for v, _ in bundled)
    later = (top + 2, "CREATE TABLE from_the_later_branch (x INTEGER);")
    gap = (top + 1, "CREATE TABLE from_the_earlier_branch (x INTEGER);")
    path = tmp_path / "db.sqlite"
    monkeypatch.setattr(db, "bundled_migrations", lambda: [*bundled, later])
    async with Store(path) as store:
        assert await store.db.schema_version() == top + 2
    monkeypatch.setattr(db, "bundled_migrations", lambda: [*bundled, gap, later])
    async with Store(path) as store:
        assert await store.db.schema_version() == top + 2
        assert await store.db.fetchall("SELECT * FROM from_the_earlier_branch") == []
        applied = [r[0] for r in await store.db.fetchall("SELECT version FROM schema_migrations ORDER BY version")]
        assert applied == [*(v for v, _ in bundled), top + 1, top + 2]
    async with Store(path) as store:  # and nothing runs twice
        assert await store.db.schema_version() == top + 2


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
        assert decided is not None and decided.status == "approved"
        assert await store.confirmations.expired() == []
        expiring = await store.confirmations.create(task.id, "guardian_block", "risky", "alice", timedelta(seconds=-1))
        assert [c.id for c in await store.confirmations.expired()] == [expiring]


async def test_deleting_a_session_deletes_its_tasks(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        session = await store.sessions.create(Session())
        await store.tasks.create(Task(session_id=session.id, description="x"))
        await store.sessions.delete(session.id)
        assert await store.tasks.recent() == []


def _intake(key: str, platform: str = "slack", user: str = "U1", channel: str = "C1") -> Intake:
    session = Session(kind=platform, title="t")
    task = Task(session_id=session.id, description=f"task {key}", source=platform, requester="u")
    return Intake(platform, key, NewTask(session, task, Conversation(task.id, platform, channel, user, "alice")))


def _outcomes(recorded: list[Recorded]) -> list[Outcome]:
    return [r.outcome for r in recorded]


CREATED, DUPLICATE = Outcome.CREATED, Outcome.DUPLICATE


async def test_intake_batches_are_all_or_nothing_and_dedupe_keys(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        first = await store.intake.record([_intake("a"), _intake("b"), _intake("a"), _intake("a", "telegram")])
        assert _outcomes(first) == [CREATED, CREATED, DUPLICATE, CREATED]  # a repeated key in one batch
        assert [r.count for r in first] == [0, 1, 0, 2], "each new task knows how many queued tasks are ahead"
        again = await store.intake.record([_intake("b"), _intake("c"), Intake("slack", "help-1")])
        assert _outcomes(again) == [DUPLICATE, CREATED, Outcome.CLAIMED]
        assert _outcomes(await store.intake.record([Intake("slack", "help-1")])) == [DUPLICATE]
        assert sum((await store.tasks.counts()).values()) == 4
        conversation = await store.conversations.get(str(await store.inbound.task_for("slack", "c")))
        assert conversation is not None and conversation.requester_name == "alice"
        # A batch that fails half-way leaves nothing behind, not even its delivery keys.
        broken = _intake("d")
        assert broken.new is not None
        clash = Intake("slack", "e", broken.new)  # the same task id twice
        with pytest.raises(sqlite3.IntegrityError):
            await store.intake.record([broken, clash])
        assert await store.inbound.task_for("slack", "d") is None
        assert sum((await store.tasks.counts()).values()) == 4
        assert _outcomes(await store.intake.record([_intake("d")])) == [CREATED]


async def test_intake_limits_unfinished_tasks_per_person_and_per_channel(tmp_path: Path) -> None:
    limits = QueueLimits(per_user=2, per_channel=3)
    async with Store(tmp_path / "db.sqlite") as store:
        batch = [_intake("a1", user="A"), _intake("a2", user="A"), _intake("a3", user="A"), _intake("b1", user="B")]
        recorded = await store.intake.record(batch, limits)
        assert _outcomes(recorded) == [CREATED, CREATED, Outcome.USER_LIMIT, CREATED]
        assert recorded[2].count == 2
        over = await store.intake.record([_intake("c1", user="C"), _intake("c2", user="C", channel="C2")], limits)
        assert _outcomes(over) == [Outcome.CHANNEL_LIMIT, CREATED] and over[0].count == 3
        # A refusal is an answered delivery: its redelivery is recognised, and no task was made for it.
        assert _outcomes(await store.intake.record([_intake("a3", user="A")], limits)) == [DUPLICATE]
        assert await store.inbound.task_for("slack", "a3") is None
        # Finished tasks no longer count, nor do tasks waiting for a person; a resumed one counts again.
        a1, a2 = [await store.inbound.task_for("slack", k) for k in ("a1", "a2")]
        assert a1 is not None and a2 is not None
        await store.tasks.set_status(a1, TaskStatus.DONE)
        assert _outcomes(await store.intake.record([_intake("a4", user="A")], limits)) == [CREATED]
        await store.tasks.set_status(a2, TaskStatus.RUNNING)
        await store.tasks.set_status(a2, TaskStatus.AWAITING_CONFIRMATION)
        assert _outcomes(await store.intake.record([_intake("a5", user="A")], limits)) == [CREATED]
        await store.tasks.set_status(a2, TaskStatus.RUNNING)
        assert _outcomes(await store.intake.record([_intake("a6", user="A")], limits)) == [Outcome.USER_LIMIT]
        assert await _unfinished(store, "user", "A") == 3  # a2, a4, a5
        # A deleted session takes its unfinished tasks out of the count.
        await store.sessions.delete((await store.tasks.get(a2)).session_id)
        assert await _unfinished(store, "user", "A") == 2
        assert await _unfinished(store, "channel", "C1") == 3  # a4, a5, b1


async def _unfinished(store: Store, scope: str, key: str) -> int:
    row = await store.db.fetchone(
        "SELECT unfinished FROM chat_load WHERE platform = 'slack' AND scope = ? AND key = ?", (scope, key)
    )
    return int(row[0]) if row else 0


async def test_unfinished_tasks_are_counted_when_an_older_database_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    old = sqlite3.connect(path, isolation_level=None)
    for version, sql in bundled_migrations():
        if version <= 2:
            old.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    for n, status in enumerate(["queued", "running", "done", "awaiting_confirmation"]):
        old.execute("INSERT INTO sessions (id, kind, created_at, updated_at) VALUES (?, 'slack', 'x', 'x')", (f"s{n}",))
        old.execute(
            "INSERT INTO tasks (id, session_id, description, status, source, options_json, created_at, updated_at)"
            " VALUES (?, ?, 'd', ?, 'slack', '{}', 'x', 'x')",
            (f"t{n}", f"s{n}", status),
        )
        old.execute(
            "INSERT INTO conversations (task_id, platform, channel_id, requester_id, requester_name, created_at)"
            " VALUES (?, 'slack', 'C1', 'U1', 'alice', 'x')",
            (f"t{n}",),
        )
    old.close()
    async with Store(path) as store:
        assert _outcomes(await store.intake.record([_intake("new", user="U1")], QueueLimits(per_user=2))) == [
            Outcome.USER_LIMIT
        ]
        assert _outcomes(await store.intake.record([_intake("new2", user="U1")], QueueLimits(per_user=3))) == [CREATED]


async def test_intake_waits_for_a_locked_database_no_longer_than_allowed(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    async with Store(path) as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing
        started = time.monotonic()
        with pytest.raises(StoreBusy):
            await store.intake.record([_intake("x")], wait=0.3)
        assert 0.25 <= time.monotonic() - started < 2.0
        other.execute("ROLLBACK")
        other.close()
        assert _outcomes(await store.intake.record([_intake("x")], wait=0.3)) == [CREATED]


async def test_old_delivery_keys_are_purged_and_recent_ones_kept(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        assert await store.inbound.claim("slack", "old")
        await store.db.execute("UPDATE inbound_deliveries SET received_at = '2000-01-01T00:00:00+00:00'")
        assert await store.inbound.claim("slack", "new")
        assert await store.inbound.purge(timedelta(hours=24)) == 1
        assert not await store.inbound.claim("slack", "new")  # still remembered
        assert await store.inbound.claim("slack", "old")  # forgotten after the TTL


def test_storable_text_replaces_only_lone_surrogates() -> None:
    assert storable("plain é ✓") == "plain é ✓"
    assert storable("a\ud800b") == "a\ufffdb"
    assert storable("\udfff\ud83d\ude00") == "\ufffd😀", "a pair becomes its character"
    storable("x\udc80").encode("utf-8")  # no UnicodeEncodeError: SQLite can take it


async def test_the_queue_offers_approved_overrides_first_then_the_oldest_queued_task(tmp_path: Path) -> None:
    async with Store(tmp_path / "db.sqlite") as store:
        recorded = [_intake(key) for key in ("old", "new", "waiting")]
        await store.intake.record(recorded)
        old, new, waiting = (r.new.task.id for r in recorded if r.new is not None)
        session = await store.sessions.create(Session())
        await store.tasks.create(Task(session_id=session.id, description="from the terminal"))  # no conversation
        assert await store.queue.next(["slack"]) == Runnable(old, continuation=False)
        assert await store.queue.next(["slack"], busy=[old]) == Runnable(new, continuation=False)
        assert await store.queue.next(["telegram"]) is None, "other platforms' tasks are not taken"
        await store.tasks.set_status(waiting, TaskStatus.AWAITING_CONFIRMATION)
        confirmation = await store.confirmations.create(waiting, "guardian_block", "risky", "alice", None)
        assert await store.queue.next(["slack"], busy=[old, new]) is None, "pending: nothing to run"
        await store.confirmations.decide(confirmation, "approved", "bob")
        assert await store.queue.next(["slack"]) == Runnable(waiting, continuation=True)
        assert await store.queue.waiting(["slack"]) == 2


async def test_a_read_never_sees_a_row_twice_while_another_task_writes(tmp_path: Path) -> None:
    # The connection is shared: a query read in two hops (execute, then fetch) let a status update
    # run in between, moving a row within the index being scanned, and counts() saw it twice.
    async with Store(tmp_path / "t.db") as store:
        session = Session(kind="test", title="t")
        await store.sessions.create(session)
        tasks = [Task(session_id=session.id, description=f"task {n}") for n in range(300)]
        for task in tasks:
            await store.tasks.create(task)

        async def start_them() -> None:
            for task in tasks:
                await store.tasks.set_status(task.id, TaskStatus.RUNNING)

        writer = asyncio.create_task(start_them())
        totals = []
        while not writer.done():
            totals.append(sum((await store.tasks.counts()).values()))
        await writer
        assert len(totals) > 10 and set(totals) == {300}, sorted(set(totals))
