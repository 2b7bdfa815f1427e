"""What the agent knows of its world, read from existing rows (``core.store.world``): per domain, per person,
and the workarounds learnt per tool."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.acting.action import Effect
from core.gate.trust import TrustLevel
from core.models import Scope
from core.store import Store
from core.store.world import tool_words
from tests.usage_log import Asked, insert

CATEGORIES = {"sql-safety": "database", "code-review": "code"}
SLACK = Scope(platform="slack", channel="C0")
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(tmp_path / "openkoi.db") as opened:
        with sqlite3.connect(tmp_path / "openkoi.db") as conn:
            insert(
                conn,
                [
                    Asked("t-sql-1", "check the migration", AT, "slack:UALICE", category="sql-safety"),
                    Asked("t-sql-2", "review the index", AT, "slack:UALICE", category="sql-safety"),
                    Asked("t-code", "review the PR", AT, "slack:UBOB", category="code-review"),
                    Asked("t-term", "summarise the log", AT, "ada", platform="terminal", channel=None),
                ],
            )
            conn.execute("UPDATE tasks SET requester = 'alice (slack:UALICE)' WHERE id = 't-sql-1'")
        yield opened


async def test_each_domain_counts_its_tasks_and_what_they_taught(store: Store) -> None:
    await store.memories.add("heuristic", "Check for a lock before an index build", 0.9, SLACK, "t-sql-1")
    await store.memories.add("anti_pattern", "Never ALTER a hot table at noon", 0.7, SLACK, "t-sql-2")
    await store.memories.add("fact", "The PR template lives in .github", 0.8, SLACK, "t-code")
    await store.memories.add("fact", "Logs rotate daily", 0.8, SLACK, "t-term")  # no category: no domain
    await store.actions.request(
        task_id="t-sql-1", tool="mcp__db__query", fingerprint="f1", preview="{}", reason="", effect=Effect.WRITE,
        source="hints", rules=(), domain="database", level=TrustLevel.ASK, requested_by=None,
        ttl=timedelta(minutes=5),
    )  # fmt: skip

    found = {facts.domain: facts for facts in await store.world.domains(CATEGORIES, ["database", "code", "deploy"])}

    database = found["database"]
    assert (database.tasks, database.done) == (2, 2) and database.mean_score == pytest.approx(0.9)
    assert database.memories == {"anti_pattern": 1, "heuristic": 1}
    assert [m.text for m in database.top] == [
        "Check for a lock before an index build",
        "Never ALTER a hot table at noon",
    ]
    assert database.approvals == {"pending": 1}
    assert (found["code"].tasks, found["code"].memories) == (1, {"fact": 1})
    assert (found["deploy"].tasks, found["deploy"].memories, found["deploy"].top) == (0, {}, [])
    assert list(found) == ["database", "code", "deploy"], "in the order the domains are known"


async def test_each_person_has_their_tasks_ratings_and_preferences(store: Store) -> None:
    await store.memories.add("preference", "Alice wants SQL in fenced blocks", 0.8, SLACK, "t-sql-1")
    await store.memories.add("preference", "Bob prefers short answers", 0.6, SLACK, "t-code")
    await store.memories.add("heuristic", "Not a preference", 0.9, SLACK, "t-code")
    await store.feedback.vote("t-code", "slack:UALICE", -1, "too long", 0.1)
    await store.feedback.vote("t-sql-1", "slack:UBOB", 1, None, 0.1)
    await store.feedback.vote("t-term", "terminal:ada", 1, None, 0.1)

    people = {facts.person: facts for facts in await store.world.people()}

    alice = people["slack:UALICE"]
    assert (alice.name, alice.tasks, alice.up, alice.down, alice.notes) == ("alice", 2, 0, 1, ["too long"])
    assert [m.text for m in alice.preferences] == ["Alice wants SQL in fenced blocks"]
    bob = people["slack:UBOB"]
    assert (bob.name, bob.tasks, bob.up, bob.down) == (None, 1, 1, 0)
    assert [m.text for m in bob.preferences] == ["Bob prefers short answers"]
    ada = people["terminal:ada"]
    assert (ada.tasks, ada.up) == (1, 1), "a terminal user's tasks and votes are one person"
    assert next(iter(people)) == "slack:UALICE", "the most active first"


async def test_a_workaround_is_a_memory_from_a_task_that_called_the_tool_and_names_it(store: Store) -> None:
    for task_id in ("t-sql-1", "t-code"):
        await store.tool_calls.record(
            task_id=task_id, tool="mcp__git__git_log", effect=Effect.READ, decision="run", outcome="error",
            fingerprint="f", preview="{}", duration_ms=3.0, error="not a git repository",
        )  # fmt: skip
    await store.memories.add("heuristic", "git_log needs repo_path to be absolute", 0.9, SLACK, "t-sql-1")
    await store.memories.add("anti_pattern", "Do not run git log on the bare mirror", 0.5, SLACK, "t-code")
    await store.memories.add("heuristic", "Unrelated advice about tables", 0.9, SLACK, "t-sql-1")
    await store.memories.add("heuristic", "git_log from a task that never called it", 0.9, SLACK, "t-sql-2")
    await store.memories.add("preference", "Alice likes git_log output short", 0.9, SLACK, "t-code")

    found = await store.world.workarounds(["mcp__git__git_log", "restart-worker"])

    assert [m.text for m in found["mcp__git__git_log"]] == [
        "git_log needs repo_path to be absolute",
        "Do not run git log on the bare mirror",
    ]
    assert found["restart-worker"] == []


def test_a_tool_is_named_by_its_full_name_or_its_own_part() -> None:
    assert tool_words("mcp__git__git_log") == ("mcp__git__git_log", "git_log", "git log")
    assert tool_words("restart-worker") == ("restart-worker", "restart worker")
