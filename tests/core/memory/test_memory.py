"""Memory with the real local embedder: semantic recall, scope, reinforcement, decay, the exact
fallback when sqlite-vec is refused, and reindexing from the rows."""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from core.config import Settings
from core.memory import search
from core.memory.decay import effective_confidence
from core.memory.embedder import LocalEmbedder
from core.memory.memory import Memory
from core.models import Scope, utcnow
from core.store import Store
from core.store import vectors as vector_store

WORKSPACE = Scope(workspace="/srv/api")
JWT = "JWT refresh tokens must be rotated on every use and the old one revoked"
LEARNINGS = [
    JWT,
    "Use WAL mode for SQLite when readers and writers overlap",
    "The team wants release notes written as short bullet points",
    "Never run a database migration in production without a fresh backup",
    "Poems for the newsletter should avoid clichés about falling leaves",
]


@pytest.fixture
def searched(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How many times each way of searching ran, counted on the real code: the sqlite-vec KNN query
    (and the hits it gave) and the exact cosine in Python."""
    counts: Counter[str] = Counter()
    real_exact, real_knn = search.exact, vector_store.VectorIndex.search

    def exact(*args: Any, **kwargs: Any) -> list[tuple[int, float]]:
        hits = real_exact(*args, **kwargs)
        counts["exact"] += 1
        counts["exact hits"] += len(hits)
        return hits

    async def knn(
        self: vector_store.VectorIndex, keys: Sequence[str], vector: bytes, k: int
    ) -> list[tuple[int, float]]:
        hits = await real_knn(self, keys, vector, k)
        counts["sqlite-vec"] += 1
        counts["sqlite-vec hits"] += len(hits)
        return hits

    monkeypatch.setattr(search, "exact", exact)
    monkeypatch.setattr(vector_store.VectorIndex, "search", knn)
    return counts


def search_beyond_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scope counts as too large to hold in memory: it is searched by sqlite-vec, or exactly
    when the extension is refused (small scopes are otherwise searched in memory, by neither)."""
    monkeypatch.setattr(search, "SCOPE_LIMIT", 0)


async def remember_all(memory: Memory, texts: list[str], scope: Scope = WORKSPACE) -> list[str]:
    ids = []
    for text in texts:
        stored, reinforced = await memory.remember("heuristic", text, 0.8, scope)
        assert not reinforced
        ids.append(stored.id)
    return ids


async def test_a_jwt_learning_is_recalled_for_auth_tokens_and_not_for_a_haiku(
    memory: Memory, searched: Counter[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    search_beyond_the_cache(monkeypatch)
    ids = await remember_all(memory, LEARNINGS)
    assert memory.store.vectors.available, memory.store.vectors.reason  # the sqlite-vec path
    searched.clear()  # remembering searched too (for near-duplicates)

    tokens = await memory.recall("rotate our auth tokens", WORKSPACE, 2000)
    assert tokens.ids[0] == ids[0] and JWT in tokens.text
    assert all("haiku" not in r.memory.text for r in tokens.memories)

    haiku = await memory.recall("write a haiku about autumn", WORKSPACE, 2000)
    assert ids[0] not in haiku.ids and "JWT" not in haiku.text
    # Both recalls were answered by sqlite-vec's KNN query, never by the exact search.
    assert searched["sqlite-vec"] == 2 and searched["sqlite-vec hits"] >= len(tokens.ids) + len(haiku.ids) > 0
    assert searched["exact"] == 0


async def test_scope_keeps_a_channel_learning_out_of_other_channels_and_workspaces(memory: Memory) -> None:
    channel = Scope(platform="slack", channel="C1", team="T1")
    [learnt] = await remember_all(memory, [JWT], channel)

    async def recalled(scope: Scope) -> bool:
        return learnt in (await memory.recall("rotate our auth tokens", scope, 2000)).ids

    assert await recalled(Scope(platform="slack", channel="C1"))
    assert not await recalled(Scope(platform="slack", channel="C2", team="T1"))
    assert not await recalled(Scope(platform="discord", channel="C1"))
    assert not await recalled(WORKSPACE)
    assert not await recalled(Scope())

    marked = await memory.set_global(learnt, True)
    assert marked.scope_key == "global" and marked.scope == channel  # where it was learnt is kept
    assert await recalled(WORKSPACE) and await recalled(Scope(platform="telegram", channel="42"))
    await memory.set_global(learnt, False)
    assert not await recalled(WORKSPACE) and await recalled(Scope(platform="slack", channel="C1"))


async def test_a_near_duplicate_reinforces_instead_of_adding_a_copy(memory: Memory) -> None:
    first, _ = await memory.remember(
        "heuristic", "Use WAL mode for SQLite when readers and writers overlap", 0.6, WORKSPACE
    )
    again, reinforced = await memory.remember(
        "heuristic", "Use WAL mode in SQLite when readers and writers overlap.", 0.9, WORKSPACE
    )
    assert reinforced and again.id == first.id
    assert again.reinforcements == 1 and again.confidence == 0.9  # the higher confidence is kept
    other, reinforced_other = await memory.remember("heuristic", JWT, 0.7, WORKSPACE)
    assert not reinforced_other and other.id != first.id
    # The same words in another workspace are that workspace's own memory, not a reinforcement.
    elsewhere, reinforced_elsewhere = await memory.remember(
        "heuristic", "Use WAL mode for SQLite when readers and writers overlap", 0.6, Scope(workspace="/srv/web")
    )
    assert not reinforced_elsewhere and elsewhere.id != first.id
    assert await memory.store.memories.counts() == {"heuristic": 3}


async def test_reinforcement_threshold_is_configurable(memory: Memory) -> None:
    memory.config.reinforce_similarity = 0.5
    first, _ = await memory.remember(
        "fact", "Our API gateway rate limits each client to 100 requests a minute", 0.7, WORKSPACE
    )
    _, reinforced = await memory.remember(
        "fact", "The gateway allows every client 100 requests per minute", 0.7, WORKSPACE
    )
    assert reinforced
    memory.config.reinforce_similarity = 0.99
    _, reinforced = await memory.remember(
        "fact", "Clients get 100 requests a minute from the API gateway", 0.7, WORKSPACE
    )
    assert not reinforced
    assert (await memory.store.memories.get(first.id)).reinforcements == 1


async def test_decay_after_a_simulated_restart_equals_decay_without_one(
    settings: Settings, local_embedder: LocalEmbedder, tmp_path: Any
) -> None:
    learnt_at = utcnow() - timedelta(weeks=10)
    later = learnt_at + timedelta(weeks=10)

    async def decayed(path: Any, restarts: int) -> float:
        store = await Store(path).open()
        memory = Memory(settings, store, local_embedder)
        stored, _ = await memory.remember("heuristic", JWT, 0.8, WORKSPACE, now=learnt_at)
        for week in range(restarts):  # each "process" reads (and prunes) before it stops
            await store.close()
            store = await Store(path).open()
            memory = Memory(settings, store, local_embedder)
            assert await memory.prune(now=learnt_at + timedelta(weeks=week)) == 0
        row = await store.memories.get(stored.id)
        await store.close()
        assert row.confidence == 0.8  # the stored confidence never changes by decay
        return effective_confidence(row.confidence, row.last_used_at, later, settings.memory.decay_per_week)

    without = await decayed(tmp_path / "one.db", restarts=0)
    with_restarts = await decayed(tmp_path / "many.db", restarts=5)
    assert with_restarts == without == pytest.approx(0.8 * math.exp(-0.05 * 10))


async def test_a_stale_memory_ranks_lower_and_a_faded_one_is_not_recalled_then_pruned(memory: Memory) -> None:
    now = utcnow()
    fresh, _ = await memory.remember("heuristic", JWT, 0.8, WORKSPACE, now=now)
    stale, _ = await memory.remember(
        "heuristic", "Rotate API signing keys every quarter and revoke the old ones", 0.8, WORKSPACE,
        now=now - timedelta(weeks=20),
    )  # fmt: skip
    gone, _ = await memory.remember(
        "anti_pattern", "Never hard-code auth tokens in the repository", 0.8, WORKSPACE, now=now - timedelta(weeks=60)
    )
    found = await memory.recall("rotate our auth tokens and keys", WORKSPACE, 2000, now=now)
    by_id = {r.memory.id: r for r in found.memories}
    assert fresh.id in by_id and stale.id in by_id and gone.id not in by_id  # 0.8·e^-3 = 0.04 < 0.1
    assert by_id[stale.id].confidence == pytest.approx(0.8 * math.exp(-1.0))
    assert found.ids.index(fresh.id) < found.ids.index(stale.id)
    assert await memory.prune(now=now) == 1
    assert {m.id for m in await memory.store.memories.listing()} == {fresh.id, stale.id}


async def test_the_exact_fallback_gives_the_same_results_when_the_extension_is_refused(
    settings: Settings,
    memory: Memory,
    local_embedder: LocalEmbedder,
    searched: Counter[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    search_beyond_the_cache(monkeypatch)
    await remember_all(memory, LEARNINGS)
    queries = ["rotate our auth tokens", "make sqlite faster under load", "draft the release notes for version 2.3"]
    searched.clear()
    indexed = [await memory.recall(q, WORKSPACE, 2000) for q in queries]
    assert memory.store.vectors.available
    assert searched["sqlite-vec"] == len(queries) and searched["sqlite-vec hits"] > 0 and searched["exact"] == 0
    await memory.store.close()

    def refuse(conn: Any) -> None:
        raise sqlite3.OperationalError("not authorized")

    monkeypatch.setattr(vector_store, "load_extension", refuse)
    store = await Store(settings.db_path).open()
    try:
        fallback = Memory(settings, store, local_embedder)
        searched.clear()
        exact = [await fallback.recall(q, WORKSPACE, 2000) for q in queries]
        assert not store.vectors.available and "not authorized" in store.vectors.reason
        assert searched["exact"] == len(queries) and searched["exact hits"] > 0 and searched["sqlite-vec"] == 0
        assert store.vectors.description.startswith("exact cosine in Python")
        for a, b in zip(indexed, exact, strict=True):
            assert a.ids and a.ids == b.ids
            for x, y in zip(a.memories, b.memories, strict=True):
                assert x.similarity == pytest.approx(y.similarity, abs=1e-5)
        # The store itself is untouched: tasks and memories are written as usual.
        stored, _ = await fallback.remember("fact", "The staging database is rebuilt every night", 0.7, WORKSPACE)
        assert (await store.memories.get(stored.id)).embedder == local_embedder.name
    finally:
        await store.close()


async def test_exact_search_can_be_asked_for(settings: Settings, store: Store, local_embedder: LocalEmbedder) -> None:
    settings.memory.index = "exact"
    memory = Memory(settings, store, local_embedder)
    ids = await remember_all(memory, LEARNINGS)
    found = await memory.recall("rotate our auth tokens", WORKSPACE, 2000)
    assert found.ids[0] == ids[0]
    assert not store.vectors.available and '[memory] index = "exact"' in store.vectors.reason


async def test_reindex_rebuilds_the_index_from_the_rows(memory: Memory) -> None:
    ids = await remember_all(memory, LEARNINGS)
    vectors = memory.store.vectors
    await vectors.drop()  # the index is derived: losing it loses nothing
    assert await vectors.size() == (0, 0)
    # A small scope is searched from the stored rows (search.ScopeCache), so recall does not need the index.
    assert (await memory.recall("rotate our auth tokens", WORKSPACE, 2000)).ids[0] == ids[0]

    done = await memory.reindex()
    assert done.embedded == 0 and done.indexed == len(LEARNINGS) and done.path.startswith("sqlite-vec")
    assert await vectors.size() == (len(LEARNINGS), 384)
    assert (await memory.recall("rotate our auth tokens", WORKSPACE, 2000)).ids[0] == ids[0]

    again = await memory.reindex(re_embed=True)  # every row embedded again from its text
    assert again.embedded == len(LEARNINGS) and await vectors.size() == (len(LEARNINGS), 384)
    assert (await memory.recall("rotate our auth tokens", WORKSPACE, 2000)).ids[0] == ids[0]


async def test_an_index_out_of_step_with_the_rows_is_rebuilt_on_the_next_start(
    settings: Settings, memory: Memory, local_embedder: LocalEmbedder
) -> None:
    ids = await remember_all(memory, LEARNINGS)
    await memory.store.vectors.delete([1, 2])  # as if the process died between a row and its vector
    await memory.store.close()
    async with Store(settings.db_path) as store:
        restarted = Memory(settings, store, local_embedder)
        found = await restarted.recall("rotate our auth tokens", WORKSPACE, 2000)
        assert found.ids[0] == ids[0]
        assert await store.vectors.size() == (len(LEARNINGS), 384)


async def test_forget_removes_the_row_and_its_vector(memory: Memory) -> None:
    ids = await remember_all(memory, LEARNINGS)
    forgotten = await memory.forget(ids[0])
    assert forgotten.text == JWT
    assert await memory.store.vectors.size() == (len(LEARNINGS) - 1, 384)
    assert ids[0] not in (await memory.recall("rotate our auth tokens", WORKSPACE, 2000)).ids


async def test_recall_without_memories_in_scope_embeds_nothing(store: Store, settings: Settings) -> None:
    class Refusing:
        name = "refusing"

        async def embed(self, texts: list[str]) -> Any:
            raise AssertionError("nothing to recall, so nothing to embed")

    memory = Memory(settings, store, Refusing())
    found = await memory.recall("rotate our auth tokens", WORKSPACE, 2000)
    assert found.ids == [] and found.tokens == 0


async def test_small_scopes_are_searched_in_memory_and_agree_with_the_index(memory: Memory) -> None:
    channel = Scope(platform="slack", channel="C1")
    await remember_all(memory, LEARNINGS, channel)
    await remember_all(memory, ["Deploys to staging need a green CI run first"], WORKSPACE)
    query = (await memory.embedder.embed(["rotate our auth tokens"]))[0]
    keys = channel.visible_keys
    cached = await memory.nearest(keys, query, 5)
    assert memory.scope_cache.scopes, "the small scope was loaded into memory"
    indexed = await memory.store.vectors.search(keys, search.to_blob(query), 5)
    assert [seq for seq, _ in cached] == [seq for seq, _ in indexed]
    for (_, a), (_, b) in zip(cached, indexed, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


async def test_a_change_from_another_connection_reaches_the_cached_scope(
    settings: Settings, memory: Memory, local_embedder: LocalEmbedder
) -> None:
    channel = Scope(platform="slack", channel="C1")
    keys = channel.visible_keys
    ids = await remember_all(memory, LEARNINGS[1:], channel)
    query = (await memory.embedder.embed([LEARNINGS[0]]))[0]

    async def nearest_ids() -> list[str]:
        hits = await memory.nearest(keys, query, 10)
        return [m.id for m in await memory.store.memories.by_seqs([seq for seq, _ in hits])]

    assert sorted(await nearest_ids()) == sorted(ids) and memory.scope_cache.scopes  # cached now
    async with Store(settings.db_path) as other:  # e.g. `openkoi memory …` while the service runs
        elsewhere = Memory(settings, other, local_embedder)
        added, _ = await elsewhere.remember("heuristic", LEARNINGS[0], 0.8, channel)
        hits = await memory.nearest(keys, query, 10)
        assert hits[0][0] == added.seq and hits[0][1] == pytest.approx(1.0, abs=1e-4)
        await elsewhere.forget(added.id)
        assert sorted(await nearest_ids()) == sorted(ids)
        await elsewhere.set_global(ids[0], True)  # moved to the global scope: still visible, once
        assert sorted(await nearest_ids()) == sorted(ids)


async def test_a_scope_too_large_to_hold_is_searched_by_the_index(
    memory: Memory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "SCOPE_LIMIT", 2)
    ids = await remember_all(memory, LEARNINGS)
    found = await memory.recall("rotate our auth tokens", WORKSPACE, 2000)
    assert found.ids[0] == ids[0]
    assert WORKSPACE.visible_keys[-1] in memory.scope_cache.large and not memory.scope_cache.scopes
