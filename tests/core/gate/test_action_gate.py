"""The action gate (``core.gate.action_gate``) on a real SQLite store: reviews, approvals bound to one call,
single use, expiry, standing grants, surviving a restart, the audit (metadata only) and the calls recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.acting.action import Effect, Hints, ProposedAction
from core.config import ToolSettings
from core.errors import GateUnavailable
from core.gate.action_decision import SUGGEST_ONLY, ActionDecision
from core.gate.action_gate import ActionGate, ApprovalRefused, arguments_preview
from core.gate.describe import describe_entry
from core.gate.gatekeeper import Gatekeeper
from core.gate.settings import FloorSettings, GateSettings
from core.gate.trust import TrustLevel
from core.models import utcnow
from core.secrets import SECRETS
from core.store import Store
from tests.core.gate.action_stand_ins import tool

GATE = GateSettings(floor=FloorSettings(embedder=False))
LOG = ProposedAction("mcp__git__git_log", {"repo_path": "/srv/app", "max_count": 3}, "show the last commits")
RESET = ProposedAction("mcp__git__git_reset", {"repo_path": "/srv/app"}, "go back one commit")
GIT_LOG = tool("mcp__git__git_log", hints=Hints(read_only=True))
GIT_RESET = tool("mcp__git__git_reset", hints=Hints(destructive=True))
COMMIT = ProposedAction("mcp__git__git_commit", {"repo_path": "/srv/app", "message": "fix typo"}, "commit it")
GIT_COMMIT = tool("mcp__git__git_commit", hints=Hints(destructive=False))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(tmp_path / "openkoi.db") as opened:
        yield opened


def gate_over(store: Store, **tools: object) -> ActionGate:
    return ActionGate(Gatekeeper(GATE, store), ToolSettings.model_validate(tools))


async def test_a_read_runs_and_is_audited_without_asking(store: Store) -> None:
    gate = gate_over(store)
    review = await gate.review("t1", LOG, GIT_LOG)
    assert review.decision is ActionDecision.RUN and review.approval is None
    assert review.klass.effect is Effect.READ and review.klass.domain == "tools"
    [entry] = await store.gate_audit.for_task("t1")
    assert (entry.kind, entry.outcome, entry.level, entry.domains) == ("action", "run", "ask", ("tools",))
    assert entry.action is not None and entry.action.tool == "mcp__git__git_log"
    assert entry.action.fingerprint == LOG.fingerprint and entry.action.source == "hints"
    assert await store.actions.pending() == []


async def test_a_deny_pattern_refuses_and_the_refusal_is_in_the_atlas(store: Store) -> None:
    gate = gate_over(store, deny=["mcp__git__git_reset"], allow=["mcp__git__*"])
    review = await gate.review("t1", RESET, GIT_RESET)
    assert review.decision is ActionDecision.DENY and review.approval is None
    [entry] = await store.gate_audit.for_task("t1")
    assert entry.outcome == "deny" and entry.action is not None and entry.action.rule == "deny:mcp__git__git_reset"
    [stats] = await store.tool_calls.atlas()
    assert (stats.tool, stats.calls, stats.denied) == ("mcp__git__git_reset", 0, 1)
    with pytest.raises(ValueError, match="never runs"):
        await gate.record_call(review, "ok", started_at=utcnow(), duration_ms=1.0)


async def test_at_suggest_a_write_is_proposed_not_run(store: Store) -> None:
    gate = gate_over(store)
    await gate.gatekeeper.ledger.grant("tools", TrustLevel.SUGGEST, by="alice", source="terminal")
    review = await gate.review("t1", COMMIT, GIT_COMMIT)
    assert review.decision is ActionDecision.DENY and review.reasons[-1] == SUGGEST_ONLY
    assert (await gate.review("t1", LOG, GIT_LOG)).decision is ActionDecision.RUN, "a read runs at suggest"


async def test_a_destructive_action_asks_and_the_approval_waits_with_its_details(store: Store) -> None:
    gate = gate_over(store, approval_minutes=5, allow=["mcp__git__*"])
    review = await gate.review("t1", RESET, GIT_RESET, requested_by="alice")
    assert review.decision is ActionDecision.ASK and review.approval is not None
    approval = review.approval
    assert review.approval_id == approval.id and approval.pending
    assert (approval.tool, approval.fingerprint, approval.requested_by) == (RESET.tool, RESET.fingerprint, "alice")
    assert approval.effect is Effect.DESTRUCTIVE and approval.domain == "files" and approval.level is TrustLevel.ASK
    assert approval.rules == ("files.destroy", "code.branch-delete") and approval.reason == "go back one commit"
    assert approval.preview == '{"repo_path": "/srv/app"}'
    assert approval.expires_at - approval.requested_at == timedelta(minutes=5)
    assert [a.id for a in await gate.pending("t1")] == [approval.id]


async def test_an_approval_is_bound_to_the_exact_call(store: Store) -> None:
    gate = gate_over(store)
    review = await gate.review("t1", RESET, GIT_RESET)
    assert review.approval is not None
    other = ProposedAction(RESET.tool, {"repo_path": "/srv/other"})
    with pytest.raises(ApprovalRefused, match="another call of mcp__git__git_reset") as refused:
        await gate.decide(review.approval.id, other.fingerprint, "once", "bob")
    assert refused.value.why == "mismatch"
    assert (await store.actions.get(review.approval.id)).pending, "a wrong call decides nothing"
    allowed = await gate.decide(review.approval.id, RESET.fingerprint, "once", "bob")
    assert (allowed.status, allowed.decided_by, allowed.grant_id) == ("allowed_once", "bob", None)
    # Allowed once: the same call proposed again asks again.
    assert (await gate.review("t1", RESET, GIT_RESET)).decision is ActionDecision.ASK


async def test_an_unknown_approval_is_refused_clearly(store: Store) -> None:
    with pytest.raises(ApprovalRefused, match="no action approval with id 'nope'"):
        await gate_over(store).decide("nope", RESET.fingerprint, "once", "bob")


async def test_two_concurrent_decisions_on_one_connection_exactly_one_wins(store: Store) -> None:
    gate = gate_over(store)
    review = await gate.review("t1", RESET, GIT_RESET)
    assert review.approval is not None
    results = await asyncio.gather(
        gate.decide(review.approval.id, RESET.fingerprint, "always", "bob"),
        gate.decide(review.approval.id, RESET.fingerprint, "deny", "carol"),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, ApprovalRefused)]
    assert len(won) == 1 and len(lost) == 1 and lost[0].why == "decided"
    assert len(await store.actions.grant_history()) == (1 if won[0].status == "allowed_always" else 0)
    decided = [e for e in await store.gate_audit.for_task("t1") if e.decided_by]
    assert len(decided) == 1


async def test_two_processes_deciding_at_once_exactly_one_wins(store: Store, tmp_path: Path) -> None:
    gate = gate_over(store)
    review = await gate.review("t1", RESET, GIT_RESET)
    assert review.approval is not None
    async with Store(tmp_path / "openkoi.db") as second:
        other = gate_over(second)
        results = await asyncio.gather(
            gate.decide(review.approval.id, RESET.fingerprint, "once", "bob"),
            other.decide(review.approval.id, RESET.fingerprint, "once", "carol"),
            return_exceptions=True,
        )
    assert sorted(type(r).__name__ for r in results) == ["ActionApproval", "ApprovalRefused"]


async def test_an_expired_approval_cannot_be_allowed_and_is_told_as_expired(store: Store) -> None:
    gate = gate_over(store, approval_minutes=30)
    start = utcnow()
    review = await gate.review("t1", RESET, GIT_RESET, now=start)
    later = await gate.review("t2", RESET, GIT_RESET, now=start + timedelta(minutes=20))
    assert review.approval is not None and later.approval is not None
    past = start + timedelta(minutes=31)
    with pytest.raises(ApprovalRefused, match="expired: it can no longer be allowed") as refused:
        await gate.decide(review.approval.id, RESET.fingerprint, "once", "bob", now=past)
    assert refused.value.why == "expired"
    assert (await store.actions.get(review.approval.id)).status == "expired"
    assert [a.id for a in await gate.pending()] == [later.approval.id], "the later one is still pending"
    expired = await gate.expire_due(start + timedelta(minutes=51))
    assert [a.id for a in expired] == [later.approval.id]
    assert await gate.expire_due(start + timedelta(minutes=52)) == [], "an expiry is recorded once"
    assert [e.outcome for e in await store.gate_audit.for_task("t1")] == ["ask", "expired"]
    [stats] = await store.tool_calls.atlas()
    assert (stats.expired, stats.denied, stats.calls) == (2, 0, 0)


async def test_pending_approvals_survive_a_restart(tmp_path: Path) -> None:
    async with Store(tmp_path / "openkoi.db") as first:
        review = await gate_over(first).review("t1", RESET, GIT_RESET, requested_by="alice")
    assert review.approval is not None
    async with Store(tmp_path / "openkoi.db") as reopened:
        gate = gate_over(reopened)
        [waiting] = await gate.pending()
        assert waiting == review.approval
        decided = await gate.decide(waiting.id, RESET.fingerprint, "deny", "bob")
        assert decided.status == "denied" and await gate.pending() == []
        [stats] = await reopened.tool_calls.atlas()
        assert stats.denied == 1


async def test_allow_always_lets_this_tool_run_in_this_domain_until_revoked(store: Store) -> None:
    gate = gate_over(store)
    review = await gate.review("t1", RESET, GIT_RESET)
    assert review.approval is not None
    decided = await gate.decide(review.approval.id, RESET.fingerprint, "always", "bob")
    assert decided.grant_id is not None
    again = await gate.review("t2", ProposedAction(RESET.tool, {"repo_path": "/srv/app", "mode": "hard"}), GIT_RESET)
    assert again.decision is ActionDecision.RUN and again.ruling.grant is not None
    assert again.ruling.grant.id == decided.grant_id and "allowed always" in again.reasons[-1]
    [entry] = await store.gate_audit.for_task("t2")
    assert entry.action is not None and entry.action.grant == decided.grant_id
    # Another tool still asks.
    drop = ProposedAction("mcp__fs__delete_file", {"path": "/srv/app/old.log"})
    assert (await gate.review("t2", drop, tool("mcp__fs__delete_file"))).decision is ActionDecision.ASK
    await gate.revoke_always(RESET.tool, "files", by="alice", reason="incident")
    assert (await gate.review("t3", RESET, GIT_RESET)).decision is ActionDecision.ASK


async def test_autonomous_runs_a_destructive_action_and_the_most_restrictive_domain_counts(store: Store) -> None:
    gate = gate_over(store)
    ledger = gate.gatekeeper.ledger
    await ledger.grant("files", TrustLevel.AUTONOMOUS, by="alice", source="terminal")
    review = await gate.review("t1", RESET, GIT_RESET)
    assert review.decision is ActionDecision.ASK, "code (ask) is matched too: the least trust counts"
    await ledger.grant("code", TrustLevel.AUTONOMOUS, by="alice", source="terminal")
    review = await gate.review("t2", RESET, GIT_RESET)
    assert review.decision is ActionDecision.RUN and review.ruling.autonomous
    [entry] = await store.gate_audit.for_task("t2")
    assert (entry.outcome, entry.level) == ("autonomous", "autonomous")


async def test_a_call_that_ran_is_recorded_with_who_let_it(store: Store) -> None:
    gate = gate_over(store)
    review = await gate.review("t1", RESET, GIT_RESET)
    assert review.approval is not None
    with pytest.raises(ValueError, match="only with that person's allow"):
        await gate.record_call(review, "ok", started_at=utcnow(), duration_ms=3.0)
    allowed = await gate.decide(review.approval.id, RESET.fingerprint, "once", "bob")
    call = await gate.record_call(review, "ok", started_at=utcnow(), duration_ms=42.5, approval=allowed)
    assert (call.decision, call.decided_by, call.approval_id, call.duration_ms) == ("ask", "bob", allowed.id, 42.5)
    assert call.rule == "files.destroy, code.branch-delete"
    entries = await store.gate_audit.for_task("t1")
    assert [(e.outcome, e.decided_by) for e in entries] == [("ask", None), ("allowed_once", "bob"), ("ok", "bob")]
    shown = describe_entry(entries[-1])
    assert shown[0].endswith("ok by bob · trust ask · files, code")
    assert shown[1] == (
        f'    mcp__git__git_reset (destructive, by hints) {{"repo_path": "/srv/app"}} #{RESET.fingerprint[:8]}'
        f" · approval {allowed.id[:8]} · 42 ms"
    )
    with pytest.raises(ValueError, match="not 'denied'"):
        await gate.record_call(review, "denied", started_at=utcnow(), duration_ms=0.0, approval=allowed)
    read = await gate.review("t1", LOG, GIT_LOG)
    failed = await gate.record_call(read, "error", started_at=utcnow(), duration_ms=7.0, error="boom\n  at line 3")
    assert failed.error == "boom at line 3" and failed.decided_by is None


async def test_the_audit_holds_no_argument_value_beyond_the_redacted_preview(store: Store) -> None:
    secret = "sk-live-0123456789abcdef"
    added = SECRETS.add([secret])
    try:
        gate = gate_over(store)
        arguments = {
            "sql": "DROP TABLE orders_marker_7q",
            "note": f"use {secret}",
            "password": "hunter2-unregistered",
            "nested": {"authToken": "tok-unregistered-9"},
        }
        action = ProposedAction("mcp__db__query", arguments, f"the agent's words_marker_8r with {secret}")
        review = await gate.review("t1", action, tool("mcp__db__query"))
        assert review.approval is not None
        allowed = await gate.decide(review.approval.id, action.fingerprint, "once", "bob")
        await gate.record_call(
            review, "error", started_at=utcnow(), duration_ms=5.0, approval=allowed,
            error=f"relation orders_marker_7q: bad key {secret}",
        )  # fmt: skip
    finally:
        SECRETS.remove(added)
    rows = [dict(row) for row in await store.db.fetchall("SELECT * FROM gate_audit WHERE task_id = 't1'")]
    assert len(rows) == 3
    for row in rows:
        action_doc = json.loads(row.pop("action_json"))
        preview = action_doc.pop("preview")
        rest = json.dumps([row, action_doc])
        for value in ("orders_marker_7q", secret, "hunter2", "tok-unregistered", "marker_8r"):
            assert value not in rest, f"{value} leaked into an audit row"
        assert "orders_marker_7q" in preview and secret not in preview
        assert "hunter2" not in preview and "tok-unregistered" not in preview and "[redacted]" in preview
    [call] = await store.tool_calls.for_task("t1")
    assert call.error is not None and secret not in call.error and "[redacted]" in call.error
    assert review.approval.reason.startswith("the agent's words") and secret not in review.approval.reason


def test_a_preview_is_short_and_redacted_before_quoting() -> None:
    secret = 'pa"ss\\word-0123456789'
    added = SECRETS.add([secret])
    try:
        preview = arguments_preview({"body": f"x {secret} y", "long": "z" * 1000})
        masked = arguments_preview({"credentials": {"user": "svc-deploy", "pin": 1234}, "api-key": "k-12345678"})
    finally:
        SECRETS.remove(added)
    assert masked == '{"api-key": "[redacted]", "credentials": "[redacted]"}'
    assert "pa" + '\\"' + "ss" not in preview and "[redacted]" in preview
    assert len(preview) == 300 and preview.endswith("…")


async def test_a_broken_gate_configuration_stops_the_action(store: Store) -> None:
    broken = GateSettings(floor=FloorSettings(embedder=False, disabled=["no.such.rule"]))
    gate = ActionGate(Gatekeeper(broken, store), ToolSettings())
    with pytest.raises(GateUnavailable, match=r"disabled names rules that do not exist: no\.such\.rule"):
        await gate.review("t1", LOG, GIT_LOG)
