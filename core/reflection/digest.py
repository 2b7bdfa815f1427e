"""A reflection digest as the scheduler posts it, platform-neutral: chat rendering lives in ``bots/chat``.

``build_digest`` (in this module) computes one from the store; every figure in it comes from rows,
and an empty period says so rather than showing zeros as if they were findings. Skill proposals are
not part of it: the pattern-mining module appends them, with their buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from core.reflection.figures import OUTCOMES, PeriodReflection, reflect_period
from core.reflection.period import Period, last_complete, period_containing
from core.store.db import Database
from core.text import Section, one_line

DigestKind = Literal["daily", "weekly"]
MAX_LISTED = 8  # items listed per section; the count says how many there were
SHORT_CHARS = 60  # a task or an objection quoted in a digest line


@dataclass(frozen=True)
class Digest:
    kind: DigestKind
    period: Period
    # One line that says the most important thing about the period, shown first.
    headline: str
    # Unicode sparklines by name, {"score": "▁▃▅▇…", "cost": "▂▂▇▁…"}: one character per day, the
    # days being the week before and the week (14) for weekly, the six days before and the day (7)
    # for daily. "·" marks a day with no value (no scored task, no model call). Score bars span
    # 0 (▁) to 1 (█); cost bars span $0 (▁) to the costliest day (█). Empty when the period has no tasks.
    sparklines: dict[str, str]
    sections: tuple[Section, ...]
    # True when the period had no tasks at all: renderers show the headline alone.
    empty: bool = False


async def build_digest(db: Database, kind: DigestKind, *, now: datetime, tz: ZoneInfo) -> Digest:
    """The digest of the last complete day (daily) or ISO week (weekly) before ``now`` in ``tz``."""
    period = last_complete("day" if kind == "daily" else "week", now, tz)
    return await digest_of(db, kind, period, now=now)


async def digest_of(db: Database, kind: DigestKind, period: Period, *, now: datetime) -> Digest:
    """The digest of ``period``, whichever it is: the headline names it relative to ``now`` ("yesterday",
    "today so far", "last week", "this week so far"), else by its date."""
    reflection = await reflect_period(db, period)
    return compose(kind, reflection, _relative(period, now))


def _relative(period: Period, now: datetime) -> str:
    unit = "day" if period.kind == "day" else "week"
    if period.start <= now < period.end:
        return "today so far" if unit == "day" else "this week so far"
    if period == period_containing(period.kind, now, period.start.tzinfo).previous():
        return "yesterday" if unit == "day" else "last week"
    return period_label(period)


def compose(kind: DigestKind, r: PeriodReflection, when: str) -> Digest:
    """Turn figures into a digest; ``when`` names the period in the headline ("yesterday", "today so far")."""
    if r.empty:
        return Digest(kind, r.period, f"No tasks {period_label(r.period)}.", {}, (), empty=True)
    sections = [
        _outcomes(r),
        Section("Where", tuple(f"{_place(p.platform, p.channel)}: {p.tasks}" for p in r.places)),
        _costs(r),
        _overrides(r),
        _dissent(r),
        _learnings(r),
        _feedback(r),
    ]
    if r.previous is not None:
        sections.append(_trend(r, r.previous))
    return Digest(kind, r.period, headline(r, when), dict(r.sparklines), tuple(s for s in sections if s.lines))


def period_label(period: Period) -> str:
    """ "on Mon 30 Nov" for a day, "in the week of Mon 23 Nov" for a week."""
    day = f"{period.start:%a} {period.start.day} {period.start:%b}"
    return f"on {day}" if period.kind == "day" else f"in the week of {day}"


def headline(r: PeriodReflection, when: str) -> str:
    """ "12 tasks yesterday: 10 done, 1 failed, 1 blocked · mean score 0.84 (+0.12 from first try) · $0.42"."""
    counts = ", ".join(f"{r.outcomes[o]} {_label(o)}" for o in _named(r) if r.outcomes[o])
    parts = [f"{_plural(r.tasks, 'task')} {when}: {counts}"]
    if r.mean_score is not None:
        gain = f" ({r.mean_gain:+.2f} from first try)" if r.mean_gain is not None else ""
        parts.append(f"mean score {r.mean_score:.2f}{gain}")
    parts.append(_money(r.cost_usd))
    return " · ".join(parts)


def _named(r: PeriodReflection) -> list[str]:
    return [*OUTCOMES, *sorted(set(r.outcomes) - set(OUTCOMES))]


def _label(outcome: str) -> str:
    """An outcome as a digest says it: "below_bar" is "below the bar"."""
    return "below the bar" if outcome == "below_bar" else outcome.replace("_", " ")


def _outcomes(r: PeriodReflection) -> Section:
    lines = [f"{_label(o)}: {r.outcomes[o]}" for o in _named(r) if r.outcomes[o]]
    if r.mean_iterations is not None:
        lines.append(f"iterations: {r.iterations} in all, {r.mean_iterations:.1f} per task that ran")
    if r.mean_gain is not None and r.mean_first_score is not None:
        final = r.mean_first_score + r.mean_gain
        lines.append(
            f"first try → final: {r.mean_first_score:.2f} → {final:.2f} ({r.mean_gain:+.2f}) "
            f"over {_plural(r.gain_tasks, 'scored task')}"
        )
    return Section("Outcomes", tuple(lines))


def _costs(r: PeriodReflection) -> Section:
    lines = []
    for m in r.models:
        unpriced = f" ({m.unpriced} unpriced)" if m.unpriced else ""
        lines.append(f"{m.model}: {_money(m.cost_usd)} · {m.tokens:,} tokens · {_plural(m.calls, 'call')}{unpriced}")
    if len(r.models) > 1:
        lines.append(f"total: {_money(r.cost_usd)} · {r.tokens:,} tokens")
    return Section("Cost by model", tuple(lines))


def _overrides(r: PeriodReflection) -> Section:
    lines = []
    for o in r.overrides[:MAX_LISTED]:
        who = f"{o.status} by {o.decided_by}" if o.decided_by else f"{o.status} with nobody deciding"
        lines.append(
            f"{o.kind.replace('_', ' ')} {who}: {one_line(o.description, SHORT_CHARS)} (task {o.task_id[:8]}, {o.task_status})"
        )
    return Section("Overrides", (*lines, *_more(len(r.overrides))))


def _dissent(r: PeriodReflection) -> Section:
    lines = []
    for d in r.dissent[:MAX_LISTED]:
        votes = ", ".join(f"{agency} {vote}" for agency, vote in d.votes)
        verdict = "approved" if d.verdict == "approved" else d.verdict.replace("_", " ")
        lines.append(f"{verdict} despite {votes}: {one_line(d.description, SHORT_CHARS)} (task {d.task_id[:8]})")
    return Section("Parliament dissent", (*lines, *_more(len(r.dissent))))


def _learnings(r: PeriodReflection) -> Section:
    if not (r.learnings_added or r.learnings_reinforced):
        return Section("Learnings", ())
    lines = [f"{r.learnings_added} added, {r.learnings_reinforced} reinforced"]
    lines += [f"new: {one_line(text, 100)}" for text in r.learning_examples]
    return Section("Learnings", tuple(lines))


def _feedback(r: PeriodReflection) -> Section:
    if not (r.thumbs_up or r.thumbs_down):
        return Section("Feedback", ())
    lines = [f"👍 {r.thumbs_up} · 👎 {r.thumbs_down}"]
    for n in r.notes[:MAX_LISTED]:
        lines.append(
            f"{'👍' if n.vote > 0 else '👎'} “{one_line(n.note, 100)}” on {one_line(n.description, 50)} ({n.voter})"
        )
    return Section("Feedback", (*lines, *_more(len(r.notes))))


def _trend(r: PeriodReflection, before: PeriodReflection) -> Section:
    lines = [f"tasks: {r.tasks} ({r.tasks - before.tasks:+d} on {before.tasks})"]
    if r.tasks and before.tasks:
        share, was = r.outcomes["done"] / r.tasks, before.outcomes["done"] / before.tasks
        lines.append(f"done: {share:.0%} (was {was:.0%})")
    if r.mean_score is not None and before.mean_score is not None:
        lines.append(
            f"mean score: {r.mean_score:.2f} ({r.mean_score - before.mean_score:+.2f} on {before.mean_score:.2f})"
        )
    elif r.mean_score is not None:
        lines.append(f"mean score: {r.mean_score:.2f} (no scored task the week before)")
    change = r.cost_usd - before.cost_usd
    sign = "+" if change >= 0 else "−"
    lines.append(f"cost: {_money(r.cost_usd)} ({sign}{_money(abs(change))} on {_money(before.cost_usd)})")
    return Section("Trend vs the week before", tuple(lines))


def _place(platform: str, channel: str | None) -> str:
    return f"{platform} {channel}" if channel else platform


def _money(usd: float) -> str:
    return f"${usd:.2f}" if usd >= 0.01 or usd == 0 else f"${usd:.4f}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _more(total: int) -> tuple[str, ...]:
    return (f"… and {total - MAX_LISTED} more",) if total > MAX_LISTED else ()
