"""Feedback: a person's 👍 or 👎 on a finished task's result, from a chat button or the terminal.

One vote per person per task; pressing again changes the vote, never adds one. A vote is stored
(for calibration and the digests), counts in the effectiveness of the task's skills (read from the
votes, see ``core.skills.effectiveness``) and in its usage event, and moves the confidence of the
learnings the task produced by ``CONFIDENCE_STEP`` per point of change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from core.errors import OpenKoiError
from core.models import TaskStatus
from core.store import Store
from core.store.feedback import Tally

CONFIDENCE_STEP = 0.05
# Tasks with a result to judge (a failed or cancelled task has none); one below its bar is rateable.
RATEABLE = TaskStatus.WITH_RESULT


class Vote(IntEnum):
    UP = 1
    DOWN = -1

    @property
    def symbol(self) -> str:
        return "👍" if self is Vote.UP else "👎"


class CannotRate(OpenKoiError):
    """The task has no result to rate (yet)."""


@dataclass(frozen=True)
class Rating:
    task_id: str
    vote: Vote
    previous: Vote | None
    tally: Tally

    @property
    def changed(self) -> bool:
        return self.previous is not self.vote


async def rate(store: Store, task_id: str, voter: str, vote: Vote, note: str | None = None) -> Rating:
    """Record ``voter``'s vote on a finished task (``voter`` is "<platform>:<user id>" or
    "terminal:<os user>"). Raises NotFound for an unknown task and CannotRate for one without a result."""
    task = await store.tasks.get(task_id)
    if not task.status.finished:
        raise CannotRate(f"task {task_id[:8]} is {task.status.value.replace('_', ' ')}; rate it once it has finished")
    if task.status not in RATEABLE:
        raise CannotRate(f"task {task_id[:8]} {task.status.value}: it has no result to rate")
    previous = await store.feedback.vote(task_id, voter, int(vote), note, CONFIDENCE_STEP)
    return Rating(task_id, vote, Vote(previous) if previous is not None else None, await store.feedback.tally(task_id))
