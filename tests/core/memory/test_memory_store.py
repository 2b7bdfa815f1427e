"""Memory storage: existing learnings migrate into scoped memories and are embedded lazily; a
provider's embeddings through litellm; a change of embedder re-embeds everything."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web

from core.config import CustomProvider, Settings
from core.memory.embedder import EmbedderUnavailable, LocalEmbedder, ProviderEmbedder
from core.memory.memory import Memory
from core.models import Scope, utcnow
from core.store import Store
from core.store.db import bundled_migrations

JWT = "JWT refresh tokens must be rotated on every use and the old one revoked"


def legacy_database(path: Path) -> None:
    """A database as the previous release left it (schema 2) with learnings from the terminal,
    from a Slack channel, and from a task since deleted."""
    conn = sqlite3.connect(path)
    for version, sql in bundled_migrations():
        if version <= 2:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version={version};\nCOMMIT;")
    now = utcnow().isoformat()
    conn.execute("INSERT INTO sessions VALUES ('s1', 'terminal', 't', 'active', ?, ?)", (now, now))
    for task_id, source in (("t-term", "terminal"), ("t-chat", "slack")):
        conn.execute(
            """INSERT INTO tasks (id, session_id, description, status, source, options_json, created_at, updated_at)
               VALUES (?, 's1', 'x', 'done', ?, '{}', ?, ?)""",
            (task_id, source, now, now),
        )
    conn.execute(
        """INSERT INTO conversations (task_id, platform, channel_id, requester_id, requester_name, created_at)
           VALUES ('t-chat', 'slack', 'C9', 'U1', 'ann', ?)""",
        (now,),
    )
    learnings: list[tuple[str, str, str | None]] = [
        ("aaaa000000000001", JWT, "t-term"),
        ("aaaa000000000002", "Deploys to production need a second reviewer on Fridays", "t-chat"),
        ("aaaa000000000003", "Use WAL mode for SQLite when readers and writers overlap", None),
    ]
    for learning_id, text, source_task in learnings:
        conn.execute(
            """INSERT INTO learnings (id, kind, text, confidence, reinforcements, source_task_id, created_at, last_used_at)
               VALUES (?, 'heuristic', ?, 0.8, 2, ?, ?, ?)""",
            (learning_id, text, source_task, now, now),
        )
    conn.commit()
    conn.close()


async def test_existing_learnings_become_scoped_memories_embedded_on_first_recall(
    settings: Settings, local_embedder: LocalEmbedder
) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    legacy_database(settings.db_path)
    async with Store(settings.db_path) as store:
        assert await store.db.schema_version() >= 4
        keys = {m.id: m.scope_key for m in await store.memories.listing()}
        assert keys == {
            "aaaa000000000001": "platform:terminal",
            "aaaa000000000002": "channel:slack:C9",
            "aaaa000000000003": "platform:terminal",  # origin unknown: kept out of chat
        }
        assert await store.memories.count_unembedded() == 3
        old = await store.memories.get("aaaa000000000001")
        assert (old.confidence, old.reinforcements, old.source_task_id) == (0.8, 2, "t-term")
        chat_task = await store.tasks.get("t-chat")
        assert chat_task.scope == Scope(platform="slack", channel="C9")

        memory = Memory(settings, store, local_embedder)
        found = await memory.recall("rotate our auth tokens", Scope(workspace="/srv/api"), 2000)
        assert found.ids == ["aaaa000000000001"]
        assert await store.memories.count_unembedded() == 1  # only the visible scopes were embedded
        chat = await memory.recall(
            "ship the release to production on Friday", Scope(platform="slack", channel="C9"), 2000
        )
        assert chat.ids == ["aaaa000000000002"]
        elsewhere = await memory.recall("rotate our auth tokens", Scope(platform="slack", channel="C1"), 2000)
        assert elsewhere.ids == []


class FakeEmbeddings:
    """An OpenAI-compatible ``/v1/embeddings`` on 127.0.0.1: each word adds to one of 64 dimensions,
    so texts sharing words are close."""

    def __init__(self) -> None:
        self.inputs: list[list[str]] = []

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        self.inputs.append(texts)
        data = []
        for index, text in enumerate(texts):
            vector = np.zeros(64)
            for word in text.lower().split():
                vector[zlib.crc32(word.strip(".,").encode()) % 64] += 1.0
            data.append({"object": "embedding", "index": index, "embedding": vector.tolist()})
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        return web.json_response({"object": "list", "data": data, "model": body["model"], "usage": usage})


@pytest.fixture
async def embeddings_server() -> AsyncIterator[tuple[str, FakeEmbeddings]]:
    fake = FakeEmbeddings()
    app = web.Application()
    app.router.add_post("/v1/embeddings", fake.embeddings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/v1", fake
    await runner.cleanup()


async def test_a_providers_embeddings_through_litellm_then_a_change_of_embedder_re_embeds(
    settings: Settings, store: Store, embeddings_server: tuple[str, FakeEmbeddings], local_embedder: LocalEmbedder
) -> None:
    url, fake = embeddings_server
    settings.providers["lab"] = CustomProvider(base_url=url, models=["embed-small"])
    settings.memory.embedder = "lab/embed-small"
    settings.memory.min_similarity = 0.2
    memory = Memory(settings, store)
    assert isinstance(memory.embedder, ProviderEmbedder)
    scope = Scope(workspace="/srv/api")
    jwt, _ = await memory.remember("heuristic", JWT, 0.8, scope)
    await memory.remember("heuristic", "Poems for the newsletter avoid clichés about falling leaves", 0.8, scope)
    found = await memory.recall("when must refresh tokens be rotated and revoked", scope, 2000)
    assert found.ids[0] == jwt.id
    assert await store.vectors.size() == (2, 64)
    assert (await store.memories.get(jwt.id)).embedder == "lab/embed-small"
    assert [JWT] in fake.inputs

    # The same database under the local embedder: 64-d vectors cannot be compared with 384-d ones,
    # so every memory is embedded again and the index rebuilt for the new dimension.
    settings.memory.embedder = "local"
    switched = Memory(settings, store, local_embedder)
    found = await switched.recall("rotate our auth tokens", scope, 2000)
    assert found.ids == [jwt.id]
    assert (await store.memories.get(jwt.id)).embedder == local_embedder.name
    assert await store.vectors.size() == (2, 384)


async def test_a_model_file_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    impostor = tmp_path / "model.onnx"
    impostor.write_bytes(b"not the all-MiniLM-L6-v2 int8 file")
    with pytest.raises(EmbedderUnavailable, match="is not the expected all-MiniLM-L6-v2 int8 file"):
        await LocalEmbedder(model_path=impostor).embed(["rotate our auth tokens"])
