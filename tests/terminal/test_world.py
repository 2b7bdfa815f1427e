"""``openkoi world tools|domains|human|map`` on a database holding what tasks, votes, memories and tool calls
left behind (written through the store, as the engine would)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from core.acting.action import Effect
from core.models import Scope
from core.store import Store
from tests.fakes.model_server import FakeModelServer
from tests.terminal import test_e2e as e2e
from tests.usage_log import Asked, insert

server = e2e.server
env = e2e.env
openkoi = e2e.openkoi

SLACK = Scope(platform="slack", channel="C0")
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


async def _seed(db: Path) -> None:
    async with Store(db) as store:
        with sqlite3.connect(db) as conn:
            insert(
                conn,
                [
                    Asked("t-sql", "check the migration", AT, "slack:UALICE", category="sql-safety"),
                    Asked("t-code", "review the PR", AT, "slack:UBOB", category="code-review"),
                ],
            )
            conn.execute("UPDATE tasks SET requester = 'alice (slack:UALICE)' WHERE id = 't-sql'")
        await store.memories.add("heuristic", "Take a lock before an index build", 0.9, SLACK, "t-sql")
        await store.memories.add("preference", "Alice wants SQL in fenced blocks", 0.8, SLACK, "t-sql")
        await store.memories.add("heuristic", "git_log needs an absolute repo_path", 0.7, SLACK, "t-code")
        await store.feedback.vote("t-code", "slack:UALICE", -1, "too long", 0.1)
        for outcome in ("ok", "error"):
            await store.tool_calls.record(
                task_id="t-code", tool="mcp__git__git_log", effect=Effect.READ, decision="run", outcome=outcome,
                fingerprint="f", preview="{}", duration_ms=4.0, error="not a git repository" if outcome == "error" else None,
            )  # fmt: skip


def test_world_shows_tools_domains_people_and_a_map(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    db = Path(env["OPENKOI_HOME"]) / "data" / "openkoi.db"
    db.parent.mkdir(parents=True)
    asyncio.run(_seed(db))

    tools = openkoi(env, "world", "tools", "mcp__git__git_log", cwd=tmp_path)
    assert tools.returncode == 0, tools.stderr
    assert tools.stdout.startswith("mcp__git__git_log: 2 calls, 50% ok"), tools.stdout
    assert "error: not a git repository" in tools.stdout
    # learnt at 0.70 in t-code, whose result Alice rated 👎: the vote lowered it
    assert "  workaround heuristic: git_log needs an absolute repo_path (0.60)" in tools.stdout

    domains = openkoi(env, "world", "domains", cwd=tmp_path).stdout.splitlines()
    database = domains.index(next(line for line in domains if line.startswith("database:")))
    assert domains[database] == "database: trust ask; 1 tasks (1 done, mean score 0.90); 1 heuristic, 1 preference", (
        domains
    )
    assert domains[database + 1] == "  heuristic: Take a lock before an index build (0.90)"
    assert any(line.startswith("code: trust ask; 1 tasks") for line in domains), domains

    human = openkoi(env, "world", "human", "alice", cwd=tmp_path).stdout.splitlines()
    assert human == [
        "alice (slack:UALICE): 1 tasks asked, rated 👍 0 / 👎 1, 1 preferences",
        '  said: "too long"',
        "  preference: Alice wants SQL in fenced blocks (0.80)",
    ], human
    nobody = openkoi(env, "world", "human", "zed", cwd=tmp_path)
    assert nobody.returncode == 0 and nobody.stdout == "nobody matching 'zed' asked or rated anything\n"

    shown = openkoi(env, "world", "map", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "Tools: 1 used, 2 calls, 50% ok, 0 refused (openkoi world tools)", lines
    assert "People: 2 (openkoi world human)" in lines
    assert "Memories: 2 heuristic, 1 preference (openkoi memory list)" in lines
    assert any(line.startswith("  nothing yet in: ") and "deploy" in line for line in lines), lines
    assert server.requests == [], "no model is asked"
