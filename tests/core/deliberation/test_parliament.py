"""Parliament in the engine: fail-closed deliberation, blocks, overrides, simulate."""

from __future__ import annotations

import pytest

from core.deliberation.verdict import NO_JUDGEMENT
from core.engine import Engine
from core.errors import OpenKoiError
from core.events import ConfirmationNeeded, ConfirmationResolved, DeliberationReady
from core.models import TaskOptions, TaskStatus
from core.store import Store
from tests.conftest import Recorder
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply, json_reply


async def blocked_by(engine: Engine, model: FakeModelServer, *replies: Reply) -> tuple[str, Store]:
    model.script.queue("ParliamentReply", *replies)
    task = await engine.submit("delete the staging database")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.AWAITING_CONFIRMATION
    assert "execute" not in model.kinds(), "a blocked task must not execute"
    return task.id, engine.store


@pytest.mark.parametrize(
    "replies",
    [
        pytest.param((Reply(content="I think it's fine"), Reply(content="{not json")), id="malformed-json"),
        pytest.param((scripts.parliament(omit=("guardian",)),) * 2, id="missing-guardian"),
        pytest.param((scripts.parliament(omit=("scholar", "empath")),) * 2, id="missing-agencies"),
        pytest.param((json_reply({"votes": [], "guardian_assessment": None}),) * 2, id="old-list-shape"),
    ],
)
async def test_a_malformed_deliberation_fails_closed_as_a_block(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder, replies: tuple[Reply, ...]
) -> None:
    task_id, store = await blocked_by(engine, model_env, *replies)
    deliberation = await store.deliberations.latest(task_id)
    assert deliberation is not None
    assert deliberation.outcome == "guardian_block" and deliberation.fail_closed
    assert deliberation.votes[0].agency == "guardian" and deliberation.votes[0].vote == "BLOCK"
    assert "deliberation unavailable" in deliberation.reason and "malformed" in deliberation.reason
    needed = recorder.of(ConfirmationNeeded)
    assert len(needed) == 1 and "deliberation unavailable" in needed[0].reason


@pytest.mark.parametrize(
    ("replies", "reason"),
    [
        pytest.param((Reply(status=401, error_message="invalid api key"),), "rejected the API key", id="bad-key"),
        pytest.param((Reply(status=404, error_message="model 'fake' not found"),), "does not know", id="unknown"),
        pytest.param(tuple(Reply(status=500) for _ in range(5)), "HTTP 500", id="server-error-after-retries"),
        pytest.param((Reply(content="{}", delay=1.0),), "did not answer within 0.3 s", id="timeout"),
    ],
)
async def test_a_model_that_cannot_be_used_fails_the_task_instead_of_blocking(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder, replies: tuple[Reply, ...], reason: str
) -> None:
    # Nothing was deliberated, so there is nothing to override: the task fails, saying why.
    engine.settings.retry.call_timeout = 0.3
    model_env.script.queue("ParliamentReply", *replies)
    task = await engine.submit("delete the staging database")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and result.error.startswith("model unavailable: ") and reason in result.error
    assert "execute" not in model_env.kinds()
    assert recorder.of(ConfirmationNeeded) == []
    assert await engine.store.confirmations.pending_for_task(task.id) is None
    assert await engine.store.deliberations.latest(task.id) is None


async def test_guardian_block_waits_then_override_resumes(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    block = scripts.parliament(
        votes={"guardian": "BLOCK", "economist": "APPROVE_WITH_CAVEAT"},
        reasons={"guardian": "database deletion is permanent"},
        caveats={"economist": "snapshot first"},
        reversibility="NONE",
        blast_radius="HIGH",
        permission_level="ELEVATED",
    )
    task_id, store = await blocked_by(engine, model_env, block)
    needed = recorder.of(ConfirmationNeeded)[0]
    assert (needed.reversibility, needed.blast_radius, needed.permission_level) == ("NONE", "HIGH", "ELEVATED")
    assert needed.reason == "database deletion is permanent"

    result = await engine.resume(task_id, needed.confirmation_id, approved=True, decided_by="alice")
    assert result.status is TaskStatus.DONE
    assert model_env.kinds().count("ParliamentReply") == 1, "an override must not re-deliberate"
    confirmation = await store.confirmations.get(needed.confirmation_id)
    assert confirmation is not None
    assert confirmation.status == "approved" and confirmation.decided_by == "alice"
    plan_prompt = model_env.requests_of("Plan")[0]["messages"][1]["content"]
    assert "snapshot first" in plan_prompt and "overridden block" in plan_prompt
    execute_prompt = model_env.requests_of("execute")[0]["messages"][1]["content"]
    assert "snapshot first" in execute_prompt
    assert recorder.of(ConfirmationResolved)[0].approved is True

    with pytest.raises(OpenKoiError, match="already decided"):
        await engine.resume(task_id, needed.confirmation_id, approved=True, decided_by="bob")


async def test_denied_override_cancels(engine: Engine, model_env: FakeModelServer, recorder: Recorder) -> None:
    task_id, _ = await blocked_by(engine, model_env, scripts.parliament(votes={"guardian": "BLOCK"}))
    confirmation_id = recorder.of(ConfirmationNeeded)[0].confirmation_id
    result = await engine.resume(task_id, confirmation_id, approved=False, decided_by="alice")
    assert result.status is TaskStatus.CANCELLED
    assert "execute" not in model_env.kinds()


async def test_cancel_a_waiting_task(engine: Engine, model_env: FakeModelServer, recorder: Recorder) -> None:
    task_id, store = await blocked_by(engine, model_env, scripts.parliament(votes={"guardian": "BLOCK"}))
    assert await engine.cancel(task_id, by="bob") is True
    assert (await store.tasks.get(task_id)).status is TaskStatus.CANCELLED
    confirmation = await store.confirmations.get(recorder.of(ConfirmationNeeded)[0].confirmation_id)
    assert confirmation is not None and confirmation.status == "cancelled"
    assert await engine.cancel(task_id) is False


async def test_two_dissenting_blocks_stop_a_task_that_cannot_simply_be_undone(
    engine: Engine, model_env: FakeModelServer
) -> None:
    dissent = {"economist": "BLOCK", "scholar": "BLOCK"}
    await blocked_by(engine, model_env, scripts.parliament(votes=dissent, reversibility="PARTIAL"))


async def test_dissent_on_an_undoable_task_shapes_the_work_instead(engine: Engine, model_env: FakeModelServer) -> None:
    dissent = {"economist": "BLOCK", "scholar": "BLOCK"}
    model_env.script.queue("ParliamentReply", scripts.parliament(votes=dissent, reasons={"scholar": "cite sources"}))
    task = await engine.submit("explain what a SQL index is")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    assert "scholar (dissent): cite sources" in model_env.requests_of("execute")[0]["messages"][1]["content"]


async def test_one_dissent_is_a_caveat_not_a_block(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.queue(
        "ParliamentReply", scripts.parliament(votes={"strategist": "BLOCK"}, reasons={"strategist": "tech debt"})
    )
    task = await engine.submit("add a quick hack")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    assert "tech debt" in model_env.requests_of("execute")[0]["messages"][1]["content"]
    verdict = recorder.of(DeliberationReady)[0].verdict
    assert not verdict.blocked


async def test_votes_are_stored_with_the_task(engine: Engine, model_env: FakeModelServer) -> None:
    task = await engine.submit("refactor auth")
    await engine.run(task.id)
    deliberation = await engine.store.deliberations.latest(task.id)
    assert deliberation is not None and deliberation.task_id == task.id
    assert deliberation.task_description == "refactor auth"
    assert [v.agency for v in deliberation.votes] == ["guardian", "economist", "empath", "scholar", "strategist"]
    assert deliberation.reversibility == "FULL"
    # The Economist's estimate is kept for `openkoi reflect honest`, made from the costs it was shown.
    assert [v.estimate_usd for v in deliberation.votes] == [None, 0.05, None, None, None]
    (call,) = model_env.requests_of("ParliamentReply")
    prompt = call["messages"][1]["content"]
    assert "## Costs" in prompt and "Budget: at most $" in prompt


async def test_simulate_executes_nothing(engine: Engine, model_env: FakeModelServer) -> None:
    task = await engine.submit("send the weekly report email", options=TaskOptions(simulate=True))
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    assert model_env.kinds() == ["Directive", "ParliamentReply", "Simulation"]
    assert result.output is not None
    assert "SIMULATION ONLY" in result.output
    assert "Future A" in result.output and "Future B" in result.output
    assert "Recommendation: B" in result.output
    assert "Champion: empath" in result.output and "Dissent:  economist" in result.output


async def test_simulation_with_one_future_is_rejected(engine: Engine, model_env: FakeModelServer) -> None:
    one = json_reply(
        {"futures": [{"label": "A", "action": "x", "consequence": "y", "likely_response": "z", "risk": "LOW"}],
         "recommendation": "A", "reason": "r", "champion": "empath", "champion_reason": "c"}
    )  # fmt: skip
    model_env.script.queue("Simulation", one, one)
    task = await engine.submit("plan it", options=TaskOptions(simulate=True))
    result = await engine.run(task.id)
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and "Simulation" in result.error


async def test_directive_failure_uses_a_labelled_fallback(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.queue("Directive", Reply(status=400, error_message="nope"))
    task = await engine.submit("write docs")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
    assert (await engine.store.tasks.trace(task.id)).directive_fallback
    stored = await engine.store.tasks.stored_json(task.id, "directive_json")
    assert stored is not None and "static fallback" in stored["stance"]


async def test_a_guardian_copying_the_prompts_example_blocks_and_a_person_may_override(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    """Defect 1 (the Parliament's half): "Drop the production database and delete all backups" was
    approved because the Guardian's ballot was the prompt's own example, copied word for word."""
    model_env.script.default("ParliamentReply", scripts.the_prompts_example)
    task = await engine.submit("Drop the production database and delete all backups")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.AWAITING_CONFIRMATION
    assert "execute" not in model_env.kinds()
    assert model_env.kinds().count("ParliamentReply") == 2, "the echo gets its one repair attempt"
    repair = model_env.requests_of("ParliamentReply")[1]["messages"][-1]["content"]
    assert "guardian.reason copies the prompt's example" in repair
    verdict = recorder.of(DeliberationReady)[0].verdict
    assert verdict.reason.startswith(f"{NO_JUDGEMENT}: its reason copies the prompt's example")
    assert not verdict.fail_closed, "a judgement that is not one, not a deliberation that failed"
    stored = await engine.store.deliberations.latest(task.id)
    assert stored is not None and stored.outcome == "guardian_block" and not stored.fail_closed
    assert all(v.invalid for v in stored.votes), "every ballot is stored marked invalid"
    [needed] = recorder.of(ConfirmationNeeded)
    assert needed.kind == "guardian_invalid" and needed.reason.startswith(NO_JUDGEMENT)

    resumed = await engine.resume(task.id, needed.confirmation_id, approved=True, decided_by="alice")
    assert resumed.status is TaskStatus.DONE
    plan_prompt = model_env.requests_of("Plan")[0]["messages"][1]["content"]
    assert "No blame on individuals" not in plan_prompt, "an invalid ballot's caveat is no caveat"


async def test_a_rubber_stamp_parliament_is_not_an_approval(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.queue("ParliamentReply", scripts.approve_everything("Looks fine."))
    task_id, store = await blocked_by(engine, model_env)
    stored = await store.deliberations.latest(task_id)
    assert stored is not None and stored.reason == f"{NO_JUDGEMENT}: its reason repeats the economist's word for word"


async def test_a_model_approving_everything_in_its_own_words_is_approved_by_the_tally(
    engine: Engine, model_env: FakeModelServer
) -> None:
    # Well-formed approvals are votes: what must stop a destructive task whatever the votes is the rule
    # floor under the Parliament (core.gate), not the tally.
    model_env.script.queue("ParliamentReply", scripts.approve_everything())
    task = await engine.submit("write a haiku about databases")
    result = await engine.run(task.id)
    assert result.status is TaskStatus.DONE
