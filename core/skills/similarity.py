"""How similar a task is to a skill, behind one small interface.

``LexicalSimilarity`` (TF-IDF cosine over words) is what openkoi uses today. A semantic one (an
embedder from ``core.memory``) can replace it by implementing ``Similarity``; it is async so that
such an implementation can embed off the event loop.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # letters and digits; "code-review" and "snake_case" are two words
# Words that say nothing about what a task is about.
_STOP = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "can", "do", "for", "from", "how", "i", "if",
        "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "please", "should",
        "so", "than", "that", "the", "their", "them", "then", "there", "these", "this", "to", "up", "us", "was",
        "we", "what", "when", "which", "while", "who", "why", "will", "with", "you", "your",
        # Verbs almost every task starts with: they say what to do, not what it is about.
        "write", "make", "use", "get", "help", "need", "want", "like", "just", "also", "all", "some", "about",
    }
)  # fmt: skip


def terms(text: str) -> list[str]:
    """The content words of ``text``: lowercased, stop words dropped, plurals folded ("tokens" → "token")."""
    found = []
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        if len(word) > 4 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        found.append(word)
    return found


class Similarity(Protocol):
    async def scores(self, query: str, documents: Sequence[str]) -> list[float]:
        """How similar ``query`` is to each document, from 0 (unrelated) to 1, in the documents' order."""
        ...


class LexicalSimilarity:
    """Cosine of TF-IDF word vectors, the IDF taken over the documents being compared: a word every
    skill mentions tells the skills apart less than a word only one of them has. A task word no
    document has still counts in the task's length (at the highest IDF), so a task that shares one
    word of many with a skill is not mistaken for a close match."""

    async def scores(self, query: str, documents: Sequence[str]) -> list[float]:
        bags = [Counter(terms(d)) for d in documents]
        if not bags:
            return []
        frequency = Counter(t for bag in bags for t in bag)
        idf = {t: math.log((1 + len(bags)) / (1 + n)) + 1.0 for t, n in frequency.items()}
        unseen = math.log(1 + len(bags)) + 1.0
        q = {t: n * idf.get(t, unseen) for t, n in Counter(terms(query)).items()}
        q_norm = math.sqrt(sum(v * v for v in q.values()))
        results = []
        for bag in bags:
            d = {t: n * idf[t] for t, n in bag.items()}
            d_norm = math.sqrt(sum(v * v for v in d.values()))
            dot = sum(v * d.get(t, 0.0) for t, v in q.items())
            results.append(dot / (q_norm * d_norm) if q_norm and d_norm else 0.0)
        return results
