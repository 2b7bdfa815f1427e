"""What the chat platforms' acting tests share: the team's `restart-worker` runbook, written to the test's
``config.toml``, that appends a line to a marker file (proof that it ran) and prints what it did; and the
model's proposal to call it.

A runbook rather than an MCP server: a process started per call is all these tests need, and it is fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from bots.service import Service
from core.store.actions import ActionApproval
from tests.chat_service import wait_until
from tests.fakes.model_server import FakeModelServer, Reply
from tests.fakes.scripts import AGENT_REASON
from tests.fakes.scripts import tool_calls as calls

CardT = TypeVar("CardT")  # the approval card as a platform's fake shows it

RUNBOOK = "restart-worker"
REASON = AGENT_REASON  # what the model says with its call
OUTPUT = "restarted worker@api"
_SCRIPT = "import sys; open(sys.argv[1], 'a').write('restarted {name}\\n'); print('restarted worker@{name}')"


def write_runbook(home: Path, marker: Path) -> None:
    """``[runbooks.restart-worker]`` in ``$OPENKOI_HOME/config.toml``: a write in the ``deploy`` domain, so at
    the default trust (ask) a person decides each call unless a standing grant covers it."""
    command = [sys.executable, "-c", _SCRIPT, str(marker)]
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f"[runbooks.{RUNBOOK}]\n"
        'description = "Restart a background worker"\n'
        f"command = {json.dumps(command)}\n"
        'params = { name = { pattern = "^[a-z0-9-]{1,32}$" } }\n'
        'domain = "deploy"\n'
        'effect = "write"\n',
        encoding="utf-8",
    )


@pytest.fixture
def marker(home: Path, tmp_path: Path) -> Path:
    """The file the runbook appends to each time it runs; the runbook is in the team's config.toml."""
    path = tmp_path / "restarted.log"
    write_runbook(home, path)
    return path


def restart(name: str = "api") -> Reply:
    """The model's turn that proposes one call of the runbook (call id ``c0``)."""
    return calls((RUNBOOK, {"name": name}))


def restarts(marker: Path) -> list[str]:
    """What the runbook wrote to the marker file, one line per run: empty if it never ran."""
    return marker.read_text(encoding="utf-8").splitlines() if marker.exists() else []


async def pending_approval(svc: Service, task_id: str) -> ActionApproval:
    """The task's one pending action approval, once the gate asked for it."""
    found: list[ActionApproval] = []

    async def asked() -> bool:
        found[:] = await svc.store.actions.pending(task_id)
        return bool(found)

    await wait_until(asked, within=15)
    (approval,) = found
    return approval


@dataclass(frozen=True)
class Asked(Generic[CardT]):
    """A running service whose first task waits on the runbook's approval card (as the platform shows it)."""

    svc: Service
    task_id: str
    approval: ActionApproval
    card: CardT


@asynccontextmanager
async def card_asked(
    model_env: FakeModelServer,
    serving: AbstractAsyncContextManager[Service],
    ask: Callable[[Service], Awaitable[str]],
    card_of: Callable[[Service, str], Awaitable[tuple[ActionApproval, CardT]]],
) -> AsyncIterator[Asked[CardT]]:
    """Serve, have the model propose one restart, ``ask`` for it in chat (the task's id), and wait until
    ``card_of`` finds the pending approval and its card."""
    model_env.script.queue("execute", restart())
    async with serving as svc:
        task_id = await ask(svc)
        approval, card = await card_of(svc, task_id)
        yield Asked(svc, task_id, approval, card)
