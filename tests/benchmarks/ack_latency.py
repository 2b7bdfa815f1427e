"""Slack ack latency under load: `openkoi serve` in-process, 500 signed `/think` commands, 100 at a time.

The service runs with the real slack-bolt app on its aiohttp server, the fake Slack Web API and
the fake model server answering each call after 2 s (so the workers are always busy and tasks
pile up in the queue, as under a real burst). The commands come from a separate load process (as
they would from Slack), so the generator's own work is not counted as the service's. The clock
runs from sending a request to having the HTTP 200 in hand, over loopback. ``tasks_persisted`` counts task rows in SQLite after the
burst (every ack must mean a saved task); ``errors`` counts non-200 answers and exceptions.

    python -m tests.benchmarks.ack_latency [--n 500] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.queues
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.benchmarks._common import check, emit, forbid_network, note, use_fake_model
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import install_defaults
from tests.fakes.slack_api import FakeSlack, signed_headers, slash_command_body

SECRET = "bench-signing-secret"
SENDERS = 4  # load processes; the concurrency is split evenly between them


async def run(n: int, concurrency: int) -> dict[str, object]:
    from bots.config import ServiceSettings
    from bots.service import Service
    from core.config import load_settings

    async with FakeModelServer(latency=2.0) as model, FakeSlack() as slack:
        install_defaults(model)
        with tempfile.TemporaryDirectory(prefix="openkoi-ack-") as tmp:
            use_fake_model(Path(tmp) / "home", model.url)
            settings = load_settings()
            service = ServiceSettings.model_validate(
                {
                    "serve": {"host": "127.0.0.1", "port": 0, "workers": 4, "drain_seconds": 0},
                    "slack": {"bot_token": "xoxb-bench", "signing_secret": SECRET, "api_url": slack.api_url},
                }
            )
            svc = Service(settings, service)
            await svc.start()
            url = f"http://127.0.0.1:{svc.port}/slack/events"
            # The load comes from other processes, as it would from Slack's many senders: one
            # generator sharing the service's event loop, or even one generator process, queues
            # requests behind its own work and reports that as the service's latency.
            context = multiprocessing.get_context("spawn")
            results: multiprocessing.queues.Queue[tuple[list[float], int, float]] = context.Queue()
            ready = context.Barrier(SENDERS)  # the burst starts when every sender has started up
            senders = [
                context.Process(
                    target=_send_all,
                    args=(
                        url,
                        slack.response_url(f"p{p}-"),
                        range(p, n, SENDERS),
                        concurrency // SENDERS,
                        ready,
                        results,
                    ),
                )
                for p in range(SENDERS)
            ]
            for sender in senders:
                sender.start()
            latencies: list[float] = []
            errors = 0
            wall = 0.0
            for _ in senders:
                part, failed, took = await asyncio.to_thread(results.get)
                latencies += part
                errors += failed
                wall = max(wall, took)
            for sender in senders:
                await asyncio.to_thread(sender.join)
            counts = await svc.store.tasks.counts()
            persisted = sum(counts.values())
            await svc.stop()
    latencies.sort()
    note(f"{n} acks in {wall:.1f} s; task states after the burst: {counts}")
    return {
        "bench": "ack_latency",
        "n": n,
        "concurrency": concurrency,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
        "max_ms": round(latencies[-1], 1),
        "tasks_persisted": persisted,
        "errors": errors,
    }


def _send_all(url: str, response_url: str, numbers: range, concurrency: int, ready: Any, results: Any) -> None:
    """In a load process: one warm-up request, then a signed command for each of ``numbers``,
    ``concurrency`` at a time."""
    forbid_network()
    results.put(asyncio.run(_burst(url, response_url, numbers, concurrency, ready)))


async def _burst(
    url: str, response_url: str, numbers: range, concurrency: int, ready: Any
) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        # One uncounted request first: it opens the service's lazy paths once, as any real traffic would.
        warm = slash_command_body(text="help", response_url=response_url + "warm", trigger_id=response_url)
        async with http.post(url, data=warm, headers=signed_headers(warm, SECRET)) as r:
            check(r.status == 200, f"warm-up answered {r.status}")
        await asyncio.to_thread(ready.wait)

        async def one(i: int) -> None:
            nonlocal errors
            body = slash_command_body(
                text=f"benchmark task {i}", response_url=response_url + str(i), trigger_id=f"bench.{i}"
            )
            async with gate:
                headers = signed_headers(body, SECRET)
                started = time.perf_counter()
                try:
                    async with http.post(url, data=body, headers=headers) as r:
                        await r.read()
                        ok = r.status == 200
                except aiohttp.ClientError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                if not ok:
                    errors += 1

        wall = time.perf_counter()
        await asyncio.gather(*[one(i) for i in numbers])
        return latencies, errors, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    forbid_network()
    emit(asyncio.run(run(args.n, args.concurrency)))


if __name__ == "__main__":
    main()
