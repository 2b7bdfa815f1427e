"""Shared set-up for the benchmarks: an offline guard, a clean environment, an engine on a fake model."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
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
