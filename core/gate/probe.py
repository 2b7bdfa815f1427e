"""The floor's learned screen: a logistic probe over the local embedder's vectors of a clause that acts.

The words of the rules catch what a team can name; the probe catches paraphrases they miss ("make sure
the sessions table has nothing in it anymore"). It is a single linear layer fitted once, offline and
deterministically, on labelled exemplars that ship beside it (``floor_exemplars.jsonl``, never the test
set in ``tests/``), and stored as data (``floor_probe.json``). At run time it only scores; it never
learns, and the floor only lets it add matches.

Refit after changing the exemplars or the grammar (the probe sees clauses as the grammar cuts them):

    python -m core.gate.probe_fit
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

PROBE_FILE = "floor_probe.json"
EXEMPLARS_FILE = "floor_exemplars.jsonl"
Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Probe:
    """Weights and bias of the probe, the score from which a clause counts, and what they were fitted on."""

    weights: npt.NDArray[np.float64]
    bias: float
    threshold: float
    embedder: str
    exemplars_sha256: str
    grammar_sha256: str = ""

    def score(self, vectors: Vectors) -> npt.NDArray[np.float64]:
        """The probability, per row, that the clause asks for something irreversible or wide-reaching."""
        logits = vectors.astype(np.float64) @ self.weights + self.bias
        result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-logits))
        return result

    @classmethod
    def shipped(cls) -> Probe:
        data = json.loads(package_file(PROBE_FILE).read_text(encoding="utf-8"))
        return cls(
            weights=np.array(data["weights"], dtype=np.float64),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            embedder=str(data["embedder"]),
            exemplars_sha256=str(data["exemplars_sha256"]),
            grammar_sha256=str(data.get("grammar_sha256", "")),
        )


def fit(
    vectors: Vectors, labels: npt.NDArray[np.bool_], l2: float = 1e-3, steps: int = 4000, rate: float = 2.0
) -> tuple[npt.NDArray[np.float64], float]:
    """Logistic regression by full-batch gradient descent from zero: the same inputs give the same weights."""
    x = vectors.astype(np.float64)
    y = labels.astype(np.float64)
    weights = np.zeros(x.shape[1], dtype=np.float64)
    bias = 0.0
    for _ in range(steps):
        predicted = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
        error = predicted - y
        weights -= rate * (x.T @ error / len(y) + l2 * weights)
        bias -= rate * float(error.mean())
    return weights, bias


def package_file(name: str) -> Path:
    return Path(str(resources.files("core.gate").joinpath(name)))


def exemplars_digest() -> str:
    return hashlib.sha256(package_file(EXEMPLARS_FILE).read_bytes()).hexdigest()


def grammar_digest() -> str:
    """The shipped grammar's fingerprint: it decides which clauses act, so which ones the probe saw."""
    from core.gate.spec import load_rulebook, shipped_rulebook_path

    grammar = load_rulebook(shipped_rulebook_path()).grammar
    return hashlib.sha256(grammar.model_dump_json().encode()).hexdigest()
