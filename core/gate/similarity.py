"""Nearest-exemplar matching with the local embedder: catches paraphrases the rules' words miss.

Each rule may carry ``examples`` (short destructive tasks) and the rulebook carries benign ones. A clause
that acts is matched to a rule when it is at least ``threshold`` similar to one of that rule's examples
and ``margin`` more similar to it than to any benign example. It only ever adds a match: the floor keeps
every match its words found. When the embedder cannot load, the floor screens with words only and says so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from core.gate.spec import RuleSpec, SimilaritySpec

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
Embed = Callable[[list[str]], Vectors]
State = Literal["used", "unavailable"]


@dataclass(frozen=True)
class Nearness:
    """A clause close enough to one of a rule's examples."""

    rule: str
    clause: str
    example: str
    score: float


def _local_embed(texts: list[str]) -> Vectors:
    from core.memory.embedder import LocalEmbedder

    return LocalEmbedder().embed_sync(texts)


class Similarity:
    """The exemplar bank, embedded once on first use (about 0.1 s for the shipped examples)."""

    def __init__(
        self, examples: list[tuple[str, str]], benign: list[str], spec: SimilaritySpec, embed: Embed | None = None
    ) -> None:
        self._examples = examples  # (rule id, example)
        self._benign = benign
        self._spec = spec
        self._embed = embed or _local_embed
        self._lock = threading.Lock()
        self._bank: tuple[Vectors, Vectors] | None = None
        self._failure: str | None = None

    @classmethod
    def for_rules(
        cls, rules: Iterable[RuleSpec], benign: list[str], spec: SimilaritySpec, embed: Embed | None = None
    ) -> Similarity:
        return cls([(rule.id, example) for rule in rules for example in rule.examples], benign, spec, embed)

    @property
    def state(self) -> State:
        return "unavailable" if self._failure else "used"

    def nearest(self, clauses: list[str], exclude: set[str]) -> tuple[list[Nearness], State, str]:
        """The rules (not in ``exclude``) whose examples the acting ``clauses`` are near, best first and
        one per rule; the embedder's state; a note for a person when it could not be used."""
        if not self._examples or not clauses:
            return [], self.state, self._note()
        bank = self._load()
        if bank is None:
            return [], "unavailable", self._note()
        examples, benign = bank
        try:
            vectors = self._embed(clauses)
        except Exception as exc:  # an embedder that worked once and fails now: words only, said so
            return [], "unavailable", f"the embedder failed ({exc}): screened with the rules' words only"
        scores = vectors @ examples.T
        benign_best = (
            (vectors @ benign.T).max(axis=1) if len(self._benign) else np.zeros(len(clauses), dtype=np.float32)
        )
        found: dict[str, Nearness] = {}
        for row, clause in enumerate(clauses):
            best = int(np.argmax(scores[row]))
            score = float(scores[row, best])
            rule, example = self._examples[best]
            if score < self._spec.threshold or score - float(benign_best[row]) < self._spec.margin or rule in exclude:
                continue
            if rule not in found or found[rule].score < score:
                found[rule] = Nearness(rule, clause, example, round(score, 3))
        return sorted(found.values(), key=lambda n: (-n.score, n.rule)), "used", ""

    def _note(self) -> str:
        if self._failure:
            return f"the embedder could not load ({self._failure}): screened with the rules' words only"
        return ""

    def _load(self) -> tuple[Vectors, Vectors] | None:
        with self._lock:
            if self._bank is None and self._failure is None:
                try:
                    examples = self._embed([text for _, text in self._examples])
                    benign = self._embed(self._benign) if self._benign else np.zeros((0, examples.shape[1]), np.float32)
                    self._bank = (examples, benign)
                except Exception as exc:  # no model file, no onnxruntime, a broken CPU: the floor goes on
                    self._failure = str(exc) or type(exc).__name__
                    log.warning("rule floor: the embedder cannot load, screening with words only: %s", exc)
            return self._bank
