"""The PEER loop end to end through litellm: decisions, delta feedback, incremental evaluation,
budgets, learnings and persistence."""

from __future__ import annotations

from typing import Any

from core.config import Pricing
from core.engine import Engine
from core.events import Evaluated, Learned
from core.models import LoopDecision, TaskOptions, TaskStatus
from tests.conftest import Recorder
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply, json_reply

LINES = [f"Line {n}: sqlite keeps data in one file." for n in range(1, 21)]
DOC = "\n".join(LINES)


def user_prompt(body: dict[str, Any]) -> str:
    return str(body["messages"][1]["content"])


async def test_regression_detected_at_iteration_two(engine: Engine, model_env: FakeModelServer) -> None:
    s = model_env.script
    s.queue("execute", Reply(content=DOC))
    s.queue("Evaluation", scripts.evaluation(7, [scripts.finding("relevance", quote="Line 3")]), scripts.evaluation(4))
    s.queue("Revision", json_reply({"rewrite": "A complete rewrite that lost the point."}))
    task = await engine.submit("explain sqlite storage", options=TaskOptions(max_iterations=5))
    result = await engine.run(task.id)
    assert result.decision is LoopDecision.ABORT_REGRESSION
    assert result.iterations == 2
    assert result.output == DOC, "the better, earlier output is returned"
    assert result.score == 0.7


async def test_delta_feedback_carries_findings_and_compressed_output(
    engine: Engine, model_env: FakeModelServer
) -> None:
    long_doc = "# Storage\n\nIntro paragraph.\n\n" + "\n".join(f"Body line {n} about pages." for n in range(1, 120))
    s = model_env.script
    s.queue("execute", Reply(content=long_doc))
    first = scripts.finding(
        "relevance",
        "WAL mode is not mentioned",
        "Add a sentence on WAL mode after body line 60",
        "Body line 60 about pages.",
    )
    s.queue(
        "Evaluation",
        scripts.evaluation({"relevance": 5, "quality": 9, "completeness": 9}, [first]),
        scripts.evaluation(9),
    )
    s.queue(
        "Revision",
        scripts.revision("Body line 60 about pages.", "Body line 60 about pages. WAL mode allows concurrent readers."),
    )
    task = await engine.submit("document the storage layer")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE and result.decision is LoopDecision.ACCEPT, result.error
    assert result.output is not None and "WAL mode allows concurrent readers" in result.output
    refine = user_prompt(model_env.requests_of("Revision")[0])
    assert "Add a sentence on WAL mode after body line 60" in refine  # the fix
    assert "[major] relevance: WAL mode is not mentioned" in refine  # the unresolved finding
    assert "Body line 60 about pages." in refine and "Body line 57 about pages." in refine  # quoted region ±3
    assert "Body line 20 about pages." not in refine  # far-away unchanged lines are elided
    assert "unchanged lines omitted" in refine
    assert "# Storage" in refine  # headings are kept
    assert "rationale" not in refine and "scored" not in refine  # no previous evaluation, no history
    assert len(refine) < len(long_doc)


async def test_incremental_evaluation_rescored_only_affected_dimension(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    s = model_env.script
    s.queue("execute", Reply(content=DOC))
    s.queue(
        "Evaluation",
        scripts.evaluation(
            {"relevance": 4, "quality": 9, "completeness": 8}, [scripts.finding("relevance", quote="Line 5")]
        ),
        scripts.evaluation({"relevance": 9}),
    )
    s.queue("Revision", scripts.revision("Line 5: sqlite keeps data in one file.", "Line 5: and in a WAL file."))
    task = await engine.submit("explain sqlite storage")
    result = await engine.run(task.id)
    second = model_env.requests_of("Evaluation")[1]
    assert scripts.requested_dimensions(second) == ["relevance"]
    prompt = user_prompt(second)
    assert "+Line 5: and in a WAL file." in prompt and "-Line 5: sqlite keeps data in one file." in prompt
    assert "Line 15:" not in prompt  # unchanged regions are not sent again
    evaluated = recorder.of(Evaluated)
    assert evaluated[1].incremental and evaluated[1].rescored == ("relevance",)
    # quality and completeness carried forward: 0.4*0.9 + 0.35*0.9 + 0.25*0.8
    assert result.score == round(0.40 * 0.9 + 0.35 * 0.9 + 0.25 * 0.8, 4)
    cycles = await engine.store.cycles.for_task(task.id)
    assert [c.incremental for c in cycles] == [False, True]
    assert cycles[1].dimension_scores == {"relevance": 0.9, "quality": 0.9, "completeness": 0.8}


async def test_identical_output_skips_evaluation(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    s = model_env.script
    s.queue("execute", Reply(content=DOC))
    s.queue("Evaluation", scripts.evaluation(6, [scripts.finding("quality")]))
    s.queue("Revision", json_reply({"rewrite": DOC}))
    task = await engine.submit("explain sqlite storage")
    result = await engine.run(task.id)
    assert model_env.kinds().count("Evaluation") == 1
    assert recorder.of(Evaluated)[1].skipped
    assert result.decision is LoopDecision.ACCEPT_BEST  # no improvement: diminishing returns
    cycles = await engine.store.cycles.for_task(task.id)
    assert cycles[1].skipped and cycles[1].score == 0.6


async def test_best_cycle_output_is_returned(engine: Engine, model_env: FakeModelServer) -> None:
    s = model_env.script
    s.queue("execute", Reply(content=DOC))
    s.queue(
        "Evaluation",
        scripts.evaluation(5, [scripts.finding(d, quote="Line 1") for d in ("relevance", "quality", "completeness")]),
        scripts.evaluation(7, [scripts.finding(d, quote="Line 2") for d in ("relevance", "quality", "completeness")]),
        scripts.evaluation(6),  # a little worse (0.60, within the regression threshold): the best is the second
    )
    s.queue(
        "Revision",
        scripts.revision("Line 1: sqlite keeps data in one file.", "Line 1: second version."),
        scripts.revision("Line 2: sqlite keeps data in one file.", "Line 2: third version."),
    )
    task = await engine.submit("explain sqlite storage")
    result = await engine.run(task.id)
    assert result.iterations == 3 and result.decision is LoopDecision.ACCEPT_BEST
    assert result.output is not None and "second version" in result.output and "third version" not in result.output
    assert result.score == 0.7


async def test_read_only_question_skips_evaluate_and_refine(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.queue("Plan", scripts.plan(read_only=True, confidence=10))
    task = await engine.submit("What does the login function do?")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE and result.iterations == 1
    assert "Evaluation" not in model_env.kinds() and "Learnings" not in model_env.kinds()


async def test_unsure_read_only_is_still_evaluated(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.queue("Plan", scripts.plan(read_only=True, confidence=6))
    task = await engine.submit("What does the login function do?")
    await engine.run(task.id)
    assert "Evaluation" in model_env.kinds()


async def test_evaluator_asking_for_a_human_escalates(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.queue("Evaluation", scripts.evaluation(10, needs_human=True))
    task = await engine.submit("choose our pricing tier")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.ESCALATED and result.decision is LoopDecision.ESCALATE
    assert result.output == "The answer."


async def test_unparseable_evaluation_never_gets_a_made_up_score(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.queue("Evaluation", Reply(content="9/10 looks great"), Reply(content="correctness=9.2"))
    task = await engine.submit("write a function")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.ESCALATED
    assert result.score is None
    cycles = await engine.store.cycles.for_task(task.id)
    assert cycles[0].score is None and cycles[0].decision is LoopDecision.ESCALATE
    assert result.output == "The answer."  # the work is not lost


async def test_evaluator_must_score_every_rubric_dimension(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.queue("Plan", scripts.plan(category="code-review"))
    model_env.script.queue("Evaluation", scripts.evaluation({"correctness": 9}), scripts.evaluation(9))
    task = await engine.submit("write a function")
    result = await engine.run(task.id)
    first, second = model_env.requests_of("Evaluation")
    assert scripts.requested_dimensions(first) == ["correctness", "safety", "style", "completeness"]
    assert "scores missing for dimensions" in second["messages"][-1]["content"]
    assert result.status is TaskStatus.DONE and result.score == 0.9


async def test_cost_budget_aborts_before_overspending(engine: Engine, model_env: FakeModelServer) -> None:
    engine.settings.pricing["openai/fake"] = Pricing(input_per_mtok=100.0, output_per_mtok=300.0)
    s = model_env.script
    s.default("execute", Reply(content=DOC, completion_tokens=1000))
    calls = 0

    def rising(body: dict[str, Any]) -> Reply:  # keeps improving, so only the budget can stop it
        nonlocal calls
        calls += 1
        reply = scripts.evaluation(min(calls, 7), [scripts.finding("quality")])(body)
        assert isinstance(reply, Reply)
        return reply

    s.default("Evaluation", rising)
    budget = 1.0
    task = await engine.submit("explain sqlite storage", options=TaskOptions(max_cost_usd=budget, max_iterations=10))
    result = await engine.run(task.id)
    assert result.status is TaskStatus.ABORTED and result.decision is LoopDecision.ABORT_BUDGET
    assert result.error is not None and "cost budget exceeded" in result.error
    totals = await engine.store.usage.totals()
    assert 0 < totals.cost_usd <= budget, totals
    assert model_env.kinds().count("Revision") >= 1, "some refinement happened before the budget ran out"
    cycles = await engine.store.cycles.for_task(task.id)
    best = max(cycles, key=lambda c: c.score or 0.0)
    assert result.output == best.output and result.score == best.score  # the best output so far is kept


async def test_token_budget_aborts_before_the_call(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.default("execute", Reply(content=DOC, completion_tokens=2000))
    task = await engine.submit("explain sqlite storage", options=TaskOptions(token_budget=3000))
    result = await engine.run(task.id)
    assert result.status is TaskStatus.ABORTED and result.decision is LoopDecision.ABORT_BUDGET
    totals = await engine.store.usage.totals()
    assert totals.tokens <= 3000


async def test_cost_recorded_for_every_phase(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.queue("Learnings", scripts.learnings("Prefer WAL mode for concurrent readers"))
    task = await engine.submit("document sqlite")
    await engine.run(task.id)
    phases = {row.phase for row in await engine.store.usage.for_task(task.id)}
    assert phases == {"directive", "parliament", "plan", "execute", "evaluate", "learn"}
    sim = await engine.submit("send the email", options=TaskOptions(simulate=True))
    await engine.run(sim.id)
    assert "simulate" in {row.phase for row in await engine.store.usage.for_task(sim.id)}
    assert len(model_env.requests) == sum(r.calls for r in await engine.store.usage.breakdown("phase"))


async def test_learnings_are_stored_deduplicated_and_recalled(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    s = model_env.script
    s.queue("Learnings", scripts.learnings("Use WAL mode for SQLite when readers and writers overlap"))
    first = await engine.submit("make sqlite concurrent")
    await engine.run(first.id)
    s.queue("Learnings", scripts.learnings("Use WAL mode for SQLite when readers and writers overlap."))
    second = await engine.submit("speed up sqlite writers")
    await engine.run(second.id)
    assert sum((await engine.store.memories.counts()).values()) == 1
    assert [e.reinforced for e in recorder.of(Learned)] == [False, True]
    execute_prompt = user_prompt(model_env.requests_of("execute")[-1])
    assert "Use WAL mode for SQLite" in execute_prompt  # recalled for a related task


async def test_output_saved_as_markdown(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.default("execute", Reply(content="Grüße aus 東京 🚀"))
    task = await engine.submit("say hello in three languages — 你好")
    result = await engine.run(task.id)
    path = engine.settings.data_dir / "sessions" / result.session_id / f"{task.id}.md"
    text = path.read_text(encoding="utf-8")
    assert "Grüße aus 東京 🚀" in text and "你好" in text


async def test_tool_loop_escalates_then_aborts(engine: Engine, model_env: FakeModelServer, tmp_path: Any) -> None:
    (tmp_path / "workspace" / "a.txt").write_text("hello", encoding="utf-8")
    engine.settings.tools.loop_warning, engine.settings.tools.loop_escalate, engine.settings.tools.loop_abort = 2, 3, 4
    asked: list[str] = []

    async def escalate(reason: str) -> bool:
        asked.append(reason)
        return True

    engine.escalate = escalate
    call = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.txt"}'}}
    model_env.script.default("execute", Reply(tool_calls=[call]))
    task = await engine.submit("read a.txt")
    result = await engine.run(task.id)
    assert len(asked) == 1 and "repeated 3 times" in asked[0]
    assert result.status is TaskStatus.ABORTED
    assert result.error is not None and "4 times with identical arguments" in result.error
    tool_results = [m for m in model_env.requests[-1]["messages"] if m["role"] == "tool"]
    assert tool_results[0]["content"] == "hello"


async def test_tool_loop_stops_when_nobody_approves(engine: Engine, model_env: FakeModelServer, tmp_path: Any) -> None:
    engine.settings.tools.loop_warning, engine.settings.tools.loop_escalate, engine.settings.tools.loop_abort = 2, 3, 9
    call = {"id": "c1", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}
    model_env.script.default("execute", Reply(tool_calls=[call]))
    task = await engine.submit("list files forever")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.ABORTED
    assert model_env.kinds().count("execute") == 3
