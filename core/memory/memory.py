"""Memory: remember (or reinforce), recall, forget; and keep embeddings and the index in step with the rows.

The rows are the truth. Embeddings follow the rows (made when a memory is added, or later for
memories that have none: migrated learnings, rows written while the embedder was unavailable, or
after a change of embedder), and the vector index follows the embeddings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from core.config import Settings
from core.memory.decay import faded
from core.memory.embedder import Embedder, EmbedderUnavailable, Vectors, is_warm, make_embedder
from core.memory.recall import Recall, line, rank, within_budget
from core.memory.search import ScopeCache, nearest, to_blob
from core.models import Scope, utcnow
from core.store import Store
from core.store.memories import StoredMemory

log = logging.getLogger(__name__)

# Memories embedded per batch when catching up (a recall embeds at most this many first: ~1 s).
PENDING_BATCH = 256
# Vectors written per transaction when the index is rebuilt: measured ~0.12 s of holding the write
# lock per 2,000 and ~0.38 s per 10,000 (100,000 rebuilt in 6.0 s and 3.8 s); 5,000 is between.
REBUILD_PAGE = 5000


@dataclass(frozen=True)
class Reindexed:
    embedded: int
    indexed: int
    path: str


class Memory:
    def __init__(self, settings: Settings, store: Store, embedder: Embedder | None = None) -> None:
        self.config = settings.memory
        self.store = store
        self.embedder = embedder if embedder is not None else make_embedder(settings)
        self._prepared = False
        self._lock = asyncio.Lock()
        # Small scopes' embeddings in memory, checked against the store on every search (see search.py).
        self.scope_cache = ScopeCache()

    async def prepare(self) -> bool:
        """Once per instance: forget embeddings of another embedder, open the index, and rebuild it
        if it does not match the stored embeddings (e.g. after a crash between a row and its vector).
        True when embeddings were just forgotten (the memories need embedding again)."""
        async with self._lock:
            if self._prepared:
                return False
            repo = self.store.memories
            stale = 0
            if await repo.meta("embedder") != self.embedder.name:
                stale = await repo.forget_embeddings(unless_embedder=self.embedder.name)
                await repo.set_meta("embedder", self.embedder.name)
                if stale:
                    log.info("embedder is now %s: %d memories will be embedded again", self.embedder.name, stale)
            if await self.store.vectors.open(enabled=self.config.index == "auto"):
                indexed, _ = await self.store.vectors.size()
                if indexed != await repo.count_embedded():
                    await self._rebuild()
            self._prepared = True
            return stale > 0

    async def _rebuild(self) -> int:
        """Rebuild the index from the stored embeddings, a page per transaction: the main connection
        (chat intake, tasks) never waits long for the database's write lock, even at 100,000 memories."""
        repo, index = self.store.memories, self.store.vectors
        first = await repo.vectors_after("", 0, 1)
        if not first:
            await index.drop()
            return 0
        width = len(first[0][2])
        await index.recreate(width // 4)
        total = 0
        key, seq = "", 0
        while page := await repo.vectors_after(key, seq, REBUILD_PAGE):
            rows = [row for row in page if len(row[2]) == width]
            await index.upsert(rows, fresh=True)
            total += len(rows)
            seq, key = page[-1][0], page[-1][1]
        return total

    async def _index(self, rows: Sequence[tuple[int, str, bytes]]) -> None:
        if not rows or not self.store.vectors.available:
            return
        if await self.store.vectors.ensure(len(rows[0][2]) // 4):
            await self._rebuild()  # a new (or re-dimensioned) index gets every stored embedding
        else:
            await self.store.vectors.upsert(rows)

    async def embed_pending(self, keys: Sequence[str] | None, limit: int = PENDING_BATCH) -> int:
        """Embed up to ``limit`` memories that have no embedding yet (in ``keys``, or anywhere)."""
        pending = await self.store.memories.unembedded(keys, limit)
        if pending:
            await self._index(await self._embed_and_store(pending))
        return len(pending)

    async def _embed_and_store(self, pending: Sequence[tuple[int, str, str]]) -> list[tuple[int, str, bytes]]:
        """Embed (seq, scope key, text) rows and store their embeddings; the rows the index needs."""
        vectors = await self.embedder.embed([text for _, _, text in pending])
        rows = [(seq, key, to_blob(vector)) for (seq, key, _), vector in zip(pending, vectors, strict=True)]
        await self.store.memories.set_embeddings([(seq, blob) for seq, _, blob in rows], self.embedder.name)
        return rows

    async def nearest(self, keys: Sequence[str], vector: Vectors, k: int) -> list[tuple[int, float]]:
        return await nearest(self.store, keys, vector, k, self.scope_cache)

    async def recall(
        self, query: str, scope: Scope, token_budget: int, task_id: str | None = None, now: datetime | None = None
    ) -> Recall:
        """Memories for ``query`` visible from ``scope``, best first, within ``token_budget`` tokens
        (ranked as ``core.memory.recall`` says).

        Those given are marked used (their decay restarts) and, with ``task_id``, recorded on the task.
        Raises EmbedderUnavailable when the query cannot be embedded.
        """
        started = time.perf_counter()
        config, keys = self.config, scope.visible_keys
        # With the model loaded, the query is embedded (in a thread) while the store says whether there is
        # anything to search: the embedding is most of a recall's time.
        early = (
            asyncio.ensure_future(self.embedder.embed([query])) if token_budget > 0 and is_warm(self.embedder) else None
        )
        try:
            found, pending = await self.store.memories.any_in(keys)
            if token_budget <= 0 or not found:
                return Recall(ms=_since(started))  # nothing to search: no model load, no embedding
            if await self.prepare() or pending:  # prepare may just have dropped another embedder's vectors
                await self.embed_pending(keys)
            query_vector = (await (early if early is not None else self.embedder.embed([query])))[0]
        finally:
            if early is not None and not early.done():
                early.cancel()  # not needed after all; its thread finishes and the result is dropped
        # The most similar memories are the candidates; confidence and recency reorder them (and drop the
        # faded ones). Asking sqlite-vec for twice as many cost 1.7 ms more per recall at 2,000 visible.
        hits = await self.nearest(keys, query_vector, config.max_recalled)
        relevant = [seq for seq, similarity in hits if similarity >= config.min_similarity]
        rows = {m.seq: m for m in await self.store.memories.by_seqs(relevant)}
        now = now or utcnow()
        ranked = rank(hits, rows, now, config.decay_per_week, config.min_similarity, config.min_confidence)
        chosen, tokens = within_budget(ranked, token_budget, config.max_recalled)
        await self.store.memories.record_use(task_id, [(r.memory.seq, r.similarity) for r in chosen], now)
        return Recall(
            text="\n".join(line(r) for r in chosen),
            ids=[r.memory.id for r in chosen],
            tokens=tokens,
            ms=_since(started),
            memories=chosen,
        )

    async def remember(
        self,
        kind: str,
        text: str,
        confidence: float,
        scope: Scope,
        task_id: str | None = None,
        now: datetime | None = None,
    ) -> tuple[StoredMemory, bool]:
        """Store a memory in ``scope``; returns (memory, reinforced).

        A memory the task can see whose cosine similarity reaches ``reinforce_similarity`` is
        reinforced instead of adding a near-copy. If the embedder is unavailable the memory is
        stored anyway (embedded later) and only an identical text counts as a duplicate.
        """
        await self.prepare()
        keys = scope.visible_keys
        vector: Vectors | None = None
        try:
            if (await self.store.memories.any_in(keys))[1]:  # dedup must see memories not embedded yet
                await self.embed_pending(keys)
            vector = (await self.embedder.embed([text]))[0]
        except EmbedderUnavailable as exc:
            log.warning("storing a memory without its embedding: %s", exc)
        twin = await self._twin(keys, text, vector)
        if twin is not None:
            await self.store.memories.reinforce(twin.seq, confidence, now)
            return await self.store.memories.get(twin.id), True
        return await self._add(kind, text, confidence, scope, task_id, vector, now), False

    async def _twin(self, keys: Sequence[str], text: str, vector: Vectors | None) -> StoredMemory | None:
        if vector is None:
            return await self.store.memories.same_text(keys, text)
        hits = await self.nearest(keys, vector, 1)
        if hits and hits[0][1] >= self.config.reinforce_similarity:
            found = await self.store.memories.by_seqs([hits[0][0]])
            return found[0] if found else None
        return None

    async def add_summary(self, text: str, confidence: float, scope: Scope, task_id: str) -> StoredMemory:
        """A task summary: never merged with another (two tasks are two events), embedded if possible."""
        await self.prepare()
        vector: Vectors | None = None
        try:
            vector = (await self.embedder.embed([text]))[0]
        except EmbedderUnavailable as exc:
            log.warning("storing a task summary without its embedding: %s", exc)
        return await self._add("summary", text, confidence, scope, task_id, vector)

    async def _add(
        self,
        kind: str,
        text: str,
        confidence: float,
        scope: Scope,
        task_id: str | None,
        vector: Vectors | None,
        now: datetime | None = None,
    ) -> StoredMemory:
        """A new memory row with its embedding (None: embedded later), then its vector in the index."""
        blob = to_blob(vector) if vector is not None else None
        memory = await self.store.memories.add(
            kind, text, confidence, scope, task_id, blob, self.embedder.name if blob else None, now
        )
        if blob is not None:
            await self._index([(memory.seq, memory.scope_key, blob)])
        return memory

    async def forget(self, memory_id: str) -> StoredMemory:
        memory = await self.store.memories.get(memory_id)
        await self.prepare()
        await self.store.memories.delete([memory.seq])
        if self.store.vectors.available:
            await self.store.vectors.delete([memory.seq])
        return memory

    async def set_global(self, memory_id: str, is_global: bool) -> StoredMemory:
        """Mark a memory global (recalled in every scope), or return it to the scope it came from."""
        memory = await self.store.memories.get(memory_id)
        await self.prepare()
        key = await self.store.memories.set_global(memory.seq, is_global)
        blob = await self.store.memories.embedding(memory.seq)
        if blob is not None:
            await self._index([(memory.seq, key, blob)])  # the vector moves to its new partition
        return await self.store.memories.get(memory_id)

    async def reindex(self, re_embed: bool = False) -> Reindexed:
        """Embed every memory that needs it (all of them with ``re_embed``) and rebuild the index
        from the stored embeddings. Raises EmbedderUnavailable if the embedder cannot run."""
        await self.prepare()
        if re_embed:
            await self.store.memories.forget_embeddings()
        embedded = 0
        while pending := await self.store.memories.unembedded(None, PENDING_BATCH):
            await self._embed_and_store(pending)  # indexed by the rebuild below
            embedded += len(pending)
        indexed = await self._rebuild() if self.store.vectors.available else await self.store.memories.count_embedded()
        return Reindexed(embedded, indexed, self.store.vectors.description)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete memories whose decayed confidence is below ``min_confidence``; returns how many."""
        now = now or utcnow()
        gone = [
            seq
            for seq, confidence, last_used in await self.store.memories.decay_inputs()
            if faded(confidence, last_used, now, self.config.decay_per_week, self.config.min_confidence)
        ]
        await self.prepare()
        await self.store.memories.delete(gone)
        if self.store.vectors.available:
            await self.store.vectors.delete(gone)
        return len(gone)


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


__all__ = ["EmbedderUnavailable", "Memory", "Reindexed"]
