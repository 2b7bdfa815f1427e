"""Growth: how the agent's knowledge and results change over the last weeks, from the stored rows only.

Counts per calendar week (Monday to Monday, in the timezone of ``now``): learnings added (and the
total), tasks that ended (and how many of them below their quality bar) and their mean final score, task skills known and each one's effectiveness
in the earlier and the later half of the window, and skill proposals approved (by when they were decided).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from core.models import TaskStatus
from core.reflection.period import Period, period_containing
from core.skills.effectiveness import Effectiveness
from core.store import reflection as q
from core.store.db import Database
from core.store.skill_uses import SkillOutcomes


@dataclass(frozen=True)
class GrowthWeek:
    week: date  # the Monday that starts it
    learnings_added: int
    tasks: int
    below_bar: int  # of those, the tasks that finished below their quality bar
    mean_score: float | None  # None: no scored task ended that week
    proposals_approved: int


@dataclass(frozen=True)
class SkillTrend:
    skill: str
    tasks: int  # tasks in the window that used it
    earlier: float | None  # effectiveness over the first half of the window; None: not measured then
    later: float | None  # over the second half

    @property
    def change(self) -> float | None:
        return None if self.earlier is None or self.later is None else self.later - self.earlier


@dataclass(frozen=True)
class GrowthReflection:
    now: datetime
    weeks: tuple[GrowthWeek, ...]  # oldest first; the last one is the current week so far
    learnings_total: int
    skills_known: int  # distinct task skills ever chosen for a task
    skills: tuple[SkillTrend, ...]  # those used in the window, most used first
    proposals_approved: int  # in total


async def reflect_growth(db: Database, now: datetime, *, weeks: int = 8) -> GrowthReflection:
    """The last ``weeks`` calendar weeks up to ``now`` (an aware datetime; its timezone draws the weeks)."""
    current = period_containing("week", now, now.tzinfo)
    periods: list[Period] = [current]
    while len(periods) < weeks:
        periods.insert(0, periods[0].previous())
    bounds = [p.start_utc for p in periods] + [current.end_utc]
    learnt = await q.memories_per_range(db, bounds)
    scores = await q.scores_per_range(db, bounds)
    short = await q.ended_as_per_range(db, bounds, TaskStatus.BELOW_BAR)
    proposals = await q.proposals_approved(db, bounds)
    rows = [
        GrowthWeek(
            week=p.start.date(),
            learnings_added=learnt.get(i, 0),
            tasks=scores.get(i, (0, None))[0],
            below_bar=short.get(i, 0),
            mean_score=scores.get(i, (0, None))[1],
            proposals_approved=proposals[1].get(i, 0),
        )
        for i, p in enumerate(periods)
    ]
    return GrowthReflection(
        now=now,
        weeks=tuple(rows),
        learnings_total=await q.memories_total(db, current.end_utc),
        skills_known=await q.skills_known(db),
        skills=await _skill_trends(db, periods),
        proposals_approved=proposals[0],
    )


async def _skill_trends(db: Database, periods: list[Period]) -> tuple[SkillTrend, ...]:
    # Two halves of the window, so a skill's effectiveness has enough tasks on each side to compare.
    middle = periods[len(periods) // 2]
    bounds = [periods[0].start_utc, middle.start_utc, periods[-1].end_utc]
    halves: dict[str, list[SkillOutcomes]] = {}
    for bucket, outcomes in await q.skill_outcomes_per_range(db, bounds):
        side = halves.setdefault(outcomes.skill, [SkillOutcomes(outcomes.skill), SkillOutcomes(outcomes.skill)])
        side[bucket] = outcomes
    trends = [
        SkillTrend(name, early.tasks + late.tasks, Effectiveness(early).value, Effectiveness(late).value)
        for name, (early, late) in halves.items()
    ]
    return tuple(sorted(trends, key=lambda t: (-t.tasks, t.skill)))
