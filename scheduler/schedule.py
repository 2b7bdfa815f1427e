"""``Schedule``: the jobs on their crontab times, in exactly one process per database.

- **Lease**: a process schedules only while it holds the database's lease (``schedule_lease``),
  renewed every third of ``[schedule] lease_seconds``. Another ``openkoi serve`` on the same database
  says so once and schedules nothing, trying again every third of the lease, so it takes over
  within a lease of the owner crashing. ``stop`` releases the lease.
- **Every run recorded**: a run is claimed by inserting its (job, fire time) row first; when the row
  exists, nothing runs. A period's run therefore executes at most once, across restarts and processes.
  A failing job is recorded ``failed`` with its error's class and message, logged in one line, and
  the scheduler carries on.
- **Catch-up once**: on taking the lease, each job whose latest fire time is at most
  ``misfire_grace_seconds`` ago and has no run recorded runs once (trigger ``catch-up``). Earlier
  fire times missed during the same downtime are not run and leave no row.
- **Clock**: ``clock`` (UTC now by default) drives the lease, catch-up and the records, so tests use a
  fake one with ``tick``, ``run_due`` and ``run_job``; live firing is APScheduler's own timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from core.config import ScheduleSettings
from core.models import utcnow
from core.secrets import SECRETS
from core.store import Store
from core.store.schedule import JobRequest, LeaseHolder, RunTrigger, run_detail
from scheduler.cron import latest_fire, make_trigger, next_fire
from scheduler.runs import JobFunc, JobRun, RunOutcome

if TYPE_CHECKING:
    from apscheduler.events import JobExecutionEvent
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger("openkoi.schedule")


class _OurListenerSaysIt(logging.Filter):
    """APScheduler logs a missed run itself; the listener's line says it with the grace, so theirs goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Run time of job")


_QUIET_MISSES = _OurListenerSaysIt()
# APScheduler's own scheduler log (job added, started …), under our name. Its executor logs the misses.
aps_log = logging.getLogger("openkoi.schedule.apscheduler")

ScheduleState = Literal["this instance", "another instance", "disabled", "stopped"]
# How long ``stop`` lets a running job finish before cancelling it (it is then recorded interrupted).
STOP_WAIT_SECONDS = 10.0


def new_owner() -> str:
    """An owner id for the lease: host:pid:random (the random part tells apart a reused pid)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def describe_error(exc: BaseException) -> str:
    """The error's class and message on one line, secrets redacted; never a traceback."""
    message = str(exc).strip()
    return run_detail(SECRETS.redact(f"{type(exc).__name__}: {message}" if message else type(exc).__name__))


class Schedule:
    def __init__(
        self,
        settings: ScheduleSettings,
        store: Store,
        jobs: Mapping[str, JobFunc],
        *,
        clock: Callable[[], datetime] = utcnow,
        owner: str | None = None,
        poll_seconds: float = 1.0,
        timer: bool = True,
    ) -> None:
        """``jobs`` maps each job name to its body; every name needs a crontab expression in
        ``settings`` (the attribute of that name). ``timer=False`` leaves out APScheduler's timer, so
        only ``tick``, ``run_due`` and ``run_job`` run anything (tests with a fake clock)."""
        self.settings = settings
        self.store = store
        self.jobs = dict(jobs)
        self.clock = clock
        self.owner = owner or new_owner()
        self.poll_seconds = poll_seconds
        self.timer = timer
        self.grace = timedelta(seconds=settings.misfire_grace_seconds)
        self.ttl = timedelta(seconds=settings.lease_seconds)
        self.triggers: dict[str, CronTrigger] = {
            name: make_trigger(name, getattr(settings, name), settings.timezone) for name in self.jobs
        }
        self.holder: LeaseHolder | None = None  # who else holds the lease, when we do not
        self._owning = False
        self._stopped = False
        self._renewed: datetime | None = None
        self._tried: datetime | None = None
        self._warned_about: str | None = None
        self._locks = {name: asyncio.Lock() for name in self.jobs}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._aps: AsyncIOScheduler | None = None

    # State --------------------------------------------------------------------------------------

    @property
    def owning(self) -> bool:
        return self._owning

    @property
    def state(self) -> ScheduleState:
        if not self.settings.enabled:
            return "disabled"
        if self._stopped:
            return "stopped"
        return "this instance" if self._owning else "another instance"

    def next_run(self, name: str, now: datetime | None = None) -> datetime | None:
        return next_fire(self.triggers[name], now or self.clock())

    # Start, stop, and the loop ------------------------------------------------------------------

    async def start(self) -> None:
        """Take the lease if it is free (catching up and scheduling), then keep renewing it, taking it
        over when another owner's lapses, and answering ``openkoi schedule run`` requests."""
        if not self.settings.enabled:
            log.info("schedule: disabled ([schedule] enabled = false)")
            return
        self._stopped = False
        try:
            await self.tick()
        except Exception as exc:  # e.g. the database is locked: the loop tries again
            log.warning("schedule: could not take the lease yet: %s", describe_error(exc))
        self._loop_task = asyncio.create_task(self._loop(), name="openkoi-schedule")

    async def stop(self) -> None:
        """Stop scheduling, let running jobs finish (up to 10 s, then they are cancelled and recorded
        interrupted) and release the lease."""
        self._stopped = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        self._stop_timer()
        await self.settle(STOP_WAIT_SECONDS)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._owning:
            self._owning = False
            with contextlib.suppress(Exception):
                await self.store.schedule.release(self.owner)

    async def settle(self, within: float | None = None) -> None:
        """Wait until the runs started in the background (catch-up, requests) have finished."""
        while self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=within)
            if pending:
                return

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.tick()
            except Exception as exc:  # a locked or unreachable database: try again next time
                log.warning("schedule: %s", describe_error(exc))

    async def tick(self) -> None:
        """One step: renew the lease when due (or try to take it), then take pending requests."""
        now = self.clock()
        third = self.ttl / 3
        if self._owning:
            if self._renewed is None or now - self._renewed >= third:
                if await self.store.schedule.renew(self.owner, self.ttl, now):
                    self._renewed = now
                else:
                    holder = await self.store.schedule.holder(now)
                    log.warning(
                        "schedule: lost the lease to %s; this instance stops scheduling",
                        holder.owner if holder else "nobody",
                    )
                    self._owning = False
                    self._stop_timer()
                    return
            await self._take_requests()
        elif self._tried is None or now - self._tried >= third:
            self._tried = now
            await self._try_take(now)

    async def _try_take(self, now: datetime) -> None:
        repo = self.store.schedule
        if not await repo.acquire(self.owner, self.ttl, now):
            self.holder = await repo.holder(now)
            other = self.holder.owner if self.holder else "unknown"
            if self._warned_about != other:
                self._warned_about = other
                log.warning(
                    "another openkoi serve (owner %s) owns the schedule on this database; this instance will not schedule",
                    other,
                )
            return
        self._owning, self._renewed, self.holder = True, now, None
        if self._warned_about is not None:
            log.warning("schedule: took over the schedule from %s", self._warned_about)
            self._warned_about = None
        interrupted = await repo.interrupt_running(self.owner, now)
        if interrupted:
            log.warning("schedule: %d run(s) left running by a stopped process are recorded failed", interrupted)
        self._start_timer()
        self._spawn(self.run_due(now))

    @contextlib.asynccontextmanager
    async def holding_lease(self) -> AsyncIterator[bool]:
        """Hold the lease (renewed) for the length of the block, for a run outside ``openkoi serve``;
        yields False, holding nothing, when a live owner has it."""
        now = self.clock()
        if not await self.store.schedule.acquire(self.owner, self.ttl, now):
            yield False
            return
        self._owning = True

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.ttl.total_seconds() / 3)
                await self.store.schedule.renew(self.owner, self.ttl, self.clock())

        renewing = asyncio.create_task(renew())
        try:
            yield True
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            self._owning = False
            await self.store.schedule.release(self.owner)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # Runs ---------------------------------------------------------------------------------------

    async def run_due(self, now: datetime | None = None) -> list[RunOutcome]:
        """Catch up: run once each job whose latest fire time is within ``misfire_grace_seconds`` of
        ``now``, has no run recorded, and is not older than the schedule on this database (a first
        start has missed nothing). Returns what ran (or was skipped: recorded meanwhile)."""
        now = now or self.clock()
        since = await self.store.schedule.since(now)
        outcomes = []
        for name, trigger in self.triggers.items():
            fire = latest_fire(trigger, now, self.grace)
            if fire is None or fire < since or await self.store.schedule.run_for(name, fire) is not None:
                continue
            outcomes.append(await self.run_job(name, "catch-up", fire))
        return outcomes

    async def run_job(self, name: str, trigger: RunTrigger = "manual", fire_time: datetime | None = None) -> RunOutcome:
        """Run ``name`` for ``fire_time`` (default: now, as for a manual run) unless a run for that fire
        time is recorded; record the outcome. Never raises for the job's own failure."""
        if name not in self.jobs:
            raise KeyError(name)
        fire = fire_time or self.clock()
        async with self._locks[name]:
            repo = self.store.schedule
            if not await repo.claim(name, fire, trigger, self.owner, self.clock()):
                return RunOutcome(name, fire, trigger, "skipped", "a run for this fire time is already recorded")
            try:
                detail = run_detail(SECRETS.redact(await self.jobs[name](JobRun(name, fire, trigger))))
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        repo.finish(name, fire, "failed", "interrupted: openkoi stopped while it ran", self.clock())
                    )
                raise
            except Exception as exc:
                detail = describe_error(exc)
                log.warning("schedule: %s (%s run for %s) failed: %s", name, trigger, _when(fire), detail)
                log.debug("schedule: %s failed", name, exc_info=True)  # the traceback, only when asked for
                await repo.finish(name, fire, "failed", detail, self.clock())
                return RunOutcome(name, fire, trigger, "failed", detail)
            await repo.finish(name, fire, "ok", detail, self.clock())
            log.info("schedule: %s (%s run for %s): %s", name, trigger, _when(fire), detail)
            return RunOutcome(name, fire, trigger, "ok", detail)

    async def _fire(self, name: str) -> None:
        """What APScheduler calls at a fire time: the run is for the latest fire time up to now."""
        now = self.clock()
        fire = latest_fire(self.triggers[name], now, self.grace) or now
        if self._owning:
            await self.run_job(name, "schedule", fire)

    async def _take_requests(self) -> None:
        for request in await self.store.schedule.take_requests(self.owner):
            self._spawn(self._answer(request))

    async def _answer(self, request: JobRequest) -> None:
        repo = self.store.schedule
        if request.job not in self.jobs:
            await repo.finish_request(request.id, "failed", f"{request.job} is not available in this service", None)
            return
        try:
            outcome = await self.run_job(request.job, "manual")
        except BaseException:
            await asyncio.shield(repo.finish_request(request.id, "failed", "interrupted: openkoi stopped", None))
            raise
        status: Literal["ok", "failed"] = "ok" if outcome.status == "ok" else "failed"
        await repo.finish_request(request.id, status, outcome.detail, outcome.fire_time)

    # APScheduler --------------------------------------------------------------------------------

    def _start_timer(self) -> None:
        if not self.timer or self._aps is not None:
            return
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        for name in ("openkoi.schedule.apscheduler", "apscheduler.executors.default"):
            logging.getLogger(name).addFilter(_QUIET_MISSES)  # the same filter once, however often started
        self._aps = AsyncIOScheduler(
            logger=aps_log,
            timezone=self.settings.timezone,
            event_loop=asyncio.get_running_loop(),
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": self.settings.misfire_grace_seconds,
            },
        )
        self._aps.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        for name, trigger in self.triggers.items():
            self._aps.add_job(self._fire, trigger, args=[name], id=name, name=name, replace_existing=True)
        self._aps.start()

    def _stop_timer(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None

    def _on_event(self, event: JobExecutionEvent) -> None:
        from apscheduler.events import EVENT_JOB_MISSED

        when = _when(event.scheduled_run_time)
        if event.code == EVENT_JOB_MISSED:
            log.warning(
                "schedule: %s missed its run for %s (started more than misfire_grace_seconds=%d late)",
                event.job_id,
                when,
                self.settings.misfire_grace_seconds,
            )
            detail = f"missed: not started within misfire_grace_seconds ({self.settings.misfire_grace_seconds}s)"
            self._spawn(self.store.schedule.record_missed(event.job_id, event.scheduled_run_time, detail, self.clock()))
        else:
            error = describe_error(event.exception) if event.exception else "unknown error"
            log.warning("schedule: %s (run for %s) raised %s", event.job_id, when, error)


def _when(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")
