"""A stored task as the API shows it: a summary for lists, and the whole of it (verdict with every vote,
iterations with their scores, result, cost, the block waiting for a person)."""

from __future__ import annotations

import asyncio

from bots.api.http import view_of
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
    return view_of(TaskSummary, task, links=links(task.id))


async def detail(store: Store, task: Task) -> TaskDetail:
    deliberation, cycles, usage, pending = await asyncio.gather(
        store.deliberations.latest(task.id),
        store.cycles.for_task(task.id),
        store.usage.for_task(task.id),
        store.confirmations.pending_for_task(task.id),
    )
    return view_of(
        TaskDetail,
        task,
        options=view_of(OptionsView, task.options),
        result=task.output,
        verdict=_verdict(deliberation) if deliberation is not None else None,
        iterations=[view_of(IterationView, c) for c in cycles],
        cost=CostView(
            usd=sum(u.cost_usd for u in usage),
            tokens=sum(u.tokens for u in usage),
            calls=sum(u.calls for u in usage),
        ),
        confirmation=view_of(ConfirmationView, pending) if pending is not None else None,
        links=links(task.id),
    )


def _verdict(d: StoredDeliberation) -> VerdictView:
    return view_of(VerdictView, d, votes=[view_of(VoteView, v) for v in d.votes])
