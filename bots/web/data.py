"""What the page shows, read through the API's own queries and view models (``bots.api``): the same task pages,
task details, pending actions, proposals and digests a client of ``/api/v1`` gets, redacted of the service's
secrets as the API's answers are. No SQL of its own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, TypeVar

from bots.api import task_views
from bots.api.context import ApiContext
from bots.api.decision_models import ActionView
from bots.api.decisions import action_view
from bots.api.http import view_of
from bots.api.problems import ApiError
from bots.api.task_models import ConfirmationView, TaskDetail, TaskPage, TaskSummary
from bots.api.tasks import TaskListQuery, task_page
from bots.api.view_models import DigestView, ProposalView
from bots.api.views import digest_view, proposal_view
from core.errors import NotFound
from core.models import TaskStatus
from core.secrets import SECRETS

T = TypeVar("T")
# The blocked tasks the approvals panel lists at most (oldest block first is not needed: they are few).
BLOCKED_SHOWN = 50


def scrubbed(model: T) -> T:
    """``model`` (a view model, or a dataclass of them) with the service's own secrets redacted, as the API's
    answers are (a task may quote one)."""
    return SECRETS.scrub(model)


async def tasks(api: ApiContext, page_size: int, cursor: str | None = None) -> TaskPage:
    """A page of the task list, newest first; an unknown cursor shows the first page."""
    try:
        page = await task_page(api, TaskListQuery(limit=page_size, cursor=cursor))
    except ApiError:
        page = await task_page(api, TaskListQuery(limit=page_size))
    return scrubbed(page)


async def detail(api: ApiContext, task_id: str) -> TaskDetail | None:
    """A task whole, as ``GET /api/v1/tasks/{id}`` answers it; None when there is none."""
    try:
        task = await api.store.tasks.get(task_id)
    except NotFound:
        return None
    return scrubbed(await task_views.detail(api.store, task))


@dataclass(frozen=True)
class Blocked:
    """A task the gate stopped, and the block an approver may override or deny."""

    task: TaskSummary
    confirmation: ConfirmationView


@dataclass(frozen=True)
class Approvals:
    blocked: list[Blocked]
    actions: list[ActionView]

    def __len__(self) -> int:
        return len(self.blocked) + len(self.actions)


async def approvals(api: ApiContext, task_id: str | None = None) -> Approvals:
    """What waits for an approver: blocked tasks (with their block) and pending actions (of ``task_id``, or all)."""
    store = api.store
    if task_id is None:
        waiting = await store.task_pages.page(status=TaskStatus.AWAITING_CONFIRMATION, limit=BLOCKED_SHOWN)
    else:
        waiting = [await store.tasks.get(task_id)]
    blocks = await asyncio.gather(*(store.confirmations.pending_for_task(t.id) for t in waiting))
    blocked = [
        Blocked(task_views.summary(t), view_of(ConfirmationView, c))
        for t, c in zip(waiting, blocks, strict=True)
        if c is not None
    ]
    actions = [action_view(a) for a in await store.actions.pending(task_id)]
    return scrubbed(Approvals(blocked, actions))


async def proposals(api: ApiContext) -> list[ProposalView]:
    """The skill proposals waiting for Approve / Dismiss."""
    return [scrubbed(proposal_view(p)) for p in await api.store.proposals.listed("pending")]


async def digest(api: ApiContext, kind: Literal["daily", "weekly"]) -> DigestView:
    return scrubbed(await digest_view(api, kind))
