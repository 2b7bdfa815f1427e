"""What happened in one period (a day or a week), computed from the stored rows only.

``reflect_period`` answers: how many tasks ended and how (outcomes), where they came from, how much
the loop improved on its first try, how many iterations it took, what the model calls cost by model,
who overrode which block, where the Parliament disagreed with its own verdict, what was learnt, what
people said with 👍/👎, and a per-day series of score and cost. For a week, the same figures for the
week before are attached (``previous``) so that a trend can be read off.

Which time puts a row in a period is documented in ``core.store.reflection``. A figure with no rows
behind it is None (a mean) or 0 (a count); nothing is estimated or filled in.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from core.reflection.period import Period, period_containing
from core.reflection.sparkline import sparkline
from core.store import reflection as q
from core.store.db import Database
from core.store.reflection_rows import DissentingVote, FeedbackNote, ModelSpend, Override, Place

# The outcomes a digest counts, in the order it lists them. ``blocked``: the Parliament blocked the task
# and nobody overrode it (denied, expired, cancelled while waiting, or still waiting for a person).
# ``cancelled``: a person cancelled it without a block. Every other name is the task's final status
# (core.models.TaskStatus): ``done`` met its quality bar, ``below_bar`` finished with a result that did
# not (an abort for regression keeps the better output, and ends below the bar unless that met it).
OUTCOMES = ("done", "below_bar", "failed", "blocked", "aborted", "escalated", "cancelled")


@dataclass(frozen=True)
class Dissent:
    """A task whose deliberation had votes against its own verdict."""

    task_id: str
    description: str
    verdict: str  # approved | guardian_block | dissent_block
    votes: tuple[tuple[str, str], ...]  # (agency, vote) of each disagreeing vote


@dataclass(frozen=True)
class DayFigures:
    day: date  # the calendar day in the period's timezone
    tasks: int  # tasks that ended that day
    scored: int  # those of them with a final score
    mean_score: float | None  # their mean final score; None when none was scored
    calls: int  # model calls made that day
    cost_usd: float


@dataclass(frozen=True)
class PeriodReflection:
    period: Period
    outcomes: dict[str, int]  # every name in OUTCOMES, plus any other status met
    scored: int
    mean_score: float | None  # mean final score of the scored tasks
    gain_tasks: int  # tasks with at least one scored iteration
    mean_first_score: float | None
    mean_gain: float | None  # mean of (final score - first score) over gain_tasks
    iterations: int  # total over the tasks that ended
    ran: int  # tasks that ran at least one iteration
    places: tuple[Place, ...]
    models: tuple[ModelSpend, ...]
    overrides: tuple[Override, ...]
    dissent: tuple[Dissent, ...]
    learnings_added: int
    learnings_reinforced: int  # reinforced at least once and last used in the period (an upper bound)
    learning_examples: tuple[str, ...]
    thumbs_up: int
    thumbs_down: int
    notes: tuple[FeedbackNote, ...]
    days: tuple[DayFigures, ...]
    # "score" and "cost" (see ``spark_days``): one character per day, ``·`` for a day with no value.
    sparklines: dict[str, str] = field(default_factory=dict)
    # The days the sparklines draw: for a week, the week before then this week; for a day, the six
    # days before it and the day itself.
    spark_days: tuple[date, ...] = ()
    previous: PeriodReflection | None = None  # the week before, for a week
    # True for ``previous``: only what a trend compares was computed (outcomes, the mean final score,
    # and cost, from ``days``); the other figures are left empty, not measured as zero.
    brief: bool = False

    @property
    def tasks(self) -> int:
        return sum(self.outcomes.values())

    @property
    def empty(self) -> bool:
        """No task ended (or waits for a person) in the period."""
        return self.tasks == 0

    @property
    def mean_iterations(self) -> float | None:
        return self.iterations / self.ran if self.ran else None

    @property
    def cost_usd(self) -> float:
        # A brief reflection has no spend by model; its days hold the same calls' cost.
        return sum(d.cost_usd for d in self.days) if self.brief else sum(m.cost_usd for m in self.models)

    @property
    def tokens(self) -> int:
        return sum(m.tokens for m in self.models)


async def reflect_period(db: Database, period: Period) -> PeriodReflection:
    """The figures of ``period``; for a week also those of the week before (``previous``) and 14-day
    sparklines, for a day 7-day sparklines ending with that day."""
    if period.kind == "week":
        context = [*period.previous().days(), *period.days()]
    else:
        context = [
            period_containing("day", period.start - timedelta(days=i), period.start.tzinfo) for i in range(6, 0, -1)
        ]
        context.append(period)
    # One pass over the days for the sparklines and both weeks' day figures (the digest's biggest reads).
    series = await _day_series(db, context)
    previous = None
    if period.kind == "week":
        previous = await _figures(db, period.previous(), days=series[:7], brief=True)
    current = await _figures(db, period, days=series[-len(period.days()) :])
    lines = {
        "score": sparkline([d.mean_score for d in series], low=0.0, high=1.0),
        "cost": sparkline([d.cost_usd if d.calls else None for d in series]),
    }
    return replace(current, sparklines=lines, spark_days=tuple(d.day for d in series), previous=previous)


async def _figures(db: Database, period: Period, *, days: list[DayFigures], brief: bool = False) -> PeriodReflection:
    start, end = period.start_utc, period.end_utc
    counts = await q.outcomes(db, start, end)
    if brief:
        scored = sum(d.scored for d in days)
        score_sum = sum(d.scored * d.mean_score for d in days if d.mean_score is not None)
        return PeriodReflection(
            period=period,
            outcomes={**dict.fromkeys(OUTCOMES, 0), **counts},
            scored=scored,
            mean_score=score_sum / scored if scored else None,
            gain_tasks=0,
            mean_first_score=None,
            mean_gain=None,
            iterations=0,
            ran=0,
            places=(),
            models=(),
            overrides=(),
            dissent=(),
            learnings_added=0,
            learnings_reinforced=0,
            learning_examples=(),
            thumbs_up=0,
            thumbs_down=0,
            notes=(),
            days=tuple(days),
            brief=True,
        )
    figures = await q.task_figures(db, start, end)
    feedback = await q.feedback(db, start, end)
    learnt = await q.learnings(db, start, end)
    return PeriodReflection(
        period=period,
        outcomes={**dict.fromkeys(OUTCOMES, 0), **counts},
        scored=figures.scored,
        mean_score=figures.mean_score,
        gain_tasks=figures.gain_tasks,
        mean_first_score=figures.mean_first,
        mean_gain=figures.mean_gain,
        iterations=figures.iterations,
        ran=figures.ran,
        places=tuple(await q.places(db, start, end)),
        models=tuple(await q.models(db, start, end)),
        overrides=tuple(await q.overrides(db, start, end)),
        dissent=_dissent(await q.dissent(db, start, end)),
        learnings_added=learnt.added,
        learnings_reinforced=learnt.reinforced,
        learning_examples=learnt.examples,
        thumbs_up=feedback.up,
        thumbs_down=feedback.down,
        notes=feedback.notes,
        days=tuple(days),
    )


def _dissent(votes: list[DissentingVote]) -> tuple[Dissent, ...]:
    by_task: dict[str, Dissent] = {}
    for v in votes:
        seen = by_task.get(v.task_id)
        vote = (v.agency, v.vote)
        if seen is None:
            by_task[v.task_id] = Dissent(v.task_id, v.description, v.verdict, (vote,))
        elif vote not in seen.votes:
            by_task[v.task_id] = Dissent(seen.task_id, seen.description, seen.verdict, (*seen.votes, vote))
    return tuple(by_task.values())


async def _day_series(db: Database, days: list[Period]) -> list[DayFigures]:
    bounds = [d.start_utc for d in days] + [days[-1].end_utc]
    scores = await q.daily_scores(db, bounds)
    costs = await q.daily_costs(db, bounds)
    series = []
    for i, day in enumerate(days):
        tasks, scored, mean = scores.get(i, (0, 0, None))
        calls, cost = costs.get(i, (0, 0.0))
        series.append(DayFigures(day.start.date(), tasks, scored, mean, calls, cost))
    return series
