"""Saving a task asked through the API, so that the service's workers run it like a chat task.

A task is saved with a conversation on the ``api`` platform (channel ``api``, the token's name as the
requester) in one transaction with its delivery key, through the same group-committed intake as chat commands:
the workers take it in its turn, a restart recovers it, and the Override / Allow desks decide its blocks by
the same rules. Nothing is ever posted for it: no chat platform has that name.

An ``Idempotency-Key`` is the delivery key (``<token>:<key>``, so two tokens never share one): a retry with
the same key finds the task the first request made, for as long as deliveries are remembered (``[serve]
dedupe_hours``). The key is bound to the request's meaning (its SHA-256 is kept on the conversation), so the
same key with a different request is refused rather than answered with the wrong task.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass

from bots.api.context import ApiContext
from bots.api.problems import ApiError
from bots.api.task_models import TaskRequest
from bots.api.tokens import PLATFORM, ApiToken
from bots.chat.intake import NotAccepted, StillSaving, Unstorable
from bots.chat.tasklog import task_event
from core.errors import OpenKoiError
from core.models import Scope
from core.skills.use import invocable
from core.store.conversations import Conversation
from core.store.intake import Intake, NewTask, Outcome, Recorded
from core.store.text import storable

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as the IETF draft's examples
SAVE_WITHIN_SECONDS = 5.0


@dataclass(frozen=True)
class Submitted:
    task_id: str
    replayed: bool  # an earlier request with the same Idempotency-Key made it


def idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise ApiError(400, f"{IDEMPOTENCY_HEADER} must be 1 to 255 visible ASCII characters", kind="malformed")
    return raw


async def submit(api: ApiContext, token: ApiToken, request: TaskRequest, key: str | None) -> Submitted:
    """Save the task (or find the one an earlier request with ``key`` saved) and wake the workers."""
    if request.skill is not None:
        await _check_skill(api, request.skill)
    digest = hashlib.sha256(request.canonical().encode("utf-8", "surrogatepass")).hexdigest()
    try:
        session, task = api.engine.prepare(
            storable(request.text),
            options=request.options(),
            source=PLATFORM,
            requester=token.label,
            scope=Scope(platform=PLATFORM),
        )
    except OpenKoiError as exc:
        raise ApiError(422, str(exc), kind="invalid") from None
    assert session is not None  # a task of its own session, as a chat task
    conversation = Conversation(
        task_id=task.id,
        platform=PLATFORM,
        channel_id=PLATFORM,
        requester_id=token.name,
        requester_name=token.name,
        origin={"request_sha256": digest, "idempotency_key": key},
    )
    delivery = f"{token.name}:{key}" if key is not None else f"#{task.id}"
    recorded = await _record(api, Intake(PLATFORM, delivery, NewTask(session, task, conversation)))
    if recorded.outcome is Outcome.DUPLICATE:
        return Submitted(await _earlier(api, delivery, digest), replayed=True)
    task_event("received", task.id, PLATFORM, PLATFORM, f"by {token.label}")
    api.pool.wake()
    return Submitted(task.id, replayed=False)


async def _record(api: ApiContext, item: Intake) -> Recorded:
    deadline = asyncio.get_running_loop().time() + SAVE_WITHIN_SECONDS
    try:
        return await api.intake.add(item, deadline)
    except StillSaving as slow:  # no platform deadline here: wait for the outcome
        return await slow.outcome
    except NotAccepted as exc:
        raise ApiError(503, f"not saved, try again: {exc}", kind="unavailable", headers={"Retry-After": "1"}) from None
    except Unstorable as exc:
        raise ApiError(422, f"the task cannot be stored: {exc}", kind="invalid") from None


async def _earlier(api: ApiContext, delivery: str, digest: str) -> str:
    """The task an earlier request with this key made; 422 when that request was a different one."""
    task_id = await api.store.inbound.task_for(PLATFORM, delivery)
    conversation = await api.store.conversations.get(task_id) if task_id else None
    if task_id is None or conversation is None:
        raise ApiError(409, f"this {IDEMPOTENCY_HEADER} was used for a request that made no task", kind="conflict")
    if conversation.origin.get("request_sha256") != digest:
        raise ApiError.invalid(
            IDEMPOTENCY_HEADER,
            "used for a different request",
            f"this {IDEMPOTENCY_HEADER} was used for a different request (task {task_id}); use a new key",
            kind="idempotency-key-reused",
        )
    return task_id


async def _check_skill(api: ApiContext, name: str) -> None:
    """Refuse a task asking for a skill that cannot be used, before it is saved (the files are read off the loop)."""
    try:
        catalog = await asyncio.to_thread(api.engine.skill_catalog)
        invocable(catalog, name)
    except OpenKoiError as exc:
        raise ApiError.invalid("/skill", str(exc), str(exc)) from None
