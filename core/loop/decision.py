"""The PEER loop's decision after each iteration: a pure function of the numbers.

Priority (seed doc 002, plus Escalate): budget → timeout → regression (from iteration 2) →
escalate (the evaluator says a person is needed) → quality met → max iterations →
diminishing returns (from iteration 2) → continue.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models import LoopDecision


@dataclass(frozen=True)
class StepInput:
    """The figures after an iteration: its score, the thresholds, and what the task has spent."""

    iteration: int  # 1-based: the iteration that just finished
    max_iterations: int
    score: float
    previous_score: float | None  # the score of the iteration before this one
    quality_threshold: float
    improvement_threshold: float
    abort_on_regression: bool
    regression_threshold: float
    tokens_used: int
    token_budget: int
    cost_used: float
    cost_budget: float
    elapsed_seconds: float
    timeout_seconds: float
    needs_human: bool = False


@dataclass(frozen=True)
class Step:
    """What the loop does next, and why in words a person reads (shown in the thread and stored)."""

    decision: LoopDecision
    reason: str


def next_step(i: StepInput) -> Step:
    """The first row of the priority table (see the module docstring) that applies to ``i``."""
    if i.tokens_used >= i.token_budget:
        return Step(LoopDecision.ABORT_BUDGET, f"token budget used: {i.tokens_used:,}/{i.token_budget:,}")
    if i.cost_used >= i.cost_budget:
        return Step(LoopDecision.ABORT_BUDGET, f"cost budget used: ${i.cost_used:.4f}/${i.cost_budget:.2f}")
    if i.elapsed_seconds >= i.timeout_seconds:
        return Step(LoopDecision.ABORT_TIMEOUT, f"time budget used: {i.elapsed_seconds:.0f}s/{i.timeout_seconds:.0f}s")
    delta = None if i.previous_score is None else i.score - i.previous_score
    if i.iteration >= 2 and delta is not None and i.abort_on_regression and -delta > i.regression_threshold:
        return Step(
            LoopDecision.ABORT_REGRESSION,
            f"score fell from {i.previous_score:.2f} to {i.score:.2f} (more than {i.regression_threshold:.2f})",
        )
    if i.needs_human:
        return Step(LoopDecision.ESCALATE, "the evaluator says a person must decide")
    if i.score >= i.quality_threshold:
        return Step(LoopDecision.ACCEPT, f"score {i.score:.2f} meets the threshold {i.quality_threshold:.2f}")
    if i.iteration >= i.max_iterations:
        return Step(LoopDecision.ACCEPT_BEST, f"reached the iteration limit ({i.max_iterations})")
    if i.iteration >= 2 and delta is not None and delta < i.improvement_threshold:
        return Step(
            LoopDecision.ACCEPT_BEST,
            f"diminishing returns: improved by {delta:+.2f}, less than {i.improvement_threshold:.2f}",
        )
    return Step(LoopDecision.CONTINUE, f"score {i.score:.2f} below {i.quality_threshold:.2f}")
