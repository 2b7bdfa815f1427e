"""Slack ack latency under load: `openkoi serve` in-process, 500 signed `/think` commands, 100 at a time.

The service runs in this process on its aiohttp server, as in production (signed slash commands
are read by ``bots.slack.gate``; slack-bolt handles events and presses); the fake Slack Web API and
the fake model server (answering each call after 2 s, so the workers are always busy and tasks pile
up in the queue, as under a real burst) run in a second process, and the commands
come from a third (as they would from Slack), so that neither the generator's work nor the fakes'
is counted as the service's, in time or in memory. Every command is saved before it is answered
(the answer names its task), so the latency includes the save. The clock runs from sending a
request to having the HTTP 200 in hand, over loopback. ``tasks_persisted`` counts task rows in
SQLite after the burst (every ack must mean a saved task); ``errors`` counts non-200 answers, answers
that name no task, and exceptions. ``rss_idle_mb`` is the service process's resident memory once
started, before the burst; ``rss_peak_mb`` the most it reached from the burst's start until every
task was saved (sampled every 10 ms, from another process). ``cpu_ms_per_ack`` is the service process's CPU time during the
burst (all its threads, SQLite's included) per command, ``loop_cpu_ms_per_ack`` the event loop
thread's alone: at concurrency c, an ack waits for about c others' loop time, so p50 is close to
c × loop_cpu_ms_per_ack.

    python -m tests.benchmarks.ack_latency [--n 500] [--concurrency 100] [--tiny]

``--tiny`` (5 commands, 5 at a time) runs the same scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.queues
import re
import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks._common import (
    LoadResult,
    PeakSampler,
    closed_loop,
    emit,
    exchange,
    forbid_network,
    measure_burst,
    note,
    rss_mb,
    use_fake_model,
)
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import install_defaults
from tests.platforms.slack.fake_api import FakeSlack, signed_headers, slash_command_body

SECRET = "bench-signing-secret"
SENDERS = 1  # load processes; the concurrency is split evenly between them
PATH = "/slack/events"
N, CONCURRENCY = 500, 100
TINY_N, TINY_CONCURRENCY = 5, 5


TASK_NAMED = re.compile(rb"[Tt]ask [0-9a-f]{8}")
HELP_TEXT = re.compile(rb"/think")  # the warm-up asks for help


async def run(n: int = N, concurrency: int = CONCURRENCY) -> dict[str, object]:
    """Send ``n`` signed commands, ``concurrency`` at a time, to the service (see the module docstring)."""
    # The outside world (the fake Slack API and the fake model, like a remote provider) runs in its
    # own process: only the service is in this one.
    context = multiprocessing.get_context("spawn")
    urls: multiprocessing.queues.Queue[tuple[str, str, str]] = context.Queue()
    done = context.Event()
    world = context.Process(target=_world, args=(urls, done))
    world.start()
    try:
        slack_api, response_base, model_url = await asyncio.to_thread(urls.get, True, 60)
        return await _run(slack_api, response_base, model_url, n, concurrency)
    finally:
        done.set()
        await asyncio.to_thread(world.join, 10)


def _world(urls: Any, done: Any) -> None:
    """In a helper process: the fake Slack Web API and the fake model, until ``done``."""
    forbid_network()

    async def serve() -> None:
        model = FakeModelServer(latency=2.0)
        install_defaults(model)
        await model.start()
        async with FakeSlack() as slack:
            urls.put((slack.api_url, slack.response_url(""), model.url))
            await asyncio.to_thread(done.wait)
        await model.stop()

    asyncio.run(serve())


async def _run(slack_api: str, response_base: str, model_url: str, n: int, concurrency: int) -> dict[str, object]:
    from bots.config import service_settings_model
    from bots.service import Service
    from core.config import load_settings

    with tempfile.TemporaryDirectory(prefix="openkoi-ack-") as tmp:
        use_fake_model(Path(tmp) / "home", model_url)
        settings = load_settings()
        service = service_settings_model().model_validate(
            {
                # Every command comes from one user in one channel: the per-person and per-channel
                # limits are raised so that all of them are saved as tasks, as the benchmark measures.
                "serve": {
                    "host": "127.0.0.1",
                    "port": 0,
                    "workers": 4,
                    "drain_seconds": 0,
                    "queue_limit_per_user": n,
                    "queue_limit_per_channel": n,
                },
                "slack": {"bot_token": "xoxb-bench", "signing_secret": SECRET, "api_url": slack_api},
            }
        )
        svc = Service(settings, service)
        await svc.start()
        rss_idle = rss_mb()
        sampler = PeakSampler()
        await sampler.start()  # before the burst can start
        # The load comes from other processes, as it would from Slack's many senders: one
        # generator sharing the service's event loop, or even one generator process, queues
        # requests behind its own work and reports that as the service's latency.
        context = multiprocessing.get_context("spawn")
        results: multiprocessing.queues.Queue[LoadResult] = context.Queue()
        ready = context.Barrier(SENDERS)  # the burst starts when every sender has started up
        senders = [
            context.Process(
                target=_send_all,
                args=(
                    svc.port,
                    f"{response_base}p{p}-",
                    range(p, n, SENDERS),
                    concurrency // SENDERS,
                    ready,
                    results,
                ),
            )
            for p in range(SENDERS)
        ]
        burst = await measure_burst(svc, senders, results, sampler)
    note(f"{n} acks in {burst.wall:.1f} s; task states after the burst: {burst.counts}")
    return {
        "bench": "ack_latency",
        "n": n,
        "concurrency": concurrency,
        **burst.figures(n, "ack"),
        "rss_idle_mb": round(rss_idle, 1),
        "rss_peak_mb": round(burst.rss_peak, 1),
    }


def _send_all(port: int, response_url: str, numbers: range, concurrency: int, ready: Any, results: Any) -> None:
    """In a load process: one warm-up request, then a signed command for each of ``numbers`` over
    ``concurrency`` keep-alive connections."""
    forbid_network()
    results.put(asyncio.run(_burst(port, response_url, numbers, concurrency, ready)))


def _request(port: int, body: bytes) -> bytes:
    """A signed Slack slash-command POST as raw HTTP/1.1 bytes, built before the clock starts."""
    headers = signed_headers(body, SECRET)
    lines = [f"POST {PATH} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _acked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> bool:
    """A 200 that names the saved task (a refusal, which mentions /think but no task, is an error)."""
    return await exchange(reader, writer, request, 200, TASK_NAMED)


async def _burst(port: int, response_url: str, numbers: range, concurrency: int, ready: Any) -> LoadResult:
    requests = [
        _request(
            port,
            slash_command_body(text=f"benchmark task {i}", response_url=response_url + str(i), trigger_id=f"bench.{i}"),
        )
        for i in numbers
    ]
    warm = _request(port, slash_command_body(text="help", response_url=response_url + "warm", trigger_id="warm"))

    async def helped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        return await exchange(reader, writer, warm, 200, HELP_TEXT)

    return await closed_loop(port, requests, concurrency, _acked, helped, ready)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_N} commands, {TINY_CONCURRENCY} at a time")
    args = parser.parse_args(argv)
    if args.tiny:
        args.n, args.concurrency = TINY_N, TINY_CONCURRENCY
    forbid_network()
    emit(asyncio.run(run(args.n, args.concurrency)))


if __name__ == "__main__":
    main()
