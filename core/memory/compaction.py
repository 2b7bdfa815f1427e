"""Compaction: old task transcripts become one summary memory each.

A finished task keeps every iteration's full draft and evaluation; after ``[memory]
compact_after_days`` those are dropped and what a later task could use (what was asked, how it
ended, what had to be fixed, how the result began) is kept as a ``summary`` memory in the task's
scope, recallable like any other memory. The scheduler calls ``compact_transcripts``; it is
idempotent and safe to run while tasks run (it only touches finished ones).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.memory.memory import Memory
from core.models import utcnow
from core.store.transcripts import Transcript
from core.text import clip, one_line

SUMMARY_CHARS = 700
Summarizer = Callable[[Transcript], Awaitable[str]]


@dataclass(frozen=True)
class Compacted:
    tasks: int
    summaries: list[str]  # memory ids
    chars_freed: int


def summarize(transcript: Transcript) -> str:
    """A summary made from the record alone (no model call): the ask, the outcome, what was fixed,
    and the opening of the result."""
    task = transcript.task
    outcome = task.status.value
    if task.score is not None:
        outcome += f", score {task.score:.2f}"
    if transcript.cycles:
        outcome += f" after {len(transcript.cycles)} iteration{'s' if len(transcript.cycles) != 1 else ''}"
    parts = [f"Task: {one_line(task.description, 200)} → {outcome}" + (f" ({task.category})" if task.category else "")]
    fixed = [f"{f.dimension}: {one_line(f.description, 100)}" for f in transcript.findings[:4]]
    if fixed:
        parts.append("Had to fix: " + "; ".join(fixed))
    if task.output:
        parts.append("Result began: " + one_line(task.output, 240))
    text = ". ".join(parts)
    return clip(text, SUMMARY_CHARS)


async def compact_transcripts(
    memory: Memory,
    *,
    older_than: timedelta | None = None,
    now: datetime | None = None,
    limit: int = 100,
    summarizer: Summarizer | None = None,
) -> Compacted:
    """Compact up to ``limit`` finished tasks older than ``older_than`` (default: ``[memory]
    compact_after_days``). Each gets a summary memory before its transcript is dropped, so a
    failure part-way loses nothing; a task already compacted is never summarised twice."""
    age = older_than if older_than is not None else timedelta(days=memory.config.compact_after_days)
    transcripts = memory.store.transcripts
    summaries: list[str] = []
    freed = 0
    task_ids = await transcripts.compactable((now or utcnow()) - age, limit)
    for task_id in task_ids:
        # A summary left by a run that stopped before dropping the transcript is reused.
        earlier = [m.id for m in await memory.store.memories.for_task(task_id) if m.kind == "summary"]
        if earlier:
            summaries.append(earlier[0])
        else:
            transcript = await transcripts.load(task_id)
            text = await summarizer(transcript) if summarizer is not None else summarize(transcript)
            confidence = transcript.task.score if transcript.task.score is not None else 0.5
            stored = await memory.add_summary(text, confidence, transcript.task.scope, task_id)
            summaries.append(stored.id)
        freed += await transcripts.compact(task_id)
    return Compacted(len(task_ids), summaries, freed)
