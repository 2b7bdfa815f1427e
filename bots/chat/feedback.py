"""👍 / 👎 presses on a finished task's last message, from any platform.

Any member of the chat may vote; one vote per person per task, and a second press changes it
(``core.feedback``). The button carries only an opaque feedback request id, so presses keep working
after a restart. Every answer is private: the presser alone learns that the vote counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bots.chat.platform import Actor, Button, Reply
from bots.chat.presses import NO_LONGER_VALID
from core.errors import OpenKoiError
from core.feedback import Rating, Vote, rate
from core.store import Store

log = logging.getLogger(__name__)


async def feedback_buttons(store: Store, task_id: str) -> tuple[Button, Button]:
    """The 👍 / 👎 pair for a task's final message (the same opaque id every time it is asked)."""
    request_id = await store.feedback.request_for(task_id)
    return Button(Vote.UP.symbol, "up", request_id), Button(Vote.DOWN.symbol, "down", request_id)


def voter_of(actor: Actor) -> str:
    return f"{actor.platform}:{actor.user_id}"


def thanks(actor: Actor, rating: Rating) -> str:
    short = rating.task_id[:8]
    now = f"now 👍 {rating.tally.up} · 👎 {rating.tally.down}"
    if rating.previous is rating.vote:
        other = Vote.DOWN if rating.vote is Vote.UP else Vote.UP
        return f"You already voted {rating.vote.symbol} on task {short} ({now}); press {other.symbol} to change it."
    changed = f", changed from {rating.previous.symbol}" if rating.previous is not None else ""
    return f"Thanks, {actor.name}: {rating.vote.symbol} recorded for task {short}{changed} ({now})."


@dataclass
class FeedbackDesk:
    store: Store

    async def press(self, actor: Actor, request_id: str, vote: Vote) -> Reply:
        """Record ``actor``'s vote. The reply is always private; it names the task (``task_id``)
        only when the vote was recorded."""
        task_id = await self.store.feedback.task_of_request(request_id)
        conversation = await self.store.conversations.get(task_id) if task_id else None
        if task_id is None or conversation is None or actor.platform != conversation.platform:
            return Reply(NO_LONGER_VALID, private=True)
        try:
            rating = await rate(self.store, task_id, voter_of(actor), vote)
        except OpenKoiError as exc:
            return Reply(f"Not recorded: {exc}.", private=True)
        log.info("task %s: %s voted %s", task_id, actor.label, vote.name.lower())
        return Reply(thanks(actor, rating), private=True, task_id=task_id)
