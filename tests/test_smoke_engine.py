from __future__ import annotations

from core.engine import Engine
from core.models import TaskStatus
from tests.fakes.model_server import FakeModelServer


async def test_happy_path_runs_every_phase(engine: Engine, model_env: FakeModelServer) -> None:
    task = await engine.submit("Write a haiku about sqlite")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE, result.error
    assert result.output == "The answer."
    assert model_env.kinds() == ["Directive", "ParliamentReply", "Plan", "execute", "Evaluation", "Learnings"]
