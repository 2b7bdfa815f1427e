"""What the engine's bus tells the metrics: tasks, their phases, the gate's decisions and the agent's actions.

Events carry no time, so durations are measured here, as each event arrives (the engine publishes an event as
the stage it ends is done): a phase lasts from the event that opens it to the one that closes it, a task run from
``TaskStarted`` to ``TaskFinished``. A task's platform is its ``source`` (the chat platform it was asked on), read
once per run from the store.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from bots.metrics.meter import ServiceMetrics
from core.errors import NotFound
from core.events import (
    ActionDecided,
    ActionEnded,
    ActionReviewed,
    ConfirmationNeeded,
    ConfirmationResolved,
    DeliberationReady,
    DirectiveReady,
    Evaluated,
    Event,
    Executed,
    GateDecided,
    IterationStarted,
    PlanReady,
    Recalled,
    SimulationReady,
    SkillsChosen,
    TaskFinished,
    TaskStarted,
)
from core.store import Store

log = logging.getLogger(__name__)

# The event that ends each phase → (the phase, the event that began it). Core's phase names (core.models.Phase).
PHASES: dict[type[Event], tuple[str, type[Event]]] = {
    Recalled: ("recall", TaskStarted),
    DirectiveReady: ("directive", Recalled),
    DeliberationReady: ("parliament", DirectiveReady),
    SimulationReady: ("simulate", GateDecided),
    PlanReady: ("plan", SkillsChosen),
    Executed: ("execute", IterationStarted),
    Evaluated: ("evaluate", Executed),
}
# A person's (or the clock's) decision on a blocked task, as the gate's audit words it.
FOLLOW_UP = {True: "overridden", False: "denied"}


@dataclass
class _Run:
    """One task run in progress: where it was asked, and when each kind of event last arrived."""

    platform: str
    marks: dict[type[Event], float] = field(default_factory=dict)


@dataclass
class EventMeter:
    """A bus subscriber (``EventBus.subscribe(meter)``) that moves ``metrics`` as events arrive."""

    metrics: ServiceMetrics
    store: Store
    _runs: dict[str, _Run] = field(default_factory=dict)

    async def __call__(self, event: Event) -> None:
        now = time.monotonic()
        m = self.metrics
        match event:
            case TaskStarted(task_id=task_id):
                started = self._runs[task_id] = _Run(await self._platform(task_id))
                m.tasks_started.labels(started.platform).inc()
            case TaskFinished(task_id=task_id, status=status):
                finished = self._runs.pop(task_id, None)
                platform = finished.platform if finished is not None else await self._platform(task_id)
                m.tasks_finished.labels(platform, status.value).inc()
                if finished is not None and TaskStarted in finished.marks:
                    m.task_seconds.labels(platform, status.value).observe(now - finished.marks[TaskStarted])
                return
            case ConfirmationNeeded(task_id=task_id):
                self._runs.pop(task_id, None)  # the run ends here; an override starts a new one
                return
            case GateDecided(outcome=outcome, rules=rules):
                self._gate("task", outcome, rules)
            case ConfirmationResolved(approved=approved, expired=expired):
                m.gate_decisions.labels("task", "expired" if expired else FOLLOW_UP[approved]).inc()
            case ActionReviewed(tool=tool, decision=decision, rules=rules):
                m.action_reviews.labels(tool, decision).inc()
                self._gate("action", decision, rules)
            case ActionDecided(tool=tool, status=status):
                m.action_approvals.labels(tool, status).inc()
                m.gate_decisions.labels("action", status).inc()
            case ActionEnded(tool=tool, outcome=outcome, duration_ms=ms):
                m.actions.labels(tool, outcome).inc()
                m.action_seconds.labels(tool).observe(ms / 1000)
        run = self._runs.get(event.task_id)
        if run is None:
            return
        phase = PHASES.get(type(event))
        if phase is not None and phase[1] in run.marks:
            m.phase_seconds.labels(phase[0]).observe(now - run.marks[phase[1]])
        run.marks[type(event)] = now

    def _gate(self, kind: str, outcome: str, rules: tuple[str, ...]) -> None:
        self.metrics.gate_decisions.labels(kind, outcome).inc()
        for rule in rules:
            self.metrics.gate_rules.labels(kind, rule, outcome).inc()

    async def _platform(self, task_id: str) -> str:
        try:
            return (await self.store.tasks.get(task_id)).source
        except NotFound:
            log.debug("metrics: task %s is not in the store", task_id)
            return "unknown"
