"""The web page's task list with 10,000 tasks in the store: server time of ``GET /`` (target ≤ 200 ms).

The store is seeded as ``history`` seeds it (each task with its cycles, verdict, votes, usage …, over 8 weeks),
plus a few tasks waiting for an approver so that the approvals panel has work. Then ``openkoi serve`` runs in
this process with the API and the page on, and a signed-in client (the page's cookie) loads the list ``n`` times
one after another, and the fragment the open page refreshes itself with (``/page/tasks``) as often. The server
time is what the page's own ``Server-Timing`` header says (the handler: reading the page of tasks, the approvals
and proposals, rendering); the round trip over 127.0.0.1 is reported beside it. ``query_plan`` is SQLite's plan
for the list's query as the store runs it: it must walk an index, not sort the table.

    python -m tests.benchmarks.page_load [--tasks 10000] [--n 50] [--tiny]

``--tiny`` (500 tasks, 5 loads) runs the same scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.benchmarks._common import check, emit, forbid_network, note, use_fake_model
from tests.benchmarks.history import seed_history

TOKEN = "okoi_benchmark-page-token-0123456789abcdef"
TASKS, N = 10_000, 50
TINY_TASKS, TINY_N = 500, 5
BLOCKED = 5  # tasks waiting for an approver
_TIMING = re.compile(r"page;dur=([\d.]+)")


async def _seed(db_path: Path, tasks: int) -> None:
    from core.store import Store

    now = datetime.now(UTC)
    async with Store(db_path) as store:
        await seed_history(store.db, tasks - BLOCKED, now=now)
        rows = [
            (f"blocked{n:08x}", "bench", f"Drop the old tables of shard {n}", "awaiting_confirmation", "api",
             "ci (api:ci)", "{}", "{}", "general", None, None, 0, (now - timedelta(minutes=n)).isoformat(),
             (now - timedelta(minutes=n)).isoformat())
            for n in range(BLOCKED)
        ]  # fmt: skip
        confirmations = [
            (f"c{n:08x}", f"blocked{n:08x}", "guardian_block", "this could delete production data", "pending", None,
             None, (now - timedelta(minutes=n)).isoformat())
            for n in range(BLOCKED)
        ]  # fmt: skip

        def write(conn: Any) -> None:
            from tests.benchmarks.history import INSERTS

            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERTS["tasks"], rows)
            conn.executemany(INSERTS["confirmations"], confirmations)
            conn.execute("COMMIT")

        await store.db.run_batch(write)


async def _plan(svc: Any) -> str:
    """SQLite's plan for the list's query, captured as the store runs it."""
    db = svc.store.db
    seen: list[tuple[str, Any]] = []
    original = db.fetchall

    async def recording(sql: str, params: Any = ()) -> Any:
        seen.append((sql, params))
        return await original(sql, params)

    db.fetchall = recording
    try:
        await svc.store.task_pages.page(limit=51)
    finally:
        db.fetchall = original
    sql, params = seen[0]
    rows = await db.fetchall("EXPLAIN QUERY PLAN " + sql, params)
    return " | ".join(str(row[-1]) for row in rows)


async def run(tasks: int = TASKS, n: int = N) -> dict[str, Any]:
    import aiohttp

    from bots.api.session import COOKIE
    from bots.service import Service
    from core.config import load_settings
    from tests.chat_service import service_settings

    with tempfile.TemporaryDirectory(prefix="page-load-") as tmp:
        root = Path(tmp)
        use_fake_model(root / "home", "http://127.0.0.1:9/v1")  # no task runs: the model is never called
        settings = load_settings()
        started = time.perf_counter()
        await _seed(settings.db_path, tasks)
        seed_s = time.perf_counter() - started
        note(f"seeded {tasks:,} tasks in {seed_s:.1f}s")
        service = service_settings(api={"token": TOKEN, "rate_per_second": 10_000, "burst": 10_000})
        svc = Service(settings, service)
        await svc.start()
        try:
            count = (await svc.store.tasks.counts()).values()
            check(sum(count) == tasks, f"the store holds {sum(count)} tasks, not {tasks}")
            plan = await _plan(svc)
            check("USING INDEX" in plan and "TEMP B-TREE" not in plan, f"the list's query sorts: {plan}")
            base = f"http://127.0.0.1:{svc.port}"
            figures: dict[str, list[float]] = {}
            async with aiohttp.ClientSession(headers={"Cookie": f"{COOKIE}={TOKEN}"}) as http:
                for path in ("/", "/page/tasks"):
                    server, trip = [], []
                    for _ in range(n + 1):  # the first load warms the templates up and is not counted
                        began = time.perf_counter()
                        async with http.get(base + path, allow_redirects=False) as response:
                            body = await response.text()
                            check(response.status == 200, f"GET {path} answered {response.status}")
                            timing = _TIMING.fullmatch(response.headers.get("Server-Timing", ""))
                        trip.append((time.perf_counter() - began) * 1000)
                        check(timing is not None, "no Server-Timing header")
                        assert timing is not None
                        server.append(float(timing.group(1)))
                        check(body.count("data-task-id=") >= 50, f"GET {path} shows fewer than 50 tasks")
                    figures[path] = server[1:]
                    figures[path + " trip"] = trip[1:]
                    note(f"GET {path}: server p50 {statistics.median(server[1:]):.1f} ms, max {max(server[1:]):.1f} ms")
        finally:
            await svc.stop()

    def q(values: list[float], p: float) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)

    page, fragment, trip = figures["/"], figures["/page/tasks"], figures["/ trip"]
    return {
        "bench": "page_load",
        "tasks": tasks,
        "n": n,
        "seed_s": round(seed_s, 1),
        "p50_ms": q(page, 0.5),
        "p95_ms": q(page, 0.95),
        "max_ms": round(max(page), 1),
        "trip_p50_ms": q(trip, 0.5),
        "trip_p95_ms": q(trip, 0.95),
        "fragment_p50_ms": q(fragment, 0.5),
        "fragment_p95_ms": q(fragment, 0.95),
        "target_ms": 200,
        "query_plan": plan,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Server time of the web page's task list.")
    parser.add_argument("--tasks", type=int, default=TASKS)
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_TASKS} tasks, {TINY_N} loads")
    args = parser.parse_args(argv)
    forbid_network()
    tasks, n = (TINY_TASKS, TINY_N) if args.tiny else (args.tasks, args.n)
    emit(asyncio.run(run(tasks, n)))


if __name__ == "__main__":
    main()
