"""Helpers several test modules share (each was once copied between them)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bots.chat import registry
from bots.service import Service

PLUGIN_DISTRIBUTION = "openkoi_test_plugins"


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
