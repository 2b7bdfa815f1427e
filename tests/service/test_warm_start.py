"""What `openkoi serve` loads before it listens, so that the first burst of requests does not pay for it: the local
embedder's model and the rule floor's embedded examples (the first task's recall and screen would otherwise load
them, holding the GIL while the event loop answers the burst)."""

from __future__ import annotations

import logging

import pytest

from core.config import Settings
from core.gate import gatekeeper, similarity
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


async def test_the_rule_floors_examples_are_embedded_before_the_service_listens(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gatekeeper, "_floors", {})  # as in a fresh process: no floor loaded yet
    built: list[int] = []
    build = similarity.Similarity._build

    def counted(self: similarity.Similarity) -> similarity._Loaded:
        loaded = build(self)
        built.append(len(loaded.examples))
        return loaded

    monkeypatch.setattr(similarity.Similarity, "_build", counted)
    async with running_service(settings, service_settings()) as svc:
        examples = sum(len(rule.examples) for rule in svc.engine.gatekeeper.floor.rule_specs)
        assert built == [examples] and examples > 0, "every rule example, embedded once"
        assert (await svc.engine.gatekeeper.screen("drop the production database")).rules
        assert len(built) == 1, "a task's screen finds them embedded"


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
