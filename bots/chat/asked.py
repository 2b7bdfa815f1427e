"""Posts a person asked for in a channel (`/think digest`, `/think soul`, `/think mind`).

The command is answered at once and the post is made in the background, so the service keeps each one
running until it ends (or the service closes), and a post that is refused or fails is logged, never
raised into the event loop: the person already has their answer to the command.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from bots.chat.platform import CannotPost

log = logging.getLogger(__name__)


async def post_as_asked(what: str, platform: str, channel: str, post: Coroutine[Any, Any, None]) -> bool:
    """Run ``post``; True when it went out. A refusal (``CannotPost``) or any failure is logged, naming
    ``what`` was asked for (``the digest``, ``a view``) and where, and is False."""
    try:
        await post
    except CannotPost as exc:
        log.warning("%s asked in %s %s was refused: %s. %s", what, platform, channel, exc.reason, exc.remedy)
        return False
    except Exception:
        log.exception("posting %s asked in %s %s failed", what, platform, channel)
        return False
    return True


@dataclass
class Running:
    """The asked-for posts still being made; ``close`` cancels them (the service is stopping)."""

    _tasks: set[asyncio.Task[bool]] = field(default_factory=set)

    def start(self, post: Coroutine[Any, Any, bool]) -> None:
        task = asyncio.create_task(post)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
