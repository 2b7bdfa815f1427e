"""The honest view of a period: what went wrong or was judged wrong, from the stored rows only.

Lists 👎 results, score regressions inside the PEER loop, escalations, results that finished below
their quality bar, results that met the quality threshold and were still rated down, blocks a person overrode that then failed, and the Economist's
reservations and its cost estimates next to what the tasks really cost. Nothing is softened and
nothing is made up: a task deliberated before estimates were recorded has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.models import TaskStatus
from core.reflection.period import Period
from core.store import reflection as q
from core.store.db import Database


@dataclass(frozen=True)
class DownVote:
    task_id: str
    description: str
    voter: str
    note: str | None
    status: str  # the task's final status
    decision: str | None  # "accept": its score met the quality threshold
    score: float | None

    @property
    def passed_threshold(self) -> bool:
        return self.decision == "accept"


@dataclass(frozen=True)
class Regression:
    task_id: str
    description: str
    decision: str | None
    drop: float | None  # the largest fall from an earlier to a later iteration; None if only the decision says so
    scores: str | None  # the scored iterations in order, e.g. "0.80 → 0.60"


@dataclass(frozen=True)
class Escalation:
    task_id: str
    description: str
    reason: str | None
    score: float | None


@dataclass(frozen=True)
class BelowBar:
    """A task that finished with a result scored below its quality bar."""

    task_id: str
    description: str
    reason: str | None  # "below the bar (0.20 < 0.80): refinement failed: …"
    score: float | None


@dataclass(frozen=True)
class OverrideFailure:
    task_id: str
    description: str
    outcome: str  # failed | aborted | below_bar
    reason: str | None
    decided_by: str | None
    kind: str


@dataclass(frozen=True)
class EconomistCheck:
    task_id: str
    description: str
    vote: str  # APPROVE_WITH_CAVEAT | ABSTAIN | BLOCK
    reason: str
    actual_cost_usd: float
    predicted_cost_usd: float | None  # None: deliberated before the Economist's estimates were recorded

    @property
    def miss_usd(self) -> float | None:
        """How far the estimate was from the actual cost (positive: it cost more than predicted)."""
        return None if self.predicted_cost_usd is None else self.actual_cost_usd - self.predicted_cost_usd


@dataclass(frozen=True)
class EconomistForecasts:
    """The Economist's estimates against actual costs over the tasks that have one."""

    tasks: int
    predicted_usd: float
    actual_usd: float
    worst: tuple[EconomistCheck, ...]  # the largest misses, largest first (at most five)


@dataclass(frozen=True)
class HonestReflection:
    period: Period
    down_votes: tuple[DownVote, ...]
    regressions: tuple[Regression, ...]
    escalations: tuple[Escalation, ...]
    below_bar: tuple[BelowBar, ...]
    overridden_then_failed: tuple[OverrideFailure, ...]
    economist: tuple[EconomistCheck, ...]  # its votes other than a plain APPROVE
    forecasts: EconomistForecasts | None  # None: no task in the period has an estimate

    @property
    def passed_then_rated_down(self) -> tuple[DownVote, ...]:
        """👎 votes on results whose score had met the quality threshold (decision ``accept``)."""
        return tuple(v for v in self.down_votes if v.passed_threshold)

    @property
    def empty(self) -> bool:
        return not (
            self.down_votes or self.regressions or self.escalations or self.below_bar or self.overridden_then_failed
        )


async def reflect_honest(db: Database, period: Period) -> HonestReflection:
    """What went wrong in ``period``. 👎 votes count when cast or changed in the period; the other lists
    hold tasks that ended in it."""
    start, end = period.start_utc, period.end_utc
    checks = [
        EconomistCheck(
            r["task_id"],
            r["description"],
            r["vote"],
            r["reason"],
            float(r["cost_usd"]),
            None if r["estimate_usd"] is None else float(r["estimate_usd"]),
        )
        for r in await q.economist_votes(db, start, end)
    ]
    return HonestReflection(
        period=period,
        down_votes=tuple(DownVote(**r) for r in await q.down_votes(db, start, end)),
        regressions=tuple(Regression(**r) for r in await q.regressions(db, start, end)),
        escalations=tuple(Escalation(**r) for r in await q.escalations(db, start, end)),
        below_bar=tuple(BelowBar(**r) for r in await q.ended_as(db, start, end, TaskStatus.BELOW_BAR)),
        overridden_then_failed=tuple(OverrideFailure(**r) for r in await q.overridden_then_failed(db, start, end)),
        economist=tuple(c for c in checks if c.vote != "APPROVE"),
        forecasts=_forecasts(checks),
    )


def _forecasts(checks: list[EconomistCheck]) -> EconomistForecasts | None:
    estimated = [c for c in checks if c.predicted_cost_usd is not None]
    if not estimated:
        return None
    worst = sorted(estimated, key=lambda c: (-abs(c.miss_usd or 0.0), c.task_id))[:5]
    return EconomistForecasts(
        tasks=len(estimated),
        predicted_usd=sum(c.predicted_cost_usd or 0.0 for c in estimated),
        actual_usd=sum(c.actual_cost_usd for c in estimated),
        worst=tuple(worst),
    )
