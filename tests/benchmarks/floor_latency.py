"""Latency of the rule floor's ``screen`` over the labelled set, one task at a time as the gate calls it:
p50, p99 and max, words only and with the local embedder (its model and probe loaded before timing,
load time reported apart), plus the cost of ``Floor.load`` and of the first import. Prints one JSON line.

    python -m tests.benchmarks.floor_latency [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.benchmarks._common import check, emit, forbid_network, note

CASES = Path(__file__).resolve().parents[1] / "core" / "gate" / "floor_cases.jsonl"


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3), "max_ms": round(ordered[-1], 3)}


def _time_screens(screen: Callable[[str], object], texts: list[str], rounds: int) -> list[float]:
    samples: list[float] = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            screen(text)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3, help="passes over the labelled set per configuration")
    args = parser.parse_args()
    forbid_network()

    probe = "import time; t = time.perf_counter(); import core.gate.floor; print((time.perf_counter() - t) * 1000)"
    import_ms = float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)

    from core.gate.floor import Floor
    from core.gate.settings import FloorSettings

    texts = [json.loads(line)["text"] for line in CASES.read_text(encoding="utf-8").splitlines() if line.strip()]
    start = time.perf_counter()
    words = Floor.load(FloorSettings(embedder=False))
    load_ms = (time.perf_counter() - start) * 1000
    words_only = _percentiles(_time_screens(words.screen, texts, args.rounds))

    with_embedder = Floor.load(FloorSettings(embedder=True))
    start = time.perf_counter()
    first = with_embedder.screen("warm up: make the users table empty")
    embedder_load_ms = (time.perf_counter() - start) * 1000
    check(first.embedder == "on", f"the embedder did not load: {first.notes}")
    embedded = _percentiles(_time_screens(with_embedder.screen, texts, args.rounds))
    asked = sum(not words.screen(text).needs_person and bool(words.acting_clauses(text)) for text in texts)

    note(f"words only: {words_only}; with the embedder: {embedded} (asked for {asked} of {len(texts)} tasks)")
    emit(
        {
            "benchmark": "floor_latency",
            "tasks": len(texts),
            "rounds": args.rounds,
            "import_ms": round(import_ms, 1),
            "load_ms": round(load_ms, 1),
            "words_only": words_only,
            "embedder_load_ms": round(embedder_load_ms, 1),
            "with_embedder": embedded,
            "embedder_asked_for": asked,
        }
    )


if __name__ == "__main__":
    main()
