"""The PEER loop: execute → evaluate → decide → refine, returning the best cycle's output."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.budget import TaskBudget
from core.config import IterationSettings
from core.errors import StructuredOutputError
from core.events import Decided, Evaluated, EventBus, Executed, IterationStarted, Notice, Refining
from core.llm.gateway import CallContext, ModelGateway
from core.loop.context import changed_lines, output_hash
from core.loop.decision import Step, StepInput, next_step
from core.loop.evaluator import EvalResult, evaluate
from core.loop.executor import SYSTEM as EXECUTOR_SYSTEM
from core.loop.executor import Executor
from core.models import LoopDecision
from core.prompt import Prompt
from core.skills import Rubric
from core.store.cycles import CycleRepository

TRUNCATED = "the output was cut off at the model's output limit; the result is incomplete"
READ_ONLY = "read-only question: evaluation skipped"
UNUSABLE_EVALUATION = "the evaluator's reply could not be used"


@dataclass(frozen=True)
class _Iteration:
    """Where an iteration began: what its cycle's record counts from."""

    task_id: str
    number: int
    budget: TaskBudget
    tokens_before: int
    started: float


@dataclass
class Cycle:
    iteration: int
    output: str
    result: EvalResult | None
    decision: LoopDecision
    reason: str

    @property
    def score(self) -> float | None:
        return self.result.score if self.result else None


@dataclass
class LoopOutcome:
    decision: LoopDecision
    reason: str
    output: str | None
    score: float | None
    cycles: list[Cycle] = field(default_factory=list)

    def finish(self, decision: LoopDecision, reason: str, final: Cycle | None = None) -> LoopOutcome:
        """Record how the loop ended; the output is ``final``'s or else the best cycle's."""
        chosen = final or self.best
        self.decision = decision
        self.reason = reason
        self.output = chosen.output if chosen else None
        self.score = chosen.score if chosen else None
        return self

    def history(self) -> str:
        """What happened, iteration by iteration: score, decision and the findings with their fixes."""
        return "\n".join(
            f"Iteration {c.iteration}: score {c.score if c.score is not None else 'n/a'}; decision {c.decision.value}"
            + "".join(
                f"\n  - {f.dimension}: {f.description} → {f.fix}"
                for f in (c.result.evaluation.findings if c.result else [])
            )
            for c in self.cycles
        )

    @property
    def best(self) -> Cycle | None:
        scored = [c for c in self.cycles if c.score is not None]
        if scored:
            return max(scored, key=lambda c: (c.score or 0.0, -c.iteration))
        return self.cycles[-1] if self.cycles else None


@dataclass
class PeerLoop:
    gateway: ModelGateway
    executor: Executor
    cycles_repo: CycleRepository
    bus: EventBus
    settings: IterationSettings
    max_iterations: int
    quality_threshold: float
    # The outcome so far, readable after a budget or time abort interrupts ``run``.
    current: LoopOutcome = field(default_factory=lambda: LoopOutcome(LoopDecision.CONTINUE, "", None, None))

    async def run(
        self,
        ctx: CallContext,
        budget: TaskBudget,
        task_id: str,
        task: str,
        context: str,
        rubric: Rubric,
        read_only: bool,
    ) -> LoopOutcome:
        outcome = self.current = LoopOutcome(LoopDecision.CONTINUE, "", None, None)
        previous: Cycle | None = None
        changed: set[int] | None = None
        for number in range(1, self.max_iterations + 1):
            await self.bus.publish(IterationStarted(task_id, number, self.max_iterations))
            it = _Iteration(task_id, number, budget, budget.spend.tokens, time.monotonic())
            truncated = False
            if previous is None:
                prompt = Prompt(EXECUTOR_SYSTEM).add("Task", task).add("Context", context)
                execution = await self.executor.execute(ctx, task_id, prompt)
                output, truncated = execution.output, execution.truncated
            else:
                assert previous.result is not None
                try:
                    output = await self.executor.refine(
                        ctx, task, context, previous.output, previous.result.evaluation.findings, changed
                    )
                except StructuredOutputError as exc:
                    await self.bus.publish(Notice(task_id, f"refinement failed: {exc}", "warn"))
                    return outcome.finish(LoopDecision.ACCEPT_BEST, f"refinement failed: {exc}")
            await self.bus.publish(Executed(task_id, number, len(output), previous is not None, truncated))
            if truncated:  # an incomplete output is never scored and accepted as if whole
                return await self._stop(outcome, it, output, LoopDecision.ABORT_BUDGET, TRUNCATED, final=True)
            if read_only:
                return await self._stop(outcome, it, output, LoopDecision.ACCEPT, READ_ONLY, final=True)
            result, skipped = await self._evaluate(ctx, task_id, task, context, rubric, output, previous)
            if result is None:
                return await self._stop(
                    outcome, it, output, LoopDecision.ESCALATE, "evaluation unavailable", told=UNUSABLE_EVALUATION
                )
            await self.bus.publish(
                Evaluated(
                    task_id, number, result.score, result.evaluation, result.incremental, skipped, result.rescored
                )
            )
            step = self._next_step(it, result, previous)
            cycle = await self._keep(outcome, it, Cycle(number, output, result, step.decision, step.reason), skipped)
            await self.bus.publish(Decided(task_id, number, step.decision, step.reason))
            if step.decision is not LoopDecision.CONTINUE:
                final = cycle if step.decision in {LoopDecision.ACCEPT, LoopDecision.ESCALATE} else None
                return outcome.finish(step.decision, step.reason, final=final)
            await self.bus.publish(Refining(task_id, number, tuple(result.evaluation.findings)))
            changed = changed_lines(previous.output, output) if previous else None
            previous = cycle
        return outcome.finish(LoopDecision.ACCEPT_BEST, "reached the iteration limit")

    async def _stop(
        self,
        outcome: LoopOutcome,
        it: _Iteration,
        output: str,
        decision: LoopDecision,
        reason: str,
        *,
        final: bool = False,
        told: str | None = None,
    ) -> LoopOutcome:
        """End the loop early at an unscored cycle, recorded like every other. The loop ends for
        ``told`` when it is given (else the cycle's reason), with this cycle's output when ``final``,
        else the best one's."""
        cycle = await self._keep(outcome, it, Cycle(it.number, output, None, decision, reason), skipped=False)
        return outcome.finish(decision, told or reason, final=cycle if final else None)

    async def _keep(self, outcome: LoopOutcome, it: _Iteration, cycle: Cycle, skipped: bool) -> Cycle:
        """Record a cycle, then count it in the outcome."""
        await self._record(it, cycle, skipped)
        outcome.cycles.append(cycle)
        return cycle

    def _next_step(self, it: _Iteration, result: EvalResult, previous: Cycle | None) -> Step:
        budget = it.budget
        return next_step(
            StepInput(
                iteration=it.number,
                max_iterations=self.max_iterations,
                score=result.score,
                previous_score=previous.score if previous else None,
                quality_threshold=self.quality_threshold,
                improvement_threshold=self.settings.improvement_threshold,
                abort_on_regression=self.settings.abort_on_regression,
                regression_threshold=self.settings.regression_threshold,
                tokens_used=budget.spend.tokens,
                token_budget=budget.token_budget,
                cost_used=budget.spend.cost_usd,
                cost_budget=budget.max_cost_usd,
                elapsed_seconds=budget.elapsed,
                timeout_seconds=budget.timeout_seconds,
                needs_human=result.evaluation.needs_human,
            )
        )

    async def _evaluate(
        self,
        ctx: CallContext,
        task_id: str,
        task: str,
        context: str,
        rubric: Rubric,
        output: str,
        previous: Cycle | None,
    ) -> tuple[EvalResult | None, bool]:
        if previous is not None and previous.result is not None and output_hash(output) == output_hash(previous.output):
            # Identical output: the previous evaluation still holds; no tokens spent.
            return previous.result, True
        try:
            result = await evaluate(
                self.gateway,
                ctx,
                task,
                context,
                rubric,
                output,
                previous.output if previous else None,
                previous.result if previous else None,
            )
        except StructuredOutputError as exc:
            await self.bus.publish(Notice(task_id, f"evaluation failed: {exc}", "error"))
            return None, False
        return result, False

    async def _record(self, it: _Iteration, cycle: Cycle, skipped: bool) -> None:
        result = cycle.result
        await self.cycles_repo.record(
            task_id=it.task_id,
            iteration=cycle.iteration,
            output=cycle.output,
            output_hash=output_hash(cycle.output),
            revision=cycle.iteration > 1,
            evaluation=result.evaluation if result else None,
            score=result.score if result else None,
            dimension_scores=result.scores if result else None,
            decision=cycle.decision,
            decision_reason=cycle.reason,
            incremental=bool(result and result.incremental),
            skipped=skipped,
            tokens=it.budget.spend.tokens - it.tokens_before,
            duration_ms=int((time.monotonic() - it.started) * 1000),
        )
