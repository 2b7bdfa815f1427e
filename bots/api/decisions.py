"""The gate's decisions from the API: Override / Cancel of a blocked task, Allow once / Allow always / Deny of a
pending action. Each goes through the chat desks (``ConfirmationDesk.decide``, ``ActionDesk.press``) with the
token as the person deciding, so the rules are the desks' own: who may decide (``bots.api.policy``: approvers
are the tokens with the approve scope; four eyes), single use, expiry, a task that no longer waits.

A desk answers a refusal in words; the status of the answer is read from what the refusal left behind: the
request gone (404), decided, expired or no longer awaited (409), or still pending, so it was this caller who
may not decide it (403).
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from bots.api.decision_models import ActionList, ActionsQuery, ActionView, DecisionResult
from bots.api.http import read_query, reply, view_of
from bots.api.problems import ApiError
from bots.api.routes import PREFIX, Call, Handler
from bots.api.tasks import task_of
from bots.api.tokens import PLATFORM
from bots.chat.platform import ButtonAction, Reply
from core.store.actions import ActionApproval

ACTION_CHOICES: dict[str, ButtonAction] = {"allow-once": "act_once", "allow-always": "act_always", "deny": "act_deny"}


async def approve_task(call: Call) -> web.StreamResponse:
    return await _decide_task(call, approve=True)


async def deny_task(call: Call) -> web.StreamResponse:
    return await _decide_task(call, approve=False)


async def _decide_task(call: Call, *, approve: bool) -> web.StreamResponse:
    task = await task_of(call)
    store, token = call.api.store, call.caller
    pending = await store.confirmations.pending_for_task(task.id)
    if pending is None:
        raise ApiError(
            409, f"task {task.id} is not waiting for an override (it is {task.status.value})", kind="not-pending"
        )
    answer = await call.api.desk.decide(token.actor, pending.id, approve)
    after = await store.confirmations.get(pending.id)
    if answer.private:
        if after is None:
            raise ApiError(404, answer.text, kind="not-found")
        if not after.pending:
            raise ApiError(409, answer.text, kind="not-pending")
        raise ApiError(403, await _refusal(call, task.id, answer), kind="forbidden")
    assert after is not None
    return reply(
        DecisionResult(
            id=pending.id, task_id=task.id, status=after.status, decided_by=after.decided_by, message=answer.text
        )
    )


async def list_actions(call: Call) -> web.StreamResponse:
    read_query(call.request, ActionsQuery)
    approvals = await call.api.store.actions.pending()
    return reply(ActionList(actions=[action_view(a) for a in approvals]))


def _action_route(choice: Literal["allow-once", "allow-always", "deny"]) -> Handler:
    async def decide(call: Call) -> web.StreamResponse:
        return await _decide_action(call, ACTION_CHOICES[choice])

    decide.__name__ = f"action_{choice.replace('-', '_')}"
    return decide


allow_once = _action_route("allow-once")
allow_always = _action_route("allow-always")
deny_action = _action_route("deny")


async def _decide_action(call: Call, choice: ButtonAction) -> web.StreamResponse:
    approval_id = call.request.match_info["approval_id"]
    store = call.api.store
    before = await store.actions.find(approval_id)
    if before is None:
        raise ApiError(404, f"no action approval with id {approval_id!r}", kind="not-found")
    answer = await call.api.desk.actions.press(call.caller.actor, choice, approval_id)
    after = await store.actions.find(approval_id)
    if after is None:
        raise ApiError(404, answer.text, kind="not-found")
    if answer.private:
        if not after.pending:
            raise ApiError(409, answer.text, kind="not-pending")
        raise ApiError(403, await _refusal(call, after.task_id, answer), kind="forbidden")
    return reply(
        DecisionResult(
            id=after.id, task_id=after.task_id, status=after.status, decided_by=after.decided_by, message=answer.text
        )
    )


async def _refusal(call: Call, task_id: str | None, answer: Reply) -> str:
    """The desk's refusal, and where to decide instead when the task was not asked through the API."""
    conversation = await call.api.store.conversations.get(task_id) if task_id else None
    if conversation is None:
        return f"{answer.text} (it belongs to no task asked through the API or a chat)"
    if conversation.platform != PLATFORM:
        return f"{answer.text} This task was asked on {conversation.platform}: its approvers decide there."
    return answer.text


def action_view(a: ActionApproval) -> ActionView:
    base = f"{PREFIX}/actions/{a.id}"
    return view_of(ActionView, a, links={choice: f"{base}/{choice}" for choice in ACTION_CHOICES})
