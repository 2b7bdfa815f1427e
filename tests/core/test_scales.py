"""Ask models only what a grammar can enforce: scores, confidences and counts are small integer scales,
sent as JSON-schema enums (llama.cpp's grammar enforces enums, not minimum/maximum) and mapped to 0–1 in
code. From a server that does not constrain decoding, a number off the scale is a schema error with its
one repair attempt, never clamped."""

from __future__ import annotations

import json
from typing import Any

from core.engine import Engine
from core.events import Notice
from core.llm.structured import json_schema_of
from core.models import TaskStatus
from core.outputs import Learnings, ParliamentReply, Plan, evaluation_schema, fraction
from tests.conftest import Recorder
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, json_reply


async def test_a_model_scoring_on_the_ten_point_scale_is_used_not_escalated(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    """Defect 3: SmolLM2 wrote scores of 1–10 where 0–1 was asked, and a planner count over 10; two of five
    tasks ended "escalated: the evaluator's reply could not be used", and learnings were dropped."""
    s = model_env.script
    s.queue("Plan", json_reply({**_plan(), "read_only_confidence": 7, "estimated_iterations": 10}))
    s.queue("Evaluation", scripts.evaluation(8))
    s.queue("Learnings", scripts.learnings("Lead release notes with breaking changes", confidence=9))
    task = await engine.submit("write the release notes")
    result = await engine.run(task.id)
    assert (result.status, result.score) == (TaskStatus.DONE, 0.8), result.error
    assert model_env.kinds().count("Evaluation") == 1 and model_env.kinds().count("Plan") == 1, "no repair needed"
    assert await engine.store.feedback.learning_confidences(task.id) == [0.9]
    assert not [n for n in recorder.of(Notice) if n.level in {"warn", "error"}]


def _plan() -> dict[str, Any]:
    reply = scripts.plan()
    assert reply.content is not None
    plan: dict[str, Any] = json.loads(reply.content)
    return plan


async def test_a_confidence_off_the_scale_is_repaired_once_then_the_learnings_are_dropped_and_said(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    # Only a server that does not constrain decoding can send 80 (the fake does not enforce the grammar).
    off_scale = scripts.learnings("Always write tests first", confidence=80)
    model_env.script.queue("Learnings", off_scale, off_scale)
    task = await engine.submit("write the release notes")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    assert model_env.kinds().count("Learnings") == 2, "one repair attempt"
    assert await engine.store.feedback.learning_confidences(task.id) == [], "never clamped to 10"
    said = [n.text for n in recorder.of(Notice) if n.text.startswith("no learnings saved")]
    assert len(said) == 1 and "learnings.0.confidence" in said[0], said


def _numbers(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every integer or number in a JSON schema, with where it is."""
    found = []
    if isinstance(node, dict):
        if node.get("type") in {"integer", "number"}:
            found.append((path, node))
        for key, value in node.items():
            found += _numbers(value, f"{path}/{key}")
    elif isinstance(node, list):
        for n, item in enumerate(node):
            found += _numbers(item, f"{path}/{n}")
    return found


def test_every_number_a_model_gives_is_an_integer_enum() -> None:
    schemas = [
        json_schema_of(Plan),
        evaluation_schema(["quality"], ["quality"]),
        json_schema_of(Learnings),
        json_schema_of(ParliamentReply),
    ]
    numbers = [(path, node) for schema in schemas for path, node in _numbers(schema)]
    assert len(numbers) >= 5
    for path, node in numbers:
        if path.endswith("/estimated_cost_usd"):
            # The Economist's USD estimate is loose on purpose (0 to a million): a wild but well-formed
            # guess is data for `reflect honest`; no grammar is needed to keep it in range.
            continue
        assert node["type"] == "integer" and node.get("enum"), (path, node)
        assert "minimum" not in node and "maximum" not in node, path


def test_a_point_on_the_scale_maps_to_a_fraction() -> None:
    assert [fraction(p) for p in (0, 7, 10)] == [0.0, 0.7, 1.0]
