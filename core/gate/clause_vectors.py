"""The embedder's vectors for the clauses it embedded last, remembered by their exact text.

A proposed action is screened every time it is called, and most of what it says repeats: the tool's name,
a repository's path, a common argument. The local embedder is deterministic — a text gives the same vector
alone or in any batch — so a clause seen before needs no second embedding, and the screen's result is
exactly what it would be without remembering. Only the clauses not remembered are embedded, all in one
call; a failed call remembers nothing, so the next screen asks the embedder again.

The memory is bounded: the least recently used clause is forgotten first, and a clause longer than
``LONGEST`` characters (a file's content passed as an argument) is embedded each time rather than kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]
Embed = Callable[[list[str]], Vectors]

SIZE = 4096  # clauses: 4096 × 384 float32 ≈ 6 MB of vectors
LONGEST = 2000  # characters; the keys stay under ~8 MB however long the arguments are


class ClauseVectors:
    """``embed`` with a bounded memory of its vectors (see the module). Called like ``embed``: one row per
    text, in order. Thread-safe: the lock guards the memory only, never the embedder's call."""

    def __init__(self, embed: Embed, size: int = SIZE, longest: int = LONGEST) -> None:
        if size < 0:
            raise ValueError(f"a clause memory holds zero or more clauses, not {size}")
        self._embed = embed
        self._size = size
        self._longest = longest
        self._rows: OrderedDict[str, Vectors] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._rows)

    def __call__(self, texts: list[str]) -> Vectors:
        """One row per text; the texts not remembered are embedded in one call. What ``embed`` raises is
        raised, and nothing of that call is remembered."""
        if not texts:
            return self._embed(texts)
        distinct = list(dict.fromkeys(texts))
        with self._lock:
            found = {text: self._recall(text) for text in distinct if text in self._rows}
        missing = [text for text in distinct if text not in found]
        if missing:
            fresh = self._embed(missing)
            if fresh.ndim != 2 or fresh.shape[0] != len(missing):
                raise ValueError(f"the embedder gave {fresh.shape[0]} vectors for {len(missing)} texts")
            rows = {text: _frozen(row) for text, row in zip(missing, fresh, strict=True)}
            with self._lock:
                for text, row in rows.items():
                    self._keep(text, row)
            found.update(rows)
        return np.stack([found[text] for text in texts])

    def _recall(self, text: str) -> Vectors:
        self._rows.move_to_end(text)
        return self._rows[text]

    def _keep(self, text: str, row: Vectors) -> None:
        if len(text) > self._longest or self._size == 0:
            return
        self._rows[text] = row
        self._rows.move_to_end(text)
        while len(self._rows) > self._size:
            self._rows.popitem(last=False)


def _frozen(row: Vectors) -> Vectors:
    # A copy, so that a remembered row does not keep its whole batch alive, and read-only, so that no
    # caller can change what the next screen reads.
    kept = row.copy()
    kept.flags.writeable = False
    return kept
