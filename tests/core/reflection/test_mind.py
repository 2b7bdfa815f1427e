"""Each agency's record against outcomes (`openkoi mind agencies|dissent|calibrate`), against a hand-built
history: every expected value below is counted by hand from the tasks seeded in ``seed``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.reflection.mind import (
    Endings,
    borne_out,
    confirming,
    mind_agencies,
    mind_calibration,
    mind_dissent,
    went_badly,
)
from core.store import Store
from core.store.db import Database
from core.store.mind import Finding
from tests.reflection_history import Ballot, Call, History, Seeded

OTHERS = ("economist", "empath", "scholar", "strategist")


def at(hour: int) -> datetime:
    return datetime(2026, 11, 30, hour, tzinfo=UTC)


def ballots(guardian: str = "APPROVE", **votes: Ballot) -> list[Ballot]:
    return [Ballot("guardian", guardian), *(votes.get(a) or Ballot(a, "APPROVE") for a in OTHERS)]


async def seed(db: Database) -> dict[str, str]:
    h = await History(db).start()
    ids: dict[str, str] = {}
    ids["t1"] = await h.add(  # approved; the Scholar's caveat is confirmed by the evaluator's finding
        Seeded("Refactor the auth module", "done", at(1), decision="accept", score=0.9, cycle_scores=[0.9],
               calls=[Call("m", 0.12)], verdict="approved",
               ballots=ballots(economist=Ballot("economist", "APPROVE", estimate_usd=0.10),
                               scholar=Ballot("scholar", "APPROVE_WITH_CAVEAT", "ok",
                                              "token comparison must be constant time")),
               findings=[("major", "safety", "the token comparison is not constant-time", "use hmac.compare_digest")])
    )  # fmt: skip
    ids["t2"] = await h.add(  # approved over the Economist's block, then failed: its dissent was borne out
        Seeded("Migrate the billing tables", "failed", at(2), cycle_scores=[0.4], calls=[Call("m", 0.30)],
               verdict="approved",
               ballots=ballots(economist=Ballot("economist", "BLOCK", "too costly", estimate_usd=1.00),
                               strategist=Ballot("strategist", "APPROVE_WITH_CAVEAT", "ok",
                                                 "keep a rollback plan for the migration")),
               findings=[("minor", "style", "naming is inconsistent", "rename the columns")])
    )  # fmt: skip
    ids["t3"] = await h.add(  # a Guardian block bob overrode; the task went well: the approvers were right
        Seeded("Drop the staging database", "done", at(3), decision="accept", score=0.85, cycle_scores=[0.85],
               verdict="guardian_block", ballots=ballots("BLOCK"),
               confirmation=("approved", "terminal:bob", at(3)))
    )  # fmt: skip
    ids["t4"] = await h.add(  # a Guardian block denied: the approvals under it cannot be judged
        Seeded("Delete the old backups", "cancelled", at(4), verdict="guardian_block",
               ballots=ballots("BLOCK", empath=Ballot("empath", "ABSTAIN"), scholar=Ballot("scholar", "BLOCK")),
               confirmation=("denied", "slack:carol", at(4)))
    )  # fmt: skip
    ids["t5"] = await h.add(  # a Guardian block overridden, then aborted: the approvers were wrong
        Seeded("Rotate the signing keys", "aborted", at(5), cycle_scores=[0.3], verdict="guardian_block",
               ballots=ballots("BLOCK"), confirmation=("approved", "slack:alice", at(5)))
    )  # fmt: skip
    ids["t6"] = await h.add(  # no usable reply: failed closed, nobody's judgement
        Seeded("Tidy the wiki", "cancelled", at(6), verdict="guardian_block", fail_closed=True,
               ballots=[Ballot("guardian", "BLOCK", "deliberation unavailable: malformed")],
               confirmation=("expired", None, at(6)))
    )  # fmt: skip
    ids["t7"] = await h.add(  # done below the bar; the Scholar's caveat shares half its words with a finding
        Seeded("Write the weekly report", "done", at(7), decision="accept_best", score=0.6, cycle_scores=[0.6],
               verdict="approved",
               ballots=ballots(scholar=Ballot("scholar", "APPROVE_WITH_CAVEAT", "mind the timezone")),
               findings=[("major", "accuracy", "dates are in UTC, not the team's timezone", "convert them")])
    )  # fmt: skip
    ids["t8"] = await h.add(  # a read-only answer, never evaluated: its caveat cannot be checked
        Seeded("What does the deploy script do?", "done", at(8), decision="accept", verdict="approved",
               ballots=ballots(scholar=Ballot("scholar", "APPROVE_WITH_CAVEAT", "ok", "cite the sources")))
    )  # fmt: skip
    ids["t9"] = await h.add(  # a simulation executes nothing: its ending says nothing about the approvals
        Seeded("Send the newsletter", "done", at(9), verdict="approved", ballots=ballots(), simulate=True)
    )  # fmt: skip
    return ids


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with Store(tmp_path / "mind.db") as store:
        yield store.db


async def test_each_agencys_votes_and_how_the_tasks_it_approved_or_blocked_ended(db: Database) -> None:
    await seed(db)
    report = await mind_agencies(db)
    assert (report.deliberations, report.failed_closed) == (8, 1), "t6 failed closed: it counts apart"
    by = {r.agency: r for r in report.agencies}
    assert [r.agency for r in report.agencies] == ["guardian", "economist", "empath", "scholar", "strategist"]
    guardian = by["guardian"]
    assert guardian.votes == {"APPROVE": 5, "APPROVE_WITH_CAVEAT": 0, "ABSTAIN": 0, "BLOCK": 3}
    # It approved t1 (done), t2 (failed), t7 (below the bar), t8 (done), t9 (simulated).
    assert guardian.approved.counts == {"done": 2, "failed": 1, "below_bar": 1, "simulated": 1}
    assert guardian.approved.badly == 2 and guardian.approved.mean_score == pytest.approx((0.9 + 0.6) / 2)
    # It blocked t3 (overridden, done), t4 (denied: blocked) and t5 (overridden, aborted).
    assert guardian.blocked.counts == {"done": 1, "blocked": 1, "aborted": 1} and guardian.blocked.badly == 1
    economist = by["economist"]
    assert economist.votes == {"APPROVE": 7, "APPROVE_WITH_CAVEAT": 0, "ABSTAIN": 0, "BLOCK": 1}
    assert economist.blocked.counts == {"failed": 1}
    assert by["empath"].votes["ABSTAIN"] == 1 and by["empath"].approved.tasks == 7
    scholar = by["scholar"]
    assert scholar.votes == {"APPROVE": 4, "APPROVE_WITH_CAVEAT": 3, "ABSTAIN": 0, "BLOCK": 1}
    # It approved t1, t3, t8 (done), t2 (failed), t5 (aborted), t7 (below the bar) and t9 (simulated).
    assert scholar.approved.counts == {"done": 3, "failed": 1, "aborted": 1, "below_bar": 1, "simulated": 1}
    assert scholar.blocked.counts == {"blocked": 1}

    later = await mind_agencies(db, since=at(5).isoformat())  # t5 and after
    assert later.deliberations == 4 and later.failed_closed == 1
    assert {r.agency: r.votes["BLOCK"] for r in later.agencies}["guardian"] == 1


async def test_dissent_lists_who_disagreed_and_whether_it_was_borne_out(db: Database) -> None:
    ids = await seed(db)
    report = await mind_dissent(db)
    assert [c.task_id for c in report.cases] == [ids["t5"], ids["t4"], ids["t3"], ids["t2"]], "newest first"
    t5, t4, t3, t2 = report.cases
    assert (t2.verdict, t2.ending, t2.overridden_by) == ("approved", "failed", None)
    assert [(d.agency, d.vote, d.reason, d.borne_out) for d in t2.dissenters] == [
        ("economist", "BLOCK", "too costly", True)
    ]
    assert t3.overridden_by == "terminal:bob" and t3.ending == "done"
    assert [(d.agency, d.borne_out) for d in t3.dissenters] == [(a, True) for a in OTHERS]
    assert [(d.agency, d.borne_out) for d in t4.dissenters] == [("economist", None), ("strategist", None)]
    assert t5.ending == "aborted" and all(d.borne_out is False for d in t5.dissenters)
    tallies = {t.agency: (t.dissents, t.borne_out, t.not_borne_out) for t in report.by_agency}
    assert tallies == {"economist": (4, 2, 1), "empath": (2, 1, 1), "scholar": (2, 1, 1), "strategist": (3, 1, 1)}
    assert [t.agency for t in report.by_agency] == ["economist", "empath", "scholar", "strategist"]


async def test_calibration_of_the_guardian_the_economist_and_the_caveats(db: Database) -> None:
    ids = await seed(db)
    calibration = await mind_calibration(db)
    guardian = calibration.guardian
    assert guardian.blocks == 3 and guardian.not_overridden == {"denied": 1}
    assert guardian.overridden.counts == {"done": 1, "aborted": 1} and guardian.overridden.badly == 1
    assert [b.task_id for b in guardian.overrides] == [ids["t5"], ids["t3"]]
    assert guardian.overrides[1].decided_by == "terminal:bob"

    economist = calibration.economist  # t1: $0.10 estimated, $0.12 spent; t2: $1.00 estimated, $0.30 spent
    assert economist.forecasts is not None and economist.forecasts.tasks == 2
    assert economist.forecasts.predicted_usd == pytest.approx(1.10) and economist.forecasts.actual_usd == pytest.approx(
        0.42
    )
    assert economist.mean_miss_usd == pytest.approx((0.02 + 0.70) / 2) and economist.within_half == 1

    scholar, strategist = calibration.caveats
    assert (scholar.agency, scholar.caveats, scholar.evaluated, scholar.confirmed) == ("scholar", 3, 2, 2)
    t7, t1 = scholar.checks
    assert t1.caveat.task_id == ids["t1"] and t1.shared == ("comparison", "constant", "time", "token")
    assert t7.caveat.text == "mind the timezone" and t7.shared == ("timezone",), "half of the caveat's words"
    assert (strategist.caveats, strategist.evaluated, strategist.confirmed) == (1, 1, 0)
    (unconfirmed,) = strategist.checks
    assert not unconfirmed.confirmed and unconfirmed.caveat.ending == "failed"


def test_the_rules_in_isolation() -> None:
    assert [went_badly(e) for e in ("done", "failed", "below_bar", "blocked", "simulated", "a_new_status")] == [
        False, True, True, False, False, True,
    ]  # fmt: skip
    assert borne_out("BLOCK", "escalated", None) is True and borne_out("BLOCK", "done", None) is False
    assert borne_out("BLOCK", "waiting", None) is None
    assert borne_out("APPROVE", "done", "approved") is True and borne_out("APPROVE", "failed", "approved") is False
    assert borne_out("APPROVE", "blocked", "denied") is None
    finding = Finding("t", "major", "safety", "SQL built by string concatenation", "use bound parameters")
    assert confirming("watch for SQL injection from string concatenation", [finding])[1] == (
        "concatenation",
        "sql",
        "string",
    )
    assert confirming("performance of the query", [finding]) == (None, ())
    assert confirming("the", [finding]) == (None, ()), "a caveat of stop words alone confirms nothing"
    assert Endings().plus("done", 2, 1, 0.5).plus("done", 1).counts == {"done": 3}
