"""The stages of one run of a task, each persisted before it is announced.

The engine (``core.engine``) calls them in order and decides how the task ends. Each stage here calls
its concept's package (``core.memory``, ``core.deliberation``, ``core.skills``, ``core.loop``), stores
what it produced on the task, and publishes the event that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from core.acting.action import ActionTool
from core.budget import TaskBudget
from core.config import Settings
from core.deliberation import parliament, sovereign
from core.deliberation import simulate as simulation
from core.deliberation.soul import load_soul
from core.deliberation.verdict import Verdict
from core.errors import BudgetExceeded, ModelCallError, StructuredOutputError, TaskTimeout
from core.events import (
    ConfirmationNeeded,
    DeliberationReady,
    DirectiveReady,
    EventBus,
    GateDecided,
    Learned,
    Notice,
    PlanReady,
    Recalled,
    SimulationReady,
    SkillsChosen,
)
from core.gate.action_gate import ActionGate
from core.gate.decision import GateDecision, GateOutcome, block_lines
from core.gate.floor import FloorResult
from core.gate.gatekeeper import Gatekeeper
from core.llm.gateway import CallContext, ModelGateway
from core.loop import planner
from core.loop.acting import ActionGuard, Approver
from core.loop.executor import Escalation, Executor
from core.loop.peer import LoopOutcome, PeerLoop
from core.loop.tools import Tool, ToolLoopDetector, ToolMode, tools_for, workspace_tools
from core.memory import learning
from core.memory.embedder import EmbedderUnavailable
from core.memory.memory import Memory
from core.memory.recall import Recall
from core.models import Role, Task, TaskStatus
from core.outputs import Directive, Plan, Simulation, fraction
from core.skills import Rubric, RubricSet, SkillCatalog
from core.skills.use import PROMPT_TITLE as SKILLS_TITLE
from core.skills.use import ChosenSkills, choose_for_task
from core.store import Store

# The first line of a result the gate allowed only as a proposal (trust level suggest).
PROPOSAL_HEADER = "PROPOSAL — nothing was done; a person acts on it."


@dataclass
class TaskRun:
    """One run of a task: what its stages share, and the stages themselves."""

    settings: Settings
    store: Store
    bus: EventBus
    memory: Memory
    task: Task
    budget: TaskBudget
    gateway: ModelGateway
    # The rule floor, the trust levels and the audit (``core.gate``).
    gatekeeper: Gatekeeper
    # The directory the file tools may read; None: no file tools. ``tools``, when given, replace them.
    workspace: Path | None = None
    tools: list[Tool] | None = None
    escalate: Escalation | None = None
    # Tools that act (MCP servers' tools, runbooks): each call through the gate; ``approver`` asks a person.
    actions: list[ActionTool] = field(default_factory=list)
    approver: Approver | None = None
    # What the tools may do: ``read_only`` when the gate allows only a proposal (trust level suggest).
    mode: ToolMode = ToolMode.ACT
    # Set when the loop starts: its outcome so far outlives a budget or time abort.
    loop: PeerLoop | None = None
    ctx: CallContext = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = CallContext(self.task.id, self.budget)

    @property
    def bar(self) -> float:
        """The quality bar in force: the task's ``--quality``, else ``[iteration] quality_threshold``."""
        asked = self.task.options.quality_threshold
        return asked if asked is not None else self.settings.iteration.quality_threshold

    async def warn_if_unpriced(self) -> None:
        """A cost budget means nothing for a model with no known price: say so before spending."""
        gateway = self.gateway
        unpriced = sorted({ref.name for ref in map(gateway.ref_for, Role) if not gateway.prices(ref).known})
        if unpriced:
            await self.bus.publish(
                Notice(
                    self.task.id,
                    f"no price is known for {', '.join(unpriced)}, so the cost budget cannot be enforced "
                    "(the token and time budgets still are); set [pricing] in config.toml to enforce it",
                    "warn",
                )
            )

    async def screen(self) -> FloorResult:
        """The rule floor's result on the task, before any model is asked (no model, no network)."""
        result = await self.gatekeeper.screen(self.task.description)
        for note in result.notes:
            await self.bus.publish(Notice(self.task.id, f"rule floor: {note}", "warn"))
        return result

    async def gate(self, floor: FloorResult, verdict: Verdict) -> GateDecision:
        """The gate's decision from the floor, the verdict and the trust levels in force; audited. In suggest
        mode the tools become read-only from here on."""
        task = self.task
        decision = await self.gatekeeper.decide(task.id, floor, verdict, simulate=task.options.simulate)
        await self.bus.publish(GateDecided(task.id, decision.outcome.value, decision.floor.rules))
        if decision.read_only:
            self.mode = ToolMode.READ_ONLY
            text = f"{decision.reason}: the task runs read-only and its result is a proposal; nothing is done"
            await self.bus.publish(Notice(task.id, text, "warn"))
        elif decision.outcome is GateOutcome.AUTONOMOUS:
            await self.bus.publish(Notice(task.id, f"{decision.reason} (recorded in the audit)", "warn"))
        elif decision.simulated and decision.outcome is GateOutcome.BLOCKED:
            await self.bus.publish(Notice(task.id, f"blocked at the gate, simulated anyway: {decision.reason}", "warn"))
        return decision

    async def recall(self) -> Recall:
        """Memories for the task within its share of tokens, recorded on the task. Memory helps a task
        but is never a reason for it to fail: if the embedder cannot run, the task goes on without."""
        task = self.task
        token_budget = int(self.budget.token_budget * self.settings.iteration.recall_share)
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

    async def directive(self, recall: str) -> str:
        """The Sovereign's directive, rendered; stored once, so a resumed task keeps its framing."""
        return sovereign.render(await self._directive(recall))

    async def _directive(self, recall: str) -> Directive:
        task = self.task
        stored = await self.store.tasks.stored_json(task.id, "directive_json")
        if stored is not None:
            return Directive.model_validate(stored)
        soul = load_soul(self.settings.config_dir, self.workspace)
        framing = await sovereign.frame(self.gateway, self.ctx, soul, task.description, recall)
        await self.store.tasks.update(
            task.id, directive_json=framing.directive.model_dump_json(), directive_fallback=int(framing.fallback)
        )
        if framing.fallback:
            await self.bus.publish(
                Notice(task.id, f"directive call failed, using the static fallback: {framing.error}", "warn")
            )
        await self.bus.publish(DirectiveReady(task.id, framing.directive, framing.fallback))
        return framing.directive

    async def deliberate(self, directive: str, recall: str) -> Verdict:
        """The Parliament's verdict, recorded with its votes."""
        task_id = self.task.id
        verdict, model = await parliament.deliberate(self.gateway, self.ctx, self.task.description, directive, recall)
        deliberation_id = await self.store.deliberations.record(task_id, verdict, model)
        await self.bus.publish(DeliberationReady(task_id, deliberation_id, verdict))
        return verdict

    async def await_confirmation(self, verdict: Verdict, decision: GateDecision | None = None) -> Task:
        """Stop at a block: a pending confirmation a person decides (until it expires). The block names the
        floor's rules beside the Guardian's ballot (``decision``), when the gate decided it."""
        task = self.task
        ttl = timedelta(minutes=self.settings.parliament.confirmation_ttl_minutes)
        kind = decision.block.value if decision is not None and decision.block is not None else verdict.outcome.value
        reason = decision.reason if decision is not None else verdict.reason
        confirmation_id = await self.store.confirmations.create(task.id, kind, reason, task.requester, ttl)
        await self.store.tasks.set_status(task.id, TaskStatus.AWAITING_CONFIRMATION)
        a = verdict.assessment
        await self.bus.publish(
            ConfirmationNeeded(
                task.id,
                confirmation_id,
                kind,
                reason,
                a.reversibility if a else None,
                a.blast_radius if a else None,
                a.permission_level if a else None,
                tuple(block_lines(decision, verdict)) if decision is not None else (),
                decision.floor_matched if decision is not None else False,
            )
        )
        return await self.store.tasks.get(task.id)

    async def stored_caveats(self) -> list[str]:
        """The caveats of the verdict a person overrode, its blocks among them."""
        latest = await self.store.deliberations.latest(self.task.id)
        if latest is None:
            return []
        votes = [v for v in latest.votes if v.invalid is None]  # an invalid ballot is no judgement
        caveats = [f"{v.agency}: {v.caveat or v.reason}" for v in votes if v.vote == "APPROVE_WITH_CAVEAT"]
        caveats += [f"{v.agency} (overridden block): {v.reason}" for v in votes if v.vote == "BLOCK"]
        decided = await self.store.gate_audit.decision_for(self.task.id)
        if decided is not None and decided.rules:
            rules = "; ".join(f"{r.rule} ({r.domain}): {r.description}" for r in decided.rules)
            caveats.append(f"rule floor (a person decided it may run): {rules}")
        return caveats

    async def simulate(self, directive: str, caveats: list[str]) -> Simulation:
        """``--simulate``'s possible futures, stored on the task."""
        deliberation = "\n".join(caveats) or "approved without caveats"
        sim = await simulation.simulate(self.gateway, self.ctx, self.task.description, directive, deliberation)
        await self.store.tasks.update(self.task.id, simulation_json=sim.model_dump_json())
        await self.bus.publish(SimulationReady(self.task.id, sim))
        return sim

    async def skills(self, catalog: SkillCatalog) -> tuple[RubricSet, ChosenSkills]:
        """The evaluator rubrics, and the task skills chosen for the task within their token share."""
        task = self.task
        for problem in catalog.problems:  # a broken SKILL.md is skipped, not fatal to the task
            await self.bus.publish(Notice(task.id, f"{problem.label} skipped: {problem.reason}", "warn"))
        skills = await choose_for_task(
            self.store,
            catalog,
            task.id,
            task.description,
            asked_for=task.options.skill,
            token_limit=int(self.budget.token_budget * self.settings.skills.token_share),
            settings=self.settings.skills,
            category_hint=task.category,
        )
        await self.bus.publish(SkillsChosen(task.id, tuple(skills.names), skills.tokens, task.options.skill))
        return catalog.rubrics, skills

    async def plan(self, directive: str, caveats: list[str], recall: str, rubrics: RubricSet, skills: str) -> Plan:
        """The planner's plan (or the labelled fallback), stored with the category it chose."""
        task_id = self.task.id
        planning = await planner.make_plan(
            self.gateway, self.ctx, self.task.description, directive, caveats, recall, rubrics, skills
        )
        plan = planning.plan
        await self.store.tasks.update(task_id, plan_json=plan.model_dump_json(), category=plan.category)
        await self.gatekeeper.ledger.note_category(task_id, plan.category)
        if planning.fallback:
            text = f"the planner's reply was unusable ({planning.error}); using the fallback plan"
            await self.bus.publish(Notice(task_id, text, "warn"))
        await self.bus.publish(PlanReady(task_id, plan, planning.fallback))
        return plan

    async def iterate(self, context: str, rubric: Rubric, read_only: bool) -> LoopOutcome:
        """The PEER loop over the task, judged by ``rubric`` (not at all when ``read_only``)."""
        self.loop = self._loop()
        task = self.task
        return await self.loop.run(self.ctx, self.budget, task.id, task.description, context, rubric, read_only)

    def _loop(self) -> PeerLoop:
        it, ts, options = self.settings.iteration, self.settings.tools, self.task.options
        executor = Executor(
            self.gateway,
            self.bus,
            tools_for(self.mode, [*(self.tools if self.tools is not None else self._workspace_tools()), *self.actions]),
            ToolLoopDetector(ts.loop_warning, ts.loop_escalate, ts.loop_abort),
            self.settings.data_dir / "tool-output",
            ts,
            self.escalate,
            ActionGuard(ActionGate(self.gatekeeper, ts), self.bus, self.approver),
        )
        return PeerLoop(
            self.gateway,
            executor,
            self.store.cycles,
            self.bus,
            it,
            options.max_iterations or it.max_iterations,
            self.bar,
        )

    def _workspace_tools(self) -> list[Tool]:
        """File tools over the explicit workspace only: with none (``openkoi serve`` without
        ``[tools] workspace``) the agent gets no file tools, never the process's working directory,
        which for a service is often ``/`` or the directory holding its ``.env``."""
        if self.workspace is None:
            return []
        return workspace_tools(self.workspace, private=(self.settings.config_dir, self.settings.data_dir))

    def presented(self, output: str | None) -> str | None:
        """The result as a person gets it: in suggest mode (read-only), a proposal that says nothing was done."""
        if output is None or self.mode is not ToolMode.READ_ONLY:
            return output
        return f"{PROPOSAL_HEADER}\n\n{output}"

    async def learn(self, outcome: LoopOutcome) -> int:
        """Learnings from the loop's history, remembered in the task's scope; how many. A failed
        extraction is said, never a reason for the task to fail."""
        task = self.task
        try:
            extracted = await learning.extract(self.gateway, self.ctx, task.description, outcome.history())
        except (BudgetExceeded, TaskTimeout, ModelCallError, StructuredOutputError) as exc:
            await self.bus.publish(Notice(task.id, f"no learnings saved: {exc}", "warn"))
            return 0
        for item in extracted.learnings:
            confidence = fraction(item.confidence)  # the model's 0–10, stored as 0–1 like every confidence
            _, reinforced = await self.memory.remember(item.kind.value, item.text, confidence, task.scope, task.id)
            await self.bus.publish(Learned(task.id, item.text, reinforced))
        return len(extracted.learnings)


def loop_caveats(verdict: Verdict, decision: GateDecision | None = None) -> list[str]:
    """What the loop must respect. A blocked verdict reaches the loop only in a simulation, which
    executes nothing, so a block does not stop it: it shows what the blocked action would lead to. The
    gate adds its own (a floor block in a simulation, suggest mode)."""
    caveats = list(verdict.caveats)
    if verdict.blocked:
        caveats.insert(0, f"BLOCKED ({verdict.outcome.value}): {verdict.reason}")
    if decision is not None:
        caveats[:0] = decision.caveats()
    return caveats


def loop_context(directive: str, caveats: list[str], plan: Plan, recall: str, skills: str = "") -> str:
    """What the executor works from: the directive, the caveats, the plan, the skills and the memories."""
    parts = [f"Directive:\n{directive}"]
    if caveats:
        parts.append("Parliament caveats (respect these):\n" + "\n".join(f"- {c}" for c in caveats))
    parts.append("Plan:\n" + planner.render(plan))
    if skills:
        parts.append(f"{SKILLS_TITLE}:\n{skills}")
    if recall:
        parts.append("Relevant learnings:\n" + recall)
    return "\n\n".join(parts)
