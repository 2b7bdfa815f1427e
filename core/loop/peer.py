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
from core.loop.decision import StepInput, next_step
from core.loop.evaluator import EvalResult, evaluate
from core.loop.executor import SYSTEM as EXECUTOR_SYSTEM
from core.loop.executor import Executor
from core.models import LoopDecision
from core.prompt import Prompt
from core.skills import Rubric
from core.store.cycles import CycleRepository


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
        for iteration in range(1, self.max_iterations + 1):
            await self.bus.publish(IterationStarted(task_id, iteration, self.max_iterations))
            started = time.monotonic()
            tokens_before = budget.spend.tokens
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
            await self.bus.publish(Executed(task_id, iteration, len(output), previous is not None, truncated))

            if truncated:
                # An incomplete output is never scored and accepted as if whole.
                reason = "the output was cut off at the model's output limit; the result is incomplete"
                cycle = Cycle(iteration, output, None, LoopDecision.ABORT_BUDGET, reason)
                await self._record(task_id, cycle, None, False, budget, tokens_before, started)
                outcome.cycles.append(cycle)
                return outcome.finish(LoopDecision.ABORT_BUDGET, reason, final=cycle)

            if read_only:
                cycle = Cycle(iteration, output, None, LoopDecision.ACCEPT, "read-only question: evaluation skipped")
                await self._record(task_id, cycle, None, False, budget, tokens_before, started)
                outcome.cycles.append(cycle)
                return outcome.finish(LoopDecision.ACCEPT, cycle.reason, final=cycle)

            result, skipped = await self._evaluate(ctx, task_id, task, context, rubric, output, previous)
            if result is None:
                cycle = Cycle(iteration, output, None, LoopDecision.ESCALATE, "evaluation unavailable")
                await self._record(task_id, cycle, output_hash(output), False, budget, tokens_before, started)
                outcome.cycles.append(cycle)
                return outcome.finish(LoopDecision.ESCALATE, "the evaluator's reply could not be used")
            await self.bus.publish(
                Evaluated(
                    task_id, iteration, result.score, result.evaluation, result.incremental, skipped, result.rescored
                )
            )
            step = next_step(
                StepInput(
                    iteration=iteration,
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
            cycle = Cycle(iteration, output, result, step.decision, step.reason)
            await self._record(task_id, cycle, output_hash(output), skipped, budget, tokens_before, started)
            outcome.cycles.append(cycle)
            await self.bus.publish(Decided(task_id, iteration, step.decision, step.reason))
            if step.decision is not LoopDecision.CONTINUE:
                final = cycle if step.decision in {LoopDecision.ACCEPT, LoopDecision.ESCALATE} else None
                return outcome.finish(step.decision, step.reason, final=final)
            await self.bus.publish(Refining(task_id, iteration, tuple(result.evaluation.findings)))
            changed = changed_lines(previous.output, output) if previous else None
            previous = cycle
        return outcome.finish(LoopDecision.ACCEPT_BEST, "reached the iteration limit")

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

    async def _record(
        self,
        task_id: str,
        cycle: Cycle,
        digest: str | None,
        skipped: bool,
        budget: TaskBudget,
        tokens_before: int,
        started: float,
    ) -> None:
        result = cycle.result
        await self.cycles_repo.record(
            task_id=task_id,
            iteration=cycle.iteration,
            output=cycle.output,
            output_hash=digest or output_hash(cycle.output),
            revision=cycle.iteration > 1,
            evaluation=result.evaluation if result else None,
            score=result.score if result else None,
            dimension_scores=result.scores if result else None,
            decision=cycle.decision,
            decision_reason=cycle.reason,
            incremental=bool(result and result.incremental),
            skipped=skipped,
            tokens=budget.spend.tokens - tokens_before,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
