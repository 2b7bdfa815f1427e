"""The embedder's part in the floor: it may add matches for paraphrases the rules' words miss, never
remove one.

A clause that acts is embedded with the local embedder (all-MiniLM-L6-v2) and scored by the shipped
probe (``core.gate.probe``); from the probe's threshold up it counts, and it is named after the rule whose
example it is nearest. When that rule is disabled by the team, the match is dropped: narrowing the floor
narrows the embedder too. When the embedder or the probe cannot load, the floor screens with words only
and says so in the result. The clauses' vectors are remembered (``core.gate.clause_vectors``): a clause
screened before is not embedded again, and the result is the same.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.gate import clause_vectors
from core.gate.clause_vectors import ClauseVectors, Embed, Vectors
from core.gate.probe import Probe
from core.gate.spec import RuleSpec

log = logging.getLogger(__name__)

State = Literal["on", "unavailable"]


@dataclass(frozen=True)
class Nearness:
    """A clause the probe scored as destructive, and the rule example it is nearest."""

    rule: str
    clause: str
    example: str
    score: float


@dataclass(frozen=True)
class _Loaded:
    probe: Probe
    examples: Vectors


def _local_embed(texts: list[str]) -> Vectors:
    from core.memory.embedder import LocalEmbedder

    return LocalEmbedder().embed_sync(texts)


def _local_name() -> str:
    from core.memory.embedder import LocalEmbedder

    return LocalEmbedder().name


class Similarity:
    """The probe and the rules' examples, loaded and embedded once, on first use; the vectors of the last
    ``remembered`` clauses kept (0: none)."""

    def __init__(
        self,
        examples: list[tuple[str, str]],
        in_force: set[str],
        embed: Embed | None = None,
        probe: Callable[[], Probe] = Probe.shipped,
        remembered: int = clause_vectors.SIZE,
    ) -> None:
        self._examples = examples  # (rule id, example), from every rule, disabled ones included
        self._in_force = in_force
        self._embed = embed or _local_embed
        self._clauses = ClauseVectors(self._embed, remembered)
        self._expected_embedder = None if embed else _local_name
        self._probe = probe
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None
        self._failure: str | None = None

    @classmethod
    def for_rules(cls, every_rule: Iterable[RuleSpec], in_force: set[str], embed: Embed | None = None) -> Similarity:
        pairs = [(rule.id, example) for rule in every_rule for example in rule.examples]
        return cls(pairs, in_force, embed)

    @property
    def state(self) -> State:
        return "unavailable" if self._failure else "on"

    def nearest(self, groups: list[list[str]], excludes: list[set[str]]) -> tuple[list[list[Nearness]], State, str]:
        """For each text's acting clauses (a group), the rules in force and not in its exclude set that
        the probe finds, one match per rule, best first; the embedder's state; a note for a person when
        it could not be used. The clauses not remembered are embedded in one call."""
        empty: list[list[Nearness]] = [[] for _ in groups]
        loaded = self._load()
        if loaded is None:
            return empty, "unavailable", self._note()
        flat = [(index, clause) for index, group in enumerate(groups) for clause in group]
        if not flat:
            return empty, "on", ""
        try:
            vectors = self._clauses([clause for _, clause in flat])
        except Exception as exc:  # an embedder that loaded once and fails now: words only, said so
            return empty, "unavailable", f"the embedder failed ({exc}): screened with the rules' words only"
        scores = loaded.probe.score(vectors)
        similarity = vectors @ loaded.examples.T
        found: list[dict[str, Nearness]] = [{} for _ in groups]
        for row, (index, clause) in enumerate(flat):
            score = float(scores[row])
            if score < loaded.probe.threshold:
                continue
            rule, example = self._examples[int(np.argmax(similarity[row]))]
            if rule in excludes[index] or rule not in self._in_force:
                continue
            if rule not in found[index] or found[index][rule].score < score:
                found[index][rule] = Nearness(rule, clause, example, round(score, 3))
        ordered = [sorted(group.values(), key=lambda n: (-n.score, n.rule)) for group in found]
        return ordered, "on", ""

    def _note(self) -> str:
        return f"the embedder could not be used ({self._failure}): screened with the rules' words only"

    def _load(self) -> _Loaded | None:
        with self._lock:
            if self._loaded is None and self._failure is None:
                try:
                    self._loaded = self._build()
                except Exception as exc:  # no model file, no onnxruntime, a broken probe file: words only
                    self._failure = str(exc) or type(exc).__name__
                    log.warning("rule floor: screening with words only: %s", self._failure)
            return self._loaded

    def _build(self) -> _Loaded:
        if not self._examples:
            raise ValueError("no rule has examples to name the embedder's matches by")
        probe = self._probe()
        if self._expected_embedder is not None and probe.embedder != self._expected_embedder():
            raise ValueError(f"the probe was fitted on {probe.embedder}, not {self._expected_embedder()}")
        examples = self._embed([text for _, text in self._examples])
        if examples.shape[1] != probe.weights.shape[0]:
            raise ValueError(
                f"the probe expects {probe.weights.shape[0]}-d vectors, the embedder gives {examples.shape[1]}"
            )
        return _Loaded(probe, examples)
