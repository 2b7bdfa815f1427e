"""How long the chat layer takes to answer what a platform delivered: the part of a platform's acknowledgement
deadline (Slack's and Discord's 3 s) that openkoi itself spends, saving and deciding.

The ingress times each command and the confirmation desk each button press, and tell an ``AckObserver`` (the
service's metrics, ``bots.metrics``) the platform's name, the kind and the seconds. Adapters need no change: every
one of them hands its commands to ``Ingress.handle`` and its presses to ``ConfirmationDesk.press``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

AckKind = Literal["command", "press"]
# (platform, kind, seconds): called once per command or press, answered or refused, never raising into the caller.
AckObserver = Callable[[str, AckKind, float], None]


@contextmanager
def timed(observer: AckObserver | None, platform: str, kind: AckKind) -> Iterator[None]:
    """Tell ``observer`` how long the block took, however it ended (an answer, a refusal, an error)."""
    if observer is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        observer(platform, kind, time.perf_counter() - started)
