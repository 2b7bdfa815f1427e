"""The engine: a task runs every stage, and a stage that raises ends the task as ``ENDINGS`` says."""

from __future__ import annotations

from typing import Any

import pytest

from core.engine import Engine
from core.events import TaskFailed, TaskFinished
from core.models import TaskStatus
from core.stages import TaskRun
from tests.conftest import Recorder
from tests.fakes.model_server import FakeModelServer


async def test_happy_path_runs_every_phase(engine: Engine, model_env: FakeModelServer) -> None:
    task = await engine.submit("Write a haiku about sqlite")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE, result.error
    assert result.output == "The answer."
    assert model_env.kinds() == ["Directive", "ParliamentReply", "Plan", "execute", "Evaluation", "Learnings"]


async def test_a_bug_in_a_stage_fails_the_task_and_names_the_error(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the planner fell over")

    monkeypatch.setattr(TaskRun, "plan", broken)
    task = await engine.submit("write the release notes")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.FAILED
    assert result.error == "internal error: the planner fell over"
    assert [e.error for e in recorder.of(TaskFailed)] == ["internal error: RuntimeError: the planner fell over"]
    assert [e.status for e in recorder.of(TaskFinished)] == [TaskStatus.FAILED]
