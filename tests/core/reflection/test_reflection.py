"""Reflection figures against a hand-built history: every expected value below is computed by hand
from the rows seeded in ``history`` (see the comments), in Europe/Berlin."""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.reflection.digest import build_digest, digest_of
from core.reflection.figures import reflect_period
from core.reflection.growth import reflect_growth
from core.reflection.honest import reflect_honest
from core.reflection.period import period_containing
from core.reflection.sparkline import sparkline
from core.store import reflection as store_reflection
from core.store.db import Database
from core.store.proposals import ProposalRepository
from tests.reflection_history import Ballot, Call, History, Seeded

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = period_containing("day", datetime(2026, 11, 30, 12, tzinfo=BERLIN), BERLIN)  # Mon 30 Nov, Berlin


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


APPROVE_ALL = [Ballot(a, "APPROVE") for a in ("guardian", "economist", "empath", "scholar", "strategist")]


async def seed(db: Database) -> dict[str, str]:
    h = await History(db).start()
    ids: dict[str, str] = {}
    # Monday 30 Nov in Berlin runs from 29 Nov 23:00 UTC to 30 Nov 23:00 UTC.
    ids["t1"] = await h.add(  # 23:30 UTC on Sunday is 00:30 on Monday in Berlin
        Seeded("Write the release notes", "done", utc(29, 23, 30), "slack", "C1", decision="accept", score=0.9,
               cycle_scores=[0.6, 0.9], calls=[Call("model-a", 0.10, 600, 400), Call("model-b", 0.02, 300, 200)],
               verdict="approved",
               ballots=[*APPROVE_ALL[:1], Ballot("economist", "APPROVE_WITH_CAVEAT", "ok", "costly model", 0.05),
                        *APPROVE_ALL[2:]],
               votes=[("slack:U1", -1, "missed the migration", utc(30, 9))], skills=["release-notes"])
    )  # fmt: skip
    ids["t2"] = await h.add(  # a Guardian block that alice overrode, then the task failed
        Seeded("Rotate the production keys", "failed", utc(30, 10), "slack", "C1", cycle_scores=[0.5, 0.2],
               calls=[Call("model-a", 0.05)], verdict="guardian_block",
               ballots=[Ballot("guardian", "BLOCK"), Ballot("economist", "APPROVE", estimate_usd=0.04),
                        Ballot("empath", "ABSTAIN"), Ballot("scholar", "APPROVE_WITH_CAVEAT", caveat="backup first"),
                        Ballot("strategist", "ABSTAIN")],
               confirmation=("approved", "slack:alice", utc(30, 9, 50)), error="the key store refused")
    )  # fmt: skip
    ids["t3"] = await h.add(  # blocked, and bob denied the override: blocked, not a plain cancellation
        Seeded("Drop the staging database", "cancelled", utc(30, 11), "telegram", "chat9",
               calls=[Call("model-b", 0.01)], verdict="guardian_block", ballots=[Ballot("guardian", "BLOCK")],
               confirmation=("denied", "telegram:bob", utc(30, 11)))
    )  # fmt: skip
    ids["t4"] = await h.add(  # stopped for a regression: keeps the better first output (0.8)
        Seeded("Refactor the parser", "done", utc(30, 12), decision="abort_regression", score=0.8,
               cycle_scores=[0.8, 0.7], calls=[Call("model-a", 0.20, 1000, 1000)], verdict="approved",
               ballots=[*APPROVE_ALL[:3], Ballot("scholar", "BLOCK"), APPROVE_ALL[4]],
               votes=[("terminal:me", 1, "good", utc(30, 13))], skills=["release-notes"])
    )  # fmt: skip
    ids["t5"] = await h.add(
        Seeded("Answer the customer", "escalated", utc(30, 14), "discord", "D7", decision="escalate", score=0.4,
               cycle_scores=[0.2, 0.4], error="a person must decide", skills=["support"])
    )  # fmt: skip
    # The week before: one done task (0.5, $0.10) on Wed 25, one failed unscored task ($0.05) on Fri 27.
    ids["p1"] = await h.add(
        Seeded("Old task", "done", utc(25, 10), decision="accept", score=0.5, cycle_scores=[0.5],
               calls=[Call("model-a", 0.10)], skills=["release-notes"])
    )  # fmt: skip
    ids["p2"] = await h.add(Seeded("Older failure", "failed", utc(27, 10), calls=[Call("model-a", 0.05)]))
    # Calls with no task: Sunday 23:30 in Berlin ($0.04) and Tuesday 00:30 in Berlin ($0.50).
    await h.call(Call("model-a", 0.04), None, utc(29, 22, 30))
    await h.call(Call("model-c", 0.50), None, utc(30, 23, 30))
    # Learnings: two added on Monday; one older and reinforced, last used on Monday; one older, used
    # on Monday but never reinforced (recall touched it).
    await h.memory("Lead release notes with breaking changes", utc(30, 8))
    await h.memory("Keep a backup before rotating keys", utc(30, 10))
    await h.memory("Short answers please", utc(20, 8), used=utc(30, 12), reinforcements=2)
    await h.memory("Use the staging cluster first", utc(24, 8), used=utc(30, 12))
    return ids


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "openkoi.db") as opened:
        yield opened


async def test_a_day_counts_outcomes_scores_costs_overrides_dissent_learnings_and_feedback(db: Database) -> None:
    ids = await seed(db)
    r = await reflect_period(db, MONDAY)
    assert r.tasks == 5
    assert r.outcomes == {
        "done": 2, "below_bar": 0, "failed": 1, "blocked": 1, "aborted": 0, "escalated": 1, "cancelled": 0
    }  # fmt: skip
    # final scores of the scored tasks: 0.9, 0.8, 0.4
    assert r.scored == 3 and r.mean_score == pytest.approx(0.7)
    # first → final over t1 (0.6 → 0.9), t2 (0.5 → 0.2, its last scored iteration), t4 (0.8 → 0.8), t5 (0.2 → 0.4)
    assert r.gain_tasks == 4
    assert r.mean_first_score == pytest.approx((0.6 + 0.5 + 0.8 + 0.2) / 4)
    assert r.mean_gain == pytest.approx((0.3 - 0.3 + 0.0 + 0.2) / 4)
    assert (r.iterations, r.ran, r.mean_iterations) == (8, 4, 2.0)
    assert [(p.platform, p.channel, p.tasks) for p in r.places] == [
        ("slack", "C1", 2), ("discord", "D7", 1), ("telegram", "chat9", 1), ("terminal", None, 1)
    ]  # fmt: skip
    # Calls made on Monday (Berlin): a 0.10+0.05+0.20 (+ the 0.04 call is Sunday), b 0.02+0.01; c is Tuesday.
    assert [(m.model, m.calls, m.tokens, round(m.cost_usd, 4)) for m in r.models] == [
        ("model-a", 3, 1000 + 150 + 2000, 0.35), ("model-b", 2, 500 + 150, 0.03)
    ]  # fmt: skip
    assert r.cost_usd == pytest.approx(0.38)
    assert [(o.task_id, o.status, o.decided_by, o.task_status) for o in r.overrides] == [
        (ids["t2"], "approved", "slack:alice", "failed"), (ids["t3"], "denied", "telegram:bob", "cancelled")
    ]  # fmt: skip
    assert [(d.task_id, d.verdict, d.votes) for d in r.dissent] == [
        (ids["t2"], "guardian_block", (("economist", "APPROVE"), ("scholar", "APPROVE_WITH_CAVEAT"))),
        (ids["t4"], "approved", (("scholar", "BLOCK"),)),
    ]
    assert (r.learnings_added, r.learnings_reinforced) == (2, 1)
    assert (r.thumbs_up, r.thumbs_down) == (1, 1)
    assert [(n.task_id, n.vote, n.note) for n in r.notes] == [
        (ids["t1"], -1, "missed the migration"), (ids["t4"], 1, "good")
    ]  # fmt: skip
    assert [(d.day.day, d.tasks) for d in r.days] == [(30, 5)]
    # Seven days ending Monday: scores · 0.5 · ·(27: a task, unscored) · · 0.7; costs over $0.38 at most.
    assert r.sparklines == {"score": "·▅····▆", "cost": "·▃·▂·▂█"}
    assert r.previous is None


async def test_a_task_at_2330_utc_belongs_to_the_next_day_in_berlin(db: Database) -> None:
    ids = await seed(db)
    sunday_utc = period_containing("day", utc(29, 12), ZoneInfo("UTC"))
    in_utc = await reflect_period(db, sunday_utc)
    assert in_utc.tasks == 1 and in_utc.outcomes["done"] == 1, "t1 ended on Sunday in UTC"
    sunday_berlin = await reflect_period(db, MONDAY.previous())
    assert sunday_berlin.tasks == 0, "and on Monday in Berlin"
    assert ids["t1"] in {n.task_id for n in (await reflect_period(db, MONDAY)).notes}


async def test_a_week_has_the_trend_against_the_week_before_and_fourteen_day_sparklines(db: Database) -> None:
    await seed(db)
    week = await reflect_period(db, period_containing("week", MONDAY.start, BERLIN))
    assert week.tasks == 5 and week.previous is not None
    before = week.previous
    assert before.tasks == 2 and before.outcomes["done"] == 1 and before.outcomes["failed"] == 1
    assert before.mean_score == pytest.approx(0.5)
    assert before.cost_usd == pytest.approx(0.10 + 0.05 + 0.04)  # the Sunday call counts in its week
    assert week.cost_usd == pytest.approx(0.38 + 0.50)  # and Tuesday's in this one
    # 23 Nov … 6 Dec: scores only on Wed 25 (0.5) and Mon 30 (0.7); costs on 25, 27, 29, 30 and 1 Dec ($0.50 top).
    assert week.sparklines == {"score": "··▅····▆······", "cost": "··▂·▂·▂▆█·····"}
    assert [d.day for d in week.spark_days] == [23, 24, 25, 26, 27, 28, 29, 30, 1, 2, 3, 4, 5, 6]

    digest = await build_digest(db, "weekly", now=datetime(2026, 12, 7, 9, tzinfo=BERLIN), tz=BERLIN)
    trend = next(s for s in digest.sections if s.title == "Trend vs the week before")
    assert trend.lines == (
        "tasks: 5 (+3 on 2)",
        "done: 40% (was 50%)",
        "mean score: 0.70 (+0.20 on 0.50)",
        "cost: $0.88 (+$0.69 on $0.19)",
    )
    assert digest.headline.startswith("5 tasks last week: 2 done, 1 failed, 1 blocked, 1 escalated")


async def test_the_daily_digest_leads_with_the_headline_and_lists_each_section(db: Database) -> None:
    ids = await seed(db)
    digest = await build_digest(db, "daily", now=datetime(2026, 12, 1, 8, tzinfo=UTC), tz=BERLIN)
    assert digest.period == MONDAY and not digest.empty
    assert digest.headline == (
        "5 tasks yesterday: 2 done, 1 failed, 1 blocked, 1 escalated · mean score 0.70 (+0.05 from first try) · $0.38"
    )
    sections = {s.title: s.lines for s in digest.sections}
    assert list(sections) == [
        "Outcomes", "Where", "Cost by model", "Overrides", "Parliament dissent", "Learnings", "Feedback"
    ]  # fmt: skip
    assert "first try → final: 0.53 → 0.58 (+0.05) over 4 scored tasks" in sections["Outcomes"]
    assert sections["Where"] == ("slack C1: 2", "discord D7: 1", "telegram chat9: 1", "terminal: 1")
    assert sections["Cost by model"][0] == "model-a: $0.35 · 3,150 tokens · 3 calls"
    assert sections["Overrides"][0] == (
        f"guardian block approved by slack:alice: Rotate the production keys (task {ids['t2'][:8]}, failed)"
    )
    assert (
        sections["Parliament dissent"][1]
        == f"approved despite scholar BLOCK: Refactor the parser (task {ids['t4'][:8]})"
    )
    assert sections["Learnings"][0] == "2 added, 1 reinforced"
    assert sections["Feedback"][:2] == (
        "👍 1 · 👎 1", "👎 “missed the migration” on Write the release notes (slack:U1)"
    )  # fmt: skip
    assert digest.sparklines == {"score": "·▅····▆", "cost": "·▃·▂·▂█"}
    assert all("*" not in line and "<" not in line for s in digest.sections for line in s.lines)


async def test_an_empty_period_says_so(db: Database) -> None:
    await seed(db)
    # Sunday 29 Nov in Berlin: a model call ($0.04), but no task ended or waited.
    digest = await build_digest(db, "daily", now=datetime(2026, 11, 30, 8, tzinfo=BERLIN), tz=BERLIN)
    assert (digest.empty, digest.headline, digest.sections, digest.sparklines) == (
        True, "No tasks on Sun 29 Nov.", (), {}
    )  # fmt: skip
    weekly = await build_digest(db, "weekly", now=datetime(2026, 11, 20, 8, tzinfo=BERLIN), tz=BERLIN)
    assert weekly.empty and weekly.headline == "No tasks in the week of Mon 9 Nov."


async def test_a_task_still_waiting_for_a_person_counts_as_blocked(db: Database) -> None:
    h = await History(db).start()
    await h.add(Seeded("Wipe the cache", "awaiting_confirmation", utc(30, 9), verdict="guardian_block"))
    r = await reflect_period(db, MONDAY)
    assert r.tasks == 1 and r.outcomes["blocked"] == 1 and r.mean_score is None and r.mean_gain is None


async def test_the_honest_view(db: Database) -> None:
    ids = await seed(db)
    honest = await reflect_honest(db, MONDAY)
    assert [(v.task_id, v.note, v.passed_threshold) for v in honest.down_votes] == [
        (ids["t1"], "missed the migration", True)
    ]
    assert [v.task_id for v in honest.passed_then_rated_down] == [ids["t1"]]
    assert [(g.task_id, round(g.drop or 0, 4), g.scores, g.decision) for g in honest.regressions] == [
        (ids["t2"], 0.3, "0.50 → 0.20", None), (ids["t4"], 0.1, "0.80 → 0.70", "abort_regression")
    ]  # fmt: skip
    assert [(e.task_id, e.reason) for e in honest.escalations] == [(ids["t5"], "a person must decide")]
    assert [(f.task_id, f.outcome, f.decided_by, f.reason) for f in honest.overridden_then_failed] == [
        (ids["t2"], "failed", "slack:alice", "the key store refused")
    ]
    assert [
        (c.task_id, c.vote, c.reason, round(c.actual_cost_usd, 4), c.predicted_cost_usd) for c in honest.economist
    ] == [(ids["t1"], "APPROVE_WITH_CAVEAT", "costly model", 0.12, 0.05)]
    # Estimates against actual costs: t1 predicted $0.05, cost $0.12; t2 predicted $0.04, cost $0.05.
    forecasts = honest.forecasts
    assert forecasts is not None and forecasts.tasks == 2
    assert (round(forecasts.predicted_usd, 4), round(forecasts.actual_usd, 4)) == (0.09, 0.17)
    assert [(c.task_id, round(c.miss_usd or 0, 4)) for c in forecasts.worst] == [(ids["t1"], 0.07), (ids["t2"], 0.01)]
    assert (await reflect_honest(db, MONDAY.previous())).empty


async def test_a_result_below_the_bar_is_counted_apart_from_done(db: Database) -> None:
    """A task that finished below its quality bar is not "done" in the day's outcomes, the digest, the
    honest view or growth, while its score still counts in the means and in its skill's effectiveness."""
    h = await History(db).start()
    await h.add(
        Seeded("Write the changelog", "done", utc(30, 9), decision="accept", score=0.9, cycle_scores=[0.9],
               skills=["notes"])
    )  # fmt: skip
    short = await h.add(
        Seeded("Summarise the outage", "below_bar", utc(30, 10), decision="accept_best", score=0.2,
               cycle_scores=[0.2], error="below the bar (0.20 < 0.80): refinement failed", skills=["notes"])
    )  # fmt: skip
    r = await reflect_period(db, MONDAY)
    assert (r.outcomes["done"], r.outcomes["below_bar"], r.tasks) == (1, 1, 2)
    assert r.mean_score == pytest.approx((0.9 + 0.2) / 2)
    digest = await build_digest(db, "daily", now=datetime(2026, 12, 1, 8, tzinfo=UTC), tz=BERLIN)
    assert digest.headline.startswith("2 tasks yesterday: 1 done, 1 below the bar · ")
    assert dict((s.title, s.lines) for s in digest.sections)["Outcomes"][:2] == ("done: 1", "below the bar: 1")
    honest = await reflect_honest(db, MONDAY)
    assert not honest.empty
    assert [(b.task_id, b.score, b.reason) for b in honest.below_bar] == [
        (short, 0.2, "below the bar (0.20 < 0.80): refinement failed")
    ]
    growth = await reflect_growth(db, datetime(2026, 12, 2, 12, tzinfo=BERLIN), weeks=2)
    assert [(w.tasks, w.below_bar) for w in growth.weeks] == [(0, 0), (2, 1)]
    [notes] = growth.skills
    assert (notes.skill, notes.tasks) == ("notes", 2) and notes.later == pytest.approx((0.9 + 0.2) / 2)


async def approve_proposal_at(db: Database, decided_at: datetime) -> None:
    """One proposal, approved at ``decided_at`` (as `openkoi learn approve` or a button would)."""
    proposal = await ProposalRepository(db).add(
        pattern_key="recurring:x", kind="recurring", name="x", description="x", skill_md="x",
        drafted_by="template", support=3, confidence=0.9, evidence=("a", "b", "c"),
    )  # fmt: skip
    await db.execute(
        "UPDATE skill_proposals SET status = 'approved', decided_by = 'slack:U1', decided_at = ? WHERE id = ?",
        (decided_at.astimezone(UTC).isoformat(), proposal.id),
    )


async def test_growth_over_weeks_skills_and_proposals(db: Database) -> None:
    await seed(db)
    await approve_proposal_at(db, datetime(2026, 12, 1, 10, tzinfo=BERLIN))  # the week of Mon 30 Nov
    await approve_proposal_at(db, datetime(2026, 11, 1, 10, tzinfo=BERLIN))  # before the window
    now = datetime(2026, 12, 2, 12, tzinfo=BERLIN)
    growth = await reflect_growth(db, now, weeks=2)
    assert [(w.week.day, w.learnings_added, w.tasks, w.mean_score) for w in growth.weeks] == [
        (23, 1, 2, 0.5), (30, 2, 5, pytest.approx(0.7))
    ]  # fmt: skip
    assert growth.learnings_total == 4 and growth.skills_known == 2
    assert growth.proposals_approved == 2 and [w.proposals_approved for w in growth.weeks] == [0, 1]
    trends = {s.skill: s for s in growth.skills}
    # release-notes: the week before p1 (0.5, no votes); this week t1 (0.9, 👎) and t4 (0.8, 👍).
    notes = trends["release-notes"]
    assert notes.tasks == 3 and notes.earlier == pytest.approx(0.5)
    assert notes.later == pytest.approx((0.9 + 0.8 + 0.0 + 1.0) / 4)
    assert notes.change == pytest.approx(0.175)
    assert trends["support"].earlier is None and trends["support"].later == pytest.approx(0.4)


def test_sparkline_characters() -> None:
    assert sparkline([0.0, 0.5, 1.0, None], low=0.0, high=1.0) == "▁▅█·"
    assert sparkline([2.0, 4.0, 8.0]) == "▃▅█"
    assert sparkline([None, None]) == "··"
    assert sparkline([0.0, 0.0]) == "▁▁"


async def test_every_range_read_uses_an_index(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The queries of core.store.reflection, as the figures really run them (captured through the
    connection's trace callback), each read every stored table through an index: none scans one."""
    await seed(db)
    ran: set[str] = set()
    for name, query in inspect.getmembers(store_reflection, inspect.iscoroutinefunction):
        if query.__module__ == store_reflection.__name__:
            monkeypatch.setattr(store_reflection, name, _counted(name, query, ran))
    statements: list[str] = []
    await db.conn.set_trace_callback(statements.append)
    try:
        week = period_containing("week", MONDAY.start, BERLIN)
        await reflect_period(db, MONDAY)
        await reflect_period(db, week)
        await reflect_honest(db, MONDAY)
        await reflect_growth(db, datetime(2026, 12, 2, 9, tzinfo=BERLIN))
    finally:
        await db.conn.set_trace_callback(None)  # type: ignore[arg-type]  # sqlite3 takes None: no tracing
    queries = {n for n, q in inspect.getmembers(store_reflection, inspect.iscoroutinefunction)}
    assert ran == queries, f"not run by the figures: {sorted(queries - ran)}"
    reads = [s for s in dict.fromkeys(statements) if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) >= len(queries)
    for sql in reads:
        plan = [str(r["detail"]) for r in await db.fetchall(f"EXPLAIN QUERY PLAN {sql}")]
        shown = " ".join(sql.split())
        assert any(" INDEX " in line for line in plan), f"no index used: {plan} in {shown}"
        if ">=" in sql:  # a range read: no table (nor a whole index) is read from end to end
            derived = {line.split()[-1] for line in plan if line.startswith(("CO-ROUTINE", "MATERIALIZE"))}
            scans = [line for line in plan if line.startswith("SCAN") and line.split()[1] not in derived]
            assert not scans, f"read whole: {scans} in {shown}"
    assert sqlite3.sqlite_version_info >= (3, 35)


def _counted(name: str, query: Callable[..., Awaitable[Any]], ran: set[str]) -> Callable[..., Awaitable[Any]]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        ran.add(name)
        return await query(*args, **kwargs)

    return counted


async def test_a_digest_of_any_period_names_it_relative_to_now(db: Database) -> None:
    await seed(db)
    tasks = (await reflect_period(db, MONDAY)).tasks
    assert tasks > 0
    during = await digest_of(db, "daily", MONDAY, now=datetime(2026, 11, 30, 18, tzinfo=BERLIN))
    assert during.headline.startswith(f"{tasks} tasks today so far: ")
    after = await digest_of(db, "daily", MONDAY, now=datetime(2026, 12, 1, 9, tzinfo=BERLIN))
    assert after.headline.startswith(f"{tasks} tasks yesterday: ")
    assert after == await build_digest(db, "daily", now=datetime(2026, 12, 1, 9, tzinfo=BERLIN), tz=BERLIN)
    later = await digest_of(db, "daily", MONDAY, now=datetime(2026, 12, 9, 9, tzinfo=BERLIN))
    assert later.headline.startswith(f"{tasks} tasks on Mon 30 Nov: ")
    week = period_containing("week", MONDAY.start, BERLIN)
    this_week = await digest_of(db, "weekly", week, now=datetime(2026, 12, 2, 9, tzinfo=BERLIN))
    assert " this week so far: " in this_week.headline
