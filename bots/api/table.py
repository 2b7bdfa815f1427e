"""Every route of the API: what is mounted and what the OpenAPI document describes (``bots.api.openapi``)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from bots.api import decisions, stream, tasks, views
from bots.api.decision_models import ActionList, ActionsQuery, DecisionResult
from bots.api.routes import EVENT_STREAM, Call, Route
from bots.api.stream import LAST_EVENT_ID, EventsQuery
from bots.api.submit import IDEMPOTENCY_HEADER
from bots.api.task_models import CancelResult, TaskAccepted, TaskDetail, TaskPage, TaskRequest
from bots.api.view_models import (
    AuditPage,
    AuditQuery,
    CostReport,
    DigestView,
    Health,
    ProposalDecided,
    ProposalList,
    ProposalsQuery,
    StatusView,
)


class OpenApiDocument(BaseModel):
    """This document."""

    model_config = ConfigDict(extra="allow")

    openapi: str


async def openapi(call: Call) -> web.StreamResponse:
    return web.Response(text=call.api.openapi, content_type="application/json")


def routes() -> tuple[Route, ...]:
    decided = {200: DecisionResult}
    return (
        Route("GET", "/openapi.json", openapi, "This OpenAPI document.", None, "meta", {200: OpenApiDocument}),
        Route("GET", "/health", views.health, "Whether the API answers (no token needed).", None, "meta", {200: Health}),
        Route("GET", "/status", views.status, "The service: model, platforms, queue, tasks by status.",
              "tasks:read", "meta", {200: StatusView}, errors=(503,)),
        Route("GET", "/cost", views.cost, "Model calls, tokens and cost: today, this week, in all.",
              "tasks:read", "meta", {200: CostReport}),
        Route("POST", "/tasks", tasks.create_task, "Start a task; it runs in its turn.", "tasks:write", "tasks",
              {202: TaskAccepted}, body=TaskRequest, errors=(409, 503),
              headers={IDEMPOTENCY_HEADER: "Retrying with the same key returns the same task."}),
        Route("GET", "/tasks", tasks.list_tasks, "Tasks, newest first, a page at a time.", "tasks:read", "tasks",
              {200: TaskPage}, query=tasks.TaskListQuery),
        Route("GET", "/tasks/{id}", tasks.get_task, "A task: status, verdict with every vote, iterations, result,"
              " cost.", "tasks:read", "tasks", {200: TaskDetail}),
        Route("GET", "/tasks/{id}/events", stream.task_events, "A task's progress as Server-Sent Events.",
              "tasks:read", "tasks", {200: EVENT_STREAM}, query=EventsQuery,
              headers={LAST_EVENT_ID: "Resume after this event id."}),
        Route("POST", "/tasks/{id}/cancel", tasks.cancel_task, "Cancel a task (the token that asked it, or an"
              " approver).", "tasks:write", "tasks", {200: CancelResult}),
        Route("POST", "/tasks/{id}/approve", decisions.approve_task, "Override the block on a task (four eyes).",
              "approve", "decisions", decided, errors=(409,)),
        Route("POST", "/tasks/{id}/deny", decisions.deny_task, "Deny the override a blocked task waits for; it is"
              " cancelled.", "approve", "decisions", decided, errors=(409,)),
        Route("GET", "/actions", decisions.list_actions, "Actions waiting for Allow / Deny.", "tasks:read",
              "decisions", {200: ActionList}, query=ActionsQuery),
        Route("POST", "/actions/{approval_id}/allow-once", decisions.allow_once, "Allow this one call.", "approve",
              "decisions", decided, errors=(409,)),
        Route("POST", "/actions/{approval_id}/allow-always", decisions.allow_always, "Allow it, and this tool in"
              " this domain from now on.", "approve", "decisions", decided, errors=(409,)),
        Route("POST", "/actions/{approval_id}/deny", decisions.deny_action, "Deny the call.", "approve",
              "decisions", decided, errors=(409,)),
        Route("GET", "/proposals", views.proposals, "Skill proposals from usage patterns.", "tasks:read",
              "learning", {200: ProposalList}, query=ProposalsQuery),
        Route("POST", "/proposals/{id}/approve", views.approve_proposal, "Approve a proposal: the skill is"
              " installed.", "approve", "learning", {200: ProposalDecided}, errors=(409, 422, 503)),
        Route("POST", "/proposals/{id}/dismiss", views.dismiss_proposal, "Dismiss a proposal.", "approve",
              "learning", {200: ProposalDecided}, errors=(409, 422, 503)),
        Route("GET", "/digests/{span}", views.digest, "The reflection digest of today or this week so far.",
              "tasks:read", "learning", {200: DigestView}),
        Route("GET", "/audit", views.audit, "The gate's audit: every decision and who made it.", "admin", "meta",
              {200: AuditPage}, query=AuditQuery),
    )  # fmt: skip
