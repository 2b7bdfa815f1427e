"""Token and cost records: one row per model call, by task, phase, role and model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.models import utcnow
from core.store.db import Database, Repository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhaseUsage:
    """What one task's calls of one phase to one model took."""

    phase: str
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class UsageTotals:
    """Every model call over a span: how many, their tokens and cost, and how many had no known price."""

    calls: int
    tokens: int
    cost_usd: float
    unpriced: int


@dataclass(frozen=True)
class UsageGroup:
    """The calls that share one phase, model or role (``key``), over a span."""

    key: str
    calls: int
    tokens: int
    cost_usd: float


@dataclass(frozen=True)
class ModelCall:
    """One model call as it was recorded: what an observer of ``UsageRepository`` is told."""

    phase: str
    role: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    priced: bool
    latency_ms: int


class UsageRepository(Repository):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        # Told of each call once it is recorded (the service's metrics count them); never fails a call.
        self.observers: list[Callable[[ModelCall], None]] = []

    async def record(
        self,
        *,
        task_id: str | None,
        phase: str,
        role: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
        priced: bool,
        latency_ms: int,
    ) -> None:
        await self.db.execute(
            """INSERT INTO usage (task_id, phase, role, model, prompt_tokens, completion_tokens, cost_usd,
                                  priced, latency_ms, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)""",
            (
                task_id, phase, role, model, prompt_tokens, completion_tokens, cost_usd, int(priced),
                latency_ms, utcnow().isoformat(),
            ),
        )  # fmt: skip
        if self.observers:
            call = ModelCall(phase, role, model, prompt_tokens, completion_tokens, cost_usd, priced, latency_ms)
            for observe in list(self.observers):
                try:
                    observe(call)
                except Exception:  # an observer's bug must not fail the model call it is told about
                    log.exception("a usage observer failed")

    async def for_task(self, task_id: str) -> list[PhaseUsage]:
        """The task's calls by phase and model, in the order each pair was first used."""
        rows = await self.db.fetchall(
            """SELECT phase, model, COUNT(*) AS calls, SUM(prompt_tokens) AS prompt_tokens,
                      SUM(completion_tokens) AS completion_tokens, SUM(cost_usd) AS cost_usd
               FROM usage WHERE task_id = ? GROUP BY phase, model ORDER BY MIN(id)""",
            (task_id,),
        )
        return [PhaseUsage(*r) for r in rows]

    async def totals(self, since: timedelta | None = None) -> UsageTotals:
        """Every call (made within ``since`` of now, if given)."""
        where, params = self._since(since)
        row = await self.db.fetchone(
            f"""SELECT COUNT(*) AS calls, COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens,
                       COALESCE(SUM(cost_usd), 0) AS cost_usd, COALESCE(SUM(1 - priced), 0) AS unpriced
                FROM usage {where}""",
            params,
        )
        if row is None:
            return UsageTotals(0, 0, 0.0, 0)
        return UsageTotals(int(row["calls"]), int(row["tokens"]), float(row["cost_usd"]), int(row["unpriced"]))

    async def breakdown(self, by: str, since: timedelta | None = None) -> list[UsageGroup]:
        """The calls grouped by ``phase``, ``model`` or ``role``, costliest first."""
        if by not in {"phase", "model", "role"}:
            raise ValueError(by)
        where, params = self._since(since)
        rows = await self.db.fetchall(
            f"""SELECT {by} AS key, COUNT(*) AS calls, SUM(prompt_tokens + completion_tokens) AS tokens,
                       SUM(cost_usd) AS cost_usd FROM usage {where} GROUP BY {by} ORDER BY cost_usd DESC, tokens DESC""",
            params,
        )
        return [UsageGroup(*r) for r in rows]

    @staticmethod
    def _since(since: timedelta | None) -> tuple[str, tuple[Any, ...]]:
        if since is None:
            return "", ()
        return "WHERE created_at >= ?", ((utcnow() - since).isoformat(),)
