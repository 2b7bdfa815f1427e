"""A fixed number of workers that run tasks off the request path, taking work from the database.

Handlers only save a task and ``wake`` the pool, so a slow model never delays an acknowledgement.
There is no in-memory queue to fill up: a free worker asks its ``JobSource`` (the task queue in
SQLite) for the next job, so every saved task is eventually run, in order, however many there are.
Idle workers also look again every ``poll_seconds``, so a missed wake-up costs a moment, never a task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class JobSource(Protocol):
    async def next_job(self, busy: Collection[str]) -> tuple[str, Job] | None:
        """The next job as (name, job), skipping the names in ``busy`` (taken by workers now); None if there is none."""
        ...


@dataclass
class WorkerPool:
    size: int
    source: JobSource
    poll_seconds: float = 2.0
    _workers: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    # Jobs by name, from the moment a worker takes them until they end (also past a stopped worker).
    _active: dict[str, asyncio.Task[object] | None] = field(default_factory=dict, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    # One worker asks the source at a time, so two never take the same job.
    _taking: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def start(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(), name=f"worker-{n}") for n in range(self.size)]

    def wake(self) -> None:
        """Something was saved that a worker may take: idle workers look now instead of at their next poll."""
        self._wake.set()

    @property
    def busy(self) -> int:
        return len(self._active)

    @property
    def idle(self) -> int:
        """Workers free to start a job at once (0 while stopped)."""
        return max(len(self._workers) - len(self._active), 0)

    def active(self) -> list[str]:
        return list(self._active)

    def owns(self, name: str) -> bool:
        """True while this pool has taken the job ``name`` and it has not ended."""
        return name in self._active

    async def _work(self) -> None:
        while True:
            name, job = await self._take()
            run: asyncio.Task[object] = asyncio.ensure_future(job())
            self._active[name] = run
            # The job leaves ``_active`` when it ends, not when its worker is stopped: ``drain``
            # waits for jobs that outlive their workers.
            run.add_done_callback(lambda _, name=name: self._active.pop(name, None))  # type: ignore[misc]
            try:
                await asyncio.shield(run)
            except asyncio.CancelledError:
                # Only a stop of the worker itself ends the loop (an unfinished job is then handled by
                # ``drain``). Asking ``run.done()`` instead would swallow a stop that lands just as the
                # job finishes, leaving ``drain`` waiting for this worker forever.
                worker = asyncio.current_task()
                if worker is not None and worker.cancelling():
                    raise
            except Exception:  # the job's own error handling failed; keep the worker alive
                log.exception("job %s failed", name)

    async def _take(self) -> tuple[str, Job]:
        while True:
            self._wake.clear()
            async with self._taking:
                try:
                    found = await self.source.next_job(list(self._active))
                except Exception as exc:  # e.g. the database is locked for a moment: look again later
                    log.warning("workers: could not look for queued tasks: %s", exc)
                    found = None
                if found is not None:
                    self._active[found[0]] = None  # taken: no other worker may take it
                    # Pass the wake-up on: more may be waiting, and another idle worker should look.
                    self._wake.set()
                    return found
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation that
            # lands as the wake-up does, and ``drain`` would then wait for this worker forever.
            try:
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def settled(self) -> None:
        """Return once no job is running and the source, asked now, has none to give: every task saved so far
        has been run (or waits on a person). The signal that nothing more will happen until something new
        arrives; it waits as long as that takes, so bound it with a timeout."""
        while True:
            running = [job for job in self._active.values() if job is not None]
            if running:
                await asyncio.wait(running)
                continue
            if not self._active:
                async with self._taking:  # as a worker looks: a job cannot slip between the look and the take
                    if not self._active and await self.source.next_job([]) is None:
                        return
            await asyncio.sleep(0.01)  # a job taken but not started, or one a worker is about to take

    async def drain(self, within: float) -> list[str]:
        """Stop taking jobs, wait up to ``within`` seconds for running ones; return the names still running."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        running = [job for job in self._active.values() if job is not None]
        if running:
            await asyncio.wait(running, timeout=within)
        return [name for name, job in self._active.items() if job is not None and not job.done()]

    async def cancel_all(self) -> None:
        jobs = [job for job in self._active.values() if job is not None]
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
