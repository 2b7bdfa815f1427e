"""Mining the usage events for patterns, in a child process so the event loop is never held.

Reading 100,000 events, hashing their texts and clustering their vectors is seconds of CPU, much of
it in C calls that keep the GIL (sqlite3's fetchall, Counter, numpy): in a thread they stalled the
service's event loop for 0.3-0.7 s at a time. So a spawned process does all of it with its own
read-only connection, and the service only embeds the texts it has never seen (the embedder lives
here, already loaded) and waits on a pipe.

Each distinct normalised task text is embedded once and its vector cached in SQLite
(``task_text_vectors``); a run embeds at most ``[patterns] max_new_texts`` texts it has not seen
(most asked first), and the tasks whose text waits for the next run are left out of this one.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from core.config import PatternSettings, Settings
from core.memory.embedder import Embedder
from core.models import utcnow
from core.reflection.patterns import Pattern, find_patterns, normalise_text, text_hash
from core.store.db import Database
from core.store.patterns import AskedTask, PatternRepository, read_asked_tasks, read_vectors

log = logging.getLogger(__name__)

EMBED_BATCH = 256  # texts per embedding call: the cache is written after each, so progress survives a crash
# How long the service waits for the mining process at each step before giving up on it.
PROCESS_TIMEOUT = 600.0


class MiningFailed(Exception):
    """The mining process failed or stopped answering; the message says what it reported."""


@dataclass(frozen=True)
class Mined:
    patterns: list[Pattern]
    tasks: int  # tasks (usage events) read
    texts: int  # distinct normalised texts among them
    texts_embedded: int  # embedded in this run
    texts_pending: int  # not embedded yet: over the per-run cap, or the embedder failed


def _wanted(tasks: list[AskedTask], embedder: str) -> tuple[dict[str, str], list[str]]:
    """(hash → normalised text, the texts most asked first)."""
    counts: Counter[str] = Counter()
    for raw, n in Counter(t.text for t in tasks).items():
        counts[normalise_text(raw)] += n
    hashes = {text_hash(embedder, text): text for text in counts if text}
    ordered = sorted(hashes, key=lambda h: (-counts[hashes[h]], h))
    return hashes, ordered


def _unpack(raw: dict[str, bytes], hashes: dict[str, str]) -> dict[str, npt.NDArray[np.float32]]:
    return {hashes[h]: np.frombuffer(blob, dtype="<f4") for h, blob in raw.items() if h in hashes}


def _mining_process(
    pipe: Connection, path: str, embedder: str, since: str | None, config: dict[str, Any], tz: str, cap: int
) -> None:
    """The child's side of the conversation (see ``mine``): ("missing", ...) → wait for "go" → ("mined", ...)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            tasks = read_asked_tasks(conn, since)
            hashes, ordered = _wanted(tasks, embedder)
            cached = read_vectors(conn, embedder, ordered)
            missing = [h for h in ordered if h not in cached]
            pipe.send(("missing", [(h, hashes[h]) for h in missing[:cap]], len(missing)))
            if pipe.recv() != "go":
                return
            # What the service embedded meanwhile (a new read: it wrote them after ours began).
            cached.update(read_vectors(conn, embedder, missing[:cap]))
        finally:
            conn.close()
        patterns = find_patterns(tasks, _unpack(cached, hashes), PatternSettings(**config), ZoneInfo(tz))
        pipe.send(("mined", patterns, len(tasks), len(hashes), len([h for h in missing if h not in cached])))
    except Exception as exc:  # reported to the service, which raises it there with this text
        pipe.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


async def _receive(pipe: Connection, process: multiprocessing.process.BaseProcess) -> tuple[Any, ...]:
    def wait() -> tuple[Any, ...]:
        # poll() with a timeout, so a process that died without a word is noticed.
        waited = 0.0
        while not pipe.poll(1.0):
            waited += 1.0
            if not process.is_alive():
                raise MiningFailed(f"the mining process stopped (exit code {process.exitcode})")
            if waited >= PROCESS_TIMEOUT:
                raise MiningFailed(f"the mining process did not answer within {PROCESS_TIMEOUT:.0f} s")
        message: tuple[Any, ...] = pipe.recv()
        return message

    message = await asyncio.to_thread(wait)
    if message[0] == "failed":
        raise MiningFailed(message[1])
    return message


async def mine(db: Database, settings: Settings, embedder: Embedder, now: datetime | None = None) -> Mined:
    """The qualifying patterns in the tasks of the last ``lookback_days`` (see ``find_patterns``).
    Raises ``MiningFailed`` when the mining process fails (the message says how)."""
    config = settings.patterns
    now = now or utcnow()
    since = (now - timedelta(days=config.lookback_days)).isoformat() if config.lookback_days else None
    # "spawn": a fork of a process with running threads (the store's, the embedder's) may deadlock.
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(
        target=_mining_process,
        args=(
            theirs,
            str(db.path),
            embedder.name,
            since,
            config.model_dump(),
            settings.schedule.timezone,
            config.max_new_texts,
        ),
        name="openkoi-mining",
        daemon=True,
    )
    process.start()
    theirs.close()
    try:
        _, to_embed, missing = await _receive(ours, process)
        embedded = await _embed(db, embedder, to_embed, missing)
        ours.send("go")
        _, patterns, tasks, texts, pending = await _receive(ours, process)
    finally:
        ours.close()
        await asyncio.to_thread(process.join, 5)
        if process.is_alive():
            process.kill()
    if pending:
        log.info("pattern mining: %d task texts are not embedded yet; the next run embeds them", pending)
    return Mined(patterns, tasks, texts, embedded, pending)


async def _embed(db: Database, embedder: Embedder, to_embed: list[tuple[str, str]], missing: int) -> int:
    """Embed and cache ``to_embed`` (hash, text) in batches; returns how many were embedded."""
    repo = PatternRepository(db)
    embedded = 0
    for start in range(0, len(to_embed), EMBED_BATCH):
        batch = to_embed[start : start + EMBED_BATCH]
        try:
            matrix = await embedder.embed([text for _, text in batch])
        except Exception as exc:  # no vectors now: mine what is cached, embed the rest next run
            log.warning("pattern mining: the embedder failed (%s); %d texts wait for the next run", exc, missing)
            break
        await repo.save_vectors(
            embedder.name, [(h, matrix[i].astype("<f4").tobytes()) for i, (h, _) in enumerate(batch)]
        )
        embedded += len(batch)
    return embedded
