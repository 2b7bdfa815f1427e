"""The engine: a task's life from submission to result.

the rule floor (no model) → recall → Sovereign directive → Parliament → the gate (a block waits for a
person's decision) → [simulate] → skills → plan → PEER loop → learn. Every step is persisted before it
is announced; a task that stops early (budget, timeout, tool loop, failure) says why and keeps its best
output, and every task that ends leaves one usage event.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from core.acting.action import ActionTool
from core.budget import TaskBudget
from core.config import Settings
from core.deliberation import simulate as simulation
from core.errors import (
    BudgetExceeded,
    ConfigError,
    GateUnavailable,
    ModelCallError,
    ModelNotFoundError,
    NoModelConfigured,
    NotFound,
    OpenKoiError,
    StructuredOutputError,
    TaskTimeout,
    ToolLoopAbort,
)
from core.events import (
    ConfirmationResolved,
    EventBus,
    Notice,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)
from core.files import write_private
from core.gate.gatekeeper import Gatekeeper
from core.llm.gateway import ModelGateway
from core.loop.acting import Approver
from core.loop.executor import Escalation
from core.loop.peer import LoopOutcome
from core.loop.question import may_skip_evaluation
from core.loop.tools import Tool
from core.memory.memory import Memory
from core.models import LoopDecision, Role, Scope, Session, Task, TaskOptions, TaskStatus
from core.skills import SkillCatalog, load_catalog, skills_home
from core.skills.use import SkillNotAvailable
from core.stages import TaskRun, loop_caveats, loop_context
from core.store import Store

log = logging.getLogger(__name__)

# How each way the loop ends ends the task. "Done" means the quality bar was met: accepting the best
# output so far (iteration limit, diminishing returns, a refinement that failed) or keeping the earlier,
# better output after a regression ends below the bar unless that output's score met it (``status_for``).
# A read-only question accepted unscored is done without a bar being claimed (it says "not scored").
STATUS_FOR = {
    LoopDecision.ACCEPT: TaskStatus.DONE,
    LoopDecision.ACCEPT_BEST: TaskStatus.BELOW_BAR,
    LoopDecision.ESCALATE: TaskStatus.ESCALATED,
    LoopDecision.ABORT_BUDGET: TaskStatus.ABORTED,
    LoopDecision.ABORT_TIMEOUT: TaskStatus.ABORTED,
    LoopDecision.ABORT_REGRESSION: TaskStatus.BELOW_BAR,  # the better, earlier output is the result
}


def status_for(outcome: LoopOutcome, bar: float) -> TaskStatus:
    """The task's status after the loop: ``STATUS_FOR``'s, with a kept output judged by its own score
    against ``bar`` — done only when it met the bar, below the bar when it did not."""
    status = STATUS_FOR[outcome.decision]
    if status in {TaskStatus.DONE, TaskStatus.BELOW_BAR} and outcome.score is not None:
        return TaskStatus.DONE if outcome.score >= bar else TaskStatus.BELOW_BAR
    return status


@dataclass(frozen=True)
class Ending:
    """How a task ends when a stage raises one of ``errors``, and the reason it gives."""

    errors: type[Exception] | tuple[type[Exception], ...]
    status: TaskStatus
    decision: LoopDecision | None = None  # an abort's, recorded with the best output so far
    prefix: str = ""  # before the error's own message
    bug: bool = False  # logged with its traceback; the announcement names the exception's type


# The first row that matches wins. A breaker aborts the task with its best output; a model, a reply,
# a record or a skill that cannot be used fails it; a model that cannot even be addressed (no key,
# unknown name, nothing configured) fails it as unavailable; anything else is a bug, failed honestly
# rather than left "running".
ENDINGS: tuple[Ending, ...] = (
    Ending(BudgetExceeded, TaskStatus.ABORTED, LoopDecision.ABORT_BUDGET),
    Ending(TaskTimeout, TaskStatus.ABORTED, LoopDecision.ABORT_TIMEOUT),
    Ending(ToolLoopAbort, TaskStatus.ABORTED, LoopDecision.ESCALATE),
    Ending((ModelCallError, StructuredOutputError, NotFound, SkillNotAvailable), TaskStatus.FAILED),
    Ending(GateUnavailable, TaskStatus.FAILED, prefix="the gate cannot screen this task: "),
    Ending((ConfigError, ModelNotFoundError, NoModelConfigured), TaskStatus.FAILED, prefix="model unavailable: "),
    Ending(Exception, TaskStatus.FAILED, prefix="internal error: ", bug=True),
)


class TaskFields(TypedDict, total=False):
    """What a new task may say besides its description; ``Engine.prepare`` gives each its meaning."""

    options: TaskOptions | None
    session_id: str | None
    source: str
    requester: str | None
    scope: Scope | None


@dataclass
class Engine:
    settings: Settings
    store: Store
    bus: EventBus = field(default_factory=EventBus)
    # The directory the file tools may read (see core.loop.workspace); None: no file tools at all.
    workspace: Path | None = None
    tools: list[Tool] | None = None
    escalate: Escalation | None = None
    model_override: str | None = None
    # Tools that act (MCP servers' tools, runbooks), each call through the gate; ``approver`` asks a person
    # about a call the gate will not run without one (None: nobody to ask, so such a call is denied).
    actions: list[ActionTool] = field(default_factory=list)
    approver: Approver | None = None
    _running: dict[str, asyncio.Task[Task]] = field(default_factory=dict)
    # Why a running task is being cancelled, for its own handler of the cancellation, which may record
    # the end before ``cancel`` does: both then say who cancelled it.
    _cancel_reasons: dict[str, str] = field(default_factory=dict)
    _memory: Memory | None = field(default=None, repr=False)
    _gatekeeper: Gatekeeper | None = field(default=None, repr=False)

    @property
    def gatekeeper(self) -> Gatekeeper:
        """The rule floor, the trust levels and the audit; the floor loads on the first screen."""
        if self._gatekeeper is None:
            self._gatekeeper = Gatekeeper(self.settings.gate, self.store)
        return self._gatekeeper

    @property
    def memory(self) -> Memory:
        """What the agent remembers; the embedder loads on the first recall or learning that needs it."""
        if self._memory is None:
            self._memory = Memory(self.settings, self.store)
        return self._memory

    def gateway(self, task_id: str) -> ModelGateway:
        overrides = {role: self.model_override for role in Role} if self.model_override else {}
        return ModelGateway(
            self.settings,
            self.store.usage,
            on_notice=lambda text, level: self._notice(task_id, text, level),
            overrides=overrides,
        )

    def skill_catalog(self) -> SkillCatalog:
        """Every skill from the five sources (see ``core.skills.catalog``), read now: an edited
        SKILL.md counts from the next task on."""
        s = self.settings
        return load_catalog(skills_home(s.home, s.config_dir), s.config_dir, self.workspace)

    def _notice(self, task_id: str, text: str, level: str = "info") -> None:
        asyncio.get_running_loop().create_task(self.bus.publish(Notice(task_id, text, level)))

    async def submit(self, description: str, **fields: Unpack[TaskFields]) -> Task:
        """Persist a new task (and its session if none is given; ``fields`` as for ``prepare``); it does
        not start running."""
        session, task = self.prepare(description, **fields)
        if session is not None:
            await self.store.sessions.create(session)
        return await self.store.tasks.create(task)

    def prepare(
        self,
        description: str,
        *,
        options: TaskOptions | None = None,
        session_id: str | None = None,
        source: str = "terminal",
        requester: str | None = None,
        scope: Scope | None = None,
    ) -> tuple[Session | None, Task]:
        """Validate and build a task (and a new session unless ``session_id`` is given) without
        persisting them: for callers that store many at once (chat intake). Raises OpenKoiError.

        ``scope`` decides which memories the task recalls and where its learnings go: chat passes
        its platform, channel and team; by default a terminal task is scoped to the workspace.
        """
        if not description.strip():
            raise OpenKoiError("the task is empty: say what you want done")
        session = None
        if session_id is None:
            session = Session(kind=source, title=description[:80])
            session_id = session.id
        if scope is None:
            workspace = str(self.workspace.resolve()) if self.workspace is not None and source == "terminal" else None
            scope = Scope(platform=source, workspace=workspace)
        task = Task(
            session_id=session_id,
            description=description,
            source=source,
            requester=requester,
            scope=scope,
            options=options if options is not None else TaskOptions(),
        )
        return session, task

    async def run(self, task_id: str) -> Task:
        """Run a task to its end (or to a confirmation it must wait for). Returns the stored task."""
        return await self._run(task_id, approved=False)

    async def resume(self, task_id: str, confirmation_id: str, approved: bool, decided_by: str | None) -> Task:
        """Apply a person's decision on a pending confirmation; an approval continues the task.

        A decision is single-use: a second decision on the same confirmation raises OpenKoiError.
        """
        if not await self.decide_confirmation(task_id, confirmation_id, approved, decided_by):
            raise OpenKoiError("this confirmation was already decided or has expired")
        if not approved:
            return await self.store.tasks.get(task_id)
        return await self.continue_approved(task_id)

    async def decide_confirmation(
        self, task_id: str, confirmation_id: str, approved: bool, decided_by: str | None
    ) -> bool:
        """Record a decision atomically (of two concurrent presses exactly one returns True).

        A denial ends the task as cancelled here; an approval leaves the task waiting for
        ``continue_approved`` so that a chat handler can answer before the work resumes.
        """
        status = "approved" if approved else "denied"
        if not await self.store.confirmations.decide(confirmation_id, status, decided_by):
            return False
        await self._audit_follow_up(task_id, status, decided_by)
        await self.bus.publish(ConfirmationResolved(task_id, confirmation_id, approved, decided_by))
        if not approved:
            await self._end(task_id, TaskStatus.CANCELLED, None, None, f"override denied by {decided_by}")
        return True

    async def expire(self, task_id: str, confirmation_id: str) -> bool:
        """Expire a pending confirmation and cancel its task. False if someone decided it first."""
        if not await self.store.confirmations.decide(confirmation_id, "expired", None):
            return False
        await self._audit_follow_up(task_id, "expired", None)
        await self.bus.publish(ConfirmationResolved(task_id, confirmation_id, False, None, expired=True))
        await self._end(task_id, TaskStatus.CANCELLED, None, None, "the override request expired")
        return True

    async def _audit_follow_up(self, task_id: str, status: str, decided_by: str | None) -> None:
        """Record a decision on a block in the gate's audit. The decision itself stands whatever happens here."""
        try:
            await self.gatekeeper.ledger.follow_up(task_id, status, decided_by)
        except ConfigError as exc:
            log.warning("task %s: the gate's audit could not record the %s decision: %s", task_id, status, exc)

    async def continue_approved(self, task_id: str) -> Task:
        """Run a task whose block a person overrode (its confirmation is already decided).

        Fails closed: without an approved confirmation on record the task does not run.
        """
        latest = await self.store.confirmations.latest_for_task(task_id)
        if latest is None or latest.status != "approved":
            raise OpenKoiError(f"task {task_id} has no approved override; it stays blocked")
        return await self._run(task_id, approved=True)

    async def abandon(self, task_id: str, reason: str) -> bool:
        """Fail an unfinished task honestly (e.g. interrupted by a restart). False if it had finished."""
        task = await self.store.tasks.get(task_id)
        if task.status.finished:
            return False
        await self.bus.publish(TaskFailed(task_id, reason))
        await self._end(task_id, TaskStatus.FAILED, None, task.output, reason)
        return True

    async def cancel(self, task_id: str, by: str | None = None) -> bool:
        """Cancel a queued, running or waiting task. Returns False if it had already finished."""
        task = await self.store.tasks.get(task_id)
        if task.status.finished:
            return False
        pending = await self.store.confirmations.pending_for_task(task_id)
        if pending is not None and await self.store.confirmations.decide(pending.id, "cancelled", by):
            await self._audit_follow_up(task_id, "cancelled", by)
        reason = f"cancelled by {by or 'a person'}"
        running = self._running.get(task_id)
        if running is not None and running is not asyncio.current_task():
            self._cancel_reasons[task_id] = reason
            running.cancel()
        await self._end(task_id, TaskStatus.CANCELLED, None, None, reason)
        return True

    async def _run(self, task_id: str, approved: bool) -> Task:
        """Run a task's stages, registered as running so that ``cancel`` can interrupt it; a stage
        that raises ends the task as ``ENDINGS`` says."""
        current = asyncio.current_task()
        if current is not None:
            self._running[task_id] = current
        try:
            task = await self.store.tasks.get(task_id)
            if task.status.finished:
                return task
            run = await self._start(task)
            try:
                return await self._stages(run, approved)
            except asyncio.CancelledError:
                await self._cancelled(task_id)
                raise
            except Exception as exc:
                return await self._stopped(run, exc)
        finally:
            self._running.pop(task_id, None)
            self._cancel_reasons.pop(task_id, None)

    async def _stages(self, run: TaskRun, approved: bool) -> Task:
        """the rule floor → recall → directive → Parliament → the gate (a block waits for a person) →
        [simulate] → skills → plan → PEER loop → learn. ``approved``: a person overrode the block, so the
        stored verdict stands."""
        task, opts = run.task, run.task.options
        floor = await run.screen()  # the rule floor, before any model is asked
        if opts.max_cost_usd is not None:
            await run.warn_if_unpriced()
        recalled = await run.recall()
        directive = await run.directive(recalled.text)
        if approved:
            caveats = await run.stored_caveats()
        else:
            verdict = await run.deliberate(directive, recalled.text)
            gate = await run.gate(floor, verdict)  # a model may add caution, never remove it
            if gate.stops:
                return await run.await_confirmation(verdict, gate)
            caveats = loop_caveats(verdict, gate)
        if opts.simulate:
            sim = await run.simulate(directive, caveats)
            return await self._end(
                task.id, TaskStatus.DONE, None, simulation.render(sim), "simulation", budget=run.budget
            )
        rubrics, skills = await run.skills(self.skill_catalog())
        plan = await run.plan(directive, caveats, recalled.text, rubrics, skills.text)
        sure = plan.read_only and plan.read_only_certainty >= self.settings.iteration.skip_eval_confidence
        read_only = may_skip_evaluation(task.description, floor, sure)  # the planner's word alone is not enough
        context = loop_context(directive, caveats, plan, recalled.text, skills.text)
        outcome = await run.iterate(context, rubrics.get(plan.category), read_only)
        learned = await run.learn(outcome) if not read_only and outcome.cycles else 0
        output = run.presented(outcome.output)  # in suggest mode, a proposal
        return await self._end(
            task.id,
            status_for(outcome, run.bar),
            outcome,
            output,
            outcome.reason,
            budget=run.budget,
            learned=learned,
            bar=run.bar,
        )

    async def _start(self, task: Task) -> TaskRun:
        await self.store.tasks.set_status(task.id, TaskStatus.RUNNING)
        log.info("task %s started (%s): %s", task.id, task.source, task.description[:120])
        await self.bus.publish(TaskStarted(task.id, task.description))
        it, opts = self.settings.iteration, task.options
        budget = TaskBudget(
            opts.token_budget or it.token_budget,
            opts.max_cost_usd or it.max_cost_usd,
            opts.timeout_seconds or it.timeout_seconds,
        )
        return TaskRun(
            self.settings,
            self.store,
            self.bus,
            self.memory,
            task,
            budget,
            self.gateway(task.id),
            self.gatekeeper,
            self.workspace,
            self.tools,
            self.escalate,
            self.actions,
            self.approver,
        )

    async def _stopped(self, run: TaskRun, exc: Exception) -> Task:
        """End a task whose stage raised ``exc``, as the first row of ``ENDINGS`` that matches says."""
        ending = next(e for e in ENDINGS if isinstance(exc, e.errors))
        task_id, reason = run.task.id, ending.prefix + str(exc)
        if ending.decision is not None:
            # A breaker tripped: the loop's best output so far (if it started) is the result.
            partial = run.loop.current if run.loop is not None else None
            if partial is not None:
                partial.finish(ending.decision, reason)
            output = partial.output if partial is not None else None
            return await self._end(
                task_id, ending.status, partial, output, reason, budget=run.budget, decision=ending.decision
            )
        if ending.bug:
            log.error("task %s failed", task_id, exc_info=exc)
        announced = f"{ending.prefix}{type(exc).__name__}: {exc}" if ending.bug else reason
        await self.bus.publish(TaskFailed(task_id, announced))
        return await self._end(task_id, ending.status, None, None, reason, budget=run.budget)

    async def _cancelled(self, task_id: str) -> None:
        """Record a cancellation that interrupted the run (``cancel`` may have recorded it first)."""
        reason = self._cancel_reasons.pop(task_id, "cancelled")
        task_now = await self.store.tasks.get(task_id)
        if not task_now.status.finished:
            await self.store.tasks.set_status(task_id, TaskStatus.CANCELLED, reason)
            await self.store.usage_events.record(task_id)  # ended without _end: still one event

    async def _end(
        self,
        task_id: str,
        status: TaskStatus,
        outcome: LoopOutcome | None,
        output: str | None,
        reason: str,
        *,
        budget: TaskBudget | None = None,
        learned: int = 0,
        decision: LoopDecision | None = None,
        bar: float | None = None,
    ) -> Task:
        decision = decision or (outcome.decision if outcome else None)
        iterations = len(outcome.cycles) if outcome else 0
        score = outcome.score if outcome else None
        fields: dict[str, object] = {"status": status, "iterations": iterations, "score": score, "output": output}
        if decision is not None:
            fields["decision"] = decision
        if status in TaskStatus.SHORT:  # why it fell short is kept with the task
            short_of = f"below the bar ({score:.2f} < {bar:.2f}): " if score is not None and bar is not None else ""
            fields["error"] = short_of + reason if status is TaskStatus.BELOW_BAR else reason
        await self.store.tasks.update(task_id, **fields)
        await self.store.usage_events.record(task_id)  # before TaskFinished: a 👍 may follow at once
        log.info("task %s %s (%s): %s", task_id, status.value, decision.value if decision else "-", reason)
        task = await self.store.tasks.get(task_id)
        if output is not None:
            self._save_output(task)
        await self.bus.publish(
            TaskFinished(
                task_id,
                status,
                decision,
                output,
                score,
                iterations,
                budget.spend.tokens if budget else 0,
                budget.spend.cost_usd if budget else 0.0,
                learned,
                reason,
                bar,
            )
        )
        return task

    def _save_output(self, task: Task) -> None:
        path = self.settings.data_dir / "sessions" / task.session_id / f"{task.id}.md"
        header = f"# {task.description}\n\n<!-- task {task.id} · {task.status.value}"
        if task.score is not None:
            header += f" · score {task.score:.2f}"
        write_private(path, f"{header} -->\n\n{task.output}\n")  # owner-only, like the database
