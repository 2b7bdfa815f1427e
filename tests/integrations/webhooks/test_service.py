"""Webhooks in `openkoi serve`: a task run by the service (through the fake model, asked on the recording chat
platform) produces a signed ``task.done`` delivery; and a service killed with SIGKILL while a delivery is failing
sends it after the restart, with the same webhook-id, keeping the attempts made before the kill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.config import Settings
from core.store import Store
from tests.chat.test_core import attach, think
from tests.chat_service import running_service, service_settings, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.integrations.webhooks.receiver import Receiver
from tests.integrations.webhooks.support import FAST, SECRET, write_task_done_config
from tests.platforms.telegram.fake_api import FakeTelegram
from tests.service_process import serve_environment, serve_process
from tests.support import no_proxy

__all__ = ["no_proxy"]  # autouse: no proxy between the service and its fakes

GROUP, ALICE = -100777, 42


def hooks(url: str, events: list[str]) -> dict[str, Any]:
    return {"webhooks": [{"name": "ci", "url": url, "secret": SECRET, "events": events}], "webhook_delivery": FAST}


async def test_a_task_the_service_runs_produces_a_signed_task_done(settings: Settings) -> None:
    async with (
        Receiver() as receiver,
        running_service(settings, service_settings(**hooks(receiver.url, ["task.*"]))) as svc,
    ):
        await attach(svc)
        reply = await svc.ingress.handle(think("write a haiku about tests"))
        assert reply is not None and reply.task_id is not None
        received = await receiver.wait_for(2, within=30)
        started, done = (r.verify(SECRET) for r in received)  # the reference implementation accepts both
    assert started["type"] == "task.started" and started["data"]["task_id"] == reply.task_id
    assert done["type"] == "task.done" and done["version"] == 1
    data = done["data"]
    assert data["task_id"] == reply.task_id and data["status"] == "done" and data["source"] == "recording"
    assert data["description"] == "write a haiku about tests" and data["output"] and data["score"] >= data["bar"]


def _environment(home: Path, model: FakeModelServer, telegram: FakeTelegram) -> dict[str, str]:
    """`openkoi serve`'s: Telegram by polling the fake, the fake model, config.toml from ``home``."""
    return serve_environment(home, model, TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_URL=telegram.base_url)


@pytest.mark.slow
async def test_a_killed_service_sends_the_failing_delivery_after_its_restart(
    settings: Settings, home: Path, fake_model: FakeModelServer
) -> None:
    async with Receiver(default=503) as receiver, FakeTelegram() as telegram:
        # One endpoint for task.done, retried every 0.2 s (while the first process lives, the receiver fails).
        write_task_done_config(home, receiver.url, retry_seconds=0.2, attempts=200)
        async with serve_process(_environment(home, fake_model, telegram), until="telegram:") as served:
            assert "telegram: on" in served.announced, served.announced
            telegram.push_message(GROUP, ALICE, "/think write a haiku", first_name="Alice")
            await receiver.wait_for(1, within=60)  # failed once: pending, retried 0.2 s later
            receiver.delay = 30.0  # the next attempt hangs: the kill lands while it is in flight
            failing = await receiver.wait_for(2, within=10)
            await served.kill()
        message_id = failing[0].headers["webhook-id"]
        assert {r.headers["webhook-id"] for r in failing} == {message_id}
        before = len(receiver.received)
        async with Store(settings.db_path) as store:
            [waiting] = await store.webhooks.recent()
            assert (waiting.status, waiting.attempts, waiting.last_status) == ("sending", 1, 503), "killed mid-attempt"

        receiver.default, receiver.delay = 200, 0.0
        restarted = service_settings(**hooks(receiver.url, ["task.done"]))
        async with running_service(settings, restarted) as svc:
            # At once, not when the dead process's claim would have run out (the request's timeout + 30 s).
            delivered = (await receiver.wait_for(before + 1, within=10))[-1]

            async def settled() -> bool:
                return (await svc.store.webhooks.get(waiting.id)).status == "delivered"

            await wait_until(settled)
            attempts = (await svc.store.webhooks.attempts([waiting.id]))[waiting.id]
    assert delivered.headers["webhook-id"] == message_id, "the same delivery, not a new one"
    payload = delivered.verify(SECRET)
    assert payload["type"] == "task.done" and payload["data"]["description"] == "write a haiku"
    assert [(a.attempt, a.status_code) for a in attempts] == [(1, 503), (2, 200)], "the attempt before the kill is kept"
