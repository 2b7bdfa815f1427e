"""Outbound pacing per chat: stay under each platform's posting rate so 429s are the exception.

Telegram allows about one message per second in a chat and 20 per minute in a group; Slack about
one per second in a channel. Every task posting into the same chat shares that chat's budget, so
the pacer is one object for the whole service, keyed by (platform, chat). Each send (a new message
or an edit) first waits for its turn: turns are handed out first come, first served, and a turn is
granted only when every rate the platform declares for that chat has room within its window.

Edits coalesce because the thread publisher reads a status line's text *after* its turn comes:
however many times the status changed while it waited, one edit carries the latest text.
A platform's 429 handling stays in its adapter; pacing only makes it rare.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class Rate(Protocol):
    """At most ``messages`` sends in any ``seconds``-long window (``bots.chat.settings.Pace`` is one)."""

    @property
    def messages(self) -> int: ...

    @property
    def seconds(self) -> float: ...


@dataclass
class Pacer:
    clock: Callable[[], float] = time.monotonic
    _sent: dict[tuple[str, str], deque[float]] = field(default_factory=dict)
    _turns: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    async def turn(self, platform: str, chat: str, rates: Sequence[Rate]) -> None:
        """Wait until one more send into ``chat`` keeps within every one of ``rates``, and count it."""
        if not rates:
            return
        key = (platform, chat)
        lock = self._turns.setdefault(key, asyncio.Lock())
        sent = self._sent.setdefault(key, deque(maxlen=max(r.messages for r in rates)))
        async with lock:
            # Holding the chat's turn, nothing else can send into it: one wait is enough.
            wait = self._wait(sent, rates)
            if wait > 0:
                await asyncio.sleep(wait)
            sent.append(self.clock())

    def _wait(self, sent: deque[float], rates: Sequence[Rate]) -> float:
        """Seconds until every rate has room: for a rate of n per s, the n-th latest send must be s old."""
        now = self.clock()
        wait = 0.0
        for rate in rates:
            if len(sent) >= rate.messages:
                wait = max(wait, sent[-rate.messages] + rate.seconds - now)
        return wait
