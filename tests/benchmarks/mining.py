"""Pattern mining and both digests over 100,000 usage events: wall time of one mining run and of each
digest, the event loop's worst lag while each runs (a 10 ms ticker), and the peak RSS (the larger of
this process and the mining child).

The log spans 13 weeks: 60 % of the tasks repeat 200 real task texts (40 requests, five phrasings
each; embedded for real during the run, as a first run would), 40 % are distinct noise texts whose
vectors are deterministic random unit vectors written straight into the vector cache (as
recall_latency does for bulk memories). Planted among them: a Monday-morning report, and a deploy that
the same person announces within 20 minutes. The run must find both.

    python -m tests.benchmarks.mining [--events 100000] [--tiny]

``--tiny`` (500 events: the planted patterns, 200 noise texts, the rest recurring) runs the same
scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from tests.benchmarks._common import check, clean_env, emit, forbid_network, note

SUBJECTS = [
    "the billing service", "the search index", "the staging cluster", "the payments webhook", "the on-call rota",
    "the mobile release", "the auth tokens", "the nightly backups", "the docs site", "the error budget report",
]  # fmt: skip
VERBS = ["check", "summarise", "clean up", "review"]
PHRASINGS = ["{v} {s}", "please {v} {s}", "can you {v} {s}", "{v} {s} for me", "{v} {s} today"]
NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
EVENTS = 100_000
TINY_EVENTS = 500


def recurring_texts() -> list[list[str]]:
    return [[p.format(v=v, s=s) for p in PHRASINGS] for s in SUBJECTS for v in VERBS]


def build(events: int, rng: random.Random) -> tuple[list[Any], list[str]]:
    from tests.usage_log import Asked

    start = NOW - timedelta(days=91)
    asked: list[Any] = []
    for week in range(13):  # the planted patterns
        monday = (start + timedelta(days=(7 - start.weekday()) % 7 + 7 * week)).replace(hour=8, minute=30)
        asked.append(Asked(f"report-{week}", "write the weekly status report", monday, "slack:UREP", "C-team"))
        deploy = monday + timedelta(days=2, hours=5)
        asked.append(Asked(f"deploy-{week}", "deploy the ledger service to production", deploy, "slack:UDEP", "C-rel"))
        announce = deploy + timedelta(minutes=20)
        asked.append(
            Asked(f"announce-{week}", "announce the ledger release in #releases", announce, "slack:UDEP", "C-rel")
        )
    groups = recurring_texts()
    n_noise = int(events * 0.4)
    noise = [f"one-off request {i}: {rng.choice(VERBS)} item {rng.randrange(10**9)}" for i in range(n_noise)]
    for i in range(events - len(asked) - n_noise):
        text = rng.choice(rng.choice(groups))
        when = start + timedelta(seconds=rng.randrange(91 * 86400))
        asked.append(Asked(f"rec-{i}", text, when, f"slack:U{rng.randrange(50)}", f"C{rng.randrange(20)}"))
    for i, text in enumerate(noise):
        when = start + timedelta(seconds=rng.randrange(91 * 86400))
        asked.append(Asked(f"noise-{i}", text, when, f"slack:U{rng.randrange(50)}", f"C{rng.randrange(20)}"))
    return asked, noise


async def run(events: int = EVENTS) -> dict[str, Any]:
    """Seed ``events`` usage events, mine them, build both digests (see the module docstring)."""
    from core.config import load_settings
    from core.memory.embedder import LocalEmbedder
    from core.reflection.digest import build_digest
    from core.reflection.patterns import normalise_text, text_hash
    from core.reflection.proposer import run_pattern_mining
    from core.store import Store
    from tests.usage_log import insert

    rng = random.Random(17)
    embedder = LocalEmbedder()
    embedder.embed_sync(["warm up"])  # loading the model is not mining
    with tempfile.TemporaryDirectory(prefix="openkoi-mining-") as tmp:
        import os

        os.environ.clear()
        os.environ.update(clean_env(Path(tmp) / "home"))
        settings = load_settings()
        settings.patterns.lookback_days = 0  # the whole log: 100,000 events
        async with Store(settings.db_path):
            pass  # migrations
        asked, noise = build(events, rng)
        texts = len({a.text for a in asked})
        started = time.perf_counter()
        conn = sqlite3.connect(settings.db_path)
        insert(conn, asked)
        vectors = np.random.default_rng(5).standard_normal((len(noise), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with conn:
            conn.executemany(
                "INSERT INTO task_text_vectors (text_hash, embedder, vector, created_at) VALUES (?,?,?,?)",
                (
                    (
                        text_hash(embedder.name, normalise_text(t)),
                        embedder.name,
                        vectors[i].astype("<f4").tobytes(),
                        "x",
                    )
                    for i, t in enumerate(noise)
                ),
            )
        conn.close()
        note(f"seeded {len(asked)} events in {time.perf_counter() - started:.1f} s")

        lag = 0.0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal lag
            loop = asyncio.get_running_loop()
            while not stop.is_set():
                before = loop.time()
                await asyncio.sleep(0.01)
                lag = max(lag, loop.time() - before - 0.01)

        async with Store(settings.db_path) as store:
            tick = asyncio.create_task(ticker())
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            report = await run_pattern_mining(store, settings, embedder, None, now=NOW)
            mine_s = time.perf_counter() - started
            mining_lag, lag = lag, 0.0
            digest_ms: dict[str, float] = {}
            for kind in ("daily", "weekly"):
                started = time.perf_counter()
                digest = await build_digest(store.db, kind, now=NOW, tz=ZoneInfo("UTC"))
                digest_ms[kind] = (time.perf_counter() - started) * 1000
                check(not digest.empty, f"the {kind} digest found no tasks")
            stop.set()
            await tick
        note(report.summary)
        for pattern in report.patterns:
            note(f"  {pattern.kind} {pattern.support} {pattern.confidence} {pattern.title} — {pattern.when}")
        kinds = {(p.kind, p.title) for p in report.patterns}
        check(("time", "write the weekly status report") in kinds, "the Monday report was not found")
        check(
            ("sequence", "deploy the ledger service to production, then announce the ledger release in #releases")
            in kinds,
            "the deploy-then-announce sequence was not found",
        )
        check(report.tasks == events, f"mined {report.tasks} of {events} events")
        # Every text but the noise (whose vectors were cached above) is embedded during the run.
        embedded = texts - len(noise)
        check(report.texts_embedded == embedded, f"embedded {report.texts_embedded} texts, not {embedded}")
        return {
            "bench": "mining",
            "events": events,
            "texts": texts,
            "texts_embedded": report.texts_embedded,
            "patterns": len(report.patterns),
            "proposals": len(report.proposals),
            "mine_s": round(mine_s, 2),
            "daily_digest_ms": round(digest_ms["daily"], 1),
            "weekly_digest_ms": round(digest_ms["weekly"], 1),
            "loop_lag_max_ms": round(mining_lag * 1000, 1),
            "digest_loop_lag_max_ms": round(lag * 1000, 1),
            "peak_rss_mb": round(
                max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
                / 1024,
                1,
            ),
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_EVENTS} events")
    args = parser.parse_args(argv)
    forbid_network()
    emit(asyncio.run(run(TINY_EVENTS if args.tiny else args.events)))


if __name__ == "__main__":
    main()
