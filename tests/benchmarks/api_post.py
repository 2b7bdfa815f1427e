"""`POST /api/v1/tasks` latency under load: `openkoi serve` in-process with the API on, 500 task submissions,
100 at a time, target p99 ≤ 50 ms.

As ``ack_latency`` measures Slack's acknowledgements: the service runs in this process on its aiohttp
server; the fake model (answering each call after 2 s, so the workers stay busy and the tasks pile up in the
queue, as under a real burst) runs in a second process, and the requests come from a third over keep-alive
connections, so that neither the fakes' work nor the generator's is counted as the service's. Each request
carries a bearer token (hashed and compared with every configured token), is validated, and is answered 202
only once its task is saved (the answer names it), so the latency includes authentication, the rate limit and
the save. ``tasks_persisted`` counts task rows after the burst; ``errors`` counts answers other than a 202 that
names a task, and exceptions.

    python -m tests.benchmarks.api_post [--n 500] [--concurrency 100] [--tiny]

By default the engine is warm when the burst starts, as in a service that has run a task before: its local
embedder has embedded a text. ``--cold`` measures the first burst after start-up instead, with only what the start
did: the service loads the embedder before it listens (left to the first task's recall, the load held the event
loop for a few hundred ms in the middle of the burst), so the two should now measure the same.

``--tiny`` (5 requests, 5 at a time) runs the same scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.queues
import re
import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks import _common as common
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import install_defaults

TOKEN = "okoi_benchmark-token-0123456789abcdef"
PATH = "/api/v1/tasks"
N, CONCURRENCY = 500, 100
TINY_N, TINY_CONCURRENCY = 5, 5
ACCEPTED = re.compile(rb'"id":"[0-9a-f]{16}"')
HEALTHY = re.compile(rb'"status":"ok"')


async def run(n: int = N, concurrency: int = CONCURRENCY, cold: bool = False) -> dict[str, object]:
    """Send ``n`` task submissions, ``concurrency`` at a time (see the module docstring)."""
    context = multiprocessing.get_context("spawn")
    urls: multiprocessing.queues.Queue[str] = context.Queue()
    done = context.Event()
    world = context.Process(target=_world, args=(urls, done))
    world.start()
    try:
        model_url = await asyncio.to_thread(urls.get, True, 60)
        return await _run(model_url, n, concurrency, cold)
    finally:
        done.set()
        await asyncio.to_thread(world.join, 10)


def _world(urls: Any, done: Any) -> None:
    """In a helper process: the fake model, until ``done``."""
    common.forbid_network()

    async def serve() -> None:
        model = FakeModelServer(latency=2.0)
        install_defaults(model)
        await model.start()
        urls.put(model.url)
        await asyncio.to_thread(done.wait)
        await model.stop()

    asyncio.run(serve())


async def _run(model_url: str, n: int, concurrency: int, cold: bool) -> dict[str, object]:
    from bots.config import service_settings_model
    from bots.service import Service
    from core.config import load_settings

    with tempfile.TemporaryDirectory(prefix="openkoi-api-") as tmp:
        common.use_fake_model(Path(tmp) / "home", model_url)
        settings = load_settings()
        service = service_settings_model().model_validate(
            {
                "serve": {"host": "127.0.0.1", "port": 0, "workers": 4, "drain_seconds": 0},
                # One token sends every request: its bucket is made big enough for the whole burst, which the
                # benchmark measures (the default, 20 a second in bursts of 60, would answer most with 429).
                "api": {"token": TOKEN, "rate_per_second": 10_000, "burst": 10_000},
            }
        )
        svc = Service(settings, service)
        await svc.start()
        if not cold:
            await svc.engine.memory.embedder.embed(["warm up"])  # as the first task's recall would
        rss_idle = common.rss_mb()
        sampler = common.PeakSampler()
        await sampler.start()
        context = multiprocessing.get_context("spawn")
        results: multiprocessing.queues.Queue[common.LoadResult] = context.Queue()
        sender = context.Process(target=_send_all, args=(svc.port, n, concurrency, results))
        burst = await common.measure_burst(svc, [sender], results, sampler)
    common.note(f"{n} submissions in {burst.wall:.1f} s; task states after the burst: {burst.counts}")
    return {
        "bench": "api_post",
        "n": n,
        "concurrency": concurrency,
        "target_p99_ms": 50,
        "engine": "cold" if cold else "warm",
        **burst.figures(n, "request"),
        "rss_idle_mb": round(rss_idle, 1),
        "rss_peak_mb": round(burst.rss_peak, 1),
    }


def _send_all(port: int, n: int, concurrency: int, results: Any) -> None:
    common.forbid_network()
    results.put(asyncio.run(_burst(port, n, concurrency)))


def _request(port: int, method: str, path: str, body: bytes = b"") -> bytes:
    """One request as raw HTTP/1.1 bytes, built before the clock starts."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {TOKEN}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
    """A 202 that names the saved task."""
    return await common.exchange(reader, writer, request, 202, ACCEPTED)


async def _burst(port: int, n: int, concurrency: int) -> common.LoadResult:
    requests = [
        _request(port, "POST", PATH, json.dumps({"task": f"benchmark task {i}", "iterations": 1}).encode())
        for i in range(n)
    ]
    warm = _request(port, "GET", "/api/v1/health")

    async def healthy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        return await common.exchange(reader, writer, warm, 200, HEALTHY)

    return await common.closed_loop(port, requests, concurrency, _accepted, healthy)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_N} requests, {TINY_CONCURRENCY} at a time")
    parser.add_argument("--cold", action="store_true", help="the first burst after start-up (embedder not loaded)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n, args.concurrency = TINY_N, TINY_CONCURRENCY
    common.forbid_network()
    common.emit(asyncio.run(run(args.n, args.concurrency, args.cold)))


if __name__ == "__main__":
    main()
