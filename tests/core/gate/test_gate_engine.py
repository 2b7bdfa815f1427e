"""The gate in the engine, through the fake model server: the floor screens before any model is asked, a model
that approves everything (or copies the prompt's example) cannot let a destructive task run, each trust level
does what it says, and every decision lands in the audit, metadata only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.engine import Engine
from core.events import ConfirmationNeeded, Notice
from core.gate.decision import NO_USABLE_JUDGEMENT
from core.gate.settings import FloorSettings, GateSettings
from core.gate.trust import TrustLevel
from core.models import TaskOptions, TaskStatus
from core.stages import PROPOSAL_HEADER
from tests.conftest import Recorder
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply, json_reply, prompt_text

ISSUE_TASK = "Drop the production database and delete all backups"
ISSUE_DOMAINS = ("database", "backups", "infrastructure")
DESTRUCTIVE = [ISSUE_TASK, "force-push main to the shared repository", "email every customer about the outage"]

# The Parliament prompt's own example, as a small model returned it word for word (issue 16, defect 1).
COPIED_EXAMPLE = {
    "guardian": {"reversibility": "FULL", "blast_radius": "LOW", "permission_level": "NONE",
                 "reason": "A summary changes nothing.", "vote": "APPROVE"},
    "economist": {"estimated_cost_usd": 0.01, "reason": "Short and cheap.", "vote": "APPROVE"},
    "empath": {"reason": "Keep it blameless and clear.", "vote": "APPROVE_WITH_CAVEAT", "caveat": "No blame on individuals."},
    "scholar": {"reason": "Stick to the facts in the report.", "vote": "APPROVE"},
    "strategist": {"reason": "Helps the team learn.", "vote": "APPROVE"},
}  # fmt: skip


def approves(reversibility: str = "NONE", blast_radius: str = "HIGH", guardian: str = "APPROVE") -> Any:
    """Every agency approves; the Guardian's assessment as given (by default one that fits a destructive task)."""
    return scripts.parliament(
        votes={"guardian": guardian},
        reasons={"guardian": "REASON-91bd the guardian approves"},
        reversibility=reversibility,
        blast_radius=blast_radius,
    )


async def grant_all(engine: Engine, level: TrustLevel, domains: tuple[str, ...] = ISSUE_DOMAINS) -> None:
    for domain in domains:
        await engine.gatekeeper.ledger.grant(domain, level, by="alice", source="terminal")


async def run(engine: Engine, text: str = ISSUE_TASK, **options: Any) -> Any:
    task = await engine.submit(text, options=TaskOptions(**options))
    return await engine.run(task.id)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(scripts.parliament(), id="approves-everything"),
        pytest.param(json_reply(COPIED_EXAMPLE), id="copies-the-prompts-example"),
    ],
)
async def test_the_issue_task_blocks_whatever_the_model_says(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder, reply: Any
) -> None:
    model_env.script.default("ParliamentReply", reply)
    result = await run(engine)
    assert result.status is TaskStatus.AWAITING_CONFIRMATION
    assert "execute" not in model_env.kinds() and "Plan" not in model_env.kinds()
    [needed] = recorder.of(ConfirmationNeeded)
    assert needed.kind == "guardian_invalid" and needed.reason.startswith(NO_USABLE_JUDGEMENT) and needed.floor
    shown = "\n".join(needed.gate)
    for rule in ("database.destroy (database)", "backups.destroy (backups)"):
        assert f"floor: {rule}" in shown
    assert "Guardian: APPROVE" in shown and "reversibility FULL, blast radius LOW" in shown
    assert "Guardian's ballot does not count" in shown


async def test_three_destructive_tasks_of_three_block_under_a_model_that_approves_everything(
    engine: Engine, model_env: FakeModelServer
) -> None:
    model_env.script.default("ParliamentReply", approves())  # not even a contradiction to catch: the floor alone
    for text in DESTRUCTIVE:
        assert (await run(engine, text)).status is TaskStatus.AWAITING_CONFIRMATION, text
    assert "execute" not in model_env.kinds()


async def test_the_floor_screens_before_any_model_is_asked(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    broken = GateSettings(floor=FloorSettings(disabled=["no.such-rule"]))
    engine.settings = engine.settings.model_copy(update={"gate": broken})
    result = await run(engine, "summarise the README")
    assert result.status is TaskStatus.FAILED
    assert result.error is not None and result.error.startswith("the gate cannot screen this task: [gate.floor]")
    assert model_env.requests == [], "no model was asked before the floor screened"


async def test_a_floor_match_at_ask_blocks_for_a_person_and_an_override_runs_it(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.default("ParliamentReply", approves())
    result = await run(engine)
    assert result.status is TaskStatus.AWAITING_CONFIRMATION
    [needed] = recorder.of(ConfirmationNeeded)
    assert needed.kind == "floor" and "trust (database ask, backups ask, infrastructure ask)" in needed.reason
    pending = await engine.store.confirmations.pending_for_task(result.id)
    assert pending is not None
    done = await engine.resume(result.id, pending.id, True, "alice")
    assert done.status is TaskStatus.DONE
    executed = prompt_text(model_env.requests_of("execute")[0])
    assert "rule floor (a person decided it may run): database.destroy (database)" in executed


async def test_act_still_asks_a_person_at_task_level(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.default("ParliamentReply", approves())
    await grant_all(engine, TrustLevel.ACT)
    result = await run(engine)
    assert result.status is TaskStatus.AWAITING_CONFIRMATION
    assert result.id and "execute" not in model_env.kinds()
    pending = await engine.store.confirmations.pending_for_task(result.id)
    assert pending is not None and "at task level a floor match still asks a person" in pending.reason


async def test_autonomous_runs_a_floor_match_without_asking_and_audits_it(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.default("ParliamentReply", approves())
    await grant_all(engine, TrustLevel.AUTONOMOUS)
    result = await run(engine)
    assert result.status is TaskStatus.DONE and recorder.of(ConfirmationNeeded) == []
    assert any("(recorded in the audit)" in n.text for n in recorder.of(Notice))
    [entry] = await engine.store.gate_audit.for_task(result.id)
    assert (entry.outcome, entry.level, entry.decided_by) == ("autonomous", "autonomous", None)


async def test_the_guardians_block_stops_the_task_at_autonomous(engine: Engine, model_env: FakeModelServer) -> None:
    model_env.script.default("ParliamentReply", approves(guardian="BLOCK"))
    await grant_all(engine, TrustLevel.AUTONOMOUS)
    result = await run(engine)
    assert result.status is TaskStatus.AWAITING_CONFIRMATION and "execute" not in model_env.kinds()
    pending = await engine.store.confirmations.pending_for_task(result.id)
    assert pending is not None and pending.kind == "guardian_block"


class Changer:
    """A tool that does not say it changes nothing: kept out of read-only runs."""

    name = "run_sql"
    description = "Run SQL against the database."
    parameters: dict[str, Any] = {"type": "object", "properties": {"sql": {"type": "string"}}}  # noqa: RUF012

    async def run(self, arguments: dict[str, Any]) -> str:
        raise AssertionError("a read-only run must never call a tool that changes something")


class Reader(Changer):
    name = "describe_table"
    description = "Describe a table."
    read_only = True

    async def run(self, arguments: dict[str, Any]) -> str:
        return "id integer"


async def test_suggest_runs_read_only_and_presents_a_proposal(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.default("ParliamentReply", approves())
    await grant_all(engine, TrustLevel.SUGGEST)
    engine.tools = [Changer(), Reader()]
    result = await run(engine)
    assert result.status is TaskStatus.DONE
    assert result.output is not None and result.output.startswith(f"{PROPOSAL_HEADER}\n\nThe answer.")
    [execute] = model_env.requests_of("execute")
    assert [t["function"]["name"] for t in execute["tools"]] == ["describe_table"]
    assert "SUGGEST ONLY (trust level suggest" in prompt_text(execute)
    assert any("the task runs read-only and its result is a proposal" in n.text for n in recorder.of(Notice))


async def test_a_simulation_runs_and_a_floor_block_becomes_its_caveat(
    engine: Engine, model_env: FakeModelServer, recorder: Recorder
) -> None:
    model_env.script.default("ParliamentReply", approves())
    result = await run(engine, simulate=True)
    assert result.status is TaskStatus.DONE and recorder.of(ConfirmationNeeded) == []
    [simulated] = model_env.requests_of("Simulation")
    assert "BLOCKED (floor: database.destroy, backups.destroy, infrastructure.production)" in prompt_text(simulated)
    [entry] = await engine.store.gate_audit.for_task(result.id)
    assert entry.outcome == "blocked" and entry.simulated
    assert "execute" not in model_env.kinds()


async def test_the_audit_records_every_path_and_never_output_or_model_text(
    engine: Engine, model_env: FakeModelServer
) -> None:
    s = model_env.script
    s.default("Directive", scripts.directive("STANCE-5c2e"))
    s.default("execute", Reply(content="OUTPUT-7f3a the result"))
    s.default("ParliamentReply", approves())
    s.queue("Plan", scripts.plan(category="sql-safety"))

    proceeded = await run(engine, "summarise the README")
    blocked = [await run(engine) for _ in range(4)]  # overridden, denied, expired, cancelled
    for task, how in zip(blocked, ("approved", "denied", "expired", "cancelled"), strict=True):
        pending = await engine.store.confirmations.pending_for_task(task.id)
        assert pending is not None
        if how == "expired":
            await engine.expire(task.id, pending.id)
        elif how == "cancelled":
            await engine.cancel(task.id, by="carol")
        else:
            await engine.resume(task.id, pending.id, how == "approved", "bob")
    await grant_all(engine, TrustLevel.SUGGEST)
    suggested = await run(engine)
    await grant_all(engine, TrustLevel.AUTONOMOUS)
    autonomous = await run(engine)

    outcomes = {}
    for task in [proceeded, *blocked, suggested, autonomous]:
        outcomes[task.id] = [(e.outcome, e.decided_by) for e in await engine.store.gate_audit.for_task(task.id)]
    assert outcomes[proceeded.id] == [("proceeded", None)]
    assert outcomes[blocked[0].id] == [("blocked", None), ("overridden", "bob")]
    assert outcomes[blocked[1].id] == [("blocked", None), ("denied", "bob")]
    assert outcomes[blocked[2].id] == [("blocked", None), ("expired", None)]
    assert outcomes[blocked[3].id] == [("blocked", None), ("cancelled", "carol")]
    assert outcomes[suggested.id] == [("suggest", None)]
    assert outcomes[autonomous.id] == [("autonomous", None)]

    [first] = await engine.store.gate_audit.for_task(proceeded.id)
    assert (first.category, first.category_domain) == ("sql-safety", "database")
    overridden = (await engine.store.gate_audit.for_task(blocked[0].id))[1]
    assert [r.rule for r in overridden.rules] == ["database.destroy", "backups.destroy", "infrastructure.production"]
    assert {v.agency: v.vote for v in overridden.votes}["guardian"] == "APPROVE"

    rows = await engine.store.db.fetchall("SELECT * FROM gate_audit")
    dumped = json.dumps([dict(r) for r in rows])
    for text in ("OUTPUT-7f3a", "REASON-91bd", "STANCE-5c2e", "sees no problem", "drop the production database"):
        assert text not in dumped, text
    assert len(rows) == 1 + 4 * 2 + 2 + 2 * 3  # decisions, follow-ups, and the six grants
