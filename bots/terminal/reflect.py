"""``openkoi reflect today|week|honest|growth``: the reflection figures in the terminal (or as JSON).

``today`` and ``week`` are the current day and ISO week so far, in ``--tz`` (default: ``[schedule]
timezone``), shown as the digest would show them; ``honest`` lists what went wrong in the current
week (or day); ``growth`` counts learnings, tasks, scores, skills and proposals per week. Everything
is read from the store by ``core.reflection``; this module only prints. The engine's modules load
inside the commands, so ``openkoi --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import click

from core.text import one_line

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from core.reflection.digest import Digest
    from core.reflection.growth import GrowthReflection
    from core.reflection.honest import HonestReflection
    from core.store.db import Database


def command_group(group_cls: type[click.Group]) -> click.Group:
    """The ``reflect`` group, built with the CLI's group class (unknown subcommands get "did you mean")."""

    @click.group("reflect", cls=group_cls)
    def reflect() -> None:
        """What the agent can say about its own work: today, week, honest, growth."""

    @reflect.command("today")
    @_common
    def today(tz: str | None, as_json: bool, at: datetime | None) -> None:
        """Today so far: outcomes, where, scores, cost by model, overrides, dissent, learnings, feedback."""
        _run(_period("day", tz, as_json, at))

    @reflect.command("week")
    @_common
    def week(tz: str | None, as_json: bool, at: datetime | None) -> None:
        """This ISO week so far, with the trend against the week before and sparklines per day."""
        _run(_period("week", tz, as_json, at))

    @reflect.command("honest")
    @_common
    @click.option("--day", "day_only", is_flag=True, help="Only today so far (default: this week so far).")
    def honest(tz: str | None, as_json: bool, at: datetime | None, day_only: bool) -> None:
        """What went wrong: 👎 results, regressions, escalations, below the bar, passed-then-rated-down, failed overrides."""
        _run(_honest("day" if day_only else "week", tz, as_json, at))

    @reflect.command("growth")
    @_common
    @click.option("-w", "--weeks", default=8, show_default=True, type=click.IntRange(2, 104), help="Weeks to show.")
    def growth(tz: str | None, as_json: bool, at: datetime | None, weeks: int) -> None:
        """Learnings, tasks and mean score per week; skills and their effectiveness trend; proposals approved."""
        _run(_growth(weeks, tz, as_json, at))

    return reflect


def _common(command: Any) -> Any:
    command = click.option("--tz", help="Timezone of the days and weeks (default: [schedule] timezone).")(command)
    command = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(command)
    return click.option(
        "--at", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
        help="Reflect as of this moment (local time in --tz) instead of now.",
    )(command)  # fmt: skip


def _run(coro: Any) -> None:
    from bots.terminal.command import run

    sys.exit(run(coro))


def _where_and_when(tz: str | None, at: datetime | None) -> tuple[Database, ZoneInfo, datetime]:
    """The database (to open with ``async with``), the timezone of the days and weeks, and the moment."""
    from datetime import UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from core.config import load_settings
    from core.store.db import Database

    settings = load_settings()
    name = tz or settings.schedule.timezone
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown timezone {name!r} (e.g. Europe/Berlin, UTC)", param_hint="--tz") from None
    now = at.replace(tzinfo=zone) if at is not None else datetime.now(UTC).astimezone(zone)
    return Database(settings.db_path), zone, now


async def _period(kind: Literal["day", "week"], tz: str | None, as_json: bool, at: datetime | None) -> None:
    from core.reflection.digest import compose
    from core.reflection.figures import reflect_period
    from core.reflection.period import period_containing

    database, zone, now = _where_and_when(tz, at)
    async with database as db:
        reflection = await reflect_period(db, period_containing(kind, now, zone))
    if as_json:
        _json(
            {
                "tasks": reflection.tasks,
                "cost_usd": reflection.cost_usd,
                "empty": reflection.empty,
                **asdict(reflection),
            }
        )
        return
    when = "today so far" if kind == "day" else "this week so far"
    digest = compose("daily" if kind == "day" else "weekly", reflection, when)
    _print_digest(digest, reflection.spark_days)


def _print_digest(digest: Digest, days: tuple[Any, ...]) -> None:
    click.echo(digest.headline)
    if digest.empty:
        return
    if digest.sparklines and days:
        span = f"({days[0]:%a %d %b} … {days[-1]:%a %d %b}; · no value)"
        for name, line in digest.sparklines.items():
            click.echo(f"{name + ' by day':<13} {line}  {span}")
    for section in digest.sections:
        click.echo("")
        click.echo(section.title)
        for line in section.lines:
            click.echo(f"  {line}")


async def _honest(kind: Literal["day", "week"], tz: str | None, as_json: bool, at: datetime | None) -> None:
    from core.reflection.honest import reflect_honest
    from core.reflection.period import period_containing

    database, zone, now = _where_and_when(tz, at)
    async with database as db:
        honest = await reflect_honest(db, period_containing(kind, now, zone))
    if as_json:
        passed = [asdict(v) for v in honest.passed_then_rated_down]
        _json({"empty": honest.empty, "passed_then_rated_down": passed, **asdict(honest)})
        return
    _print_honest(honest)


def _print_honest(h: HonestReflection) -> None:
    from core.reflection.digest import period_label

    label = period_label(h.period) + " (so far)"
    if h.empty:
        click.echo(
            f"Nothing went wrong {label}: no 👎, regressions, escalations, results below the bar or failed overrides."
        )
    else:
        click.echo(f"What went wrong {label}")
    blocks: list[tuple[str, list[str]]] = [
        ("👎 results", [f"{_task(v.task_id, v.description)} — {_said(v.note)} ({v.voter})" for v in h.down_votes]),
        ("Regressions", [f"{_task(g.task_id, g.description)}: {g.scores or 'no scores'}"
                         + (" (stopped for regression)" if g.decision == "abort_regression" else "")
                         for g in h.regressions]),
        ("Escalations", [f"{_task(e.task_id, e.description)}: {e.reason or 'no reason recorded'}" for e in h.escalations]),
        ("Finished below the bar", [f"{_task(b.task_id, b.description)}: {b.reason or 'no reason recorded'}"
                                    for b in h.below_bar]),
        ("Met the quality threshold, then rated down",
         [f"{_task(v.task_id, v.description)} (score {v.score:.2f}) — {_said(v.note)}" if v.score is not None
          else _task(v.task_id, v.description) for v in h.passed_then_rated_down]),
        ("Overridden blocks that then failed",
         [f"{_task(f.task_id, f.description)}: overridden by {f.decided_by or 'someone'}, {f.outcome}"
          + (f" ({f.reason})" if f.reason else "") for f in h.overridden_then_failed]),
    ]  # fmt: skip
    for title, lines in blocks:
        if lines:
            click.echo(f"\n{title} ({len(lines)})")
            for line in lines:
                click.echo(f"  {line}")
    f = h.forecasts
    if f is None:
        click.echo("\nEconomist's cost predictions: not recorded for any task in this period")
    else:
        click.echo(
            f"\nEconomist's cost predictions ({f.tasks} task{'' if f.tasks == 1 else 's'}):"
            f" predicted ${f.predicted_usd:.4f}, actual ${f.actual_usd:.4f}"
        )
        for c in f.worst:
            click.echo(
                f"  predicted ${c.predicted_cost_usd or 0:.4f}, actual ${c.actual_cost_usd:.4f}:"
                f" {_task(c.task_id, c.description)}"
            )
    if h.economist:
        click.echo(f"\nEconomist's reservations ({len(h.economist)})")
    for c in h.economist:
        click.echo(f"  {c.vote} “{c.reason}” — actual ${c.actual_cost_usd:.4f}: {_task(c.task_id, c.description)}")


async def _growth(weeks: int, tz: str | None, as_json: bool, at: datetime | None) -> None:
    from core.reflection.growth import reflect_growth

    database, _, now = _where_and_when(tz, at)
    async with database as db:
        growth = await reflect_growth(db, now, weeks=weeks)
    if as_json:
        _json(asdict(growth))
        return
    _print_growth(growth)


def _print_growth(g: GrowthReflection) -> None:
    click.echo(f"Growth over the last {len(g.weeks)} weeks (to {g.now:%a %d %b %H:%M %Z})")
    click.echo(f"{'WEEK OF':<12} {'LEARNT':>6} {'TASKS':>6} {'BELOW BAR':>9} {'MEAN SCORE':>10} {'PROPOSALS':>9}")
    for w in g.weeks:
        score = f"{w.mean_score:.2f}" if w.mean_score is not None else "-"
        click.echo(
            f"{w.week:%a %d %b}   {w.learnings_added:>6} {w.tasks:>6} {w.below_bar:>9} {score:>10} {w.proposals_approved:>9}"
        )
    click.echo(f"learnings: {g.learnings_total} in all")
    click.echo(f"skills: {g.skills_known} known")
    for s in g.skills:
        before = f"{s.earlier:.2f}" if s.earlier is not None else "not measured"
        after = f"{s.later:.2f}" if s.later is not None else "not measured"
        change = f" ({s.change:+.2f})" if s.change is not None else ""
        click.echo(
            f"  {s.skill:<24} {s.tasks:>4} task{'' if s.tasks == 1 else 's'}  effectiveness {before} → {after}{change}"
        )
    click.echo(f"proposals approved: {g.proposals_approved}")


def _task(task_id: str, description: str) -> str:
    return f"task {task_id[:8]} {one_line(description, 58)}"


def _said(note: str | None) -> str:
    return f"“{note}”" if note else "no note"


def _json(value: Any) -> None:
    click.echo(json.dumps(value, default=str, ensure_ascii=False, indent=2))
