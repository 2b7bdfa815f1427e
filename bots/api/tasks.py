"""The task routes: start one, list them a page at a time, read one whole, cancel one."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bots.api import task_views
from bots.api.context import ApiContext
from bots.api.http import read_json, read_query, reply
from bots.api.policy import api_policy
from bots.api.problems import ApiError
from bots.api.routes import PREFIX, Call
from bots.api.submit import IDEMPOTENCY_HEADER, idempotency_key, submit
from bots.api.task_models import CancelResult, TaskAccepted, TaskPage, TaskRequest
from bots.api.tokens import PLATFORM
from core.errors import NotFound
from core.models import Task, TaskStatus


class TaskListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TaskStatus | None = Field(None, description="Only tasks with this status.")
    limit: int = Field(50, ge=1, le=200, description="Most tasks on one page.")
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page.")


async def create_task(call: Call) -> web.StreamResponse:
    key = idempotency_key(call.request.headers.get(IDEMPOTENCY_HEADER))
    body = await read_json(call.request, TaskRequest)
    submitted = await submit(call.api, call.caller, body, key)
    task_id, status = submitted.task_id, TaskStatus.QUEUED  # as it was saved: no read back on the hot path
    headers = {"Location": f"{PREFIX}/tasks/{task_id}"}
    if submitted.replayed:  # the first request's task, as it is now
        status = (await call.api.store.tasks.get(task_id)).status
        headers["Idempotent-Replayed"] = "true"
    accepted = TaskAccepted(id=task_id, status=status, links=task_views.links(task_id))
    return reply(accepted, 202, headers, scrub=False)  # ids and links only: nothing to redact


async def list_tasks(call: Call) -> web.StreamResponse:
    query = read_query(call.request, TaskListQuery)
    return reply(await task_page(call.api, query))


async def task_page(api: ApiContext, query: TaskListQuery) -> TaskPage:
    """One page of tasks, newest first, and the cursor of the next (the web page's list reads it too);
    raises ApiError 422 for a cursor this API did not give."""
    before = _cursor(query.cursor) if query.cursor else None
    tasks = await api.store.task_pages.page(status=query.status, limit=query.limit + 1, before=before)
    page, more = tasks[: query.limit], len(tasks) > query.limit
    next_cursor = _encode(page[-1]) if more and page else None
    return TaskPage(tasks=[task_views.summary(t) for t in page], next_cursor=next_cursor)


async def get_task(call: Call) -> web.StreamResponse:
    task = await task_of(call)
    return reply(await task_views.detail(call.api.store, task))


async def cancel_task(call: Call) -> web.StreamResponse:
    task = await task_of(call)
    api, token = call.api, call.caller
    conversation = await api.store.conversations.get(task.id)
    if conversation is not None and conversation.platform == PLATFORM:
        allowed = api_policy(api).may_cancel(token.actor, conversation.requester_id)
        why = "only the token that asked, or one with the approve scope, may cancel this task"
    else:
        allowed = token.allows("admin")
        why = f"this task was asked on {task.source}: only an admin token may cancel it from the API"
    if not allowed:
        raise ApiError(403, why, kind="forbidden")
    cancelled = await api.engine.cancel(task.id, by=token.label)
    after = await api.store.tasks.get(task.id)
    return reply(CancelResult(id=task.id, cancelled=cancelled, status=after.status))


async def task_of(call: Call) -> Task:
    """The task the path names (its full id); 404 when there is none."""
    task_id = call.request.match_info["id"]
    try:
        return await call.api.store.tasks.get(task_id)
    except NotFound:
        raise ApiError(404, f"no task with id {task_id!r}", kind="not-found") from None


def _encode(task: Task) -> str:
    raw = f"{task.created_at.isoformat()}|{task.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor(cursor: str) -> tuple[str, str]:
    """The (created_at, id) a cursor carries; 422 when it is not one this API made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, task_id = raw.split("|", 1)
        datetime.fromisoformat(created_at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError.invalid("cursor", "unknown", "not a cursor this API gave") from None
    return created_at, task_id
