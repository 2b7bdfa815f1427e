"""The engine: a task's life from submission to result.

recall → Sovereign directive → Parliament (a block waits for a person's decision) →
[simulate] → skills → plan → PEER loop → learn. Every step is persisted before it is announced; a
task that stops early (budget, timeout, tool loop, failure) says why and keeps its best output, and
every task that ends leaves one usage event.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from core.budget import TaskBudget
from core.config import Settings
from core.deliberation import parliament, sovereign
from core.deliberation import simulate as simulation
from core.deliberation.soul import load_soul
from core.deliberation.verdict import Verdict
from core.errors import (
    BudgetExceeded,
    ConfigError,
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
    ConfirmationNeeded,
    ConfirmationResolved,
    DeliberationReady,
    DirectiveReady,
    EventBus,
    Learned,
    Notice,
    PlanReady,
    Recalled,
    SimulationReady,
    SkillsChosen,
    TaskFailed,
    TaskFinished,
    TaskStarted,
)
from core.files import write_private
from core.llm.gateway import CallContext, ModelGateway
from core.loop import planner
from core.loop.executor import Escalation, Executor
from core.loop.peer import LoopOutcome, PeerLoop
from core.loop.tools import Tool, ToolLoopDetector, workspace_tools
from core.memory import learning
from core.memory.embedder import EmbedderUnavailable
from core.memory.memory import Memory
from core.memory.recall import Recall
from core.models import LoopDecision, Role, Scope, Session, Task, TaskOptions, TaskStatus
from core.outputs import Directive, Plan
from core.skills import SkillCatalog, load_catalog, skills_home
from core.skills.use import PROMPT_TITLE as SKILLS_TITLE
from core.skills.use import SkillNotAvailable, choose_for_task
from core.store import Store

log = logging.getLogger(__name__)

STATUS_FOR = {
    LoopDecision.ACCEPT: TaskStatus.DONE,
    LoopDecision.ACCEPT_BEST: TaskStatus.DONE,
    LoopDecision.ESCALATE: TaskStatus.ESCALATED,
    LoopDecision.ABORT_BUDGET: TaskStatus.ABORTED,
    LoopDecision.ABORT_TIMEOUT: TaskStatus.ABORTED,
    LoopDecision.ABORT_REGRESSION: TaskStatus.DONE,  # the better, earlier output is the result
}


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
    _running: dict[str, asyncio.Task[Task]] = field(default_factory=dict)
    # Why a running task is being cancelled, for its own handler of the cancellation, which may record
    # the end before ``cancel`` does: both then say who cancelled it.
    _cancel_reasons: dict[str, str] = field(default_factory=dict)
    _memory: Memory | None = field(default=None, repr=False)

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

    async def submit(
        self,
        description: str,
        *,
        options: TaskOptions | None = None,
        session_id: str | None = None,
        source: str = "terminal",
        requester: str | None = None,
        scope: Scope | None = None,
    ) -> Task:
        """Persist a new task (and its session if none is given); it does not start running."""
        session, task = self.prepare(
            description, options=options, session_id=session_id, source=source, requester=requester, scope=scope
        )
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
        current = asyncio.current_task()
        if current is not None:
            self._running[task_id] = current
        try:
            return await self._run(task_id, approved=False)
        finally:
            self._running.pop(task_id, None)
            self._cancel_reasons.pop(task_id, None)

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
        await self.bus.publish(ConfirmationResolved(task_id, confirmation_id, approved, decided_by))
        if not approved:
            await self._end(task_id, TaskStatus.CANCELLED, None, None, f"override denied by {decided_by}")
        return True

    async def expire(self, task_id: str, confirmation_id: str) -> bool:
        """Expire a pending confirmation and cancel its task. False if someone decided it first."""
        if not await self.store.confirmations.decide(confirmation_id, "expired", None):
            return False
        await self.bus.publish(ConfirmationResolved(task_id, confirmation_id, False, None, expired=True))
        await self._end(task_id, TaskStatus.CANCELLED, None, None, "the override request expired")
        return True

    async def continue_approved(self, task_id: str) -> Task:
        """Run a task whose block a person overrode (its confirmation is already decided).

        Fails closed: without an approved confirmation on record the task does not run.
        """
        latest = await self.store.confirmations.latest_for_task(task_id)
        if latest is None or latest["status"] != "approved":
            raise OpenKoiError(f"task {task_id} has no approved override; it stays blocked")
        current = asyncio.current_task()
        if current is not None:
            self._running[task_id] = current
        try:
            return await self._run(task_id, approved=True)
        finally:
            self._running.pop(task_id, None)
            self._cancel_reasons.pop(task_id, None)

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
        if pending is not None:
            await self.store.confirmations.decide(pending["id"], "cancelled", by)
        reason = f"cancelled by {by or 'a person'}"
        running = self._running.get(task_id)
        if running is not None and running is not asyncio.current_task():
            self._cancel_reasons[task_id] = reason
            running.cancel()
        await self._end(task_id, TaskStatus.CANCELLED, None, None, reason)
        return True

    async def _run(self, task_id: str, approved: bool) -> Task:
        task = await self.store.tasks.get(task_id)
        if task.status.finished:
            return task
        await self.store.tasks.set_status(task_id, TaskStatus.RUNNING)
        log.info("task %s started (%s): %s", task_id, task.source, task.description[:120])
        await self.bus.publish(TaskStarted(task_id, task.description))
        it = self.settings.iteration
        opts = task.options
        budget = TaskBudget(
            opts.token_budget or it.token_budget,
            opts.max_cost_usd or it.max_cost_usd,
            opts.timeout_seconds or it.timeout_seconds,
        )
        ctx = CallContext(task_id, budget)
        gateway = self.gateway(task_id)
        loop: PeerLoop | None = None
        try:
            if opts.max_cost_usd is not None:
                await self._warn_if_unpriced(gateway, task_id)
            recalled = await self._recall(task, int(budget.token_budget * it.recall_share))
            directive = await self._directive(gateway, ctx, task, recalled.text)
            directive_text = sovereign.render(directive)
            if approved:
                caveats = await self._stored_caveats(task_id)
            else:
                verdict, model = await parliament.deliberate(
                    gateway, ctx, task.description, directive_text, recalled.text
                )
                deliberation_id = await self.store.deliberations.record(task_id, verdict, model)
                await self.bus.publish(DeliberationReady(task_id, deliberation_id, verdict))
                caveats = list(verdict.caveats)
                if verdict.blocked and not opts.simulate:
                    return await self._await_confirmation(task, verdict)
                if verdict.blocked:
                    # A simulation executes nothing, so a block does not stop it: it shows what
                    # the blocked action would lead to, next to the verdict.
                    caveats.insert(0, f"BLOCKED ({verdict.outcome.value}): {verdict.reason}")
            if opts.simulate:
                deliberation = "\n".join(caveats) or "approved without caveats"
                sim = await simulation.simulate(gateway, ctx, task.description, directive_text, deliberation)
                await self.store.tasks.update(task_id, simulation_json=sim.model_dump_json())
                await self.bus.publish(SimulationReady(task_id, sim))
                return await self._end(
                    task_id, TaskStatus.DONE, None, simulation.render(sim), "simulation", budget=budget
                )
            catalog = self.skill_catalog()
            for problem in catalog.problems:  # a broken SKILL.md is skipped, not fatal to the task
                await self.bus.publish(Notice(task_id, f"{problem.label} skipped: {problem.reason}", "warn"))
            rubrics = catalog.rubrics
            skills = await choose_for_task(
                self.store,
                catalog,
                task_id,
                task.description,
                asked_for=opts.skill,
                token_limit=int(budget.token_budget * self.settings.skills.token_share),
                settings=self.settings.skills,
                category_hint=task.category,
            )
            await self.bus.publish(SkillsChosen(task_id, tuple(skills.names), skills.tokens, opts.skill))
            planning = await planner.make_plan(
                gateway, ctx, task.description, directive_text, caveats, recalled.text, rubrics, skills.text
            )
            plan = planning.plan
            await self.store.tasks.update(task_id, plan_json=plan.model_dump_json(), category=plan.category)
            if planning.fallback:
                await self.bus.publish(
                    Notice(
                        task_id, f"the planner's reply was unusable ({planning.error}); using the fallback plan", "warn"
                    )
                )
            await self.bus.publish(PlanReady(task_id, plan, planning.fallback))
            read_only = plan.read_only and plan.read_only_confidence >= it.skip_eval_confidence
            loop = self._loop(gateway, task)
            context = _context(directive_text, caveats, plan, recalled.text, skills.text)
            outcome = await loop.run(
                ctx, budget, task_id, task.description, context, rubrics.get(plan.category), read_only
            )
            learned = 0
            if not read_only and outcome.cycles:
                learned = await self._learn(gateway, ctx, task, outcome)
            status = STATUS_FOR[outcome.decision]
            return await self._end(
                task_id, status, outcome, outcome.output, outcome.reason, budget=budget, learned=learned
            )
        except (BudgetExceeded, TaskTimeout, ToolLoopAbort) as exc:
            decision = LoopDecision.ABORT_TIMEOUT if isinstance(exc, TaskTimeout) else LoopDecision.ABORT_BUDGET
            partial = loop.current if loop is not None else None
            if isinstance(exc, ToolLoopAbort):
                decision = LoopDecision.ESCALATE
            if partial is not None:
                partial.finish(decision, str(exc))
            output = partial.output if partial is not None else None
            return await self._end(
                task_id, TaskStatus.ABORTED, partial, output, str(exc), budget=budget, decision=decision
            )
        except (ModelCallError, StructuredOutputError, NotFound, SkillNotAvailable) as exc:
            await self.bus.publish(TaskFailed(task_id, str(exc)))
            return await self._end(task_id, TaskStatus.FAILED, None, None, str(exc), budget=budget)
        except (ConfigError, ModelNotFoundError, NoModelConfigured) as exc:
            # The model cannot even be addressed (no key, unknown name, nothing configured).
            reason = f"model unavailable: {exc}"
            await self.bus.publish(TaskFailed(task_id, reason))
            return await self._end(task_id, TaskStatus.FAILED, None, None, reason, budget=budget)
        except asyncio.CancelledError:
            reason = self._cancel_reasons.pop(task_id, "cancelled")
            task_now = await self.store.tasks.get(task_id)
            if not task_now.status.finished:
                await self.store.tasks.set_status(task_id, TaskStatus.CANCELLED, reason)
                await self.store.usage_events.record(task_id)  # ended without _end: still one event
            raise
        except Exception as exc:  # a bug: fail the task honestly rather than leave it "running"
            log.exception("task %s failed", task_id)
            await self.bus.publish(TaskFailed(task_id, f"internal error: {type(exc).__name__}: {exc}"))
            return await self._end(task_id, TaskStatus.FAILED, None, None, f"internal error: {exc}", budget=budget)

    async def _recall(self, task: Task, token_budget: int) -> Recall:
        """Memories for the task within its share of tokens, recorded on the task. Memory helps a task
        but is never a reason for it to fail: if the embedder cannot run, the task goes on without."""
        try:
            recalled = await self.memory.recall(task.description, task.scope, token_budget, task.id)
        except EmbedderUnavailable as exc:
            await self.bus.publish(Notice(task.id, f"no memories recalled: {exc}", "warn"))
            recalled = Recall()
        await self.store.tasks.update(
            task.id, recall_ms=round(recalled.ms, 3), recall_tokens=recalled.tokens, recall_memories=len(recalled.ids)
        )
        await self.bus.publish(Recalled(task.id, len(recalled.ids), recalled.tokens))
        return recalled

    def _loop(self, gateway: ModelGateway, task: Task) -> PeerLoop:
        it = self.settings.iteration
        tools = self.tools if self.tools is not None else self._workspace_tools()
        ts = self.settings.tools
        executor = Executor(
            gateway,
            self.bus,
            tools,
            ToolLoopDetector(ts.loop_warning, ts.loop_escalate, ts.loop_abort),
            self.settings.data_dir / "tool-output",
            ts,
            self.escalate,
        )
        return PeerLoop(
            gateway,
            executor,
            self.store.cycles,
            self.bus,
            it,
            task.options.max_iterations or it.max_iterations,
            task.options.quality_threshold if task.options.quality_threshold is not None else it.quality_threshold,
        )

    def _workspace_tools(self) -> list[Tool]:
        """File tools over the explicit workspace only: with none (``openkoi serve`` without
        ``[tools] workspace``) the agent gets no file tools, never the process's working directory,
        which for a service is often ``/`` or the directory holding its ``.env``."""
        if self.workspace is None:
            return []
        return workspace_tools(self.workspace, private=(self.settings.config_dir, self.settings.data_dir))

    async def _directive(self, gateway: ModelGateway, ctx: CallContext, task: Task, recall: str) -> Directive:
        stored = await self.store.tasks.stored_json(task.id, "directive_json")
        if stored is not None:
            return Directive.model_validate(stored)
        soul = load_soul(self.settings.config_dir, self.workspace)
        framing = await sovereign.frame(gateway, ctx, soul, task.description, recall)
        await self.store.tasks.update(
            task.id, directive_json=framing.directive.model_dump_json(), directive_fallback=int(framing.fallback)
        )
        if framing.fallback:
            await self.bus.publish(
                Notice(task.id, f"directive call failed, using the static fallback: {framing.error}", "warn")
            )
        await self.bus.publish(DirectiveReady(task.id, framing.directive, framing.fallback))
        return framing.directive

    async def _warn_if_unpriced(self, gateway: ModelGateway, task_id: str) -> None:
        """A cost budget means nothing for a model with no known price: say so before spending."""
        unpriced = sorted({ref.name for ref in map(gateway.ref_for, Role) if not gateway.prices(ref).known})
        if unpriced:
            await self.bus.publish(
                Notice(
                    task_id,
                    f"no price is known for {', '.join(unpriced)}, so the cost budget cannot be enforced "
                    "(the token and time budgets still are); set [pricing] in config.toml to enforce it",
                    "warn",
                )
            )

    async def _stored_caveats(self, task_id: str) -> list[str]:
        latest = await self.store.deliberations.latest(task_id)
        if latest is None:
            return []
        caveats = [
            f"{v['agency']}: {v['caveat'] or v['reason']}"
            for v in latest["votes"]
            if v["vote"] == "APPROVE_WITH_CAVEAT"
        ]
        caveats += [f"{v['agency']} (overridden block): {v['reason']}" for v in latest["votes"] if v["vote"] == "BLOCK"]
        return caveats

    async def _await_confirmation(self, task: Task, verdict: Verdict) -> Task:
        ttl = timedelta(minutes=self.settings.parliament.confirmation_ttl_minutes)
        kind = verdict.outcome.value
        confirmation_id = await self.store.confirmations.create(task.id, kind, verdict.reason, task.requester, ttl)
        await self.store.tasks.set_status(task.id, TaskStatus.AWAITING_CONFIRMATION)
        a = verdict.assessment
        await self.bus.publish(
            ConfirmationNeeded(
                task.id,
                confirmation_id,
                kind,
                verdict.reason,
                a.reversibility if a else None,
                a.blast_radius if a else None,
                a.permission_level if a else None,
            )
        )
        return await self.store.tasks.get(task.id)

    async def _learn(self, gateway: ModelGateway, ctx: CallContext, task: Task, outcome: LoopOutcome) -> int:
        history = "\n".join(
            f"Iteration {c.iteration}: score {c.score if c.score is not None else 'n/a'}; decision {c.decision.value}"
            + "".join(
                f"\n  - {f.dimension}: {f.description} → {f.fix}"
                for f in (c.result.evaluation.findings if c.result else [])
            )
            for c in outcome.cycles
        )
        try:
            extracted = await learning.extract(gateway, ctx, task.description, history)
        except (BudgetExceeded, TaskTimeout, ModelCallError, StructuredOutputError) as exc:
            await self.bus.publish(Notice(task.id, f"no learnings saved: {exc}", "warn"))
            return 0
        for item in extracted.learnings:
            _, reinforced = await self.memory.remember(item.kind.value, item.text, item.confidence, task.scope, task.id)
            await self.bus.publish(Learned(task.id, item.text, reinforced))
        return len(extracted.learnings)

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
    ) -> Task:
        decision = decision or (outcome.decision if outcome else None)
        iterations = len(outcome.cycles) if outcome else 0
        score = outcome.score if outcome else None
        fields: dict[str, object] = {"status": status, "iterations": iterations, "score": score, "output": output}
        if decision is not None:
            fields["decision"] = decision
        if status in {TaskStatus.FAILED, TaskStatus.ABORTED, TaskStatus.CANCELLED, TaskStatus.ESCALATED}:
            fields["error"] = reason
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
            )
        )
        return task

    def _save_output(self, task: Task) -> None:
        path = self.settings.data_dir / "sessions" / task.session_id / f"{task.id}.md"
        header = f"# {task.description}\n\n<!-- task {task.id} · {task.status.value}"
        if task.score is not None:
            header += f" · score {task.score:.2f}"
        write_private(path, f"{header} -->\n\n{task.output}\n")  # owner-only, like the database


def _context(directive: str, caveats: list[str], plan: Plan, recall: str, skills: str = "") -> str:
    parts = [f"Directive:\n{directive}"]
    if caveats:
        parts.append("Parliament caveats (respect these):\n" + "\n".join(f"- {c}" for c in caveats))
    parts.append("Plan:\n" + planner.render(plan))
    if skills:
        parts.append(f"{SKILLS_TITLE}:\n{skills}")
    if recall:
        parts.append("Relevant learnings:\n" + recall)
    return "\n\n".join(parts)
