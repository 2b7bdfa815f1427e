"""Nearest memories to a vector: small scopes from an in-memory matrix, large ones from the sqlite-vec
index when it is loaded, else exact cosine in Python.

Every path answers the same question over the same stored embeddings (the index is derived from
them), exactly, so they agree on the result. A chat deployment has many small scopes (a channel's
learnings: hundreds to a few thousand): scanning their matrix costs a fraction of a millisecond,
where a sqlite-vec query per scope cost 2-3 ms. Each cached scope carries its version (moved by
triggers on every change to its embeddings, from any connection or process), checked in one query
per recall; a scope whose version moved is reloaded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from core.memory.embedder import Vectors
from core.store import Store


def to_blob(vector: Vectors) -> bytes:
    """The stored form of an embedding: float32, little-endian."""
    return np.asarray(vector, dtype="<f4").tobytes()


# A scope with more embeddings than this is searched by sqlite-vec; the cache holds at most
# ``CACHE_VECTORS`` embeddings in all (384 floats each: 50,000 is about 77 MB), least recently used out.
SCOPE_LIMIT = 20_000
CACHE_VECTORS = 50_000


@dataclass
class _Scope:
    version: int
    seqs: npt.NDArray[np.int64]
    matrix: npt.NDArray[np.float32]  # one unit row per memory; empty (0 rows) for a scope too large to hold


@dataclass
class ScopeCache:
    """The embeddings of recently searched small scopes, by scope key (see the module docstring)."""

    scopes: OrderedDict[str, _Scope] = field(default_factory=OrderedDict)
    large: dict[str, int] = field(default_factory=dict)  # scope key → the version found too large

    def _held(self) -> int:
        return sum(len(s.seqs) for s in self.scopes.values())

    async def search(self, store: Store, keys: Sequence[str], query: Vectors, k: int) -> list[tuple[int, float]]:
        versions = await store.memories.scope_versions(keys)
        width = query.shape[0]
        hits: list[tuple[int, float]] = []
        uncached: list[str] = []
        for key in keys:
            version = versions.get(key)
            if version is None:
                continue  # nothing was ever embedded in this scope
            if self.large.get(key) == version:
                uncached.append(key)
                continue
            scope = self.scopes.get(key)
            if scope is None or scope.version != version:
                loaded = await self._load(store, key, version, width)
                if loaded is None:
                    uncached.append(key)
                    continue
                scope = loaded
            self.scopes.move_to_end(key)
            if len(scope.seqs):
                similarities = scope.matrix @ query.astype(np.float32)
                top = np.argsort(-similarities, kind="stable")[:k]
                hits += [(int(scope.seqs[i]), float(similarities[i])) for i in top]
        if uncached:
            if store.vectors.available:
                hits += await store.vectors.search(uncached, to_blob(query), k)
            else:
                hits += exact(await store.memories.vectors(uncached), query, k)
        hits.sort(key=lambda hit: hit[1], reverse=True)
        return hits[:k]

    async def _load(self, store: Store, key: str, version: int, width: int) -> _Scope | None:
        """Read scope ``key`` (as of at least ``version``) into a matrix; None when it is too large."""
        self.scopes.pop(key, None)
        if await store.memories.embedded_in(key) > SCOPE_LIMIT:
            self.large[key] = version
            return None
        self.large.pop(key, None)
        rows = [(seq, blob) for seq, _, blob in await store.memories.vectors([key]) if len(blob) == width * 4]
        seqs = np.array([seq for seq, _ in rows], dtype=np.int64)
        if rows:
            matrix = np.frombuffer(b"".join(blob for _, blob in rows), dtype="<f4").reshape(len(rows), width)
        else:
            matrix = np.zeros((0, width), dtype=np.float32)
        # Stored under the version read before the rows: a change made meanwhile moves the version
        # again, so the next search reloads rather than keep stale rows.
        scope = _Scope(version, seqs, matrix)
        self.scopes[key] = scope
        while self._held() > CACHE_VECTORS and len(self.scopes) > 1:
            self.scopes.popitem(last=False)
        return scope


async def nearest(
    store: Store, keys: Sequence[str], query: Vectors, k: int, cache: ScopeCache | None = None
) -> list[tuple[int, float]]:
    """Up to ``k`` (memory seq, cosine similarity) in the scopes ``keys``, most similar first."""
    if cache is not None:
        return await cache.search(store, keys, query, k)
    if store.vectors.available:
        return await store.vectors.search(keys, to_blob(query), k)
    return exact(await store.memories.vectors(keys), query, k)


def exact(rows: Sequence[tuple[int, str, bytes]], query: Vectors, k: int) -> list[tuple[int, float]]:
    """Brute-force cosine over (seq, scope key, embedding) rows; embeddings are unit vectors."""
    width = query.shape[0] * 4
    usable = [(seq, blob) for seq, _, blob in rows if len(blob) == width]  # another embedder's: skipped
    if not usable or k <= 0:
        return []
    matrix = np.frombuffer(b"".join(blob for _, blob in usable), dtype="<f4").reshape(len(usable), -1)
    similarities = matrix @ query.astype(np.float32)
    top = np.argsort(-similarities, kind="stable")[:k]
    return [(usable[i][0], float(similarities[i])) for i in top]
