"""Every tool call that ran or was refused, one row each (never its output), and the tool atlas over them:
per tool, how often it ran, how often it worked, how long it took, its last failures and how often it was
refused."""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.acting.action import Effect
from core.models import new_id, utcnow
from core.store.actions import stamp
from core.store.db import Repository
from core.store.rows import from_row

CallOutcome = Literal["ok", "error", "denied", "expired", "timeout"]
GateDecisionName = Literal["run", "ask", "deny"]
# The outcomes of a call that ran; ``denied`` and ``expired`` never ran.
RAN: tuple[CallOutcome, ...] = ("ok", "error", "timeout")
_RAN_SQL = "('ok', 'error', 'timeout')"


@dataclass(frozen=True)
class ToolCall:
    """One call: who let it run (the gate's ``decision``; the person, ``decided_by``; the ``rule`` pattern or
    floor rules; the standing ``grant_id``), when, how long, and how it ended (``error``: one redacted line)."""

    id: str
    task_id: str | None
    tool: str
    effect: Effect
    decision: GateDecisionName
    approval_id: str | None
    decided_by: str | None
    rule: str | None
    grant_id: str | None
    started_at: datetime
    duration_ms: float | None  # None when it never ran
    outcome: CallOutcome
    error: str | None
    fingerprint: str
    preview: str


@dataclass(frozen=True)
class ToolFailure:
    at: datetime
    outcome: CallOutcome
    error: str | None
    task_id: str | None


@dataclass(frozen=True)
class ToolStats:
    """One tool in the atlas. ``calls`` counts the calls that ran (ok, error, timeout); ``denied`` and
    ``expired`` the calls refused by a rule or a person, or left unanswered. Durations are of the calls that
    ran; ``failures`` are the latest errors and timeouts, newest first."""

    tool: str
    calls: int
    ok: int
    errors: int
    timeouts: int
    denied: int
    expired: int
    median_ms: float | None
    p95_ms: float | None
    last_call: datetime
    failures: tuple[ToolFailure, ...]

    @property
    def success_rate(self) -> float | None:
        """The share of calls that ran and worked; None when none ran."""
        return self.ok / self.calls if self.calls else None


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of ``ordered`` (sorted, not empty): the smallest value with at least
    ``share`` of the values at or below it."""
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)]


def _call(row: sqlite3.Row) -> ToolCall:
    return from_row(ToolCall, row)


class ToolCallRepository(Repository):
    async def record(
        self,
        *,
        task_id: str | None,
        tool: str,
        effect: Effect,
        decision: GateDecisionName,
        outcome: CallOutcome,
        fingerprint: str,
        preview: str,
        started_at: datetime | None = None,
        duration_ms: float | None = None,
        error: str | None = None,
        approval_id: str | None = None,
        decided_by: str | None = None,
        rule: str | None = None,
        grant_id: str | None = None,
    ) -> ToolCall:
        call = ToolCall(
            new_id(), task_id, tool, effect, decision, approval_id, decided_by, rule, grant_id,
            started_at or utcnow(), duration_ms, outcome, error, fingerprint, preview,
        )  # fmt: skip
        await self.db.execute(
            """INSERT INTO tool_calls (id, task_id, tool, effect, decision, approval_id, decided_by, rule, grant_id,
                   started_at, duration_ms, outcome, error, fingerprint, preview)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                call.id, task_id, tool, effect.value, decision, approval_id, decided_by, rule, grant_id,
                stamp(call.started_at), duration_ms, outcome, error, fingerprint, preview,
            ),
        )  # fmt: skip
        return call

    async def for_task(self, task_id: str) -> list[ToolCall]:
        """A task's calls, oldest first."""
        rows = await self.db.fetchall("SELECT * FROM tool_calls WHERE task_id = ? ORDER BY seq", (task_id,))
        return [_call(row) for row in rows]

    async def atlas(self, tool: str | None = None, since: datetime | None = None, failures: int = 5) -> list[ToolStats]:
        """Per tool (only ``tool``, when given; calls from ``since``), its figures, by tool name."""
        where, params = ["1 = 1"], []
        if tool is not None:
            where.append("tool = ?")
            params.append(tool)
        if since is not None:
            where.append("started_at >= ?")
            params.append(stamp(since))
        scope = " AND ".join(where)
        counts = await self.db.fetchall(
            f"""SELECT tool, SUM(outcome IN {_RAN_SQL}) AS calls, SUM(outcome = 'ok') AS ok,
                       SUM(outcome = 'error') AS errors, SUM(outcome = 'timeout') AS timeouts,
                       SUM(outcome = 'denied') AS denied, SUM(outcome = 'expired') AS expired,
                       MAX(started_at) AS last_call
                FROM tool_calls WHERE {scope} GROUP BY tool ORDER BY tool""",
            params,
        )
        durations: dict[str, list[float]] = defaultdict(list)
        for row in await self.db.fetchall(
            f"""SELECT tool, duration_ms FROM tool_calls
                WHERE {scope} AND outcome IN {_RAN_SQL} AND duration_ms IS NOT NULL ORDER BY tool, duration_ms""",
            params,
        ):
            durations[row["tool"]].append(float(row["duration_ms"]))
        failed: dict[str, list[ToolFailure]] = defaultdict(list)
        for row in await self.db.fetchall(
            f"""SELECT tool, started_at, outcome, error, task_id FROM (
                    SELECT *, ROW_NUMBER() OVER (PARTITION BY tool ORDER BY seq DESC) AS n
                    FROM tool_calls WHERE {scope} AND outcome IN ('error', 'timeout'))
                WHERE n <= ? ORDER BY tool, n""",
            (*params, failures),
        ):
            at = datetime.fromisoformat(row["started_at"])
            failed[row["tool"]].append(ToolFailure(at, row["outcome"], row["error"], row["task_id"]))
        found = []
        for row in counts:
            name, ordered = row["tool"], durations.get(row["tool"], [])
            found.append(
                ToolStats(
                    tool=name,
                    calls=int(row["calls"]),
                    ok=int(row["ok"]),
                    errors=int(row["errors"]),
                    timeouts=int(row["timeouts"]),
                    denied=int(row["denied"]),
                    expired=int(row["expired"]),
                    median_ms=statistics.median(ordered) if ordered else None,
                    p95_ms=percentile(ordered, 0.95) if ordered else None,
                    last_call=datetime.fromisoformat(row["last_call"]),
                    failures=tuple(failed.get(name, [])),
                )
            )
        return found
