"""A bounded pool of workers that run tasks off the request path.

Handlers only enqueue (a cheap, non-blocking call), so a slow model never delays an ack. The
queue is bounded: when it is full, ``submit`` says so instead of growing without limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class PoolFull(Exception):
    pass


@dataclass
class WorkerPool:
    size: int
    queue_limit: int = 1000
    _queue: asyncio.Queue[tuple[str, Job]] = field(init=False)
    _workers: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _active: dict[str, asyncio.Task[object]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(self.queue_limit)

    def start(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._work(), name=f"worker-{n}") for n in range(self.size)]

    def submit(self, name: str, job: Job) -> None:
        """Queue a job; raises PoolFull when the queue is at its limit."""
        try:
            self._queue.put_nowait((name, job))
        except asyncio.QueueFull as exc:
            raise PoolFull(f"{self._queue.qsize()} tasks are already waiting") from exc

    @property
    def busy(self) -> int:
        return len(self._active)

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    def active(self) -> list[str]:
        return list(self._active)

    async def _work(self) -> None:
        while True:
            name, job = await self._queue.get()
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
                # job finishes, leaving this worker blocked in ``get`` and ``drain`` waiting forever.
                worker = asyncio.current_task()
                if worker is not None and worker.cancelling():
                    raise
            except Exception:  # the job's own error handling failed; keep the worker alive
                log.exception("job %s failed", name)
            finally:
                self._queue.task_done()

    async def drain(self, within: float) -> list[str]:
        """Stop taking jobs, wait up to ``within`` seconds for running ones; return the names still running."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        running = list(self._active.values())
        if running:
            await asyncio.wait(running, timeout=within)
        return [name for name, job in self._active.items() if not job.done()]

    async def cancel_all(self) -> None:
        jobs = list(self._active.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)
