"""The chat queue lives in SQLite: every saved task runs without a restart, in order, with honest
back-pressure, and no person or channel can fill it. Commands go through the real slack-bolt app over
HTTP against the fake Slack API; tasks run against the fake model through litellm."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bots.config import ServiceSettings
from bots.service import Service
from core.config import Settings
from core.models import TaskStatus
from tests.chat_service import running_service, service_settings, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.platforms.slack.fake_api import FakeSlack, signed_headers, slash_command_body

SECRET = "queue-signing-secret"
TASK_ID = re.compile(r"[Tt]ask ([0-9a-f]{8})")


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(bot_token="xoxb-queue") as fake:
        yield fake


def queue_service(fake: FakeSlack, **serve: Any) -> ServiceSettings:
    section = {"bot_token": "xoxb-queue", "signing_secret": SECRET, "api_url": fake.api_url, "edit_interval": 0.05}
    return service_settings(serve=serve, slack=section)


async def slash(
    http: aiohttp.ClientSession, svc: Service, fake: FakeSlack, text: str, trigger: str, *, user: str, channel: str
) -> str:
    body = slash_command_body(
        text=text, trigger_id=trigger, user_id=user, channel_id=channel, response_url=fake.response_url(trigger)
    )
    url = f"http://127.0.0.1:{svc.port}/slack/events"
    async with http.post(url, data=body, headers=signed_headers(body, SECRET)) as response:
        assert response.status == 200
        return await response.text()


async def statuses(svc: Service) -> dict[str, int]:
    return await svc.store.tasks.counts()


async def test_150_commands_with_a_queue_limit_of_20_all_finish_without_a_restart(
    settings: Settings, slack: FakeSlack
) -> None:
    service = queue_service(slack, workers=8, queue_limit=20, queue_limit_per_user=200, queue_limit_per_channel=200)
    async with running_service(settings, service) as svc, aiohttp.ClientSession() as http:
        gate = asyncio.Semaphore(25)

        async def one(n: int) -> str:
            async with gate:
                return await slash(
                    http, svc, slack, f"task {n} --simulate", f"trig-{n}", user=f"U{n % 7}", channel="C1"
                )

        answers = await asyncio.gather(*(one(n) for n in range(150)))
        ids = [TASK_ID.search(a) for a in answers]
        assert all(ids), [a for a, m in zip(answers, ids, strict=True) if not m][:3]
        assert not any("not accepted" in a.lower() for a in answers)
        full = [a for a in answers if "the queue is full" in a]
        assert full, "with 150 commands at once, some must be told the queue is full"
        assert all(re.search(r"\(\d+ tasks ahead of it\)", a) for a in full), full[:2]
        assert sum((await statuses(svc)).values()) == 150

        async def all_done() -> bool:
            return (await statuses(svc)).get(TaskStatus.DONE.value, 0) == 150

        await wait_until(all_done, within=90, every=0.2)


async def test_a_person_over_their_limit_is_refused_honestly_and_nothing_is_saved(
    settings: Settings, slack: FakeSlack, fake_model: FakeModelServer
) -> None:
    fake_model.latency = 1.0  # tasks stay unfinished while the limit is tested
    service = queue_service(slack, workers=1, queue_limit_per_user=2, queue_limit_per_channel=3)
    async with running_service(settings, service) as svc, aiohttp.ClientSession() as http:
        first = await slash(http, svc, slack, "one", "u-1", user="UALICE", channel="C1")
        second = await slash(http, svc, slack, "two", "u-2", user="UALICE", channel="C1")
        assert TASK_ID.search(first) and TASK_ID.search(second)
        assert "it is next" in second or "ahead of it" in second, "one worker is busy: the answer says it waits"

        refused = await slash(http, svc, slack, "three", "u-3", user="UALICE", channel="C1")
        assert "You already have 2 tasks waiting or running (the limit is 2)" in refused
        assert "not started" in refused and not TASK_ID.search(refused)
        assert await svc.store.inbound.task_for("slack", "u-3") is None
        assert sum((await statuses(svc)).values()) == 2

        # Someone else in the same channel may still ask, until the channel's limit.
        assert TASK_ID.search(await slash(http, svc, slack, "bob's", "b-1", user="UBOB", channel="C1"))
        crowded = await slash(http, svc, slack, "carol's", "c-1", user="UCAROL", channel="C1")
        assert "This channel already has 3 tasks waiting or running (the limit is 3)" in crowded
        assert TASK_ID.search(await slash(http, svc, slack, "elsewhere", "c-2", user="UCAROL", channel="C2"))
        assert sum((await statuses(svc)).values()) == 4


async def test_queued_tasks_run_oldest_first(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = queue_service(slack, workers=1)
    async with running_service(settings, service) as svc, aiohttp.ClientSession() as http:
        await svc.pool.drain(within=0)  # nothing runs while the queue fills
        for n in range(5):
            await slash(http, svc, slack, f"job {n}", f"o-{n}", user=f"U{n}", channel="C1")
        order = [await svc.store.inbound.task_for("slack", f"o-{n}") for n in range(5)]
        started: list[str] = []
        run = svc.engine.run

        async def spy(task_id: str) -> Any:
            started.append(task_id)
            return await run(task_id)

        monkeypatch.setattr(svc.engine, "run", spy)
        svc.pool.start()
        await wait_until(lambda: len(started) == 5, within=30, every=0.05)
        assert started == order
