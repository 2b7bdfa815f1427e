"""Honest endings: "done" means the quality bar was met. Every way the PEER loop ends is decided
explicitly, and a result kept below the bar ends ``below_bar``, saying by how much and why."""

from __future__ import annotations

import pytest

from core.engine import STATUS_FOR, Engine, status_for
from core.events import TaskFinished
from core.loop.peer import READ_ONLY, LoopOutcome
from core.models import LoopDecision, TaskOptions, TaskStatus
from tests.conftest import Recorder
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, json_reply


async def test_a_revision_that_fails_below_the_bar_is_not_done(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    """Defect 2: a task scored 0.20 against a bar of 0.80 ended "✓ Done … score 0.20" after its revision failed."""
    s = model_env.script
    s.queue("Evaluation", scripts.evaluation(2, [scripts.finding("quality")]))
    s.queue("Revision", json_reply({}), json_reply({}))  # no edit and no rewrite, twice: the revision fails
    task = await engine.submit("summarise the incident", options=TaskOptions(quality_threshold=0.8))
    result = await engine.run(task.id)
    assert result.status is TaskStatus.BELOW_BAR, result.error
    assert (result.decision, result.score, result.output) == (LoopDecision.ACCEPT_BEST, 0.2, "The answer.")
    assert result.error is not None and result.error.startswith("below the bar (0.20 < 0.80): refinement failed")
    [finished] = recorder.of(TaskFinished)
    assert (finished.status, finished.score, finished.bar) == (TaskStatus.BELOW_BAR, 0.2, 0.8)
    assert finished.reason.startswith("refinement failed")
    event = await engine.store.usage_events.get(task.id)
    assert event is not None and event.outcome == "below_bar"


async def test_a_result_that_meets_the_bar_is_done(engine: Engine, model_env: FakeModelServer) -> None:
    task = await engine.submit("summarise the incident", options=TaskOptions(quality_threshold=0.8))
    result = await engine.run(task.id)
    assert (result.status, result.decision, result.error) == (TaskStatus.DONE, LoopDecision.ACCEPT, None)


def _outcome(decision: LoopDecision, score: float | None) -> LoopOutcome:
    return LoopOutcome(decision, "why", "output", score)


@pytest.mark.parametrize(
    ("decision", "score", "expected"),
    [
        (LoopDecision.ACCEPT, 0.85, TaskStatus.DONE),  # met the bar
        (LoopDecision.ACCEPT, None, TaskStatus.DONE),  # a read-only answer: not scored, no bar claimed
        (
            LoopDecision.ACCEPT_BEST,
            0.6,
            TaskStatus.BELOW_BAR,
        ),  # iteration limit, diminishing returns, refinement failed
        (LoopDecision.ACCEPT_BEST, None, TaskStatus.BELOW_BAR),  # never claimed met without a score
        (LoopDecision.ABORT_REGRESSION, 0.7, TaskStatus.BELOW_BAR),  # the earlier, better output is still short
        (LoopDecision.ABORT_REGRESSION, 0.8, TaskStatus.DONE),  # the earlier output met the bar
        (LoopDecision.ESCALATE, 0.9, TaskStatus.ESCALATED),
        (LoopDecision.ABORT_BUDGET, 0.9, TaskStatus.ABORTED),
        (LoopDecision.ABORT_TIMEOUT, None, TaskStatus.ABORTED),
    ],
)
def test_each_way_the_loop_ends_has_its_status(
    decision: LoopDecision, score: float | None, expected: TaskStatus
) -> None:
    assert status_for(_outcome(decision, score), bar=0.8) is expected


def test_every_final_loop_decision_is_mapped() -> None:
    assert set(STATUS_FOR) == set(LoopDecision) - {LoopDecision.CONTINUE}
    assert set(STATUS_FOR.values()) <= TaskStatus.FINISHED


def test_the_named_status_sets() -> None:
    assert set(TaskStatus) == TaskStatus.FINISHED | TaskStatus.UNFINISHED
    assert not TaskStatus.FINISHED & TaskStatus.UNFINISHED
    assert TaskStatus.BELOW_BAR in TaskStatus.FINISHED & TaskStatus.WITH_RESULT & TaskStatus.SHORT
    assert TaskStatus.DONE not in TaskStatus.SHORT
    assert not TaskStatus.WITH_RESULT & {TaskStatus.FAILED, TaskStatus.CANCELLED}
    assert TaskStatus.values(TaskStatus.UNFINISHED) == ("awaiting_confirmation", "queued", "running")


async def test_a_read_only_answer_is_done_unscored(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.queue("Plan", scripts.plan(read_only=True, confidence=10))
    task = await engine.submit("what does WAL mode do?")
    result = await engine.run(task.id)
    assert (result.status, result.score) == (TaskStatus.DONE, None)
    [finished] = recorder.of(TaskFinished)
    assert finished.reason == READ_ONLY
