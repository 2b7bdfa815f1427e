"""What real model servers do, end to end through litellm: refused response formats and tools,
replies cut off at the output limit, no usage block, a tokenizer that counts more than our estimate,
and the time budget bounding retries. Each quirk is switched on in the fake (``Quirks``), which then
refuses exactly as the real server does."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.budget import TaskBudget
from core.config import Settings
from core.engine import Engine
from core.errors import ModelCallError, StructuredOutputError, TaskTimeout
from core.events import Executed, Notice, PlanReady
from core.llm.gateway import CallContext, ModelGateway, warm_up
from core.loop.executor import TRUNCATION_MARK
from core.models import LoopDecision, Phase, Role, TaskOptions, TaskStatus
from core.prompt import Prompt
from tests.conftest import Recorder
from tests.core.llm.directive_call import ask_directive
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply, json_reply

STRUCTURED = ("Directive", "ParliamentReply", "Plan", "Evaluation", "Learnings")


def formats(model: FakeModelServer) -> list[str | None]:
    return [(r.get("response_format") or {}).get("type") for r in model.requests]


async def test_a_refused_json_schema_falls_back_to_json_object_once_for_the_whole_task(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.quirks.refuse_json_schema = True  # llama-cpp-python's HTTP 500
    task = await engine.submit("write a haiku about code review")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE, result.error
    sent = formats(model_env)
    assert sent.count("json_schema") == 1, "the refusal is learnt once, never retried"
    assert sent[0] == "json_schema" and sent[1] == "json_object"
    for body in model_env.requests[1:]:
        fmt = body.get("response_format")
        if fmt is not None:
            # llama-cpp-python turns response_format.schema into a grammar; the prompt carries it too.
            assert fmt["type"] == "json_object" and fmt["schema"]["properties"]
            assert "matching this JSON schema" in body["messages"][0]["content"]
    assert [k for k in model_env.kinds() if k in STRUCTURED] == ["Directive", "Directive", *STRUCTURED[1:]]
    notices = [n.text for n in recorder.of(Notice)]
    assert sum("refused response_format json_schema; using json_object" in n for n in notices) == 1


async def test_a_server_refusing_both_json_modes_gets_the_schema_in_the_prompt(
    engine: Engine, model_env: FakeModelServer
) -> None:
    model_env.quirks.refuse_json_schema = True
    model_env.quirks.refuse_json_object = True  # LM Studio's 400
    task = await engine.submit("write a haiku about code review")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE, result.error
    sent = formats(model_env)
    assert sent[:3] == ["json_schema", "json_object", None]
    assert sent.count("json_schema") == 1 and sent.count("json_object") == 1
    plan = model_env.requests_of("Plan")[0]
    assert "response_format" not in plan and "matching this JSON schema (Plan)" in plan["messages"][0]["content"]


async def test_a_server_refusing_tools_runs_the_task_without_them(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.quirks.refuse_tools = True  # vLLM without --enable-auto-tool-choice
    task = await engine.submit("summarise the notes in the workspace")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE, result.error
    executions = model_env.requests_of("execute")
    assert [("tools" in r) for r in executions] == [True, False]
    assert any("runs without tools" in n.text and n.level == "warn" for n in recorder.of(Notice))


async def test_the_schemas_constrain_what_is_known_at_call_time(engine: Engine, model_env: FakeModelServer) -> None:
    task = await engine.submit("review this SQL migration")
    await engine.run(task.id)
    plan = model_env.requests_of("Plan")[0]["response_format"]["json_schema"]["schema"]
    assert plan["properties"]["category"]["enum"] == [
        "api-design", "code-review", "general", "prose-quality", "sql-safety", "test-quality"
    ]  # fmt: skip
    evaluation = model_env.requests_of("Evaluation")[0]["response_format"]["json_schema"]["schema"]
    dims = evaluation["properties"]["dimensions"]
    assert dims["required"] == ["relevance", "quality", "completeness"] and dims["additionalProperties"] is False
    # A score is an integer enum (llama.cpp's grammar enforces enums, not minimum/maximum), mapped to 0–1 in code.
    assert evaluation["$defs"]["Judgement"]["properties"]["score"] == {
        "description": "0 (unusable) to 10 (nothing left to improve)", "enum": list(range(11)), "title": "Score",
        "type": "integer",
    }  # fmt: skip
    plan_fields = plan["properties"]
    assert plan_fields["read_only_confidence"]["enum"] == list(range(11))
    assert plan_fields["estimated_iterations"]["enum"] == list(range(1, 11))
    parliament = model_env.requests_of("ParliamentReply")[0]["response_format"]["json_schema"]["schema"]
    assert sorted(parliament["required"]) == ["economist", "empath", "guardian", "scholar", "strategist"]


async def test_a_score_out_of_range_gets_the_one_repair_attempt(engine: Engine, model_env: FakeModelServer) -> None:
    # Under llama.cpp's grammar an integer outside the enum cannot be written; a server that only puts the
    # schema in the prompt can (the fake returns whatever is scripted: it does not enforce the grammar).
    # Out of range is a schema error with its one repair attempt, never clamped to 10.
    model_env.script.queue("Evaluation", scripts.evaluation(11), scripts.evaluation(9))
    task = await engine.submit("write a haiku")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE and result.score == pytest.approx(0.9)
    repair = model_env.requests_of("Evaluation")[1]["messages"][-1]["content"]
    assert "Input should be 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 or 10" in repair


async def test_structured_calls_send_a_low_temperature(engine: Engine, model_env: FakeModelServer) -> None:
    engine.settings.temperature.evaluator = 0.05
    task = await engine.submit("write a haiku")
    await engine.run(task.id)
    temperature = {kind: model_env.requests_of(kind)[0].get("temperature") for kind in model_env.kinds()}
    assert temperature["ParliamentReply"] == 0.1 and temperature["Plan"] == 0.2
    assert temperature["Evaluation"] == 0.05
    assert temperature["execute"] is None  # free-form work keeps the model's own default


async def test_an_invalid_plan_after_repair_falls_back_to_the_general_rubric(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.queue("Plan", json_reply({"category": "poetry"}), Reply(content="steps: write it"))
    task = await engine.submit("write a haiku about code review")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    ready = recorder.of(PlanReady)[0]
    assert ready.fallback and ready.plan.category == "general" and len(ready.plan.steps) == 1
    assert ready.plan.steps[0].detail == "write a haiku about code review"
    assert "fallback plan" in ready.plan.steps[0].title
    assert any("fallback plan" in n.text and n.level == "warn" for n in recorder.of(Notice))


async def test_a_structured_reply_cut_off_is_asked_again_once_with_more_room(
    settings: Settings, model_env: FakeModelServer
) -> None:
    cut = Reply(content='{"stance": "Direct", "good_looks_like": ["corr', finish_reason="length")
    model_env.script.queue("Directive", cut)
    directive = await ask_directive(ModelGateway(settings), max_tokens=600)
    assert directive.stance.startswith("Direct")
    assert [r["max_tokens"] for r in model_env.requests] == [600, 1200]


async def test_a_cut_off_reply_without_room_to_grow_is_invalid(settings: Settings, model_env: FakeModelServer) -> None:
    cut = Reply(content='{"stance": "Direct", "good', finish_reason="length")
    model_env.script.queue("Directive", cut, cut)
    budget = TaskBudget(token_budget=1000, max_cost_usd=5.0, timeout_seconds=60)
    with pytest.raises(StructuredOutputError, match="cut off at the output limit"):
        await ask_directive(ModelGateway(settings), budget, max_tokens=600)
    assert len(model_env.requests) == 2  # the first reply and the one repair; no widening without budget
    assert model_env.requests[1]["max_tokens"] <= 600


async def test_a_cut_off_executor_output_is_continued(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.queue(
        "execute", Reply(content="First half, ", finish_reason="length"), Reply(content="second half.")
    )
    task = await engine.submit("write two halves")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    assert result.output == "First half, second half."
    follow_up = model_env.requests_of("execute")[1]["messages"]
    assert follow_up[-2] == {"role": "assistant", "content": "First half, "}
    assert "Continue exactly where it stopped" in follow_up[-1]["content"]
    assert not recorder.of(Executed)[0].truncated


async def test_an_output_still_cut_off_is_marked_incomplete_and_never_scored(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.queue("execute", *[Reply(content=f"part {n} ", finish_reason="length") for n in range(3)])
    task = await engine.submit("write a very long essay")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.ABORTED and result.decision is LoopDecision.ABORT_BUDGET
    assert result.output == "part 0 part 1 part 2 " + TRUNCATION_MARK
    assert result.score is None and "Evaluation" not in model_env.kinds()
    assert recorder.of(Executed)[0].truncated
    assert result.error is not None and "cut off" in result.error


async def test_a_server_without_usage_is_charged_from_a_local_count(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.quirks.omit_usage = True
    task = await engine.submit("write a haiku")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    rows = await engine.store.usage.for_task(task.id)
    assert rows and all(r.prompt_tokens > 0 for r in rows)
    assert sum(1 for n in recorder.of(Notice) if "reports no token usage" in n.text) == 1


@pytest.mark.parametrize("omit_usage", [False, True], ids=["server-counts-more", "no-usage"])
async def test_a_token_budget_is_never_overspent(engine: Engine, model_env: FakeModelServer, omit_usage: bool) -> None:
    # This server's tokenizer counts 35% more than the engine's character estimate: admitting calls
    # on the estimate alone would overspend the budget.
    model_env.quirks.token_ratio = 1.8
    model_env.quirks.omit_usage = omit_usage
    model_env.script.default("execute", Reply(content="A long answer. " * 2000))  # runs into its output cap
    model_env.script.default("Evaluation", scripts.evaluation(5, [scripts.finding("relevance")]))
    budget = 6000
    task = await engine.submit("write at length", options=TaskOptions(token_budget=budget, max_iterations=5))
    result = await engine.run(task.id)
    spent = sum(r.tokens for r in await engine.store.usage.for_task(task.id))
    assert result.status is TaskStatus.ABORTED  # by the budget, or with its output cut off at the cap
    assert 0 < spent <= budget


async def test_retries_never_run_past_the_time_budget(settings: Settings, model_env: FakeModelServer) -> None:
    model_env.script.queue("execute", Reply(status=429, headers={"Retry-After": "30"}), Reply(content="late"))
    warm_up()  # run alone, the first call would spend the budget's 3 s importing litellm and the SDK
    budget = TaskBudget(token_budget=100_000, max_cost_usd=5.0, timeout_seconds=3)
    started = time.monotonic()
    with pytest.raises(ModelCallError, match=r"kept rate-limiting the requests \(HTTP 429\)") as failed:
        await ModelGateway(settings).complete(
            CallContext(None, budget), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "x")
        )
    assert time.monotonic() - started < 2.5, "it must not sleep 30 s on a 3 s budget"
    assert failed.value.unavailable and len(model_env.requests) == 1


async def test_a_wait_cut_short_by_the_time_budget_is_a_timeout_not_a_dead_model(
    settings: Settings, model_env: FakeModelServer
) -> None:
    model_env.script.queue("execute", Reply(content="late", delay=3.0))
    budget = TaskBudget(token_budget=100_000, max_cost_usd=5.0, timeout_seconds=1.5)
    with pytest.raises(TaskTimeout, match="time budget"):
        await ModelGateway(settings).complete(
            CallContext(None, budget), Role.EXECUTOR, Phase.EXECUTE, Prompt("s").add("", "x")
        )


async def test_a_budget_on_an_unpriced_model_warns_that_cost_cannot_be_enforced(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    task = await engine.submit("write a haiku", options=TaskOptions(max_cost_usd=0.5))
    await engine.run(task.id)
    warnings = [n.text for n in recorder.of(Notice) if n.level == "warn"]
    assert any("no price is known for openai/fake" in w and "cannot be enforced" in w for w in warnings)


async def test_simulate_runs_even_when_the_parliament_blocks(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    block = scripts.parliament(votes={"guardian": "BLOCK"}, reasons={"guardian": "the email goes to customers"})
    model_env.script.queue("ParliamentReply", block)
    task = await engine.submit("send the weekly report email", options=TaskOptions(simulate=True))
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE and result.output is not None
    assert result.output.startswith("SIMULATION ONLY")
    assert model_env.kinds() == ["Directive", "ParliamentReply", "Simulation"]  # nothing executed
    assert await engine.store.confirmations.pending_for_task(task.id) is None
    told: Any = model_env.requests_of("Simulation")[0]["messages"][1]["content"]
    assert "BLOCKED (guardian_block): the email goes to customers" in told
