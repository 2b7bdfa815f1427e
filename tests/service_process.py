"""`openkoi serve` as a subprocess, for the tests that need a real process: one they can kill with SIGKILL and
start again on the same database. The service reads the fake model, its config.toml in ``home`` and what the test
adds to its environment; nothing of this process's environment leaks in (no provider key, no OPENKOI_* setting,
no platform token)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bots.config import platform_variables
from tests.conftest import PROVIDER_KEYS
from tests.fakes.model_server import FakeModelServer
from tests.terminal.test_e2e import OPENKOI

# How long the service may take to print its start-up report (litellm's import alone is seconds on a busy machine).
START_SECONDS = 60.0


def free_port() -> int:
    """A port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_environment(home: Path, model: FakeModelServer, **variables: str) -> dict[str, str]:
    """The environment of a service whose model is the fake, whose home is ``home``, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS and not k.startswith("OPENKOI_")}
    for key in platform_variables():
        env.pop(key, None)
    env.update(
        OPENKOI_HOME=str(home),
        OPENKOI_MODEL="openai/fake",
        OPENAI_BASE_URL=model.url,
        OPENAI_API_KEY="sk-test",
    )
    env.update(variables)
    return env


@dataclass
class ServeProcess:
    """A running `openkoi serve`: its process, its port, and what it said at start-up (its stderr, to the line
    the test waited for)."""

    proc: asyncio.subprocess.Process
    port: int
    announced: str
    _drain: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def kill(self) -> None:
        """SIGKILL: no drain, no shutdown of anything; what was in flight stays as the database has it."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()


@asynccontextmanager
async def serve_process(env: dict[str, str], until: str, port: int | None = None) -> AsyncIterator[ServeProcess]:
    """Start `openkoi serve` on ``port`` (a free one by default) and wait until its start-up report has a line
    containing ``until`` (the report is printed once the server listens). Killed on exit if still running."""
    port = port if port is not None else free_port()
    proc = await asyncio.create_subprocess_exec(
        OPENKOI, "serve", "--port", str(port), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    served = ServeProcess(proc, port, "")
    try:
        served.announced = await _read_until(proc, until)
        served._drain = asyncio.create_task(_drain_stderr(proc))
        yield served
    finally:
        await served.kill()
        if served._drain is not None:
            served._drain.cancel()
            await asyncio.gather(served._drain, return_exceptions=True)


async def _read_until(proc: asyncio.subprocess.Process, until: str) -> str:
    assert proc.stderr is not None
    said: list[str] = []
    while not any(until in line for line in said):
        line = await asyncio.wait_for(proc.stderr.readline(), START_SECONDS)
        assert line, "openkoi serve exited during start:\n" + "".join(said)
        said.append(line.decode(errors="replace"))
    return "".join(said)


async def _drain_stderr(proc: asyncio.subprocess.Process) -> None:
    """Read what the service logs after its start: a full pipe would block it."""
    assert proc.stderr is not None
    while await proc.stderr.readline():
        pass
