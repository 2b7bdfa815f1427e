"""Recall's ranking: the memories relevant to a task, ranked and cut to the task's share of tokens.

The candidates are the ``max_recalled`` memories most similar to the task (cosine). One is relevant
when its similarity reaches ``[memory] min_similarity`` and its decayed confidence is at least
``min_confidence``; the relevant ones are ranked by similarity × decayed confidence (so a fresh,
confident memory beats a stale, doubtful one of the same relevance) and added best first while they
fit in the token budget. Pure functions of what was found; ``Memory.recall`` drives them (it embeds the
query, searches, reads the rows and marks what it gives as used).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.memory.decay import effective_confidence
from core.store.memories import StoredMemory
from core.text import estimated_tokens


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


def within_budget(ranked: Sequence[Recalled], token_budget: int, limit: int) -> tuple[list[Recalled], int]:
    """The best memories that fit in ``token_budget`` tokens (at most ``limit``), and their cost.
    A memory too long for what is left is skipped; a shorter, lower-ranked one may still fit."""
    chosen: list[Recalled] = []
    used = 0
    for item in ranked:
        if len(chosen) >= limit:
            break
        price = estimated_tokens(line(item))
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
