"""What every platform does with a button press: the refusal everyone shares, which answers are refusals, and
the race between deciding a press and the platform's acknowledgement deadline.

Slack and Discord give up on a press that is not acknowledged within 3 s, and neither delivers it again. A
press is therefore decided *before* it is acknowledged whenever the desk is quick enough (so an
acknowledgement means the decision is saved), and acknowledged anyway at the deadline when it is not; the
answer then follows once the decision is made. ``Decision`` is that race; each adapter only says how it
acknowledges and answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from bots.chat.platform import Reply

log = logging.getLogger(__name__)

# A press on a button whose state is gone or was never ours (an expired card, a foreign payload).
NO_LONGER_VALID = "This button is no longer valid."


def is_refusal(reply: Reply) -> bool:
    """True when a press's answer is a refusal, which only the presser should see (an alert rather than a
    toast): every desk answers a decision publicly or, for a vote, names the task it counted for."""
    return reply.private and reply.task_id is None


class Decision:
    """A press being decided, raced against the platform's deadline. A desk that fails is answered with
    ``failure`` (privately), never with an exception."""

    def __init__(self, decide: Awaitable[Reply], failure: str, platform: str) -> None:
        self._failure = failure
        self._platform = platform
        self._task: asyncio.Future[Reply] = asyncio.ensure_future(self._guarded(decide))

    async def _guarded(self, decide: Awaitable[Reply]) -> Reply:
        try:
            return await decide
        except Exception:
            log.exception("%s: handling a button press failed", self._platform)
            return Reply(self._failure, private=True)

    async def within(self, seconds: float) -> bool:
        """Wait for the decision at most ``seconds``: True when it was made in time. The press must be
        acknowledged after this either way; when it was not in time, the decision goes on in the background."""
        done, _ = await asyncio.wait({self._task}, timeout=seconds)
        if not done:
            log.warning("%s: a button press took over %ss; acknowledged before it was decided", self._platform, seconds)
        return bool(done)

    async def reply(self) -> Reply:
        """The desk's answer, once it is decided."""
        return await self._task
