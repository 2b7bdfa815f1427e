"""Helpers several test modules share (each was once copied between them)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bots.chat import registry
from bots.service import Service
from core.models import TaskStatus
from core.secrets import SECRETS
from tests.chat_service import wait_until
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DISTRIBUTION = "openkoi_test_plugins"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variables: slack_sdk honours HTTP(S)_PROXY and ignores NO_PROXY, so its calls to a fake on
    127.0.0.1 would be proxied. Autouse wherever a conftest imports it (tests/chat, tests/platforms)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def discord_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py's API and gateway URLs are process-global, and the adapter points them at a fake: whatever a
    test (or a failing adapter) leaves there, the originals come back afterwards. And a short ready wait:
    discord.py otherwise waits 2 s after the last GUILD_CREATE on every start."""
    import discord

    from bots.discord.adapter import DiscordAdapter

    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    gateway = discord.gateway.DiscordWebSocket
    monkeypatch.setattr(gateway, "DEFAULT_GATEWAY", gateway.DEFAULT_GATEWAY)
    monkeypatch.setattr(DiscordAdapter, "guild_ready_timeout", 0.05)


async def status_of(svc: Service, task_id: str) -> TaskStatus:
    return (await svc.store.tasks.get(task_id)).status


async def wait_status(svc: Service, task_id: str, status: TaskStatus, within: float = 10.0) -> None:
    """Wait until the task's stored status is ``status``."""

    async def reached() -> bool:
        return await status_of(svc, task_id) is status

    await wait_until(reached, within=within)


def guardian_blocks_next(model: FakeModelServer, reason: str | None = None, reversibility: str = "FULL") -> None:
    """Script the next deliberation so that the Guardian blocks the task (giving ``reason``, when one is given)."""
    reasons = {"guardian": reason} if reason is not None else None
    block = scripts.parliament(votes={"guardian": "BLOCK"}, reasons=reasons, reversibility=reversibility)
    model.script.queue("ParliamentReply", block)


@contextmanager
def registered_platforms(where: Path, **entries: str) -> Iterator[None]:
    """Install chat platform plugins for the duration, as a separately installed package would be: a
    distribution in ``where`` whose ``openkoi.platforms`` entry points are ``name = "module:attribute"``, put on
    ``sys.path``; the registry is read again on entry and on exit. Modules imported from ``where`` are
    forgotten on exit, so another test may write a package of the same name."""
    where.mkdir(parents=True, exist_ok=True)
    info = where / f"{PLUGIN_DISTRIBUTION}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PLUGIN_DISTRIBUTION}\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[openkoi.platforms]\n{lines}", encoding="utf-8")
    sys.path.insert(0, str(where))
    registry.forget()
    try:
        yield
    finally:
        sys.path.remove(str(where))
        for name, module in list(sys.modules.items()):
            if str(getattr(module, "__file__", None) or "").startswith(str(where)):
                del sys.modules[name]
        registry.forget()


async def until_idle(svc: Service, within: float = 10.0) -> None:
    """Wait for the service's idle signal: every adapter has handled and answered what it took, no task is
    running or left to run, every thread's outbox is empty. What a test waits for before asserting that
    something did *not* happen (a sleep would pass whenever it happens late)."""
    async with asyncio.timeout(within):
        for adapter in list(svc.adapters.values()):
            await adapter.settled()
        await svc.pool.settled()
    await svc.publisher.flush(within=within)


# Runs `openkoi <args>` in-process in a fresh interpreter, then reports its exit code and which of the watched
# modules (argv[1], a JSON list) it imported.
PROBE = """
import json, sys
from bots.terminal.cli import cli
watched = json.loads(sys.argv[1])
try:
    code = cli.main(sys.argv[2:], standalone_mode=False)
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code or 0, "imported": [name for name in watched if name in sys.modules]}))
"""


@dataclass(frozen=True)
class Probed:
    """What a probed command did: its exit code, the watched modules it imported, what it printed."""

    code: int
    imported: list[str]
    printed: list[str]  # its stdout, line by line
    stderr: str


def probe_command(args: list[str], watched: list[str], env: dict[str, str]) -> Probed:
    """Run ``openkoi <args>`` in a fresh interpreter, as the console script would, and report which of the
    ``watched`` modules it imported (e.g. litellm, which must not load for ``--help``)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watched), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    *printed, last = done.stdout.strip().splitlines()
    report = json.loads(last)
    return Probed(int(report["code"]), list(report["imported"]), printed, done.stderr)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` as a fixed author; its stdout."""
    return subprocess.run(
        ["git", "-c", "user.name=Ada", "-c", "user.email=ada@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def make_git_repo(repo: Path) -> Path:
    """A repository at ``repo`` with three commits on ``main`` (file1–3.txt)."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for n, message in enumerate(["first: the readme", "second: the config", "third: the fix"], start=1):
        (repo / f"file{n}.txt").write_text(f"{n}\n")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", message)
    return repo


async def send_raw_http(
    port: int,
    method: str,
    path: str,
    headers: list[tuple[str, bytes]],
    body: bytes = b"",
    *,
    length: int | None = None,
    chunked: bool = False,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send exactly these request bytes to 127.0.0.1:``port``, as no client library would: ``length`` may lie
    about the body's size (None: the true size), ``chunked`` sends the body in 64 KiB chunks with no
    Content-Length. The caller reads the answer and closes the writer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    else:
        lines.append(b"Content-Length: %d" % (len(body) if length is None else length))
        payload = body
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
    try:
        writer.write(payload)
        await writer.drain()
    except ConnectionError:  # the server may answer and close before reading an oversize body
        pass
    return reader, writer


@contextmanager
def registered_secret(value: str) -> Iterator[str]:
    """``value`` is one of the service's secrets (redacted wherever it is shown) until the block ends."""
    added = SECRETS.add([value])
    try:
        yield value
    finally:
        SECRETS.remove(added)


def write_skill(root: Path, name: str, description: str, body: str, extra: str = "") -> Path:
    """A ``SKILL.md`` at ``root/name/`` with this front matter (``extra``: more of its lines) and body."""
    path = root / name / "SKILL.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\nname: {name}\ndescription: {description}\n{extra}---\n{body}\n", "utf-8")
    return path
