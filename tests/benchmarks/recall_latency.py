"""Recall latency at 100,000 memories: end to end (embed the task, search, fetch rows, rank, budget,
mark used), p50 and p99 over 200 queries, and the search's top-10 overlap with exact brute force.

The memories are random unit vectors for the bulk plus 300 real learnings embedded with the local
model; the queries are 200 task descriptions embedded for real at recall time. Rows are spread as
a chat deployment would hold them: 100 channels of ~990 memories each plus 1,000 global ones, and
a query comes from one channel, so recall searches two sqlite-vec partitions (the channel and
global). Two more figures put this in context: the same 100,000 memories all in the query's own
scope (the worst case: sqlite-vec brute force over every vector), and the exact-cosine fallback
used when the extension cannot load. ``min_similarity`` is 0 so that every candidate row is
fetched and budgeted (the most work a recall can do).

    python -m tests.benchmarks.recall_latency [--memories 100000] [--queries 200] [--channels 100] [--quick] [--tiny]

``--tiny`` (1,000 memories in 4 channels, 5 queries, all three scenarios) runs the same scenario for
the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.benchmarks._common import check, clean_env, emit, forbid_network, note

DIMENSION = 384
SUBJECTS = [
    "auth tokens", "refresh tokens", "database migrations", "sqlite writes", "release notes", "the deploy pipeline",
    "log retention", "rate limits", "the on-call rota", "TLS certificates", "backups", "feature flags",
    "the payments webhook", "cache invalidation", "docker images", "the staging cluster", "API pagination",
    "error budgets", "secrets in CI", "the search index",
]  # fmt: skip
SERVICES = [
    "billing",
    "checkout",
    "search",
    "identity",
    "reporting",
    "notifications",
    "gateway",
    "ledger",
    "mobile",
    "admin",
]
VERBS = ["rotate", "speed up", "document", "review", "fix", "audit", "automate", "plan", "test", "monitor"]
ADVICE = [
    "always {x} before changing {s}", "never touch {s} on a Friday without a second reviewer",
    "keep a runbook for {s} next to the code", "{s} broke last time because nobody checked the metrics after {x}",
    "prefer small, reversible changes to {s}", "the team wants a short summary before any work on {s}",
]  # fmt: skip
STEPS = ["taking a backup", "a dry run", "reading the last incident", "asking the owner", "running the load test"]
MEMORIES, QUERIES, CHANNELS = 100_000, 200, 100
TINY_MEMORIES, TINY_QUERIES, TINY_CHANNELS = 1_000, 5, 4


def real_learnings(n: int, rng: random.Random) -> list[str]:
    return [rng.choice(ADVICE).format(s=rng.choice(SUBJECTS), x=rng.choice(STEPS)) + f" ({i})" for i in range(n)]


def queries(n: int, rng: random.Random) -> list[str]:
    seen: set[str] = set()
    while len(seen) < n:
        seen.add(f"{rng.choice(VERBS)} {rng.choice(SUBJECTS)} for the {rng.choice(SERVICES)} service")
    return sorted(seen)


def unit_rows(n: int, seed: int) -> np.ndarray:
    matrix = np.random.default_rng(seed).standard_normal((n, DIMENSION)).astype(np.float32)
    unit: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return unit


def fill(path: Path, keys: list[str], vectors: np.ndarray, texts: list[str], embedder: str) -> None:
    """Write memory rows and their embeddings straight into SQLite (in one transaction)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            """INSERT INTO memories (seq, id, kind, text, confidence, scope_key, platform, channel, embedder,
                                     created_at, last_used_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)""",
            (
                (i + 1, f"{i + 1:016x}", "heuristic", texts[i], 0.5 + (i % 50) / 100, keys[i], "slack",
                 keys[i].rsplit(":", 1)[-1] if keys[i].startswith("channel:") else None, embedder, now, now)
                for i in range(len(keys))
            ),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO memory_embeddings (seq, vector) VALUES (?, ?)",
            ((i + 1, vectors[i].astype("<f4").tobytes()) for i in range(len(keys))),
        )
    conn.close()


async def measure(memory: Any, scope: Any, texts: list[str], exact_top: Any, token_budget: int) -> dict[str, Any]:
    await memory.recall(texts[0], scope, token_budget)  # the first embedding loads the model; not counted
    times, overlaps, recalled = [], [], []
    for text in texts:
        started = time.perf_counter()
        found = await memory.recall(text, scope, token_budget)
        times.append((time.perf_counter() - started) * 1000)
        recalled.append(len(found.ids))
    searches = []
    for text in texts:  # the search alone, against exact brute force over the same visible vectors
        vector = (await memory.embedder.embed([text]))[0]
        started = time.perf_counter()
        hits = await memory.nearest(scope.visible_keys, vector, 10)
        searches.append((time.perf_counter() - started) * 1000)
        overlaps.append(len({seq for seq, _ in hits} & exact_top(vector)) / 10)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
        "recall_at_10": round(statistics.mean(overlaps), 4),
        "search_p50_ms": round(statistics.median(searches), 2),
        "memories_recalled_avg": round(statistics.mean(recalled), 1),
    }


async def scenario(
    root: Path,
    name: str,
    keys: list[str],
    vectors: np.ndarray,
    texts: list[str],
    scope: Any,
    asked: list[str],
    index: str,
) -> dict[str, Any]:
    from core.config import load_settings
    from core.memory.embedder import LocalEmbedder
    from core.memory.memory import Memory
    from core.store import Store

    settings = load_settings()
    settings.memory.min_similarity = 0.0
    settings.memory.index = "auto" if index == "auto" else "exact"
    path = root / f"{name}.db"
    async with Store(path):
        pass  # migrations
    embedder = LocalEmbedder()
    fill(path, keys, vectors, texts, embedder.name)
    visible = {k for k in scope.visible_keys}
    mask = np.array([k in visible for k in keys])
    seqs = np.nonzero(mask)[0] + 1
    matrix = vectors[mask]

    def exact_top(vector: np.ndarray) -> set[int]:
        return {int(s) for s in seqs[np.argsort(-(matrix @ vector))[:10]]}

    async with Store(path) as store:
        memory = Memory(settings, store, embedder)
        started = time.perf_counter()
        await memory.prepare()  # builds the index from the stored embeddings (a reindex)
        built = time.perf_counter() - started
        check(store.vectors.available == (index == "auto"), f"{name}: wrong search path ({store.vectors.description})")
        figures = await measure(memory, scope, asked, exact_top, token_budget=20_000)
        figures.update(visible=int(mask.sum()), path=store.vectors.description, index_build_s=round(built, 1))
        return figures


async def run(
    total: int = MEMORIES, n_queries: int = QUERIES, channels: int = CHANNELS, quick: bool = False
) -> dict[str, Any]:
    """Recall over ``total`` memories in ``channels`` channels, ``n_queries`` queries (see the module docstring)."""
    from core.memory.embedder import LocalEmbedder
    from core.models import Scope

    rng = random.Random(7)
    embedder = LocalEmbedder()
    learnings = real_learnings(300, rng)
    asked = queries(n_queries, rng)
    started = time.perf_counter()
    real = embedder.embed_sync(learnings)
    note(f"embedded {len(learnings)} real learnings in {time.perf_counter() - started:.1f} s")
    embed_times = []
    for text in asked[:50]:
        t = time.perf_counter()
        embedder.embed_sync([text])
        embed_times.append((time.perf_counter() - t) * 1000)

    bulk = total - len(learnings)
    vectors = np.concatenate([real, unit_rows(bulk, 11)])
    texts = learnings + [f"memory {i}: a learning about nothing in particular" for i in range(bulk)]
    n_global = total // 100
    # The real learnings: 200 in the querying channel, 100 global; the bulk spread over the channels.
    keys = ["channel:slack:C0"] * 200 + ["global"] * 100
    keys += ["global" if i < n_global - 100 else f"channel:slack:C{i % channels}" for i in range(bulk)]
    here = Scope(platform="slack", channel="C0")
    one_scope = ["channel:slack:C0"] * total

    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="openkoi-recall-") as tmp:
        root = Path(tmp)
        scoped = await scenario(root, "scoped", keys, vectors, texts, here, asked, "auto")
        note(f"scoped: {scoped}")
        if not quick:  # context: the fallback path, and everything in one scope (50 queries each)
            extra["exact_fallback"] = await scenario(root, "exact", keys, vectors, texts, here, asked[:50], "exact")
            note(f"exact fallback: {extra['exact_fallback']}")
            extra["one_scope"] = await scenario(root, "one_scope", one_scope, vectors, texts, here, asked[:50], "auto")
            note(f"one scope: {extra['one_scope']}")
    return {
        "bench": "recall_latency",
        "memories": total,
        "p50_ms": scoped["p50_ms"],
        "p99_ms": scoped["p99_ms"],
        "recall_at_10": scoped["recall_at_10"],
        "layout": f"{channels} channels + {keys.count('global')} global; a query sees {scoped['visible']}",
        "embed_p50_ms": round(statistics.median(embed_times), 2),
        "load_average": round(os.getloadavg()[0], 2),
        "scoped": scoped,
        **extra,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memories", type=int, default=MEMORIES)
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--channels", type=int, default=CHANNELS)
    parser.add_argument("--quick", action="store_true", help="Only the scoped scenario (no fallback, no one-scope).")
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_MEMORIES:,} memories, {TINY_QUERIES} queries")
    args = parser.parse_args(argv)
    if args.tiny:
        args.memories, args.queries, args.channels = TINY_MEMORIES, TINY_QUERIES, TINY_CHANNELS
    forbid_network()
    with tempfile.TemporaryDirectory(prefix="openkoi-recall-home-") as home:
        os.environ.clear()
        os.environ.update(clean_env(Path(home)))
        emit(asyncio.run(run(args.memories, args.queries, args.channels, args.quick)))


if __name__ == "__main__":
    main()
