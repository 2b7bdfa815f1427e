"""Nearest memories to a vector: the sqlite-vec index when it is loaded, else exact cosine in Python.

Both paths answer the same question over the same stored embeddings (the index is derived from
them), so they agree on the result; the exact path reads every embedding in the task's scopes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.memory.embedder import Vectors
from core.store import Store


def to_blob(vector: Vectors) -> bytes:
    """The stored form of an embedding: float32, little-endian."""
    return np.asarray(vector, dtype="<f4").tobytes()


async def nearest(store: Store, keys: Sequence[str], query: Vectors, k: int) -> list[tuple[int, float]]:
    """Up to ``k`` (memory seq, cosine similarity) in the scopes ``keys``, most similar first."""
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
