"""Only a task that reads as a question may go unscored, whatever the planner says (``core.loop.question``)."""

from __future__ import annotations

import pytest

from core.engine import Engine
from core.events import TaskFinished
from core.gate.floor import Floor
from core.gate.settings import FloorSettings
from core.loop.peer import READ_ONLY
from core.loop.question import may_skip_evaluation, reads_as_question
from core.models import TaskStatus
from tests.conftest import Recorder
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer


@pytest.mark.parametrize(
    ("task", "question"),
    [
        ("What does WAL mode do?", True),
        ("how do I rotate logs", True),
        ("Explain the retry policy", True),
        ("show me the last 3 commits", True),
        ("  Is the cache warm", True),
        ("Quelle heure est-il ?", True),
        ("write the release notes", False),
        ("Review this function for bugs: def add(a, b): return a - b", False),
        ("restart the api worker", False),
        ("", False),
    ],
)
def test_a_task_reads_as_a_question_by_its_mark_or_its_first_word(task: str, question: bool) -> None:
    assert reads_as_question(task) is question


def test_the_planner_the_wording_and_the_floor_must_all_agree() -> None:
    floor = Floor.load(FloorSettings(embedder=False))
    plain, request = "What does WAL mode do?", "can you drop the orders table?"
    assert may_skip_evaluation(plain, floor.screen(plain), planner_says=True)
    assert not may_skip_evaluation(plain, floor.screen(plain), planner_says=False)
    assert reads_as_question(request) and floor.screen(request).matches, "a request phrased as a question"
    assert not may_skip_evaluation(request, floor.screen(request), planner_says=True)


async def test_a_planner_that_calls_every_task_read_only_does_not_skip_the_bar(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.queue("Plan", scripts.plan(read_only=True, confidence=10))
    for _ in range(engine.settings.iteration.max_iterations):
        model_env.script.queue("Evaluation", scripts.evaluation(2))
    task = await engine.submit("write the release notes for 2.4")
    result = await engine.run(task.id)
    assert "Evaluation" in model_env.kinds(), "a task that is not a question is scored"
    assert result.status is TaskStatus.BELOW_BAR and result.score == pytest.approx(0.2)
    [finished] = recorder.of(TaskFinished)
    assert finished.reason != READ_ONLY
