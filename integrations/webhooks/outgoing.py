"""The outgoing webhooks as ``openkoi serve`` runs them: open (endpoints recorded, the shorthand's secret found or
generated, every secret registered for redaction, old deliveries pruned), attach the outbox writer to the bus,
run the delivery worker in the background, and stop it on drain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from core.events import EventBus
from core.models import utcnow
from core.secrets import SECRETS
from core.store import Store
from integrations.webhooks.outbox import OutboxWriter
from integrations.webhooks.retry import RetrySchedule
from integrations.webhooks.settings import (
    SHORTHAND_KEY,
    ApiWebhooks,
    Endpoint,
    WebhookDelivery,
    WebhookEndpointSettings,
    configured_endpoints,
)
from integrations.webhooks.signing import PREFIX, generate_secret
from integrations.webhooks.worker import DeliveryWorker

log = logging.getLogger(__name__)


async def shorthand_secret(store: Store, api: ApiWebhooks) -> str | None:
    """The secret the ``[api.webhooks]`` shorthand signs with when none is configured: generated on first need
    and kept in the database (``openkoi webhooks secret`` prints it). None when the shorthand needs none."""
    if not api.urls() or api.secret:
        return None
    return await store.webhooks.key(SHORTHAND_KEY) or await store.webhooks.keep_key(SHORTHAND_KEY, generate_secret())


def secret_values(endpoints: list[Endpoint]) -> list[str]:
    """What must never appear in a log or a message: each secret, its base64 key alone, and a password in a URL."""
    values: list[str] = []
    for endpoint in endpoints:
        for secret in endpoint.secrets:
            values += [secret, secret.removeprefix(PREFIX)]
        password = urlsplit(endpoint.url).password
        if password:
            values.append(password)
    return values


@dataclass
class OutgoingWebhooks:
    store: Store
    endpoints: list[Endpoint]
    delivery: WebhookDelivery
    worker: DeliveryWorker = field(init=False)
    writer: OutboxWriter = field(init=False)
    _job: asyncio.Task[None] | None = None
    _unsubscribe: Callable[[], None] | None = None
    _secrets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        schedule = RetrySchedule(self.delivery.retry_schedule, self.delivery.jitter)
        self.worker = DeliveryWorker(self.store.webhooks, {e.name: e for e in self.endpoints}, self.delivery, schedule)
        self.writer = OutboxWriter(self.store, self.endpoints, self.worker.wake, self.delivery.retry_schedule[0])

    @classmethod
    async def open(
        cls, store: Store, webhooks: list[WebhookEndpointSettings], api: ApiWebhooks, delivery: WebhookDelivery
    ) -> OutgoingWebhooks:
        """The configured endpoints, ready to attach and start; says in the log what was found."""
        endpoints = configured_endpoints(webhooks, api, await shorthand_secret(store, api))
        self = cls(store, endpoints, delivery)
        self._secrets = SECRETS.add(secret_values(endpoints))
        await store.webhooks.sync_endpoints((e.name, e.url) for e in endpoints)
        # One service per database (as its start-up recovery assumes): a claim left now is a killed process's.
        released = await store.webhooks.release_claims()
        if released:
            log.warning("webhooks: %d deliveries were being sent when openkoi stopped; sending them again", released)
        pruned = await store.webhooks.prune(utcnow() - timedelta(days=delivery.retention_days))
        if pruned:
            log.info("webhooks: pruned %d deliveries finished over %g days ago", pruned, delivery.retention_days)
        await self._announce()
        return self

    async def _announce(self) -> None:
        if not self.endpoints:
            return
        states = {state.name: state for state in await self.store.webhooks.endpoints()}
        counts = await self.store.webhooks.counts()
        for endpoint in self.endpoints:
            waiting = sum(counts.get(endpoint.name, {}).get(s, 0) for s in ("pending", "sending"))
            state = states.get(endpoint.name)
            if state is not None and not state.enabled:
                log.warning(
                    "webhooks: %s is disabled since %s (%s); `openkoi webhooks enable %s` turns it back on",
                    endpoint.name, state.disabled_at, state.disabled_reason, endpoint.name,
                )  # fmt: skip
            else:
                log.info(
                    "webhooks: %s (%s): %s; %d waiting",
                    endpoint.name,
                    _host(endpoint.url),
                    ", ".join(endpoint.events),
                    waiting,
                )

    def attach(self, bus: EventBus) -> None:
        """Write the events the endpoints want to the outbox, as the bus publishes them."""
        if self.endpoints:
            self._unsubscribe = bus.subscribe(self.writer)

    def start(self) -> None:
        """Start sending in the background: first what a previous process left pending."""
        if self.endpoints and self._job is None:
            self._job = asyncio.create_task(self.worker.run(), name="webhook-delivery")

    async def stop(self, within: float = 5.0) -> None:
        """Stop writing and sending; attempts in flight get ``within`` seconds. What is still pending is sent by
        the next start."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.worker.close(within)
        if self._job is not None:
            await asyncio.wait({self._job}, timeout=1.0)  # it ends by itself once closed
            self._job.cancel()
            await asyncio.gather(self._job, return_exceptions=True)
            self._job = None
        SECRETS.remove(self._secrets)
        self._secrets = []


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
