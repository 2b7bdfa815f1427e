"""Run any fake API server (an object with ``async start()`` / ``async stop()``) on its own thread,
for tests that drive the ``openkoi`` console script in a subprocess."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar


class Startable(Protocol):
    async def start(self) -> Any: ...
    async def stop(self) -> None: ...


F = TypeVar("F", bound=Startable)


@contextmanager
def in_thread(fake: F) -> Iterator[F]:
    """Start ``fake`` on a new event loop in a daemon thread; stop it on exit."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(fake.start())
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(fake.stop())
        loop.close()

    thread = threading.Thread(target=run, name=f"fake-{type(fake).__name__}", daemon=True)
    thread.start()
    started.wait(10)
    if failure:
        raise failure[0]
    try:
        yield fake
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
