"""Which engine events become webhooks, and the JSON each one is sent as.

Every payload is ``{"type": ..., "timestamp": ..., "version": 1, "data": {...}}``: ``type`` one of
``EVENT_TYPES``, ``timestamp`` when openkoi saw the event (ISO 8601, UTC; an attempt's own time is the
``webhook-timestamp`` header), ``version`` the payload schema's version — fields may be added within a version,
never removed or changed — and ``data`` the event's fields. Every string in it is redacted of the service's
secrets before it is written to the outbox, so no attempt, redelivery or stored row holds one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.events import (
    ActionApprovalNeeded,
    ActionDecided,
    ConfirmationNeeded,
    ConfirmationResolved,
    Event,
    TaskFinished,
    TaskStarted,
)
from core.models import LoopDecision, TaskStatus
from core.secrets import SECRETS

PAYLOAD_VERSION = 1
# A task's output is cut to this many characters (the specification recommends payloads under 20 kB); the
# whole of it stays with the task.
OUTPUT_CHARS = 4000

# The event types, with what each means: the catalogue the README shows and the settings check names against.
EVENT_TYPES: dict[str, str] = {
    "task.started": "a task started running",
    "task.done": "a task finished and its result met the quality bar",
    "task.below_bar": "a task finished with its best result below the quality bar",
    "task.aborted": "a circuit breaker stopped a task (budget, time, regression); its best output is kept",
    "task.escalated": "a task needs a person; its best output is kept",
    "task.failed": "a task failed (an error, or interrupted by a restart)",
    "task.cancelled": "a task was cancelled",
    "task.blocked": "the gate stopped a task until a person overrides or cancels it",
    "task.block_decided": "a person overrode or cancelled a blocked task, or the block expired",
    "action.pending": "an action waits for a person's Allow once / Allow always / Deny",
    "action.decided": "an action was allowed, denied, or its approval expired",
    "budget.exhausted": "a task was stopped because it used up its token or cost budget",
}

_FINISHED_TYPES = {
    TaskStatus.DONE: "task.done",
    TaskStatus.BELOW_BAR: "task.below_bar",
    TaskStatus.ABORTED: "task.aborted",
    TaskStatus.ESCALATED: "task.escalated",
    TaskStatus.FAILED: "task.failed",
    TaskStatus.CANCELLED: "task.cancelled",
}


@dataclass(frozen=True)
class TaskFacts:
    """What the payloads say of the task an event belongs to, beside the event's own fields."""

    description: str
    source: str


@dataclass(frozen=True)
class WebhookEvent:
    type: str
    task_id: str | None
    data: dict[str, Any]


def matches(pattern: str, event_type: str) -> bool:
    """``*`` matches every type, ``task.*`` every type in that group, anything else itself."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def webhook_events(event: Event, task: TaskFacts | None = None) -> list[WebhookEvent]:
    """The webhooks ``event`` makes: none for most engine events, one for most of the rest, two for a task
    stopped by its budget (``task.aborted`` and ``budget.exhausted``)."""
    about: dict[str, Any] = {"task_id": event.task_id}
    if task is not None:
        about |= {"description": task.description, "source": task.source}
    match event:
        case TaskStarted():
            return [WebhookEvent("task.started", event.task_id, {**about, "description": event.description})]
        case TaskFinished():
            found = [WebhookEvent(_FINISHED_TYPES[event.status], event.task_id, {**about, **_finished(event)})]
            if event.decision is LoopDecision.ABORT_BUDGET:
                spent = {"tokens": event.tokens, "cost_usd": event.cost_usd, "reason": event.reason}
                found.append(WebhookEvent("budget.exhausted", event.task_id, {**about, **spent}))
            return found
        case ConfirmationNeeded():
            block = {
                "confirmation_id": event.confirmation_id,
                "kind": event.kind,
                "reason": event.reason,
                "reversibility": event.reversibility,
                "blast_radius": event.blast_radius,
                "permission_level": event.permission_level,
                "floor": event.floor,
                "gate": list(event.gate),
            }
            return [WebhookEvent("task.blocked", event.task_id, {**about, **block})]
        case ConfirmationResolved():
            decided = {
                "confirmation_id": event.confirmation_id,
                "approved": event.approved,
                "decided_by": event.decided_by,
                "expired": event.expired,
            }
            return [WebhookEvent("task.block_decided", event.task_id, {**about, **decided})]
        case ActionApprovalNeeded():
            pending = {
                "approval_id": event.approval_id,
                "tool": event.tool,
                "preview": event.preview,
                "reason": event.reason,
                "effect": event.effect,
                "rules": list(event.rules),
                "domain": event.domain,
                "expires_at": event.expires_at,
                "reasons": list(event.reasons),
            }
            return [WebhookEvent("action.pending", event.task_id, {**about, **pending})]
        case ActionDecided():
            status = {
                "approval_id": event.approval_id,
                "tool": event.tool,
                "status": event.status,
                "decided_by": event.decided_by,
            }
            return [WebhookEvent("action.decided", event.task_id, {**about, **status})]
    return []


def _finished(event: TaskFinished) -> dict[str, Any]:
    # Redacted before it is cut: a secret straddling the cut would otherwise leave its first half.
    output = SECRETS.redact(event.output) if event.output is not None else None
    return {
        "status": event.status.value,
        "decision": event.decision.value if event.decision is not None else None,
        "score": event.score,
        "bar": event.bar,
        "iterations": event.iterations,
        "tokens": event.tokens,
        "cost_usd": event.cost_usd,
        "reason": event.reason,
        "output": output[:OUTPUT_CHARS] if output is not None else None,
        "output_truncated": output is not None and len(output) > OUTPUT_CHARS,
    }


def payload(event: WebhookEvent, timestamp: datetime) -> str:
    """The body sent (and signed) for ``event``: minified JSON, every string redacted."""
    document = {
        "type": event.type,
        "timestamp": timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "version": PAYLOAD_VERSION,
        "data": SECRETS.scrub(event.data),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))
