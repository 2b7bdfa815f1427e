"""Group commit for chat intake: deliveries that arrive together are persisted in one transaction.

Each caller awaits its own result; the writer takes everything queued while the previous batch
was being written, so a quiet service writes one delivery per transaction (no added delay) and a
burst is written in a few large ones.

Every delivery carries a deadline (a platform waits only so long for its acknowledgement). The
writer never lets a delivery's save start after its deadline: it is then answered ``NotAccepted``
and is certainly not in the database, so the platform may be told "not accepted, try again" (or
given a 5xx to redeliver) truthfully. A batch that fails for a reason other than a busy database
is written again one delivery per transaction, so a command whose own data cannot be stored fails
alone (``Unstorable``) and the others are saved.

A batch may also be slow once it has started (a stalled disk, a long statement queued before it on
the connection's thread). Its callers are then not kept past their deadline plus ``IN_FLIGHT_GRACE``:
each gets ``StillSaving`` with the outcome to follow, so that a platform can be answered in time
without claiming anything. This bound is what lets an adapter await ``add`` (through the ingress)
directly, without a timer and a task of its own per command.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass, field

from core.store.db import StoreBusy
from core.store.intake import Intake, IntakeRepository, QueueLimits, Recorded

log = logging.getLogger(__name__)

MAX_BATCH = 500
# How long past its deadline a caller may wait for a batch already in the database (Slack's and
# Discord's 3 s leave room for it after the 2 s save deadline).
IN_FLIGHT_GRACE = 0.4
# What a person is told when their command was not saved (and so will not run).
NOT_ACCEPTED_TEXT = (
    "⚠️ Not accepted: openkoi could not save your command just now, so nothing was started."
    " Please try again in a moment."
)


class NotAccepted(Exception):
    """Nothing was saved: the database did not take the delivery before its deadline (or failed for a
    reason that is not the delivery's own, such as a full disk). The sender may try again."""


class Unstorable(Exception):
    """This delivery's own data could not be stored; nothing of it was saved (the rest of its batch was)."""


class StillSaving(Exception):
    """The delivery's batch was still being written at the caller's deadline: whether it is saved is
    not known yet. ``outcome`` resolves with its ``Recorded``, or fails with NotAccepted / Unstorable."""

    def __init__(self, outcome: asyncio.Future[Recorded]) -> None:
        super().__init__("the database is still saving it")
        self.outcome = outcome


@dataclass
class _Pending:
    item: Intake
    deadline: float  # event-loop time
    result: asyncio.Future[Recorded]
    later: asyncio.Future[Recorded] | None = None  # the outcome, once the caller was told StillSaving

    @property
    def _target(self) -> asyncio.Future[Recorded]:
        return self.later if self.later is not None else self.result

    @property
    def gone(self) -> bool:
        """The caller gave up (e.g. its request was cancelled) before being answered."""
        return self.later is None and self.result.done()

    def resolve(self, recorded: Recorded) -> None:
        if not self._target.done():
            self._target.set_result(recorded)

    def fail(self, exc: Exception) -> None:
        if not self._target.done():
            self._target.set_exception(exc)

    def defer(self) -> None:
        """Answer the caller now with StillSaving; the outcome goes to the future it carries."""
        if self.later is None and not self.result.done():
            self.later = self.result.get_loop().create_future()
            self.result.set_exception(StillSaving(self.later))


@dataclass
class IntakeWriter:
    repository: IntakeRepository
    limits: QueueLimits = field(default_factory=QueueLimits)
    _queue: asyncio.Queue[_Pending] = field(default_factory=asyncio.Queue)
    _writer: asyncio.Task[None] | None = None

    async def add(self, item: Intake, deadline: float) -> Recorded:
        """Persist one delivery, starting no later than ``deadline`` (event-loop time).

        Raises ``NotAccepted`` (nothing saved; may be retried), ``Unstorable`` (this delivery's
        data cannot be stored) or, at most ``IN_FLIGHT_GRACE`` after ``deadline``, ``StillSaving``
        (its batch is in the database; the outcome follows)."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="intake-writer")
        result: asyncio.Future[Recorded] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(item, deadline, result))
        return await result

    async def _write(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit(batch)
            except Exception as exc:  # never leave a caller waiting, whatever went wrong
                log.error("intake: saving %d deliveries failed: %s", len(batch), exc)
                for pending in batch:
                    pending.fail(NotAccepted(str(exc)))

    async def _commit(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            live = []
            for pending in batch:
                if pending.gone:
                    continue
                if pending.deadline <= now:
                    pending.fail(NotAccepted("the database did not take it in time"))
                else:
                    live.append(pending)
            if not live:
                return
            # Wait for the lock no longer than the most urgent delivery may; if that is not enough,
            # it is answered above on the next turn and the others try again with the time they have.
            wait = min(p.deadline for p in live) - now
            job = asyncio.ensure_future(self.repository.record([p.item for p in live], self.limits, wait))
            done, _ = await asyncio.wait({job}, timeout=wait + IN_FLIGHT_GRACE)
            if not done:
                log.warning("intake: a batch of %d is still being written after its deadline", len(live))
                for pending in live:
                    pending.defer()
                await asyncio.wait({job})
            try:
                results = job.result()
            except StoreBusy:
                batch = live
                continue
            except Exception as exc:
                if len(live) == 1:
                    live[0].fail(_classify(live[0].item, exc))
                    return
                log.warning("intake: a batch of %d failed (%s); saving them one by one", len(live), exc)
                for pending in live:
                    await self._commit([pending])
                return
            for pending, recorded in zip(live, results, strict=True):
                pending.resolve(recorded)
            return

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        while not self._queue.empty():
            self._queue.get_nowait().fail(NotAccepted("openkoi is shutting down"))


def _classify(item: Intake, exc: Exception) -> Exception:
    """A failure of one delivery alone: the database's own trouble (I/O, a full disk) may pass and is
    NotAccepted; anything else is about this delivery's data."""
    if isinstance(exc, sqlite3.OperationalError):
        log.warning("intake: could not save %s delivery %s: %s", item.platform, item.key, exc)
        return NotAccepted(str(exc))
    log.warning("intake: %s delivery %s cannot be stored: %s: %s", item.platform, item.key, type(exc).__name__, exc)
    return Unstorable(f"{type(exc).__name__}: {exc}")
