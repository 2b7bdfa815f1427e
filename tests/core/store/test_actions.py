"""The acting rows in the store: standing grants (append-only), approvals, and the tool atlas's figures from
recorded calls (``core.store.actions``, ``core.store.tool_calls``)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from core.acting.action import Effect
from core.gate.trust import TrustLevel
from core.models import utcnow
from core.store import Store
from core.store.tool_calls import CallOutcome, percentile


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with Store(tmp_path / "openkoi.db") as opened:
        yield opened


async def test_standing_grants_are_append_only_and_the_latest_row_decides(store: Store) -> None:
    actions = store.actions
    first = await actions.add_grant(tool="mcp__git__git_reset", domain="files", kind="grant", granted_by="bob")
    await actions.add_grant(tool="mcp__git__git_reset", domain="code", kind="grant", granted_by="bob")
    assert await actions.grant_in_force("mcp__git__git_reset", "files") == first
    assert await actions.grant_in_force("mcp__git__git_push", "files") is None
    for statement in ("UPDATE action_grants SET kind = 'grant'", "DELETE FROM action_grants"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await store.db.execute(statement)
    await actions.add_grant(tool="mcp__git__git_reset", domain="files", kind="revoke", granted_by="alice")
    assert await actions.grant_in_force("mcp__git__git_reset", "files") is None
    assert [(g.tool, g.domain) for g in await actions.grants_in_force()] == [("mcp__git__git_reset", "code")]
    again = await actions.add_grant(tool="mcp__git__git_reset", domain="files", kind="grant", granted_by="carol")
    assert await actions.grant_in_force("mcp__git__git_reset", "files") == again
    assert len(await actions.grant_history()) == 4


async def test_an_approval_is_stored_with_its_details_and_decided_once(store: Store) -> None:
    now = utcnow()
    approval = await store.actions.request(
        task_id="t1", tool="restart-worker", fingerprint="f" * 64, preview='{"name": "w1"}', reason="it hangs",
        effect=Effect.WRITE, source="declared", rules=(), domain="deploy", level=TrustLevel.ASK,
        requested_by="alice", ttl=timedelta(minutes=30), now=now,
    )  # fmt: skip
    assert approval.pending and approval.expires_at == now + timedelta(minutes=30) and approval.rules == ()
    assert await store.actions.decide(approval.id, "0" * 64, "allowed_once", "bob", now) is None
    decided = await store.actions.decide(approval.id, "f" * 64, "allowed_always", "bob", now)
    assert decided is not None and decided.status == "allowed_always" and decided.grant_id is not None
    grant = await store.actions.grant_in_force("restart-worker", "deploy")
    assert grant is not None and (grant.id, grant.granted_by, grant.approval_id) == (
        decided.grant_id,
        "bob",
        approval.id,
    )
    assert await store.actions.decide(approval.id, "f" * 64, "denied", "carol", now) is None, "single use"


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([float(n) for n in range(1, 21)], 0.95) == 19.0
    assert percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert percentile([7.0], 0.95) == 7.0


async def test_the_atlas_gives_each_tools_figures_from_its_calls(store: Store) -> None:
    start = utcnow() - timedelta(hours=1)

    async def call(
        tool: str, outcome: CallOutcome, minute: int, ms: float | None = None, error: str | None = None
    ) -> None:
        await store.tool_calls.record(
            task_id=f"t{minute}", tool=tool, effect=Effect.WRITE, decision="run", outcome=outcome,
            fingerprint="f" * 64, preview="{}", started_at=start + timedelta(minutes=minute), duration_ms=ms,
            error=error,
        )  # fmt: skip

    for minute, ms in enumerate([10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]):
        await call("restart-worker", "ok", minute, ms)
    await call("restart-worker", "error", 10, 5.0, "unit worker@w1 not found")
    await call("restart-worker", "timeout", 11, 60_000.0, "no answer in 60 s")
    await call("restart-worker", "error", 12, 7.0, "permission denied")
    await call("restart-worker", "denied", 13)
    await call("restart-worker", "denied", 14)
    await call("restart-worker", "expired", 15)
    await call("mcp__git__git_log", "ok", 16, 3.0)
    log, restart = await store.tool_calls.atlas(failures=2)
    assert (log.tool, log.calls, log.success_rate, log.median_ms, log.p95_ms) == ("mcp__git__git_log", 1, 1.0, 3.0, 3.0)
    assert log.failures == ()
    assert restart.tool == "restart-worker"
    assert (restart.calls, restart.ok, restart.errors, restart.timeouts) == (13, 10, 2, 1)
    assert (restart.denied, restart.expired) == (2, 1)
    assert restart.success_rate == pytest.approx(10 / 13)
    # Durations of the 13 calls that ran: 5, 7, 10 … 100, 60000.
    assert restart.median_ms == 50.0 and restart.p95_ms == 60_000.0
    assert [(f.outcome, f.error) for f in restart.failures] == [
        ("error", "permission denied"),
        ("timeout", "no answer in 60 s"),
    ], "the latest failures, newest first"
    assert restart.last_call == start + timedelta(minutes=15)
    [only] = await store.tool_calls.atlas(tool="restart-worker", since=start + timedelta(minutes=10))
    assert (only.calls, only.ok, only.denied, only.median_ms) == (3, 0, 2, 7.0)
    assert await store.tool_calls.atlas(tool="nothing") == []
