"""What `openkoi serve` loads before it listens, so that the first burst of requests does not pay for it: the local
embedder's model (the first task's recall would otherwise load it while the event loop answers the burst)."""

from __future__ import annotations

import logging

import pytest

from core.config import Settings
from core.memory import embedder
from tests.chat_service import running_service, service_settings


async def test_the_local_embedder_is_loaded_before_the_service_listens(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedder, "_loaded", {})  # as in a fresh process: no model loaded yet
    assert settings.memory.embedder == embedder.LOCAL
    async with running_service(settings, service_settings()) as svc:
        assert svc.port and embedder.is_warm(svc.engine.memory.embedder)
        assert await svc.store.tasks.counts() == {}, "loaded by the start, not by a task"


async def test_a_local_embedder_that_cannot_load_does_not_stop_the_start(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def missing() -> None:
        raise embedder.EmbedderUnavailable("the local embedder's model is not installed")

    monkeypatch.setattr(embedder, "local_model_path", missing)
    with caplog.at_level(logging.WARNING):
        async with running_service(settings, service_settings()) as svc:
            assert svc.port
    said = [r.getMessage() for r in caplog.records if "embedder did not load" in r.getMessage()]
    assert said == ["memory: the local embedder did not load at start (the local embedder's model is not installed)"]
