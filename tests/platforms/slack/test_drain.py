"""Stopping `openkoi serve` (SIGTERM) while Slack threads still have messages to post: every thread's last
messages go out, at the channel's pace, before the Slack adapter closes its HTTP session."""

from __future__ import annotations

import logging

import pytest

from bots.service import Service
from core.config import Settings
from core.models import TaskStatus
from core.store import Store
from tests.chat_service import service_settings, wait_until
from tests.fakes.model_server import FakeModelServer, Reply
from tests.platforms.slack.fake_api import FakeSlack
from tests.platforms.slack.test_adapter import BOT_TOKEN, SECRET, parent_of, replies, slack, slash, task_for

__all__ = ["slack"]  # the fixture, imported for the tests below


async def test_a_task_finishing_during_the_drain_gets_its_final_message_in_the_thread(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack's pace (one message a second in a channel) leaves the thread's last messages queued well after the
    task ends; before, the drain stopped waiting after ``drain_seconds`` + 1 and closed the session under them
    ("Session is closed"), so the result and "Done" never reached the thread."""
    section = {
        "bot_token": BOT_TOKEN,
        "api_url": slack.api_url,
        "signing_secret": SECRET,
        "edit_interval": 0.05,
        "channel_pace": {"messages": 1, "seconds": 1.0},
    }
    svc = Service(settings, service_settings(slack=section, serve={"drain_seconds": 2}))
    await svc.start()
    fake_model.latency = 0.1
    # A result of four Slack messages: with the rest of the thread, over ten sends at one a second.
    paragraphs = [f"Paragraph {n}. " + "tea " * 600 for n in range(4)]
    fake_model.script.queue("execute", Reply("\n\n".join(paragraphs)))
    try:
        assert (await slash(svc, slack, "write a haiku about tea", trigger_id="trig-drain")).status == 200
        task_id = await task_for(svc, "trig-drain")
        parent = await parent_of(svc, task_id)
        await wait_until(lambda: bool(replies(slack, parent)), within=10)  # running, its thread under way
    finally:
        with caplog.at_level(logging.INFO):
            await svc.stop()
    assert await status_of_after_stop(settings, task_id) is TaskStatus.DONE, "it finished during the drain"
    texts = [m.text or "" for m in replies(slack, parent)]
    assert [n for n in range(4) if any(t.startswith(f"Paragraph {n}.") for t in texts)] == [0, 1, 2, 3], texts
    assert "*Done*" in texts[-1], texts
    parent_message = slack.message(parent)
    assert parent_message is not None and "✅ done" in (parent_message.text or ""), "the last status is shown"
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not problems, [r.getMessage() for r in problems]
    assert not any("Session is closed" in r.getMessage() for r in caplog.records)


async def status_of_after_stop(settings: Settings, task_id: str) -> TaskStatus:
    """The task's status as the database keeps it (the service's store is closed by then)."""
    async with Store(settings.db_path) as store:
        return (await store.tasks.get(task_id)).status
