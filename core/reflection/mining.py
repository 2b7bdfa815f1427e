"""Mining the usage events for patterns, without holding the event loop.

Each distinct normalised task text is embedded once and its vector cached in SQLite
(``task_text_vectors``); a run embeds at most ``[patterns] max_new_texts`` texts it has not seen
(most asked first), and the tasks whose text waits for the next run are left out of this one. The
reads run on the store's thread and the numeric work (``find_patterns``) in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from core.config import Settings
from core.memory.embedder import Embedder
from core.models import utcnow
from core.reflection.patterns import Pattern, find_patterns, normalise_text, text_hash
from core.store.db import Database
from core.store.patterns import AskedTask, PatternRepository

log = logging.getLogger(__name__)

EMBED_BATCH = 256  # texts per embedding call: the cache is written after each, so progress survives a crash


@dataclass(frozen=True)
class Mined:
    patterns: list[Pattern]
    tasks: int  # tasks (usage events) read
    texts: int  # distinct normalised texts among them
    texts_embedded: int  # embedded in this run
    texts_pending: int  # not embedded yet: over the per-run cap, or the embedder failed


def _wanted(tasks: list[AskedTask], embedder: str) -> tuple[dict[str, str], list[str]]:
    """(hash → normalised text, the texts most asked first); runs in a worker thread."""
    counts: Counter[str] = Counter()
    for raw, n in Counter(t.text for t in tasks).items():
        counts[normalise_text(raw)] += n
    hashes = {text_hash(embedder, text): text for text in counts if text}
    ordered = sorted(hashes, key=lambda h: (-counts[hashes[h]], h))
    return hashes, ordered


def _unpack(raw: dict[str, bytes], hashes: dict[str, str]) -> dict[str, npt.NDArray[np.float32]]:
    return {hashes[h]: np.frombuffer(blob, dtype="<f4") for h, blob in raw.items() if h in hashes}


async def mine(db: Database, settings: Settings, embedder: Embedder, now: datetime | None = None) -> Mined:
    """The qualifying patterns in the tasks of the last ``lookback_days`` (see ``find_patterns``)."""
    config = settings.patterns
    now = now or utcnow()
    repo = PatternRepository(db)
    since = now - timedelta(days=config.lookback_days) if config.lookback_days else None
    tasks = await repo.asked_tasks(since)
    hashes, ordered = await asyncio.to_thread(_wanted, tasks, embedder.name)
    cached = await repo.cached_vectors(embedder.name, ordered)
    missing = [h for h in ordered if h not in cached]
    to_embed, embedded = missing[: config.max_new_texts], 0
    for start in range(0, len(to_embed), EMBED_BATCH):
        batch = to_embed[start : start + EMBED_BATCH]
        try:
            matrix = await embedder.embed([hashes[h] for h in batch])
        except Exception as exc:  # no vectors now: mine what is cached, embed the rest next run
            log.warning("pattern mining: the embedder failed (%s); %d texts wait for the next run", exc, len(missing))
            break
        rows = [(h, matrix[i].astype("<f4").tobytes()) for i, h in enumerate(batch)]
        await repo.save_vectors(embedder.name, rows)
        cached.update(rows)
        embedded += len(batch)
    pending = len(missing) - embedded
    if pending:
        log.info("pattern mining: %d task texts are not embedded yet; the next run embeds them", pending)
    vectors = await asyncio.to_thread(_unpack, cached, hashes)
    patterns = await asyncio.to_thread(find_patterns, tasks, vectors, config, ZoneInfo(settings.schedule.timezone))
    return Mined(patterns, len(tasks), len(hashes), embedded, pending)
