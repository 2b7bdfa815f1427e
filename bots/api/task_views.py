"""A stored task as the API shows it: a summary for lists, and the whole of it (verdict with every vote,
iterations with their scores, result, cost, the block waiting for a person)."""

from __future__ import annotations

import asyncio

from bots.api.routes import PREFIX
from bots.api.task_models import (
    ConfirmationView,
    CostView,
    IterationView,
    OptionsView,
    TaskDetail,
    TaskLinks,
    TaskSummary,
    VerdictView,
    VoteView,
)
from core.models import Task
from core.store import Store
from core.store.deliberations import StoredDeliberation


def links(task_id: str) -> TaskLinks:
    base = f"{PREFIX}/tasks/{task_id}"
    return TaskLinks(self=base, events=f"{base}/events", cancel=f"{base}/cancel")


def summary(task: Task) -> TaskSummary:
    return TaskSummary(
        id=task.id,
        description=task.description,
        status=task.status,
        source=task.source,
        requester=task.requester,
        score=task.score,
        iterations=task.iterations,
        created_at=task.created_at,
        updated_at=task.updated_at,
        links=links(task.id),
    )


async def detail(store: Store, task: Task) -> TaskDetail:
    deliberation, cycles, usage, pending = await asyncio.gather(
        store.deliberations.latest(task.id),
        store.cycles.for_task(task.id),
        store.usage.for_task(task.id),
        store.confirmations.pending_for_task(task.id),
    )
    o = task.options
    return TaskDetail(
        id=task.id,
        description=task.description,
        status=task.status,
        source=task.source,
        requester=task.requester,
        options=OptionsView(
            simulate=o.simulate,
            max_iterations=o.max_iterations,
            quality_threshold=o.quality_threshold,
            max_cost_usd=o.max_cost_usd,
            skill=o.skill,
        ),
        decision=task.decision,
        score=task.score,
        error=task.error,
        result=task.output,
        verdict=_verdict(deliberation) if deliberation is not None else None,
        iterations=[
            IterationView(
                iteration=c.iteration,
                score=c.score,
                dimension_scores=c.dimension_scores,
                decision=c.decision,
                decision_reason=c.decision_reason,
                revision=c.revision,
                incremental=c.incremental,
                skipped=c.skipped,
                tokens=c.tokens,
                duration_ms=c.duration_ms,
            )
            for c in cycles
        ],
        cost=CostView(
            usd=sum(u.cost_usd for u in usage),
            tokens=sum(u.tokens for u in usage),
            calls=sum(u.calls for u in usage),
        ),
        confirmation=ConfirmationView(
            id=pending.id,
            kind=pending.kind,
            reason=pending.reason,
            status=pending.status,
            expires_at=pending.expires_at,
        )
        if pending is not None
        else None,
        created_at=task.created_at,
        updated_at=task.updated_at,
        links=links(task.id),
    )


def _verdict(d: StoredDeliberation) -> VerdictView:
    return VerdictView(
        outcome=d.outcome,
        reason=d.reason,
        fail_closed=d.fail_closed,
        reversibility=d.reversibility,
        blast_radius=d.blast_radius,
        permission_level=d.permission_level,
        votes=[
            VoteView(
                agency=v.agency,
                vote=v.vote,
                reason=v.reason,
                caveat=v.caveat,
                estimate_usd=v.estimate_usd,
                invalid=v.invalid,
            )
            for v in d.votes
        ],
    )
