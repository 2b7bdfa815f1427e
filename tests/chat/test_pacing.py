"""Outbound pacing per chat: posts and edits into one chat stay within the platform's rate, edits coalesce."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bots.chat.pacing import Pacer
from bots.chat.settings import Pace
from core.config import Settings
from core.models import TaskStatus
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.platforms.telegram.test_adapter import GROUP, finished, say, serving, task_for, tg_settings


def most_in_any_window(stamps: list[float], seconds: float) -> int:
    stamps = sorted(stamps)
    return max((sum(1 for t in stamps[i:] if t < start + seconds) for i, start in enumerate(stamps)), default=0)


async def test_turns_keep_every_rate_and_are_per_chat() -> None:
    pacer = Pacer()
    rates = (Pace(messages=3, seconds=0.3), Pace(messages=1, seconds=0.05))
    stamps: dict[str, list[float]] = {"a": [], "b": []}

    async def send(chat: str) -> None:
        await pacer.turn("telegram", chat, rates)
        stamps[chat].append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*[send(chat) for chat in ("a", "b") for _ in range(7)])
    for chat in ("a", "b"):
        assert most_in_any_window(stamps[chat], 0.3) <= 3
        assert min(b - a for a, b in zip(stamps[chat], stamps[chat][1:], strict=False)) >= 0.05 - 0.005
    # Two chats are paced independently: 7 sends each need two full windows, not four.
    assert 0.55 < time.monotonic() - started < 1.0


async def test_no_rates_means_no_waiting() -> None:
    pacer = Pacer()
    started = time.monotonic()
    for _ in range(100):
        await pacer.turn("x", "c", ())
    assert time.monotonic() - started < 0.05


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def test_a_burst_into_one_telegram_group_stays_under_the_group_limit(
    settings: Settings, fake: FakeTelegram
) -> None:
    """Three tasks at once in one group, every status change wanting an edit at once (edit_interval 0):
    the fake's timeline of messages and edits into the group never exceeds the group's rate, and each
    task's parent still ends on its latest status. The window is 1 s here instead of Telegram's 60 s so
    the test is quick; the mechanism does not depend on the numbers."""
    group_pace = {"messages": 10, "seconds": 1.0}
    service = tg_settings(fake, edit_interval=0, group_pace=group_pace)
    async with serving(settings, service) as svc:
        updates = [say(fake, f"/think task number {n}")[0] for n in range(3)]
        tasks = [await task_for(svc, u) for u in updates]
        for task_id in tasks:
            await finished(svc, task_id, TaskStatus.DONE)
        parents = [await svc.store.conversations.get(t) for t in tasks]
    into_group = [
        c for c in fake.calls if c.method in ("sendMessage", "editMessageText") and c.params.get("chat_id") == GROUP
    ]
    stamps = [c.at for c in into_group]
    assert len(stamps) > 2 * group_pace["messages"], "a burst big enough to need pacing"
    # The fake stamps arrival; a request's trip can be a few ms longer than the one before it.
    assert most_in_any_window(stamps, group_pace["seconds"] - 0.05) <= group_pace["messages"]
    assert max(stamps) - min(stamps) >= len(stamps) / group_pace["messages"] - 1.5
    for conversation in parents:
        assert conversation is not None and conversation.parent_message_id is not None
        parent = fake.message(GROUP, int(conversation.parent_message_id))
        assert "done" in parent.text.splitlines()[-1]  # the latest status won, however many were coalesced
