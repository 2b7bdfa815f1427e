"""`/think soul` and `/think mind agencies|dissent|calibrate` in chat: answered at once, then posted in the
channel where they were asked, in the platform's markup and within its limit; no task, no model call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bots.chat.views import view_messages
from bots.discord.markup import DISCORD
from bots.service import Service
from bots.slack.markup import SLACK
from bots.telegram.markup import TELEGRAM
from bots.views import View, dissent_view
from core.config import Settings
from core.reflection.mind import mind_dissent
from tests.chat.test_core import attach, think
from tests.chat_service import running_service, service_settings, wait_until
from tests.core.reflection.test_mind import seed
from tests.fakes.chat_platform import RecordingPlatform
from tests.fakes.model_server import FakeModelServer


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Service]:
    async with running_service(settings, service_settings()) as service:
        yield service


def posted(platform: RecordingPlatform, channel: str) -> list[str]:
    return [p.message.text for p in platform.messages.values() if p.channel_id == channel and p.thread_id is None]


async def test_mind_and_soul_are_posted_where_they_were_asked(svc: Service, fake_model: FakeModelServer) -> None:
    platform = await attach(svc)
    ids = await seed(svc.store.db)
    tasks_before = sum((await svc.store.tasks.counts()).values())

    reply = await svc.ingress.handle(think("mind dissent", key="m1", channel="C7"))
    assert reply is not None and reply.private and reply.task_id is None
    assert reply.text == "🧠 Posting the agencies' dissent record here."
    await wait_until(lambda: bool(posted(platform, "C7")))
    (text,) = posted(platform, "C7")
    lines = text.splitlines()
    assert lines[0] == "🧠 **Dissent: 4 tasks where a vote went against the verdict**"
    assert "• economist: 4 dissents, borne out 2, not 1, cannot tell 1" in lines
    assert any(line.startswith(f"• {ids['t5'][:8]} Rotate the signing keys") for line in lines)
    assert "    ↳ economist approve: because — not borne out" in lines

    reply = await svc.ingress.handle(think("soul", key="s1", channel="C8"))
    assert reply is not None and reply.text == "🧠 Posting the team's SOUL.md here."
    await wait_until(lambda: bool(posted(platform, "C8")))
    soul = posted(platform, "C8")[0]
    assert soul.startswith("🧠 **SOUL.md in force: the bundled default — Soul**")
    assert "• - Safety first: nothing irreversible without a person's explicit go-ahead." in soul

    for n, text in enumerate(["mind", "mind calibrate", "mind agencies"]):
        reply = await svc.ingress.handle(think(text, key=f"v{n}", channel=f"D{n}"))
        assert reply is not None and reply.task_id is None
        await wait_until(lambda n=n: bool(posted(platform, f"D{n}")))
    assert posted(platform, "D0") == posted(platform, "D2"), "/think mind is the agencies' record"
    assert "**Scholar**" in posted(platform, "D1")[0]
    assert sum((await svc.store.tasks.counts()).values()) == tasks_before, "nothing was queued"
    assert fake_model.requests == [], "no model was asked"


async def test_a_view_fits_every_platforms_limit_title_first(svc: Service) -> None:
    await seed(svc.store.db)
    long = dissent_view(await mind_dissent(svc.store.db), 10)
    view = View(long.title, long.sections * 40)  # far over any one message
    for m in (SLACK, DISCORD, TELEGRAM):
        messages = view_messages(m, view)
        assert len(messages) > 1 and all(m.measure(text) <= m.limit for text in messages)
        assert messages[0].splitlines()[0] == f"🧠 {m.bold(view.title)}"
