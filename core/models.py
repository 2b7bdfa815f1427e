"""Domain types shared across the engine (what a task is, what happened to it)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


def new_id() -> str:
    """A 16-hex-digit random id; people may refer to it by any unique prefix."""
    return secrets.token_hex(8)


def utcnow() -> datetime:
    return datetime.now(UTC)


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    # The result met the quality bar; or, unscored, a read-only question answered or a simulation shown.
    DONE = "done"
    # Finished with its best result, which scored below the quality bar: never reported as done.
    BELOW_BAR = "below_bar"
    ABORTED = "aborted"  # a circuit breaker stopped it; the best output (if any) is kept
    ESCALATED = "escalated"  # a human is needed; the best output (if any) is kept
    FAILED = "failed"
    CANCELLED = "cancelled"

    # Named sets, one home for each rule (assigned below the class: inside its body the members are
    # still plain strings). SQL status lists use ``values(...)`` of these.
    FINISHED: ClassVar[frozenset[TaskStatus]]  # ended for good: nothing more will run
    UNFINISHED: ClassVar[frozenset[TaskStatus]]  # queued, running or waiting for a person
    WITH_RESULT: ClassVar[frozenset[TaskStatus]]  # ended with a result people can judge (rate)
    SHORT: ClassVar[frozenset[TaskStatus]]  # ended short of done: the reason is kept on the task

    @property
    def finished(self) -> bool:
        return self in TaskStatus.FINISHED

    @staticmethod
    def values(statuses: Iterable[TaskStatus]) -> tuple[str, ...]:
        """The stored values of ``statuses``, in a fixed order (for SQL ``IN (...)`` lists)."""
        return tuple(sorted(s.value for s in statuses))


TaskStatus.FINISHED = frozenset(
    {
        TaskStatus.DONE,
        TaskStatus.BELOW_BAR,
        TaskStatus.ABORTED,
        TaskStatus.ESCALATED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    }
)
TaskStatus.UNFINISHED = frozenset(TaskStatus) - TaskStatus.FINISHED
# A failed or cancelled task has no result; an aborted or escalated one keeps its best output so far.
TaskStatus.WITH_RESULT = frozenset({TaskStatus.DONE, TaskStatus.BELOW_BAR, TaskStatus.ABORTED, TaskStatus.ESCALATED})
TaskStatus.SHORT = TaskStatus.FINISHED - {TaskStatus.DONE}


class Phase(StrEnum):
    RECALL = "recall"
    DIRECTIVE = "directive"
    PARLIAMENT = "parliament"
    SIMULATE = "simulate"
    PLAN = "plan"
    EXECUTE = "execute"
    EVALUATE = "evaluate"
    LEARN = "learn"


class Role(StrEnum):
    """Which configured model serves a call."""

    EXECUTOR = "executor"
    EVALUATOR = "evaluator"
    PLANNER = "planner"
    PARLIAMENT = "parliament"


class LoopDecision(StrEnum):
    """What the PEER loop does after an iteration (``core.loop.decision``); the last one is the task's."""

    CONTINUE = "continue"
    ACCEPT = "accept"
    ACCEPT_BEST = "accept_best"
    ESCALATE = "escalate"
    ABORT_BUDGET = "abort_budget"
    ABORT_TIMEOUT = "abort_timeout"
    ABORT_REGRESSION = "abort_regression"


class TaskOptions(BaseModel):
    """Per-task overrides; ``None`` means "use the configured value"."""

    max_iterations: int | None = Field(None, ge=1, le=50)
    quality_threshold: float | None = Field(None, ge=0.0, le=1.0)
    max_cost_usd: float | None = Field(None, gt=0)
    token_budget: int | None = Field(None, gt=0)
    timeout_seconds: float | None = Field(None, gt=0)
    model: str | None = None
    simulate: bool = False
    # A user-invocable task skill asked for by name (``--skill``); used first, whatever the ranking.
    skill: str | None = None


GLOBAL_SCOPE = "global"


class Scope(BaseModel):
    """Where a task came from, which decides what it may remember and recall.

    A memory belongs to the narrowest scope of the task that taught it (its ``key``): a chat
    channel, else a team, else a workspace, else the platform. A task recalls memories whose key
    is one of its ``visible_keys``: its own channel, team, workspace and platform, and memories
    marked global. So a learning from one Slack channel never reaches another channel or a
    terminal workspace unless a person marks it global.
    """

    model_config = ConfigDict(frozen=True)

    platform: str = "terminal"
    workspace: str | None = None
    team: str | None = None
    channel: str | None = None

    @property
    def key(self) -> str:
        if self.channel:
            return f"channel:{self.platform}:{self.channel}"
        if self.team:
            return f"team:{self.platform}:{self.team}"
        if self.workspace:
            return f"workspace:{self.workspace}"
        return f"platform:{self.platform}"

    @property
    def visible_keys(self) -> tuple[str, ...]:
        keys = [GLOBAL_SCOPE, f"platform:{self.platform}"]
        if self.workspace:
            keys.append(f"workspace:{self.workspace}")
        if self.team:
            keys.append(f"team:{self.platform}:{self.team}")
        if self.channel:
            keys.append(f"channel:{self.platform}:{self.channel}")
        return tuple(keys)


class Task(BaseModel):
    id: str = Field(default_factory=new_id)
    session_id: str
    description: str
    status: TaskStatus = TaskStatus.QUEUED
    source: str = "terminal"
    requester: str | None = None
    options: TaskOptions = Field(default_factory=TaskOptions)
    scope: Scope = Field(default_factory=Scope)
    category: str | None = None
    decision: LoopDecision | None = None
    score: float | None = None
    iterations: int = 0
    output: str | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Session(BaseModel):
    id: str = Field(default_factory=new_id)
    kind: str = "terminal"
    title: str = ""
    status: str = "active"
    created_at: datetime = Field(default_factory=utcnow)


@dataclass
class Spend:
    """Running totals for one task, across every phase."""

    tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)
