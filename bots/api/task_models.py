"""The bodies of the task routes: what a client sends to start a task, and what it reads back.

Every model here is part of the OpenAPI document (``bots.api.openapi``): the handlers validate requests
with them and build their answers from them, so the document cannot drift from what is served.
"""

from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.models import LoopDecision, TaskOptions, TaskStatus

MAX_TASK_CHARS = 20_000


class _Body(BaseModel):
    # A misspelt field is a 422 naming it, not a setting silently ignored.
    model_config = ConfigDict(extra="forbid")


class TaskRequest(_Body):
    """A task to run. ``description`` and ``max_iterations`` are the seeds' names for ``task`` and ``iterations``."""

    task: str | None = Field(None, min_length=1, max_length=MAX_TASK_CHARS, description="What to do.")
    description: str | None = Field(None, min_length=1, max_length=MAX_TASK_CHARS, description="Same as task.")
    simulate: bool = Field(False, description="Deliberate and simulate futures; execute nothing.")
    iterations: int | None = Field(None, ge=1, le=50, description="Most PEER iterations.")
    max_iterations: int | None = Field(None, ge=1, le=50, description="Same as iterations.")
    quality: float | None = Field(None, ge=0.0, le=1.0, description="Quality bar (0-1) to accept the output.")
    budget_usd: float | None = Field(None, gt=0, le=1000, description="Most the task may cost, in USD.")
    skill: str | None = Field(None, min_length=1, max_length=200, description="A task skill to use, by name.")

    @model_validator(mode="after")
    def _one_of_each(self) -> Self:
        if (self.task is None) == (self.description is None):
            raise ValueError("give the task as exactly one of 'task' or 'description'")
        if self.iterations is not None and self.max_iterations is not None:
            raise ValueError("give at most one of 'iterations' or 'max_iterations'")
        if not self.text.strip():
            raise ValueError("the task is empty: say what you want done")
        return self

    @property
    def text(self) -> str:
        return self.task if self.task is not None else self.description or ""

    def options(self) -> TaskOptions:
        return TaskOptions(
            simulate=self.simulate,
            max_iterations=self.iterations if self.iterations is not None else self.max_iterations,
            quality_threshold=self.quality,
            max_cost_usd=self.budget_usd,
            skill=self.skill,
        )

    def canonical(self) -> str:
        """The request as its meaning, whichever names it used: what an Idempotency-Key is bound to."""
        options = self.options().model_dump_json()
        return f"{self.text}\n{options}"


class TaskLinks(BaseModel):
    self: str
    events: str
    cancel: str


class TaskAccepted(BaseModel):
    """A task saved to run: the workers take it in its turn."""

    id: str
    status: TaskStatus
    links: TaskLinks


class TaskSummary(BaseModel):
    id: str
    description: str
    status: TaskStatus
    source: str = Field(description="Where it was asked: api, slack, discord, telegram, terminal …")
    requester: str | None
    score: float | None
    iterations: int
    created_at: datetime
    updated_at: datetime
    links: TaskLinks


class TaskPage(BaseModel):
    tasks: list[TaskSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on the last page.")


class VoteView(BaseModel):
    agency: str
    vote: str = Field(description="APPROVE, APPROVE_WITH_CAVEAT, ABSTAIN or BLOCK")
    reason: str
    caveat: str | None
    estimate_usd: float | None
    invalid: str | None = Field(description="Why the ballot did not count; null for a valid vote.")


class VerdictView(BaseModel):
    outcome: str = Field(description="approved, guardian_block or dissent_block")
    reason: str
    fail_closed: bool
    reversibility: str | None
    blast_radius: str | None
    permission_level: str | None
    votes: list[VoteView]


class IterationView(BaseModel):
    iteration: int
    score: float | None
    dimension_scores: dict[str, float] | None
    decision: LoopDecision | None
    decision_reason: str | None
    revision: bool
    incremental: bool
    skipped: bool
    tokens: int
    duration_ms: int


class CostView(BaseModel):
    usd: float
    tokens: int
    calls: int


class ConfirmationView(BaseModel):
    """A block waiting for an approver (``POST …/approve`` or ``…/deny``)."""

    id: str
    kind: str
    reason: str
    status: str
    expires_at: datetime | None


class OptionsView(BaseModel):
    simulate: bool
    max_iterations: int | None
    quality_threshold: float | None
    max_cost_usd: float | None
    skill: str | None


class TaskDetail(BaseModel):
    id: str
    description: str
    status: TaskStatus
    source: str
    requester: str | None
    options: OptionsView
    decision: LoopDecision | None = Field(description="How the PEER loop ended.")
    score: float | None
    error: str | None = Field(description="Why it fell short of done, or failed.")
    result: str | None = Field(description="The output (a proposal in suggest mode; the simulation).")
    verdict: VerdictView | None = Field(description="The Parliament's latest verdict, with every vote.")
    iterations: list[IterationView]
    cost: CostView
    confirmation: ConfirmationView | None = Field(description="The block waiting for a person, if any.")
    created_at: datetime
    updated_at: datetime
    links: TaskLinks


class CancelResult(BaseModel):
    id: str
    cancelled: bool = Field(description="False when it had already finished.")
    status: TaskStatus
