"""The chat task queue as the worker pool sees it: the next saved task to run, read from SQLite.

A queued task is run (its thread opened first); a task whose override was approved continues.
Only tasks of the platforms this service runs are taken: a task from a platform that is off waits
for the process that has it on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

from bots.chat.platform import CannotPost
from bots.chat.publisher import REFUSED_BY, ThreadPublisher
from bots.chat.workers import Job
from core.engine import Engine

log = logging.getLogger(__name__)

PREFIX = "task:"


def job_name(task_id: str) -> str:
    return PREFIX + task_id


def task_of(name: str) -> str:
    return name.removeprefix(PREFIX)


@dataclass
class TaskQueue:
    engine: Engine
    publisher: ThreadPublisher
    platforms: Callable[[], Collection[str]]  # the platforms that are on now, asked at every look

    async def next_job(self, busy: Collection[str]) -> tuple[str, Job] | None:
        runnable = await self.engine.store.queue.next(list(self.platforms()), [task_of(name) for name in busy])
        if runnable is None:
            return None
        task_id = runnable.task_id
        if runnable.continuation:
            return job_name(task_id), lambda: self.engine.continue_approved(task_id)
        return job_name(task_id), lambda: self._run(task_id)

    async def _run(self, task_id: str) -> None:
        try:
            await self.publisher.open(task_id)
        except CannotPost:
            # Visible or not run: the requester was told privately why; a task nobody sees must not run.
            await self.engine.cancel(task_id, by=REFUSED_BY)
            return
        except Exception:  # the thread can be opened by the first message instead
            log.exception("could not open the thread of task %s", task_id)
        await self.engine.run(task_id)
