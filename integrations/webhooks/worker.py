"""The delivery worker: sends what the outbox holds when it falls due, keeps every attempt, and reschedules
failures on the retry schedule.

It claims due deliveries for a lease (so a delivery whose sender died is due again when the lease runs out),
sends up to ``concurrency`` at once, and settles each with its attempt: delivered (2xx), failed for now (retried
after the schedule's next wait), failed for good (the schedule ran out), or gone (a 410 Gone, which also disables
the endpoint: said in the log and in ``openkoi webhooks list``). It wakes when the outbox writer writes, when an
attempt settles, when the next delivery falls due, and every ``poll_seconds`` (for work another process wrote).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import aiohttp

from core.models import utcnow
from core.store.webhooks import Delivery, DeliveryAttempt, WebhookRepository
from integrations.webhooks.retry import RetrySchedule
from integrations.webhooks.sender import Sent, send
from integrations.webhooks.settings import Endpoint, WebhookDelivery

log = logging.getLogger(__name__)

# A claim lasts the request's timeout and this much more: long enough that a live sender always settles first.
LEASE_MARGIN_SECONDS = 30.0


class DeliveryWorker:
    def __init__(
        self,
        repository: WebhookRepository,
        endpoints: Mapping[str, Endpoint],
        settings: WebhookDelivery,
        schedule: RetrySchedule | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repository = repository
        self.endpoints = dict(endpoints)
        self.settings = settings
        self.schedule = schedule or RetrySchedule(settings.retry_schedule, settings.jitter)
        self.clock = clock
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._closing = False
        # Told each attempt's outcome (delivered, gone, failed …), e.g. the service's metrics; None: nobody.
        self.on_attempt: Callable[[str], None] | None = None

    def wake(self) -> None:
        """Look at the outbox now (something was written)."""
        self._wake.set()

    async def run(self) -> None:
        """Send due deliveries until ``close``."""
        lease = timedelta(seconds=self.settings.timeout_seconds + LEASE_MARGIN_SECONDS)
        names = sorted(self.endpoints)
        # trust_env=False: no proxy from the environment; the request goes to the configured URL only.
        async with aiohttp.ClientSession(trust_env=False) as session:
            try:
                while not self._closing:
                    self._wake.clear()
                    free = self.settings.concurrency - len(self._inflight)
                    try:
                        claimed = await self.repository.claim_due(names, free, lease, self.clock())
                        due = await self.repository.next_due(names)
                    except Exception:  # a busy or broken database: try again at the next poll
                        log.exception("webhooks: reading the outbox failed")
                        claimed, due = [], None
                    for delivery in claimed:
                        job = asyncio.create_task(self._deliver(session, delivery), name=f"webhook:{delivery.id}")
                        self._inflight.add(job)
                        job.add_done_callback(self._settled)
                    await self._sleep(due)
            finally:
                # Before the session closes: an attempt cut off by a closed session would count as a failure.
                await self._finish_inflight()

    async def _sleep(self, due: datetime | None) -> None:
        wait = self.settings.poll_seconds
        if due is not None and len(self._inflight) < self.settings.concurrency:
            wait = min(wait, max((due - self.clock()).total_seconds(), 0.0))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await self._wake.wait()

    def _settled(self, job: asyncio.Task[None]) -> None:
        self._inflight.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.error("webhooks: a delivery failed unexpectedly", exc_info=job.exception())
        self._wake.set()

    async def close(self, within: float = 5.0) -> None:
        """Stop claiming; give the attempts in flight ``within`` seconds, then cancel them (their deliveries are
        due again at the next start)."""
        self._closing = True
        self._wake.set()
        await self._finish_inflight(within)

    async def _finish_inflight(self, within: float = 0.0) -> None:
        if not self._inflight:
            return
        _, pending = await asyncio.wait(set(self._inflight), timeout=within)
        for job in pending:
            job.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _deliver(self, session: aiohttp.ClientSession, delivery: Delivery) -> None:
        endpoint = self.endpoints[delivery.endpoint]
        started = self.clock()
        try:
            sent = await send(
                session, endpoint, delivery.message_id, delivery.body, started, self.settings.timeout_seconds
            )
        except asyncio.CancelledError:
            # The service is stopping: the claim is given back, so the next start sends it at once.
            await asyncio.shield(self.repository.release(delivery.id))
            raise
        await self._settle(delivery, endpoint, sent, started)

    async def _settle(self, delivery: Delivery, endpoint: Endpoint, sent: Sent, started: datetime) -> None:
        attempt = DeliveryAttempt(
            delivery.id, delivery.attempts + 1, started, sent.duration_ms, sent.status_code, sent.outcome, sent.error
        )
        step = delivery.step + 1
        what = f"{delivery.event_type} {delivery.message_id} to {endpoint.name}"
        if self.on_attempt is not None:
            self.on_attempt(sent.outcome)
        if sent.outcome == "delivered":
            await self.repository.settle(attempt, status="delivered", step=step)
            log.info("webhooks: delivered %s (attempt %d, HTTP %s)", what, attempt.attempt, sent.status_code)
            return
        if sent.outcome == "gone":
            await self.repository.settle(attempt, status="gone", step=step)
            if await self.repository.disable(endpoint.name, "HTTP 410 Gone", started):
                log.warning(
                    "webhooks: endpoint %s answered 410 Gone: it is disabled and gets no more webhooks"
                    " (`openkoi webhooks enable %s` after fixing it)",
                    endpoint.name,
                    endpoint.name,
                )
            return
        wait = self.schedule.wait(step, sent.retry_after)
        if wait is None:
            await self.repository.settle(attempt, status="failed", step=step)
            log.warning("webhooks: gave up on %s after %d attempts: %s", what, attempt.attempt, sent.error)
            return
        next_at = self.clock() + timedelta(seconds=wait)
        await self.repository.settle(attempt, status="pending", step=step, next_attempt_at=next_at)
        log.info("webhooks: attempt %d of %s failed (%s); next in %.0fs", attempt.attempt, what, sent.error, wait)
