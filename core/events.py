"""Typed engine events and the bus adapters subscribe to.

The engine publishes; terminal, chat and web adapters render. A slow or failing subscriber
never blocks or breaks the task: each subscriber is called in turn and its errors are logged.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from core.models import LoopDecision, TaskStatus
from core.outputs import Directive, Evaluation, Finding, Plan, Simulation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    task_id: str


@dataclass(frozen=True)
class TaskStarted(Event):
    description: str


@dataclass(frozen=True)
class Recalled(Event):
    learnings: int
    tokens: int


@dataclass(frozen=True)
class DirectiveReady(Event):
    directive: Directive
    fallback: bool


@dataclass(frozen=True)
class DeliberationReady(Event):
    deliberation_id: str
    # A core.deliberation.verdict.Verdict, typed as object so that the events import no stage of the engine.
    verdict: object


@dataclass(frozen=True)
class ConfirmationNeeded(Event):
    confirmation_id: str
    kind: str  # a core.gate.decision.BlockKind: guardian_block, dissent_block, guardian_invalid, floor
    reason: str
    reversibility: str | None
    blast_radius: str | None
    permission_level: str | None
    # What the block message shows beside the reason: each floor rule that matched (id, domain, description,
    # evidence), the trust levels in force and the Guardian's ballot (``core.gate.decision.block_lines``).
    gate: tuple[str, ...] = ()
    # True when the floor matched: then ``--yes`` alone never overrides it; a person answers.
    floor: bool = False


@dataclass(frozen=True)
class ConfirmationResolved(Event):
    confirmation_id: str
    approved: bool
    decided_by: str | None
    expired: bool = False


@dataclass(frozen=True)
class GateDecided(Event):
    """The gate's own decision on a task (``core.gate.decision``): ``outcome`` proceeded, suggest, blocked or
    autonomous, and the floor rules that matched (none: the floor matched nothing). Audited apart from this."""

    outcome: str
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class SimulationReady(Event):
    simulation: Simulation


@dataclass(frozen=True)
class SkillsChosen(Event):
    """The task skills injected into the plan and execution prompts, best first."""

    skills: tuple[str, ...]
    tokens: int
    asked_for: str | None = None  # the one a person named with --skill


@dataclass(frozen=True)
class PlanReady(Event):
    plan: Plan
    fallback: bool = False


@dataclass(frozen=True)
class IterationEvent(Event):
    """An event of one PEER iteration (plan is before the first): which iteration, counted from 1."""

    iteration: int


@dataclass(frozen=True)
class IterationStarted(IterationEvent):
    max_iterations: int


@dataclass(frozen=True)
class ToolCalled(Event):
    name: str
    arguments: str
    repeat_count: int
    warning: bool = False


@dataclass(frozen=True)
class ActionReviewed(Event):
    """The gate's decision on one proposed tool call: ``decision`` run / ask / deny (core.gate.action_decision)."""

    tool: str
    effect: str  # read, write or destructive (core.acting.action.Effect)
    decision: str
    reasons: tuple[str, ...]
    preview: str  # the arguments, redacted and shortened
    call_id: str = ""  # one proposed call: its review, output and end share it
    rules: tuple[str, ...] = ()  # the floor rules that matched the call


@dataclass(frozen=True)
class ActionApprovalNeeded(Event):
    """A person must allow or deny one exact call before it runs (the surface asks: a card, a prompt)."""

    approval_id: str
    tool: str
    preview: str
    reason: str  # why the agent wants it, in its words (redacted)
    effect: str
    rules: tuple[str, ...]  # the floor rules that matched
    domain: str
    expires_at: str  # ISO 8601, UTC
    reasons: tuple[str, ...]  # why the gate asks
    call_id: str = ""


@dataclass(frozen=True)
class ActionDecided(Event):
    """What became of an approval: ``status`` allowed_once, allowed_always, denied or expired."""

    approval_id: str
    tool: str
    status: str
    decided_by: str | None
    call_id: str = ""


@dataclass(frozen=True)
class ActionOutput(Event):
    """Output of a running action as it arrives (a runbook's lines), redacted by the tool."""

    tool: str
    chunk: str
    call_id: str = ""


@dataclass(frozen=True)
class ActionEnded(Event):
    tool: str
    outcome: str  # ok, error or timeout (a call that ran; refusals end at ActionReviewed or the approval)
    duration_ms: float
    error: str | None = None
    call_id: str = ""


@dataclass(frozen=True)
class Executed(IterationEvent):
    output_chars: int
    revision: bool
    truncated: bool = False  # cut off at the model's output limit even after continuing


@dataclass(frozen=True)
class Evaluated(IterationEvent):
    score: float | None
    evaluation: Evaluation | None
    incremental: bool
    skipped: bool
    rescored: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refining(IterationEvent):
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class Decided(IterationEvent):
    decision: LoopDecision
    reason: str


@dataclass(frozen=True)
class Learned(Event):
    text: str
    reinforced: bool


@dataclass(frozen=True)
class TaskFinished(Event):
    status: TaskStatus
    decision: LoopDecision | None
    output: str | None
    score: float | None
    iterations: int
    tokens: int
    cost_usd: float
    learnings: int
    reason: str = ""
    bar: float | None = None  # the quality bar the score was held to; None when the loop did not run


@dataclass(frozen=True)
class TaskFailed(Event):
    error: str


@dataclass(frozen=True)
class Notice(Event):
    """Anything worth telling a person that is not one of the above (fallbacks, retries)."""

    text: str
    level: str = "info"


Subscriber = Callable[[Event], Awaitable[None] | None]


@dataclass
class EventBus:
    subscribers: list[Subscriber] = field(default_factory=list)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self.subscribers.append(subscriber)
        return lambda: self.subscribers.remove(subscriber)

    async def publish(self, event: Event) -> None:
        for subscriber in list(self.subscribers):
            try:
                result = subscriber(event)
                if result is not None:
                    await result
            except Exception:  # a renderer's bug must never break a task
                log.exception("event subscriber failed on %s", type(event).__name__)
