"""Text that is the prompt's own or the schema's is not an answer (``core.llm.echo``): the check on both
sides, and what each structured call does with a reply that still echoes after its one repair attempt —
the directive its labelled fallback, the plan its fallback plan, a simulation fails honestly, learnings
are dropped — always said, naming the field."""

from __future__ import annotations

import pytest

from core.deliberation import parliament, simulate, sovereign
from core.deliberation.sovereign import FALLBACK
from core.engine import Engine
from core.events import DirectiveReady, Notice, PlanReady
from core.llm import echo
from core.llm.structured import json_schema_of
from core.loop import evaluator, planner
from core.memory import learning
from core.models import TaskOptions, TaskStatus
from core.outputs import Directive, Learnings, ParliamentReply, Simulation, evaluation_schema, plan_schema
from tests.conftest import Recorder
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, json_reply

TASK = "## Task\nWrite the release notes for v2.4"
CALLS = {
    "directive": echo.sources(sovereign.SYSTEM, json_schema_of(Directive), TASK),
    "parliament": echo.sources(parliament.SYSTEM, json_schema_of(ParliamentReply), TASK),
    "plan": echo.sources(planner.SYSTEM, plan_schema(["general"]), TASK),
    "evaluation": echo.sources(evaluator.SYSTEM, evaluation_schema(["quality"], ["quality"]), TASK),
    "simulation": echo.sources(simulate.SYSTEM, json_schema_of(Simulation), TASK),
    "learnings": echo.sources(learning.SYSTEM, json_schema_of(Learnings), TASK),
}


@pytest.mark.parametrize(
    ("call", "text", "copies"),
    [
        # what SmolLM2-135M really sent back
        ("directive", "A few words on the approach, e.g. 'Directive',", "the schema's description of stance"),
        ("simulation", "{{$ref}}#/$defs/Agency", "schema syntax ($ref)"),
        ("parliament", "A summary changes nothing.", "the prompt's example"),
        # the example, the instructions, a description, a field's name, template braces around a field
        ("parliament", "keep it blameless and clear", "the prompt's example"),
        ("directive", "Do not solve the task.", "the prompt's instructions"),
        ("parliament", "Required when vote is APPROVE_WITH_CAVEAT", "the schema's description of caveat"),
        ("evaluation", "A concrete change that would resolve the finding", "the schema's description of fix"),
        ("evaluation", "Rationale", "the schema's name for rationale"),
        ("simulation", "{{ reason }}", "schema syntax ({{reason}})"),
        ("learnings", "heuristics that worked, anti-patterns to avoid, preferences the team showed", "the prompt's instructions"),
    ],
)  # fmt: skip
def test_text_copied_from_the_prompt_or_the_schema_is_an_echo(call: str, text: str, copies: str) -> None:
    assert echo.copied(text, CALLS[call]) == copies


@pytest.mark.parametrize(
    ("call", "text"),
    [
        ("parliament", "Looks good."),  # short and generic: only an exact copy of the example counts
        ("evaluation", "Nothing left to improve."),  # a phrase inside an instruction, not the instruction
        ("directive", "Careful and test-driven, e.g. small commits"),  # "e.g." in its own words
        ("plan", "Write the release notes for v2.4"),  # quoting the person's task
        ("plan", "List the merged pull requests since v2.3 and group them by area"),
        ("parliament", "Dropping a production database cannot be undone."),
        ("evaluation", "Replace {{ version }} with the real version number"),  # braces that name no field
        ("simulation", "B"),  # an enum value is a constrained answer
    ],
)
def test_a_real_answer_is_not_an_echo(call: str, text: str) -> None:
    assert echo.copied(text, CALLS[call]) is None


def test_the_persons_own_text_may_carry_what_would_be_schema_syntax() -> None:
    about_schemas = "## Task\nFix the $ref to #/$defs/User in our OpenAPI file"
    found = echo.sources(evaluator.SYSTEM, evaluation_schema(["quality"], ["quality"]), about_schemas)
    assert echo.copied("The $ref to #/$defs/User points at a missing definition", found) is None
    assert echo.copied("The $ref to #/$defs/User points at a missing definition", CALLS["evaluation"]) is not None


def test_verbatim_fields_are_not_checked() -> None:
    finding = {
        "severity": "major", "dimension": "quality", "description": "the template is unescaped",
        "fix": "escape it", "quote": "A concrete change that would resolve the finding {{$ref}}",
    }  # fmt: skip
    from core.outputs import EvaluationReply

    reply = EvaluationReply.model_validate(
        {"dimensions": {"quality": {"score": 5, "rationale": "half done"}}, "findings": [finding],
         "needs_human": False, "summary": "needs escaping"}
    )  # fmt: skip
    assert echo.find(reply, CALLS["evaluation"]) == []


async def test_a_placeholder_directive_uses_the_labelled_fallback_and_says_which_field(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    """Defect 4: the Sovereign's directive was the prompt's placeholder ("A few words on the approach, e.g. …")."""
    model_env.script.default("Directive", scripts.placeholders)
    task = await engine.submit("write the release notes")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    [ready] = recorder.of(DirectiveReady)
    assert ready.fallback and ready.directive == FALLBACK
    said = [n.text for n in recorder.of(Notice) if "static fallback" in n.text]
    assert len(said) == 1 and "stance copies the schema's description of stance" in said[0], said
    assert model_env.kinds().count("Directive") == 2, "one repair attempt"


async def test_an_echo_is_repaired_once_and_the_repair_says_what_was_copied(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.queue(
        "Directive", scripts.placeholders, scripts.directive("Short, factual, breaking changes first")
    )
    task = await engine.submit("write the release notes")
    await engine.run(task.id)
    [ready] = recorder.of(DirectiveReady)
    assert not ready.fallback and ready.directive.stance == "Short, factual, breaking changes first"
    repair = str(model_env.requests_of("Directive")[1]["messages"][-1]["content"])
    assert "copied text from the instructions, the example or the schema" in repair
    assert "stance copies the schema's description of stance" in repair


async def test_a_simulation_showing_schema_syntax_fails_honestly(engine: Engine, model_env: FakeModelServer) -> None:
    """Defect 4: a ``--simulate`` recommendation read ``A — {{$ref}}#/$defs/Agency``."""
    syntax = scripts.simulation(reason="{{$ref}}#/$defs/Agency")
    model_env.script.queue("Simulation", syntax, syntax)
    task = await engine.submit("send the newsletter", options=TaskOptions(simulate=True))
    result = await engine.run(task.id)
    assert result.status is TaskStatus.FAILED and result.output is None
    assert result.error is not None and "reason copies schema syntax ($ref)" in result.error


async def test_a_placeholder_plan_uses_the_fallback_plan_and_says_so(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.default("Plan", scripts.placeholders)
    task = await engine.submit("write the release notes")
    await engine.run(task.id)
    [ready] = recorder.of(PlanReady)
    assert ready.fallback
    said = [n.text for n in recorder.of(Notice) if "fallback plan" in n.text]
    assert len(said) == 1 and "steps.0.title copies the schema's name for title" in said[0], said


async def test_copied_learnings_are_dropped_and_said(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    copied = json_reply({"learnings": [{"kind": "fact", "text": "An empty list is a fine answer.", "confidence": 9}]})
    model_env.script.queue("Learnings", copied, copied)
    task = await engine.submit("write the release notes")
    await engine.run(task.id)
    assert await engine.store.feedback.learning_confidences(task.id) == []
    said = [n.text for n in recorder.of(Notice) if n.text.startswith("no learnings saved")]
    assert len(said) == 1 and "learnings.0.text copies the prompt's instructions" in said[0], said
