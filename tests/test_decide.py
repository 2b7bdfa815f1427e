"""decide(): the PEER loop's priority table, row by row, with its edges and the order between rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from core.loop.decision import DecisionInput, Verdict, decide
from core.models import Decision

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


def make(**changes: Any) -> DecisionInput:
    unknown = set(changes) - set(DEFAULTS)
    assert not unknown, f"not DecisionInput fields: {unknown}"
    return DecisionInput(**{**DEFAULTS, **changes})


def run(**changes: Any) -> Verdict:
    return decide(make(**changes))


# --- one row at a time -------------------------------------------------------------------------


def test_first_iteration_below_threshold_continues() -> None:
    verdict = run()
    assert verdict.decision is Decision.CONTINUE
    assert "0.50" in verdict.reason and "0.80" in verdict.reason


@pytest.mark.parametrize(
    ("tokens_used", "expected"),
    [
        (199_999, Decision.CONTINUE),
        (200_000, Decision.ABORT_BUDGET),  # equality means the budget is used up
        (250_000, Decision.ABORT_BUDGET),
    ],
)
def test_token_budget_edge(tokens_used: int, expected: Decision) -> None:
    verdict = run(tokens_used=tokens_used)
    assert verdict.decision is expected
    if expected is Decision.ABORT_BUDGET:
        assert "token" in verdict.reason


@pytest.mark.parametrize(
    ("cost_used", "expected"),
    [
        (1.99, Decision.CONTINUE),
        (2.0, Decision.ABORT_BUDGET),
        (3.5, Decision.ABORT_BUDGET),
    ],
)
def test_cost_budget_edge(cost_used: float, expected: Decision) -> None:
    verdict = run(cost_used=cost_used)
    assert verdict.decision is expected
    if expected is Decision.ABORT_BUDGET:
        assert "cost" in verdict.reason


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [
        (299.9, Decision.CONTINUE),
        (300.0, Decision.ABORT_TIMEOUT),
        (1_000.0, Decision.ABORT_TIMEOUT),
    ],
)
def test_timeout_edge(elapsed: float, expected: Decision) -> None:
    assert run(elapsed_seconds=elapsed).decision is expected


# Dyadic values (exact in binary floating point) so "equal to the threshold" really is equal.
@pytest.mark.parametrize(
    ("previous", "score", "expected"),
    [
        (0.75, 0.5, Decision.ACCEPT_BEST),  # drop == threshold (0.25): not a regression
        (0.75, 0.4375, Decision.ABORT_REGRESSION),  # drop 0.3125 > 0.25
        (0.75, 0.0, Decision.ABORT_REGRESSION),
    ],
)
def test_regression_threshold_is_strict(previous: float, score: float, expected: Decision) -> None:
    if expected is Decision.ACCEPT_BEST:
        assert previous - score == 0.25  # the edge really is exact equality
    verdict = run(iteration=2, previous_score=previous, score=score, regression_threshold=0.25)
    assert verdict.decision is expected


def test_regression_reason_names_both_scores() -> None:
    verdict = run(iteration=2, previous_score=0.7, score=0.3)
    assert verdict.decision is Decision.ABORT_REGRESSION
    assert "0.70" in verdict.reason and "0.30" in verdict.reason


def test_regression_not_checked_at_iteration_one() -> None:
    # Even a huge fall is ignored on iteration 1 (there is no real previous iteration to compare with).
    assert run(iteration=1, previous_score=0.9, score=0.1).decision is Decision.CONTINUE


def test_regression_ignored_when_abort_on_regression_is_off() -> None:
    verdict = run(iteration=2, previous_score=0.7, score=0.3, abort_on_regression=False)
    # Falls through to diminishing returns (a negative improvement is below 0.05).
    assert verdict.decision is Decision.ACCEPT_BEST
    assert "diminishing" in verdict.reason


def test_small_drop_below_regression_threshold_is_diminishing_returns() -> None:
    verdict = run(iteration=2, previous_score=0.6, score=0.5)  # drop 0.1 < 0.2
    assert verdict.decision is Decision.ACCEPT_BEST
    assert "diminishing" in verdict.reason


def test_no_previous_score_means_no_regression_or_diminishing() -> None:
    assert run(iteration=2, previous_score=None, score=0.1).decision is Decision.CONTINUE


def test_escalate_when_a_person_is_needed() -> None:
    verdict = run(needs_human=True)
    assert verdict.decision is Decision.ESCALATE


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.8, Decision.ACCEPT),  # score == threshold accepts
        (0.95, Decision.ACCEPT),
        (1.0, Decision.ACCEPT),
        (0.7999, Decision.CONTINUE),
    ],
)
def test_quality_threshold_edge(score: float, expected: Decision) -> None:
    assert run(score=score).decision is expected


@pytest.mark.parametrize(
    ("iteration", "max_iterations", "expected"),
    [
        (1, 1, Decision.ACCEPT_BEST),
        (2, 3, Decision.CONTINUE),
        (3, 3, Decision.ACCEPT_BEST),
        (4, 3, Decision.ACCEPT_BEST),
    ],
)
def test_max_iterations(iteration: int, max_iterations: int, expected: Decision) -> None:
    # previous_score None keeps diminishing returns out of the picture.
    verdict = run(iteration=iteration, max_iterations=max_iterations, score=0.5)
    assert verdict.decision is expected
    if expected is Decision.ACCEPT_BEST:
        assert "iteration limit" in verdict.reason


@pytest.mark.parametrize(
    ("previous", "score", "expected"),
    [
        (0.5, 0.625, Decision.CONTINUE),  # improvement == threshold (0.125): not diminishing
        (0.5, 0.6875, Decision.CONTINUE),  # improvement above the threshold
        (0.5, 0.5625, Decision.ACCEPT_BEST),  # 0.0625 < 0.125
        (0.5, 0.5, Decision.ACCEPT_BEST),  # no improvement at all
    ],
)
def test_improvement_threshold_is_strict(previous: float, score: float, expected: Decision) -> None:
    verdict = run(iteration=2, previous_score=previous, score=score, improvement_threshold=0.125)
    assert verdict.decision is expected
    if expected is Decision.ACCEPT_BEST:
        assert "diminishing" in verdict.reason


def test_diminishing_returns_not_checked_at_iteration_one() -> None:
    assert run(iteration=1, previous_score=0.5, score=0.5).decision is Decision.CONTINUE


def test_big_improvement_continues_at_iteration_two() -> None:
    assert run(iteration=2, previous_score=0.3, score=0.6).decision is Decision.CONTINUE


# --- priority between rows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # budget beats everything below it
        ({"tokens_used": 200_000, "score": 0.9}, Decision.ABORT_BUDGET),
        ({"cost_used": 2.0, "score": 0.9}, Decision.ABORT_BUDGET),
        ({"tokens_used": 200_000, "elapsed_seconds": 400.0}, Decision.ABORT_BUDGET),
        ({"cost_used": 2.5, "elapsed_seconds": 400.0}, Decision.ABORT_BUDGET),
        ({"tokens_used": 200_000, "iteration": 2, "previous_score": 0.9, "score": 0.1}, Decision.ABORT_BUDGET),
        ({"tokens_used": 200_000, "needs_human": True}, Decision.ABORT_BUDGET),
        # timeout beats regression, escalate and quality met
        ({"elapsed_seconds": 300.0, "iteration": 2, "previous_score": 0.9, "score": 0.1}, Decision.ABORT_TIMEOUT),
        ({"elapsed_seconds": 300.0, "needs_human": True}, Decision.ABORT_TIMEOUT),
        ({"elapsed_seconds": 300.0, "score": 0.9}, Decision.ABORT_TIMEOUT),
        # regression beats escalate, quality met and max iterations
        ({"iteration": 2, "previous_score": 0.9, "score": 0.1, "needs_human": True}, Decision.ABORT_REGRESSION),
        (
            {"iteration": 2, "previous_score": 1.0, "score": 0.79, "quality_threshold": 0.7},
            Decision.ABORT_REGRESSION,
        ),
        ({"iteration": 3, "previous_score": 0.9, "score": 0.1}, Decision.ABORT_REGRESSION),
        # escalate beats quality met and max iterations
        ({"needs_human": True, "score": 0.95}, Decision.ESCALATE),
        ({"needs_human": True, "iteration": 3}, Decision.ESCALATE),
        # quality met beats max iterations and diminishing returns
        ({"score": 0.85, "iteration": 3}, Decision.ACCEPT),
        ({"score": 0.85, "iteration": 2, "previous_score": 0.84}, Decision.ACCEPT),
    ],
)
def test_priority_between_rows(changes: dict[str, Any], expected: Decision) -> None:
    assert run(**changes).decision is expected


def test_max_iterations_is_reported_before_diminishing_returns() -> None:
    # Both rows apply at the last iteration with a flat score; the iteration limit is the reason.
    verdict = run(iteration=3, previous_score=0.5, score=0.51)
    assert verdict.decision is Decision.ACCEPT_BEST
    assert "iteration limit" in verdict.reason
    assert "diminishing" not in verdict.reason
    # One iteration earlier, the same numbers are diminishing returns.
    earlier = run(iteration=2, previous_score=0.5, score=0.51)
    assert earlier.decision is Decision.ACCEPT_BEST
    assert "diminishing" in earlier.reason


def test_decide_is_pure() -> None:
    i = make(iteration=2, previous_score=0.6, score=0.5)
    assert decide(i) == decide(replace(i))
    assert i == make(iteration=2, previous_score=0.6, score=0.5)  # the input is untouched
