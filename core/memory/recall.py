"""Recall: the memories relevant to a task, ranked and cut to the task's share of tokens.

The candidates are the ``max_recalled`` memories most similar to the task (cosine). One is relevant
when its similarity reaches ``[memory] min_similarity`` and its decayed confidence is at least
``min_confidence``; the relevant ones are ranked by similarity × decayed confidence (so a fresh,
confident memory beats a stale, doubtful one of the same relevance) and added best first while they
fit in the token budget.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from core.memory.decay import effective_confidence
from core.memory.embedder import is_warm
from core.models import Scope, utcnow
from core.store.memories import StoredMemory

if TYPE_CHECKING:
    from core.memory.memory import Memory

# The gateway's own estimate (core.llm.gateway): ~3 characters per token over-counts English and
# code, so recall never takes more than its share.
CHARS_PER_TOKEN = 3


@dataclass(frozen=True)
class Recalled:
    memory: StoredMemory
    similarity: float
    confidence: float  # decayed, as of the recall

    @property
    def rank(self) -> float:
        return self.similarity * self.confidence


@dataclass(frozen=True)
class Recall:
    text: str = ""
    ids: list[str] = field(default_factory=list)
    tokens: int = 0
    ms: float = 0.0
    memories: list[Recalled] = field(default_factory=list)


def line(item: Recalled) -> str:
    return f"- ({item.memory.kind}, confidence {item.confidence:.2f}) {item.memory.text}"


def cost(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def within_budget(ranked: Sequence[Recalled], token_budget: int, limit: int) -> tuple[list[Recalled], int]:
    """The best memories that fit in ``token_budget`` tokens (at most ``limit``), and their cost.
    A memory too long for what is left is skipped; a shorter, lower-ranked one may still fit."""
    chosen: list[Recalled] = []
    used = 0
    for item in ranked:
        if len(chosen) >= limit:
            break
        price = cost(line(item))
        if used + price <= token_budget:
            chosen.append(item)
            used += price
    return chosen, used


def rank(
    hits: Sequence[tuple[int, float]],
    rows: dict[int, StoredMemory],
    now: datetime,
    per_week: float,
    min_similarity: float,
    min_confidence: float,
) -> list[Recalled]:
    ranked = []
    for seq, similarity in hits:
        memory = rows.get(seq)
        if memory is None or similarity < min_similarity:
            continue  # forgotten since it was indexed, or not about this task
        confidence = effective_confidence(memory.confidence, memory.last_used_at, now, per_week)
        if confidence >= min_confidence:
            ranked.append(Recalled(memory, similarity, confidence))
    ranked.sort(key=lambda r: r.rank, reverse=True)
    return ranked


async def recall(
    memory: Memory,
    query: str,
    scope: Scope,
    token_budget: int,
    task_id: str | None = None,
    now: datetime | None = None,
) -> Recall:
    """Memories for ``query`` visible from ``scope``, best first, within ``token_budget`` tokens.

    Those given are marked used (their decay restarts) and, with ``task_id``, recorded on the task.
    Raises EmbedderUnavailable when the query cannot be embedded.
    """
    started = time.perf_counter()
    store, config = memory.store, memory.config
    keys = scope.visible_keys
    # With the model loaded, the query is embedded (in a thread) while the store says whether there is
    # anything to search: the embedding is most of a recall's time.
    early = (
        asyncio.ensure_future(memory.embedder.embed([query])) if token_budget > 0 and is_warm(memory.embedder) else None
    )
    try:
        found, pending = await store.memories.any_in(keys)
        if token_budget <= 0 or not found:
            return Recall(ms=_since(started))  # nothing to search: no model load, no embedding
        if await memory.prepare() or pending:  # prepare may just have dropped another embedder's vectors
            await memory.embed_pending(keys)
        query_vector = (await (early if early is not None else memory.embedder.embed([query])))[0]
    finally:
        if early is not None and not early.done():
            early.cancel()  # not needed after all; its thread finishes and the result is dropped
    # The most similar memories are the candidates; confidence and recency reorder them (and drop the
    # faded ones). Asking sqlite-vec for twice as many cost 1.7 ms more per recall at 2,000 visible.
    hits = await memory.nearest(keys, query_vector, config.max_recalled)
    rows = {m.seq: m for m in await store.memories.by_seqs([seq for seq, sim in hits if sim >= config.min_similarity])}
    now = now or utcnow()
    ranked = rank(hits, rows, now, config.decay_per_week, config.min_similarity, config.min_confidence)
    chosen, tokens = within_budget(ranked, token_budget, config.max_recalled)
    await store.memories.record_use(task_id, [(r.memory.seq, r.similarity) for r in chosen], now)
    return Recall(
        text="\n".join(line(r) for r in chosen),
        ids=[r.memory.id for r in chosen],
        tokens=tokens,
        ms=_since(started),
        memories=chosen,
    )


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
