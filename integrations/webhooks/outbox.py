"""The outbox writer: subscribed to the engine's bus, it writes each event an endpoint wants to the database — one
delivery per endpoint, the payload redacted and final — before anything tries to send it. What is written is
delivered even if the process dies the next moment: the delivery worker of the next start sends it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from core.errors import NotFound
from core.events import Event
from core.models import utcnow
from core.store import Store
from core.store.webhooks import NewDelivery
from integrations.webhooks.events import TaskFacts, WebhookEvent, payload, webhook_events
from integrations.webhooks.settings import Endpoint

log = logging.getLogger(__name__)


class OutboxWriter:
    """A bus subscriber (``EventBus.subscribe``); ``written`` is called after each write (to wake the sender)."""

    def __init__(
        self, store: Store, endpoints: Sequence[Endpoint], written: Callable[[], None], first_wait: float = 0.0
    ) -> None:
        self.store = store
        self.endpoints = list(endpoints)
        self.written = written
        self.first_wait = first_wait  # the retry schedule's first entry: the wait before the first attempt

    async def __call__(self, event: Event) -> None:
        found = webhook_events(event)
        if not any(self._wanting(webhook) for webhook in found):
            return  # the common case (most engine events): nothing to look up, nothing to write
        found = webhook_events(event, await self._facts(event.task_id))
        disabled = {state.name for state in await self.store.webhooks.endpoints() if not state.enabled}
        now = utcnow()
        rows = [
            NewDelivery(endpoint.name, webhook.type, payload(webhook, now), webhook.task_id)
            for webhook in found
            for endpoint in self._wanting(webhook)
            if endpoint.name not in disabled
        ]
        if not rows:
            return
        try:
            await self.store.webhooks.enqueue(rows, now, self.first_wait)
        except Exception:
            # Said loudly: this is the one place a webhook can be lost (the database refused the write).
            log.exception("webhooks: could not write %s to the outbox", ", ".join(sorted({r.event_type for r in rows})))
            return
        self.written()

    def _wanting(self, webhook: WebhookEvent) -> list[Endpoint]:
        return [endpoint for endpoint in self.endpoints if endpoint.wants(webhook.type)]

    async def _facts(self, task_id: str) -> TaskFacts | None:
        try:
            task = await self.store.tasks.get(task_id)
        except NotFound:
            return None
        return TaskFacts(task.description, task.source)
