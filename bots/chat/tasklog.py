"""One log line per task event, for the people who run the service.

``received`` (logged by the ingress when a command became a task), ``started``, ``blocked`` (an
override is needed), ``decided`` (approved, denied or expired, and by whom) and the end
(``done``, ``failed``, ``cancelled``, ``aborted``, ``escalated``), each on the logger
``openkoi.tasks`` as ``task <id> <event> platform=<p> channel=<c> …``. The same values travel as
record attributes (``task_id``, ``event``, ``platform``, ``channel``), which the JSON log format
(``[serve] log_format = "json"``) emits as fields. The text format adds the timestamp.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.events import ConfirmationNeeded, ConfirmationResolved, Event, EventBus, TaskFinished, TaskStarted
from core.store import Store

log = logging.getLogger("openkoi.tasks")


def task_event(event: str, task_id: str, platform: str, channel: str, detail: str = "") -> None:
    """Log one task event line."""
    log.info(
        "task %s %s platform=%s channel=%s%s",
        task_id,
        event,
        platform,
        channel,
        f" {detail}" if detail else "",
        extra={"task_id": task_id, "event": event, "platform": platform, "channel": channel},
    )


@dataclass
class TaskLog:
    """Subscribes to the engine's events and logs the ones an operator follows."""

    store: Store
    _where: dict[str, tuple[str, str]] = field(default_factory=dict)

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self.on_event)

    async def on_event(self, event: Event) -> None:
        match event:
            case TaskStarted():
                await self._line(event, "started")
            case ConfirmationNeeded(kind=kind, reason=reason):
                await self._line(event, "blocked", f"({kind}) {reason}")
            case ConfirmationResolved(approved=approved, decided_by=by, expired=expired):
                outcome = "expired" if expired else "approved" if approved else "denied"
                await self._line(event, "decided", outcome + (f" by {by}" if by else ""))
            case TaskFinished(status=status, reason=reason):
                await self._line(event, status.value, reason)
                self._where.pop(event.task_id, None)

    async def _line(self, event: Event, name: str, detail: str = "") -> None:
        where = self._where.get(event.task_id)
        if where is None:
            conversation = await self.store.conversations.get(event.task_id)
            where = (conversation.platform, conversation.channel_id) if conversation else ("terminal", "-")
            self._where[event.task_id] = where
        task_event(name, event.task_id, *where, detail=" ".join(detail.split()))
