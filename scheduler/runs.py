"""What a job is given and what it returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.store.schedule import RunTrigger


@dataclass(frozen=True)
class JobRun:
    """One run of a job: which, the cron fire time it is for (aware; a manual run's is when it was
    asked), and what started it."""

    job: str
    fire_time: datetime
    trigger: RunTrigger


# A job body: does the work for ``run`` and returns a one-line outcome ("posted to 2 channels").
# Raising marks the run failed, with the error's class and message; the scheduler keeps running.
JobFunc = Callable[[JobRun], Awaitable[str]]


@dataclass(frozen=True)
class RunOutcome:
    """What became of a request to run a job: ``skipped`` when a run for that fire time was already
    recorded (by this process or any other), so nothing ran."""

    job: str
    fire_time: datetime
    trigger: RunTrigger
    status: Literal["ok", "failed", "skipped"]
    detail: str
