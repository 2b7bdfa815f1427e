"""Command names are never tasks in chat either (issue 16, defect 6): `/think init`, `/think trust show`,
`/think world tools` … are answered privately and never queued, with no model call; `/think -- init` is
a task because it asks for one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bots.service import Service
from core.config import Settings
from tests.chat.test_core import attach, think
from tests.chat_service import running_service, service_settings
from tests.fakes.model_server import FakeModelServer


@pytest.fixture
async def svc(settings: Settings) -> AsyncIterator[Service]:
    async with running_service(settings, service_settings()) as service:
        yield service


async def test_command_names_are_answered_and_never_queued(svc: Service, fake_model: FakeModelServer) -> None:
    await attach(svc)
    for n, text in enumerate(
        ["init", "chat", "connect", "world tools", "soul evolve", "--simulate init", "reflect week"]
    ):
        reply = await svc.ingress.handle(think(text, key=f"name-{n}"))
        assert reply is not None and reply.private and reply.task_id is None, (text, reply)
        assert "To run it as a task: /think -- " in reply.text, reply.text
    assert sum((await svc.store.tasks.counts()).values()) == 0
    assert fake_model.requests == [], "no model was asked"

    explicit = await svc.ingress.handle(think("-- init", key="explicit"))
    assert explicit is not None and explicit.task_id is not None
    assert (await svc.store.tasks.get(explicit.task_id)).description == "init"
