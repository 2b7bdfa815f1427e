"""The standard jobs and their bodies: each a thin call into ``core``.

``memory_maintenance``, ``pattern_mining`` and ``audit_pruning`` are here in full. The digests are posted by the chat
service (``bots.chat.digest_post``), which passes their body to ``standard_jobs``; without it (a
process with no chat) they are not scheduled, and ``openkoi schedule list`` says "not available".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

from scheduler.runs import JobFunc, JobRun

if TYPE_CHECKING:
    from core.config import Settings
    from core.memory.memory import Memory
    from core.store import Store

JOB_NAMES = ("daily_digest", "weekly_digest", "pattern_mining", "memory_maintenance", "audit_pruning")
# Jobs that post into chat, so only ``openkoi serve`` can run them.
NEEDS_SERVICE = frozenset({"daily_digest", "weekly_digest"})

DigestKind = Literal["daily", "weekly"]
PostDigest = Callable[[DigestKind, JobRun], Awaitable[str]]


def memory_maintenance(memory: Memory) -> JobFunc:
    """Compact old task transcripts into summaries, then delete memories decayed below
    ``[memory] min_confidence`` (both in ``core.memory``)."""

    async def run(job: JobRun) -> str:
        from core.memory.compaction import compact_transcripts

        compacted = await compact_transcripts(memory, now=job.fire_time)
        pruned = await memory.prune(now=job.fire_time)
        return (
            f"compacted {compacted.tasks} task transcript{'s' if compacted.tasks != 1 else ''}"
            f" ({compacted.chars_freed:,} chars freed); pruned {pruned} faded memor{'ies' if pruned != 1 else 'y'}"
        )

    return run


def audit_pruning(settings: Settings, store: Store) -> JobFunc:
    """Delete the gate's audit rows older than ``[gate] audit_retention_days`` (``core.gate.ledger``)."""

    async def run(job: JobRun) -> str:
        from core.gate.gatekeeper import Gatekeeper

        pruned = await Gatekeeper(settings.gate, store).ledger.prune(now=job.fire_time)
        days = settings.gate.audit_retention_days
        return f"pruned {pruned} audit row{'s' if pruned != 1 else ''} older than {days} days"

    return run


def pattern_mining(settings: Settings, store: Store) -> JobFunc:
    """Mine the usage events for patterns and propose a skill for each new one
    (``core.reflection.proposer``); a model drafts the proposals when one is configured."""

    async def run(job: JobRun) -> str:
        from core.llm.gateway import ModelGateway
        from core.memory.embedder import make_embedder
        from core.reflection.proposer import run_pattern_mining

        gateway = ModelGateway(settings, usage=store.usage)
        report = await run_pattern_mining(store, settings, make_embedder(settings), gateway, now=job.fire_time)
        return report.summary

    return run


def standard_jobs(
    settings: Settings,
    store: Store,
    *,
    post_digest: PostDigest | None = None,
    memory: Memory | None = None,
) -> dict[str, JobFunc]:
    """The jobs to schedule, by name: ``pattern_mining``, ``memory_maintenance`` and ``audit_pruning`` always, the
    digests when their body is given. ``memory`` defaults to a ``Memory`` over ``store`` (its embedder loads only when
    compaction writes a summary)."""
    if memory is None:
        from core.memory.memory import Memory

        memory = Memory(settings, store)
    jobs: dict[str, JobFunc] = {}
    if post_digest is not None:
        digest = post_digest

        async def daily(job: JobRun) -> str:
            return await digest("daily", job)

        async def weekly(job: JobRun) -> str:
            return await digest("weekly", job)

        jobs["daily_digest"] = daily
        jobs["weekly_digest"] = weekly
    jobs["pattern_mining"] = pattern_mining(settings, store)
    jobs["memory_maintenance"] = memory_maintenance(memory)
    jobs["audit_pruning"] = audit_pruning(settings, store)
    return jobs
