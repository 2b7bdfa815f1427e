"""A realistic task history in bulk, for benchmarks of what reads it (digests, pattern mining).

``seed_history`` writes ``events`` finished tasks spread over the 8 weeks before ``now``, each as
the engine leaves it: the task row, 1–3 scored iteration cycles, a deliberation with five votes
(some dissenting, some blocks with a confirmation), three model calls, the usage event, a skill for
most, 👍/👎 for some (with notes), and a learning for one in ten. Deterministic for a given ``seed``;
everything goes in one transaction with executemany, so 100,000 tasks take seconds, not minutes.

    python -m tests.benchmarks.history [--events 100000] [--tiny]   # seeds a temp database, times build_digest

As a benchmark it prints one JSON line: the seeding time and the best and worst of 5 builds of each
digest. ``--tiny`` (1,000 tasks) runs the same scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.store.db import Database
from tests.benchmarks._common import check, emit, note

WEEKS = 8
EVENTS = 100_000
TINY_EVENTS = 1_000
BUILDS = 5  # of each digest; the best and the worst are reported
PLATFORMS = [("slack", "C0ENG"), ("slack", "C0OPS"), ("discord", "D42"), ("telegram", "T7"), ("terminal", None)]
CATEGORIES = ["code-review", "release-notes", "incident", "docs", "sql", "refactor"]
SKILLS = ["self-iterate", "release-notes", "code-review", "incident-summary", "sql-helper"]
MODELS = [("anthropic/claude-sonnet", 0.004), ("openai/gpt-4o-mini", 0.0004), ("ollama/llama3", 0.0)]
AGENCIES = ["guardian", "economist", "empath", "scholar", "strategist"]
NOTES = ["missed the migration", "clear and short", "too long", "wrong service", None, None, None]


def _rows(events: int, now: datetime, seed: int) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(seed)
    out: dict[str, list[tuple[Any, ...]]] = {k: [] for k in (
        "tasks", "cycles", "deliberations", "votes", "confirmations", "usage", "events", "skills", "feedback",
        "memories")}  # fmt: skip
    span = WEEKS * 7 * 86400
    # Oldest first: the engine appends rows as tasks end, so rows of one week sit together on disk.
    ends = sorted(now - timedelta(seconds=rng.uniform(60, span)) for _ in range(events))
    for n, ended in enumerate(ends):
        task_id = f"{seed:04x}{n:012x}"
        asked = ended - timedelta(seconds=rng.uniform(5, 600))
        platform, channel = rng.choice(PLATFORMS)
        roll = rng.random()
        blocked = roll < 0.04
        status = "cancelled" if blocked else "failed" if roll < 0.07 else "aborted" if roll < 0.09 else (
            "escalated" if roll < 0.11 else "done")  # fmt: skip
        iterations = 0 if blocked or status == "failed" else rng.randint(1, 3)
        scores = [round(min(1.0, rng.uniform(0.4, 0.8) + 0.1 * i), 3) for i in range(iterations)]
        if iterations >= 2 and rng.random() < 0.1:
            scores[-1] = round(scores[-2] - 0.15, 3)  # a regression
        score = max(scores) if scores else None
        decision = None if not scores else "accept" if score and score >= 0.8 else "accept_best"
        if status == "done" and decision == "accept_best":
            status = "below_bar"  # as the engine ends a result kept under the bar of 0.8
        at, end = asked.isoformat(), ended.isoformat()
        scope = json.dumps({"platform": platform, "channel": channel})
        out["tasks"].append((task_id, "bench", f"task {n} about {rng.choice(CATEGORIES)}", status, platform, None,
                             "{}", scope, rng.choice(CATEGORIES), decision, score, iterations, at, end))  # fmt: skip
        for i, s in enumerate(scores, 1):
            out["cycles"].append((f"{task_id}c{i}", task_id, i, "output", "hash", s, "continue", end))
        deliberation = f"{task_id}d"
        verdict = "guardian_block" if blocked else "approved"
        out["deliberations"].append((deliberation, task_id, verdict, "verdict", end))
        for agency in AGENCIES:
            vote = "BLOCK" if (blocked and agency == "guardian") or rng.random() < 0.03 else "APPROVE"
            out["votes"].append((deliberation, agency, vote, "reason"))
        if blocked:
            out["confirmations"].append(
                (f"{task_id}k", task_id, "guardian_block", "risky", "denied", "slack:U1", end, at)
            )
        cost = 0.0
        for phase in ("parliament", "execute", "evaluate"):
            model, price = rng.choice(MODELS)
            tokens = rng.randint(200, 4000)
            call_cost = tokens / 1000 * price
            cost += call_cost
            out["usage"].append(
                (task_id, phase, "executor", model, tokens // 2, tokens - tokens // 2, call_cost, 1, 900, end)
            )

        if status in ("done", "below_bar") and rng.random() < 0.2:  # a result to rate
            rating = 1 if rng.random() < 0.75 else -1
            # feedback_up/down on the event follow from the vote through the trigger of migration 0005
            out["feedback"].append((task_id, f"slack:U{rng.randint(1, 20)}", rating, rng.choice(NOTES), end, end))
        skills = [rng.choice(SKILLS)] if rng.random() < 0.6 else []
        for skill in skills:
            out["skills"].append((task_id, skill, "bundled", 1, 0, 0.5, 100))
        out["events"].append((task_id, out["tasks"][-1][8], json.dumps(skills), platform, channel, None, asked.hour,
                              asked.weekday(), iterations, score, cost, status, decision, 0, 0, end))  # fmt: skip
        if rng.random() < 0.1:
            out["memories"].append((f"{task_id}m", "heuristic", f"learning from task {n}", 0.7, rng.randint(0, 2),
                                    f"channel:{platform}:{channel}", platform, channel, task_id, end, end))  # fmt: skip
    return out


INSERTS = {
    "tasks": """INSERT INTO tasks (id, session_id, description, status, source, requester, options_json, scope_json,
                category, decision, score, iterations, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
    "cycles": """INSERT INTO iteration_cycles (id, task_id, iteration, output, output_hash, score, decision, created_at)
                 VALUES (?,?,?,?,?,?,?,?)""",
    "deliberations": "INSERT INTO deliberations (id, task_id, outcome, reason, created_at) VALUES (?,?,?,?,?)",
    "votes": "INSERT INTO votes (deliberation_id, agency, vote, reason) VALUES (?,?,?,?)",
    "confirmations": """INSERT INTO confirmations (id, task_id, kind, reason, status, decided_by, decided_at, created_at)
                        VALUES (?,?,?,?,?,?,?,?)""",
    "usage": """INSERT INTO usage (task_id, phase, role, model, prompt_tokens, completion_tokens, cost_usd, priced,
                latency_ms, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)""",
    "events": """INSERT INTO usage_events (task_id, category, skills_json, platform, channel, requester, hour, weekday,
                 iterations, score, cost_usd, outcome, decision, feedback_up, feedback_down, finished_at)
                 VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
    "skills": "INSERT INTO task_skills (task_id, skill, source, rank, forced, relevance, tokens) VALUES (?,?,?,?,?,?,?)",
    "feedback": "INSERT INTO feedback (task_id, voter, vote, note, created_at, updated_at) VALUES (?,?,?,?,?,?)",
    "memories": """INSERT INTO memories (id, kind, text, confidence, reinforcements, scope_key, platform, channel,
                   source_task_id, created_at, last_used_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
}


async def seed_history(db: Database, events: int, *, now: datetime, seed: int = 0) -> None:
    """Insert ``events`` finished tasks (and everything the engine stores with them) ending in the 8 weeks
    before ``now``, in one transaction. Task ids are unique per ``seed``, so histories can be layered."""
    rows = await asyncio.to_thread(_rows, events, now, seed)

    def write(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR IGNORE INTO sessions (id, kind, title, status, created_at, updated_at) VALUES (?,?,?,?,?,?)",
                ("bench", "chat", "benchmark", "active", now.isoformat(), now.isoformat()),
            )
            for table, sql in INSERTS.items():  # parents first: the dict keeps this order
                conn.executemany(sql, rows[table])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    await db.run_batch(write)


async def run(events: int = EVENTS) -> dict[str, Any]:
    """Seed ``events`` tasks into a temporary database, then build each digest ``BUILDS`` times."""
    from zoneinfo import ZoneInfo

    from core.reflection.digest import build_digest

    now = datetime(2026, 12, 2, 8, tzinfo=UTC)
    result: dict[str, Any] = {"bench": "history", "events": events}
    with tempfile.TemporaryDirectory() as tmp:
        async with Database(Path(tmp) / "openkoi.db") as db:
            started = time.perf_counter()
            await seed_history(db, events, now=now)
            result["seed_s"] = round(time.perf_counter() - started, 2)
            row = await db.fetchone("SELECT COUNT(*) FROM tasks")
            seeded = row[0] if row else 0
            check(seeded == events, f"seeded {seeded} of {events} tasks")
            note(f"seeded {events:,} tasks in {result['seed_s']:.1f}s")
            for kind in ("daily", "weekly"):
                timings = []
                for _ in range(BUILDS):
                    started = time.perf_counter()
                    digest = await build_digest(db, kind, now=now, tz=ZoneInfo("Europe/Berlin"))
                    timings.append((time.perf_counter() - started) * 1000)
                check(not digest.empty, f"the {kind} digest found no tasks")
                note(f"{kind}: {min(timings):.0f} ms best, {max(timings):.0f} ms worst of {BUILDS} — {digest.headline}")
                result[f"{kind}_ms_best"] = round(min(timings), 1)
                result[f"{kind}_ms_worst"] = round(max(timings), 1)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Both digests over a seeded task history.")
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_EVENTS:,} tasks")
    args = parser.parse_args(argv)
    emit(asyncio.run(run(TINY_EVENTS if args.tiny else args.events)))


if __name__ == "__main__":
    main()
