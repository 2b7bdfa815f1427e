"""next_step(): the PEER loop's priority table, row by row, with its edges and the order between rows."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from core.loop.decision import Step, StepInput, next_step
from core.models import LoopDecision

# The reference defaults (seed doc 002 / core.config.IterationSettings), with budgets far from used up.
DEFAULTS: dict[str, Any] = {
    "iteration": 1,
    "max_iterations": 3,
    "score": 0.5,
    "previous_score": None,
    "quality_threshold": 0.8,
    "improvement_threshold": 0.05,
    "abort_on_regression": True,
    "regression_threshold": 0.2,
    "tokens_used": 1_000,
    "token_budget": 200_000,
    "cost_used": 0.01,
    "cost_budget": 2.0,
    "elapsed_seconds": 10.0,
    "timeout_seconds": 300.0,
    "needs_human": False,
}


def make(**changes: Any) -> StepInput:
    unknown = set(changes) - set(DEFAULTS)
    assert not unknown, f"not StepInput fields: {unknown}"
    return StepInput(**{**DEFAULTS, **changes})


def run(**changes: Any) -> Step:
    return next_step(make(**changes))


# --- one row at a time -------------------------------------------------------------------------


def test_first_iteration_below_threshold_continues() -> None:
    step = run()
    assert step.decision is LoopDecision.CONTINUE
    assert "0.50" in step.reason and "0.80" in step.reason


# Each breaker at its edge: just under it the loop continues; at it (equality means used up) and over it, it stops.
@pytest.mark.parametrize(
    ("breaker", "used", "expected"),
    [
        ("tokens_used", 199_999, LoopDecision.CONTINUE),
        ("tokens_used", 200_000, LoopDecision.ABORT_BUDGET),
        ("tokens_used", 250_000, LoopDecision.ABORT_BUDGET),
        ("cost_used", 1.99, LoopDecision.CONTINUE),
        ("cost_used", 2.0, LoopDecision.ABORT_BUDGET),
        ("cost_used", 3.5, LoopDecision.ABORT_BUDGET),
        ("elapsed_seconds", 299.9, LoopDecision.CONTINUE),
        ("elapsed_seconds", 300.0, LoopDecision.ABORT_TIMEOUT),
        ("elapsed_seconds", 1_000.0, LoopDecision.ABORT_TIMEOUT),
    ],
)
def test_token_cost_and_time_budget_edges(breaker: str, used: float, expected: LoopDecision) -> None:
    step = run(**{breaker: used})
    assert step.decision is expected
    if expected is LoopDecision.ABORT_BUDGET:  # the reason names the budget that ran out
        assert {"tokens_used": "token", "cost_used": "cost"}[breaker] in step.reason


# Dyadic values (exact in binary floating point) so "equal to the threshold" really is equal.
@pytest.mark.parametrize(
    ("previous", "score", "expected"),
    [
        (0.75, 0.5, LoopDecision.ACCEPT_BEST),  # drop == threshold (0.25): not a regression
        (0.75, 0.4375, LoopDecision.ABORT_REGRESSION),  # drop 0.3125 > 0.25
        (0.75, 0.0, LoopDecision.ABORT_REGRESSION),
    ],
)
def test_regression_threshold_is_strict(previous: float, score: float, expected: LoopDecision) -> None:
    if expected is LoopDecision.ACCEPT_BEST:
        assert previous - score == 0.25  # the edge really is exact equality
    step = run(iteration=2, previous_score=previous, score=score, regression_threshold=0.25)
    assert step.decision is expected


def test_regression_reason_names_both_scores() -> None:
    step = run(iteration=2, previous_score=0.7, score=0.3)
    assert step.decision is LoopDecision.ABORT_REGRESSION
    assert "0.70" in step.reason and "0.30" in step.reason


def test_regression_not_checked_at_iteration_one() -> None:
    # Even a huge fall is ignored on iteration 1 (there is no real previous iteration to compare with).
    assert run(iteration=1, previous_score=0.9, score=0.1).decision is LoopDecision.CONTINUE


def test_regression_ignored_when_abort_on_regression_is_off() -> None:
    step = run(iteration=2, previous_score=0.7, score=0.3, abort_on_regression=False)
    # Falls through to diminishing returns (a negative improvement is below 0.05).
    assert step.decision is LoopDecision.ACCEPT_BEST
    assert "diminishing" in step.reason


def test_small_drop_below_regression_threshold_is_diminishing_returns() -> None:
    step = run(iteration=2, previous_score=0.6, score=0.5)  # drop 0.1 < 0.2
    assert step.decision is LoopDecision.ACCEPT_BEST
    assert "diminishing" in step.reason


def test_no_previous_score_means_no_regression_or_diminishing() -> None:
    assert run(iteration=2, previous_score=None, score=0.1).decision is LoopDecision.CONTINUE


def test_escalate_when_a_person_is_needed() -> None:
    step = run(needs_human=True)
    assert step.decision is LoopDecision.ESCALATE


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.8, LoopDecision.ACCEPT),  # score == threshold accepts
        (0.95, LoopDecision.ACCEPT),
        (1.0, LoopDecision.ACCEPT),
        (0.7999, LoopDecision.CONTINUE),
    ],
)
def test_quality_threshold_edge(score: float, expected: LoopDecision) -> None:
    assert run(score=score).decision is expected


@pytest.mark.parametrize(
    ("iteration", "max_iterations", "expected"),
    [
        (1, 1, LoopDecision.ACCEPT_BEST),
        (2, 3, LoopDecision.CONTINUE),
        (3, 3, LoopDecision.ACCEPT_BEST),
        (4, 3, LoopDecision.ACCEPT_BEST),
    ],
)
def test_max_iterations(iteration: int, max_iterations: int, expected: LoopDecision) -> None:
    # previous_score None keeps diminishing returns out of the picture.
    step = run(iteration=iteration, max_iterations=max_iterations, score=0.5)
    assert step.decision is expected
    if expected is LoopDecision.ACCEPT_BEST:
        assert "iteration limit" in step.reason


@pytest.mark.parametrize(
    ("previous", "score", "expected"),
    [
        (0.5, 0.625, LoopDecision.CONTINUE),  # improvement == threshold (0.125): not diminishing
        (0.5, 0.6875, LoopDecision.CONTINUE),  # improvement above the threshold
        (0.5, 0.5625, LoopDecision.ACCEPT_BEST),  # 0.0625 < 0.125
        (0.5, 0.5, LoopDecision.ACCEPT_BEST),  # no improvement at all
    ],
)
def test_improvement_threshold_is_strict(previous: float, score: float, expected: LoopDecision) -> None:
    step = run(iteration=2, previous_score=previous, score=score, improvement_threshold=0.125)
    assert step.decision is expected
    if expected is LoopDecision.ACCEPT_BEST:
        assert "diminishing" in step.reason


def test_diminishing_returns_not_checked_at_iteration_one() -> None:
    assert run(iteration=1, previous_score=0.5, score=0.5).decision is LoopDecision.CONTINUE


def test_big_improvement_continues_at_iteration_two() -> None:
    assert run(iteration=2, previous_score=0.3, score=0.6).decision is LoopDecision.CONTINUE


# --- priority between rows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # budget beats everything below it
        ({"tokens_used": 200_000, "score": 0.9}, LoopDecision.ABORT_BUDGET),
        ({"cost_used": 2.0, "score": 0.9}, LoopDecision.ABORT_BUDGET),
        ({"tokens_used": 200_000, "elapsed_seconds": 400.0}, LoopDecision.ABORT_BUDGET),
        ({"cost_used": 2.5, "elapsed_seconds": 400.0}, LoopDecision.ABORT_BUDGET),
        ({"tokens_used": 200_000, "iteration": 2, "previous_score": 0.9, "score": 0.1}, LoopDecision.ABORT_BUDGET),
        ({"tokens_used": 200_000, "needs_human": True}, LoopDecision.ABORT_BUDGET),
        # timeout beats regression, escalate and quality met
        ({"elapsed_seconds": 300.0, "iteration": 2, "previous_score": 0.9, "score": 0.1}, LoopDecision.ABORT_TIMEOUT),
        ({"elapsed_seconds": 300.0, "needs_human": True}, LoopDecision.ABORT_TIMEOUT),
        ({"elapsed_seconds": 300.0, "score": 0.9}, LoopDecision.ABORT_TIMEOUT),
        # regression beats escalate, quality met and max iterations
        ({"iteration": 2, "previous_score": 0.9, "score": 0.1, "needs_human": True}, LoopDecision.ABORT_REGRESSION),
        (
            {"iteration": 2, "previous_score": 1.0, "score": 0.79, "quality_threshold": 0.7},
            LoopDecision.ABORT_REGRESSION,
        ),
        ({"iteration": 3, "previous_score": 0.9, "score": 0.1}, LoopDecision.ABORT_REGRESSION),
        # escalate beats quality met and max iterations
        ({"needs_human": True, "score": 0.95}, LoopDecision.ESCALATE),
        ({"needs_human": True, "iteration": 3}, LoopDecision.ESCALATE),
        # quality met beats max iterations and diminishing returns
        ({"score": 0.85, "iteration": 3}, LoopDecision.ACCEPT),
        ({"score": 0.85, "iteration": 2, "previous_score": 0.84}, LoopDecision.ACCEPT),
    ],
)
def test_priority_between_rows(changes: dict[str, Any], expected: LoopDecision) -> None:
    assert run(**changes).decision is expected


def test_max_iterations_is_reported_before_diminishing_returns() -> None:
    # Both rows apply at the last iteration with a flat score; the iteration limit is the reason.
    step = run(iteration=3, previous_score=0.5, score=0.51)
    assert step.decision is LoopDecision.ACCEPT_BEST
    assert "iteration limit" in step.reason
    assert "diminishing" not in step.reason
    # One iteration earlier, the same numbers are diminishing returns.
    earlier = run(iteration=2, previous_score=0.5, score=0.51)
    assert earlier.decision is LoopDecision.ACCEPT_BEST
    assert "diminishing" in earlier.reason


def test_decide_is_pure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The step depends on its figures alone: it reads no clock (elapsed time comes in with the figures)
    and keeps nothing from one call to the next (the previous score comes in with the figures too)."""
    i = make(iteration=2, previous_score=0.6, score=0.3, elapsed_seconds=299.0)

    def no_clock() -> float:
        raise AssertionError("next_step read the clock")

    with monkeypatch.context() as clockless:
        for clock in ("time", "monotonic", "perf_counter"):
            clockless.setattr(time, clock, no_clock)
        first = next_step(i)
        for changes in ({"score": 0.9}, {"tokens_used": 200_000}, {"iteration": 3, "previous_score": 0.1}):
            assert next_step(make(**changes)) != first  # other figures in between …
        again = next_step(replace(i))
    assert again == first  # … change nothing for the same figures
    assert first.decision is LoopDecision.ABORT_REGRESSION and "0.60 to 0.30" in first.reason
