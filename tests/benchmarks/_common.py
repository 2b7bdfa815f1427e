"""Shared set-up for the benchmarks: an offline guard, a clean environment, an engine on a fake model."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import multiprocessing
import multiprocessing.queues
import os
import queue
import re
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# litellm reads these at import time; they must be set before anything imports it.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"

PROVIDER_KEYS = (
    "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "GROQ_API_KEY", "OPENROUTER_API_KEY", "TOGETHERAI_API_KEY", "TOGETHER_API_KEY",
    "DEEPSEEK_API_KEY", "MOONSHOT_API_KEY", "XAI_API_KEY", "DASHSCOPE_API_KEY", "QWEN_API_KEY",
    "OPENAI_BASE_URL", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy",
)  # fmt: skip


def clean_env(home: Path, base_env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of the environment with no provider credentials, no OPENKOI_* settings, and ``home``."""
    env = dict(os.environ if base_env is None else base_env)
    for key in PROVIDER_KEYS:
        env.pop(key, None)
    for key in [k for k in env if k.startswith("OPENKOI_")]:
        env.pop(key)
    env["OPENKOI_HOME"] = str(home)
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["HF_HUB_OFFLINE"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def use_fake_model(home: Path, url: str) -> None:
    """Point this process at the fake model server, the way a user points openkoi at any OpenAI-compatible one."""
    env = clean_env(home)
    env.update(OPENKOI_MODEL="openai/fake", OPENAI_BASE_URL=url, OPENAI_API_KEY="x")
    os.environ.clear()
    os.environ.update(env)


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX and friends never leave the machine
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def forbid_network() -> None:
    """Refuse any outgoing connection that is not to a loopback address, for the whole process."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"benchmark is offline: refusing to connect to {address!r}")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            raise ConnectionRefusedError(f"benchmark is offline: refusing to connect to {address!r}")
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]


def emit(payload: dict[str, Any]) -> None:
    """The benchmark's single line on stdout."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@dataclass
class Harness:
    """An engine wired to a fake model, with every Notice collected (a benchmark must run clean)."""

    engine: Any
    notices: list[str] = field(default_factory=list)


@asynccontextmanager
async def engine_on(url: str, prefix: str) -> AsyncIterator[Harness]:
    """A temporary OPENKOI_HOME and workspace, and an engine using the fake model at ``url``."""
    from core.config import load_settings
    from core.engine import Engine
    from core.events import Event, EventBus, Notice
    from core.store import Store

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        root = Path(tmp)
        use_fake_model(root / "home", url)
        workspace = root / "workspace"
        workspace.mkdir()
        settings = load_settings()
        bus = EventBus()
        harness_notices: list[str] = []

        def on_event(event: Event) -> None:
            if isinstance(event, Notice) and event.level in {"warn", "error"}:
                harness_notices.append(event.text)

        bus.subscribe(on_event)
        async with Store(settings.db_path) as store:
            yield Harness(Engine(settings, store, bus, workspace=workspace), harness_notices)


def check(condition: bool, message: str) -> None:
    """Fail the benchmark loudly (exit 1) when its scenario did not run as scripted."""
    if not condition:
        note(f"benchmark scenario broken: {message}")
        raise SystemExit(1)


# ------------------------------------------------------------------------------ a burst against the service
# What ack_latency and api_post share: the service runs in the benchmark's process, the load comes from other
# processes over keep-alive connections with a few-line HTTP/1.1 client on raw streams (a client library costs
# more CPU per request than the service does, and on a small machine the generator would be what is measured).


def _status_kb(field: str, pid: int | str = "self") -> int:
    """A ``kB`` line of /proc/PID/status (Linux): VmRSS is resident now, VmHWM the most ever."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def rss_mb(pid: int | str = "self") -> float:
    return _status_kb("VmRSS", pid) / 1024


class PeakSampler:
    """The highest resident memory of this process while it runs, sampled every 10 ms from another
    process: a sampling thread in the service would take its GIL and CPU, and be measured with it."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._started = context.Event()
        self._peak: multiprocessing.queues.Queue[float] = context.Queue()
        # A daemon: should the benchmark stop early, the sampler does not keep it from exiting.
        self._process = context.Process(
            target=_sample, args=(os.getpid(), self._started, self._stop, self._peak), daemon=True
        )

    async def start(self) -> None:
        self._process.start()
        await asyncio.to_thread(self._started.wait, 30)

    async def stop(self) -> float:
        self._stop.set()
        peak = await asyncio.to_thread(self._peak.get, True, 30)
        await asyncio.to_thread(self._process.join, 10)
        return max(peak, rss_mb())


def _sample(pid: int, started: Any, stop: Any, peak: Any) -> None:
    highest = rss_mb(pid)
    started.set()
    while not stop.wait(0.01):
        highest = max(highest, rss_mb(pid))
    peak.put(highest)


class LoadFailed(Exception):
    """Every load process has exited, and not all of them sent their figures."""


LoadResult = tuple[list[float], int, float]  # one load process's latencies (ms), errors, and wall time (s)


def next_result(results: Any, senders: list[Any]) -> LoadResult:
    """The next load process's figures; LoadFailed when every load process has exited without sending
    them (one that failed its warm-up), rather than waiting for them for ever."""
    while True:
        try:
            result: LoadResult = results.get(True, 1.0)
            return result
        except queue.Empty:
            if any(sender.is_alive() for sender in senders):
                continue
        try:  # one last look: a process may have sent its figures just before it exited
            result = results.get(True, 1.0)
            return result
        except queue.Empty:
            codes = [sender.exitcode for sender in senders]
            raise LoadFailed(f"the load processes exited ({codes}) without their figures") from None


@dataclass
class Burst:
    """What a burst measured in the service's process."""

    latencies: list[float]  # ms, sorted
    errors: int
    wall: float  # s, the longest load process's
    cpu: float  # s, the service process's (all its threads, SQLite's included)
    loop_cpu: float  # s, the event loop thread's alone
    counts: dict[str, int]  # task rows by status after the burst
    rss_peak: float  # MB

    def figures(self, n: int, unit: str) -> dict[str, object]:
        """The figures every burst benchmark prints; CPU per ``unit`` (ack, request)."""
        latencies = self.latencies
        return {
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 1),
            "max_ms": round(latencies[-1], 1),
            "tasks_persisted": sum(self.counts.values()),
            "errors": self.errors,
            f"cpu_ms_per_{unit}": round(self.cpu * 1000 / n, 2),
            f"loop_cpu_ms_per_{unit}": round(self.loop_cpu * 1000 / n, 2),
        }


async def measure_burst(svc: Any, senders: list[Any], results: Any, sampler: PeakSampler) -> Burst:
    """Start the load processes and wait for each one's figures, measuring the service process's CPU meanwhile;
    then count the saved tasks and stop the sampler and the service."""
    for sender in senders:
        sender.start()
    cpu_started, loop_started = time.process_time(), time.thread_time()  # all threads; the event loop's
    latencies: list[float] = []
    errors, wall = 0, 0.0
    try:
        for _ in senders:
            part, failed, took = await asyncio.to_thread(next_result, results, senders)
            latencies += part
            errors += failed
            wall = max(wall, took)
    except LoadFailed as exc:
        await sampler.stop()
        await svc.stop()  # closes the store: its thread would keep this process from exiting
        check(False, str(exc))
        raise
    cpu, loop_cpu = time.process_time() - cpu_started, time.thread_time() - loop_started
    for sender in senders:
        await asyncio.to_thread(sender.join)
    counts = await svc.store.tasks.counts()
    rss_peak = await sampler.stop()
    await svc.stop()
    return Burst(sorted(latencies), errors, wall, cpu, loop_cpu, counts, rss_peak)


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, status: int, expect: re.Pattern[bytes]
) -> bool:
    """Send one request and read its whole response; True for a ``status`` answer whose body matches ``expect``."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    got = int(head.split(b" ", 2)[1])
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        None,
    )
    if length is None:
        return False  # the service always answers with a length; anything else counts as an error
    body = await reader.readexactly(length)
    return got == status and expect.search(body) is not None


async def closed_loop(
    port: int,
    requests: list[bytes],
    concurrency: int,
    ask: Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[bool]],
    warm: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]],
    ready: Any = None,
) -> LoadResult:
    """Send ``requests`` over ``concurrency`` keep-alive connections, each sending its next request once the
    last is answered; ``ask`` tells whether an answer is right. One uncounted ``warm`` request first, on the
    first connection (it opens the service's lazy paths once, as any traffic would); then, once every
    connection is open (and every load process is at the ``ready`` barrier, when there is one), the clock starts."""
    latencies: list[float] = []
    errors = 0
    pending = iter(requests)

    async def connection(first: bool) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            if first:
                check(await warm(reader, writer), "the warm-up request failed")
            await opened.wait()
            for request in pending:
                started = time.perf_counter()
                try:
                    ok = await ask(reader, writer, request)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                if not ok:
                    errors += 1
        finally:
            writer.close()

    opened = asyncio.Event()
    workers = [asyncio.create_task(connection(c == 0)) for c in range(concurrency)]
    await asyncio.sleep(0.5)  # connections established and the warm-up answered
    if ready is not None:
        await asyncio.to_thread(ready.wait)
    wall = time.perf_counter()
    opened.set()
    await asyncio.gather(*workers)
    return latencies, errors, time.perf_counter() - wall
