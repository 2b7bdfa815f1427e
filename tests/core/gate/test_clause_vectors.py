"""The embedder's vectors remembered per clause (``core.gate.clause_vectors``): the floor's result is exactly
what it is when every clause is embedded each time, a clause seen before is not embedded again, a failed
embedding is not remembered, and the memory is bounded."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest

from core.gate.clause_vectors import ClauseVectors, Vectors
from core.gate.floor import Floor
from core.gate.probe import Probe
from core.gate.settings import FloorSettings
from core.gate.similarity import Nearness, Similarity
from core.gate.spec import load_rulebook, shipped_rulebook_path
from core.memory.embedder import LocalEmbedder

DIMENSION = 8
EXAMPLES = [("database.destroy", "wipe it"), ("payments.move-money", "pay them"), ("code.force-push", "push over")]
IN_FORCE = {rule for rule, _ in EXAMPLES}
# The held-out set: the words let more of it through to the embedder, and the embedder adds a match there.
HOLDOUT_FILE = Path(__file__).with_name("floor_holdout.jsonl")


def vector(text: str) -> Vectors:
    """A unit vector that depends on the text alone, as the local embedder's does."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    row = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    unit: Vectors = row / np.linalg.norm(row)
    return unit


class CountingEmbed:
    """An embedder that records every call's texts; ``failing`` makes the next calls raise."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.failing = False
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> Vectors:
        with self.lock:
            self.calls.append(list(texts))
        if self.failing:
            raise RuntimeError("the model went away")
        return np.stack([vector(text) for text in texts]) if texts else np.zeros((0, DIMENSION), np.float32)

    @property
    def embedded(self) -> list[str]:
        return [text for call in self.calls for text in call]


def probe() -> Probe:
    """A probe that finds about half of the clauses destructive."""
    weights = np.random.default_rng(3).standard_normal(DIMENSION) * 4
    return Probe(weights, 0.0, 0.5, "fake", "")


def similarity(embed: CountingEmbed, remembered: int = 4096) -> Similarity:
    return Similarity(EXAMPLES, IN_FORCE, embed=embed, probe=probe, remembered=remembered)


def clause_only(embed: CountingEmbed) -> list[list[str]]:
    """The calls after the load (which embeds the rules' examples)."""
    return embed.calls[1:]


GROUPS = [
    [f"run step {n}", "mcp db execute", f"sql select {n % 4}", "key notes/release-plan.md"] for n in range(12)
] + [["mcp db execute", "mcp db execute"], []]


def test_remembered_vectors_give_the_same_nearest_matches_as_embedding_each_time() -> None:
    every_time, remembering = CountingEmbed(), CountingEmbed()
    plain, cached = similarity(every_time, remembered=0), similarity(remembering)
    excludes: list[set[str]] = [set() for _ in GROUPS]
    results: list[list[list[Nearness]]] = []
    for order in (GROUPS, GROUPS[::-1], GROUPS[3:] + GROUPS[:3]):
        expected, state, note = plain.nearest(order, excludes)
        got = cached.nearest(order, excludes)
        assert got == (expected, state, note)
        results.append(expected)
    matched = {match.clause for groups in results for group in groups for match in group}
    assert matched and matched < {clause for group in GROUPS for clause in group}, "the probe must find some, not all"
    assert len(remembering.embedded) < len(every_time.embedded)


def test_a_repeated_clause_is_not_embedded_again() -> None:
    embed = CountingEmbed()
    near = similarity(embed)
    near.nearest([["mcp git log", "path /srv/repo"]], [set()])
    near.nearest([["mcp git log", "path /srv/other"], ["mcp git log"]], [set(), set()])
    near.nearest([["path /srv/repo", "mcp git log", "path /srv/other"]], [set()])
    near.nearest([["count 3", "count 3"]], [set()])
    assert clause_only(embed) == [["mcp git log", "path /srv/repo"], ["path /srv/other"], ["count 3"]]


def test_a_failing_embedding_is_not_remembered() -> None:
    embed = CountingEmbed()
    near = similarity(embed)
    assert near.nearest([["mcp git log"]], [set()])[1] == "on"
    embed.failing = True
    groups, state, note = near.nearest([["mcp git log", "drop the table"]], [set()])
    assert (groups, state) == ([[]], "unavailable") and "the model went away" in note
    embed.failing = False
    assert near.nearest([["mcp git log", "drop the table"]], [set()])[1] == "on"
    assert clause_only(embed) == [["mcp git log"], ["drop the table"], ["drop the table"]]


def test_an_embedder_giving_the_wrong_number_of_vectors_is_a_failure_remembered_nowhere() -> None:
    def short(texts: list[str]) -> Vectors:
        return np.stack([vector(text) for text in texts[:1]])

    remembering = ClauseVectors(short)
    with pytest.raises(ValueError, match="1 vectors for 2 texts"):
        remembering(["a", "b"])
    assert len(remembering) == 0


def test_the_memory_is_bounded_and_forgets_the_least_recently_used_first() -> None:
    embed = CountingEmbed()
    remembering = ClauseVectors(embed, size=3, longest=20)
    remembering(["a", "b", "c"])
    remembering(["a"])  # now b is the least recently used
    remembering(["d"])
    assert len(remembering) == 3
    embed.calls.clear()
    remembering(["a", "c", "d"])
    remembering(["b"])
    assert embed.calls == [["b"]]
    long = "x" * 21
    remembering([long])
    remembering([long])
    assert embed.calls[-2:] == [[long], [long]], "a clause longer than the limit is never kept"
    assert len(remembering) == 3
    nothing = ClauseVectors(embed, size=0)
    nothing(["a"])
    nothing(["a"])
    assert len(nothing) == 0 and embed.calls[-2:] == [["a"], ["a"]]


def test_the_rows_come_back_in_order_and_cannot_change_what_is_remembered() -> None:
    remembering = ClauseVectors(CountingEmbed())
    first = remembering(["b", "a", "b"])
    assert np.array_equal(first, np.stack([vector("b"), vector("a"), vector("b")]))
    first[0] = 0.0
    assert np.array_equal(remembering(["b"])[0], vector("b"))
    assert remembering([]).shape == (0, DIMENSION)


def test_screens_from_many_threads_at_once_get_the_vectors_of_their_own_texts() -> None:
    embed = CountingEmbed()
    remembering = ClauseVectors(embed, size=16)
    texts = [f"clause {n}" for n in range(40)]
    wrong: list[str] = []

    def screen(offset: int) -> None:
        for round_ in range(30):
            batch = [texts[(offset + round_ * step) % len(texts)] for step in (1, 3, 7)]
            if not np.array_equal(remembering(batch), np.stack([vector(text) for text in batch])):
                wrong.append(f"{offset}/{round_}")

    threads = [threading.Thread(target=screen, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong
    assert len(remembering) == 16
    assert len(embed.embedded) < 8 * 30 * 3


# --- with the local embedder ------------------------------------------------------------------------


def test_the_local_embedder_gives_a_text_the_same_vector_alone_and_in_any_batch() -> None:
    """What remembering relies on: a clause's vector does not depend on the clauses embedded with it."""
    embedder = LocalEmbedder()
    texts = ["mcp git log", "path /srv/repo", "drop every table in the production database tonight", "x"]
    alone = np.concatenate([embedder.embed_sync([text]) for text in texts])
    assert np.array_equal(embedder.embed_sync(texts), alone)
    assert np.array_equal(embedder.embed_sync(texts[::-1]), alone[::-1])
    assert np.array_equal(embedder.embed_sync([texts[2], "another text", texts[0]])[[0, 2]], alone[[2, 0]])


def test_the_shipped_floor_screens_exactly_as_it_does_without_remembering() -> None:
    floor = Floor.load(FloorSettings(embedder=True))
    book = load_rulebook(shipped_rulebook_path())
    pairs = [(rule.id, example) for rule in book.rules for example in rule.examples]
    in_force = {rule.id for rule in floor.rule_specs}
    forgetful = Floor(book, floor.rule_specs, None, Similarity(pairs, in_force, remembered=0))
    lines = HOLDOUT_FILE.read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines if line.strip()]
    expected = forgetful.screen_many(texts)
    assert {result.embedder for result in expected} == {"on"}
    assert any(match.source == "embedder" for result in expected for match in result.matches)
    # The first screen embeds and remembers; the next ones read what they remembered, batched otherwise.
    for order in (texts, texts[::-1], texts):
        got = floor.screen_many(order)
        assert got == (expected if order is texts else expected[::-1])
        assert [floor.screen(text) for text in order[:20]] == got[:20]
