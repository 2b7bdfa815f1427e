"""The honest view of a period: what went wrong or was judged wrong, from the stored rows only.

Lists 👎 results, score regressions inside the PEER loop, escalations, results that finished below
their quality bar, results that met the quality threshold and were still rated down, blocks a person overrode that then failed, and the Economist's
reservations and its cost estimates next to what the tasks really cost. Nothing is softened and
nothing is made up: a task deliberated before estimates were recorded has none.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.reflection.period import Period
from core.store import reflection as q
from core.store.db import Database
from core.store.reflection_rows import BelowBar, DownVote, EconomistCheck, Escalation, OverrideFailure, Regression


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
    checks = await economist_checks(db, start, end)
    return HonestReflection(
        period=period,
        down_votes=tuple(await q.down_votes(db, start, end)),
        regressions=tuple(await q.regressions(db, start, end)),
        escalations=tuple(await q.escalations(db, start, end)),
        below_bar=tuple(await q.below_bar(db, start, end)),
        overridden_then_failed=tuple(await q.overridden_then_failed(db, start, end)),
        economist=tuple(c for c in checks if c.vote != "APPROVE"),
        forecasts=forecasts(checks),
    )


async def economist_checks(db: Database, start: str, end: str) -> list[EconomistCheck]:
    """The Economist's vote on each task that ended in ``[start, end)`` with its estimate and the actual cost
    (also what `openkoi mind calibrate` weighs the Economist by)."""
    return await q.economist_votes(db, start, end)


def forecasts(checks: list[EconomistCheck]) -> EconomistForecasts | None:
    """The estimates against the actual costs over the checks that have an estimate; None when none has."""
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
