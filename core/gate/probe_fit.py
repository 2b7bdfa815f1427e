"""Fits the floor's probe (``core.gate.probe``) on the shipped exemplars; run by hand, offline:

    python -m core.gate.probe_fit

The exemplars' clauses that act (as the shipped grammar cuts them) are embedded with the local embedder
and a logistic regression is fitted from zero, so the same exemplars, grammar and embedder give the same
``floor_probe.json``. The test set in ``tests/core/gate`` is never read here.
"""

from __future__ import annotations

import json

import numpy as np

from core.gate.floor import Floor
from core.gate.probe import EXEMPLARS_FILE, PROBE_FILE, exemplars_digest, fit, grammar_digest, package_file
from core.gate.settings import FloorSettings

# A clause counts from this probability up: chosen so the probe adds catches on fresh phrasings without
# stopping benign tasks (see the report in the floor's tests).
THRESHOLD = 0.95


def main() -> None:
    from core.memory.embedder import LocalEmbedder

    floor = Floor.load(FloorSettings(embedder=False))
    texts: list[str] = []
    labels: list[bool] = []
    for line in package_file(EXEMPLARS_FILE).read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        for clause in floor.acting_clauses(case["text"]):
            texts.append(clause)
            labels.append(case["label"] == "destructive")
    embedder = LocalEmbedder()
    weights, bias = fit(embedder.embed_sync(texts), np.array(labels))
    payload = {
        "embedder": embedder.name,
        "exemplars_sha256": exemplars_digest(),
        "grammar_sha256": grammar_digest(),
        "clauses": len(texts),
        "threshold": THRESHOLD,
        "bias": round(bias, 6),
        "weights": [round(float(w), 6) for w in weights],
    }
    package_file(PROBE_FILE).write_text(json.dumps(payload) + "\n", encoding="utf-8")
    print(f"fitted on {len(texts)} clauses ({sum(labels)} destructive) → {PROBE_FILE}")


if __name__ == "__main__":
    main()
