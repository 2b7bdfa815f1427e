"""Each agency's record against outcomes (`openkoi mind agencies|dissent|calibrate`, `/think mind …`).

Pure functions over the typed rows of ``core.store.mind`` (and the Economist's checks of
``core.reflection.honest``); ``mind_agencies``, ``mind_dissent`` and ``mind_calibration`` read the rows
and apply them.

- **agencies**: per agency, how often it approved, caveated, abstained or blocked, and how the tasks it
  approved (APPROVE or APPROVE_WITH_CAVEAT) and those it blocked ended.
- **dissent**: the tasks where a vote went against the verdict, who dissented, how it ended, and whether
  the dissent was **borne out**: a BLOCK under an approval is, when the task went badly (``went_badly``);
  an approval under a block is, when a person overrode the block and the task then ended done. Otherwise
  it was not, or (a block nobody overrode, a task not finished) it cannot be told.
- **calibrate**: the Guardian's blocks a person overrode and how those tasks went; the Economist's cost
  estimates against the actual costs (the figures `reflect honest` computes); the Scholar's and the
  Strategist's caveats against the evaluator's findings on the same task. A caveat is **confirmed** when a
  finding on that task shares at least two content words with it, or half of the caveat's own (stop words
  dropped, plurals folded: ``core.skills.similarity.terms``): plain, explainable, no model involved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from core.reflection.honest import EconomistForecasts, economist_checks, forecasts
from core.skills.similarity import terms
from core.store import mind as q
from core.store.db import Database
from core.store.reflection_rows import EconomistCheck

AGENCIES = ("guardian", "economist", "empath", "scholar", "strategist")
VOTES = ("APPROVE", "APPROVE_WITH_CAVEAT", "ABSTAIN", "BLOCK")
APPROVALS = frozenset({"APPROVE", "APPROVE_WITH_CAVEAT"})
# Endings that say nothing about whether the work went well: it never ran, or has not finished.
NO_VERDICT = frozenset({"blocked", "cancelled", "waiting", "unfinished", "simulated"})
# Every other ending but "done" went badly (failed, aborted, escalated, below the bar, and any ending a
# later status adds), so a new way to end short of the bar counts against an approval without a change here.
DONE = "done"
CAVEAT_AGENCIES = ("scholar", "strategist")
FAR_FUTURE = "9999-12-31"


def went_badly(ending: str) -> bool:
    """The task ran and ended short of done: failed, aborted, escalated, below the quality bar …"""
    return ending != DONE and ending not in NO_VERDICT


@dataclass(frozen=True)
class Endings:
    """How a set of tasks ended: tasks per ending, and their final scores."""

    counts: Mapping[str, int] = field(default_factory=dict)
    scored: int = 0
    score_sum: float = 0.0

    @property
    def tasks(self) -> int:
        return sum(self.counts.values())

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None

    @property
    def badly(self) -> int:
        return sum(n for ending, n in self.counts.items() if went_badly(ending))

    def plus(self, ending: str, tasks: int, scored: int = 0, score_sum: float = 0.0) -> Endings:
        counts = Counter(self.counts)
        counts[ending] += tasks
        return Endings(dict(counts), self.scored + scored, self.score_sum + score_sum)


@dataclass(frozen=True)
class AgencyRecord:
    agency: str
    votes: Mapping[str, int]  # every vote in VOTES (0 when never cast), plus any other value met
    approved: Endings  # the tasks it approved, with or without a caveat
    blocked: Endings  # the tasks it blocked

    @property
    def total(self) -> int:
        return sum(self.votes.values())


@dataclass(frozen=True)
class AgenciesReport:
    agencies: tuple[AgencyRecord, ...]  # in the Parliament's order, then any other agency met
    deliberations: int  # tasks with a real (latest) deliberation
    failed_closed: int  # deliberations with no usable reply (counted as Guardian blocks, nobody's judgement)


def agencies_report(tallies: Iterable[q.AgencyTally], deliberations: int, failed_closed: int) -> AgenciesReport:
    votes: dict[str, Counter[str]] = {a: Counter(dict.fromkeys(VOTES, 0)) for a in AGENCIES}
    approved: dict[str, Endings] = {}
    blocked: dict[str, Endings] = {}
    for t in tallies:
        votes.setdefault(t.agency, Counter(dict.fromkeys(VOTES, 0)))[t.vote] += t.tasks
        side = approved if t.vote in APPROVALS else blocked if t.vote == "BLOCK" else None
        if side is not None:
            side[t.agency] = side.get(t.agency, Endings()).plus(t.ending, t.tasks, t.scored, t.score_sum)
    records = tuple(
        AgencyRecord(a, dict(votes[a]), approved.get(a, Endings()), blocked.get(a, Endings())) for a in votes
    )
    return AgenciesReport(records, deliberations, failed_closed)


@dataclass(frozen=True)
class Dissenter:
    agency: str
    vote: str
    reason: str
    borne_out: bool | None  # None: cannot be told (the task never ran, or has not finished)


@dataclass(frozen=True)
class DissentCase:
    task_id: str
    description: str
    asked_at: str
    verdict: str
    ending: str
    score: float | None
    overridden_by: str | None  # who overrode the block, when someone did
    dissenters: tuple[Dissenter, ...]


@dataclass(frozen=True)
class DissentTally:
    agency: str
    dissents: int
    borne_out: int
    not_borne_out: int  # dissents that could be judged and were wrong; the rest cannot be told


@dataclass(frozen=True)
class DissentReport:
    cases: tuple[DissentCase, ...]  # newest first
    by_agency: tuple[DissentTally, ...]  # agencies that dissented, in the Parliament's order


def borne_out(vote: str, ending: str, override: str | None) -> bool | None:
    """Whether a vote against the verdict was right, by how the task went (see the module's docstring)."""
    if vote == "BLOCK":  # against an approval: right when the task went badly
        return None if ending in NO_VERDICT else went_badly(ending)
    if override != "approved" or ending in NO_VERDICT:  # an approval under a block nobody let run
        return None
    return ending == DONE


def dissent_report(rows: Iterable[q.DissentVote]) -> DissentReport:
    cases: dict[str, DissentCase] = {}
    for r in rows:
        who = Dissenter(r.agency, r.vote, r.reason, borne_out(r.vote, r.ending, r.override))
        case = cases.get(r.task_id)
        if case is None:
            by = r.decided_by if r.override == "approved" else None
            case = DissentCase(r.task_id, r.description, r.asked_at, r.verdict, r.ending, r.score, by, ())
        cases[r.task_id] = replace(case, dissenters=(*case.dissenters, who))
    tallies: dict[str, list[int]] = {}
    for case in cases.values():
        for d in case.dissenters:
            tally = tallies.setdefault(d.agency, [0, 0, 0])
            tally[0] += 1
            tally[1] += d.borne_out is True
            tally[2] += d.borne_out is False
    order = {a: i for i, a in enumerate(AGENCIES)}
    by_agency = tuple(
        DissentTally(a, *tallies[a]) for a in sorted(tallies, key=lambda a: (order.get(a, len(order)), a))
    )
    return DissentReport(tuple(cases.values()), by_agency)


@dataclass(frozen=True)
class GuardianCalibration:
    blocks: int
    overridden: Endings  # how the blocked tasks a person overrode ended
    not_overridden: Mapping[str, int]  # denied, expired, cancelled, waiting (pending), or no request
    overrides: tuple[q.GuardianBlock, ...]  # the overridden ones, newest first


@dataclass(frozen=True)
class CaveatCheck:
    caveat: q.Caveat
    finding: q.Finding | None  # the finding that confirms it, if any
    shared: tuple[str, ...]  # the content words they share

    @property
    def confirmed(self) -> bool:
        return self.finding is not None


@dataclass(frozen=True)
class CaveatRecord:
    agency: str
    caveats: int
    evaluated: int  # on tasks whose output the evaluator scored
    confirmed: int  # of those, confirmed by a finding on the same task
    checks: tuple[CaveatCheck, ...]  # every caveat on an evaluated task, newest first


@dataclass(frozen=True)
class EconomistCalibration:
    forecasts: EconomistForecasts | None  # None: no task has an estimate yet
    # The mean of |actual - estimate| over the tasks with an estimate, and how many were within half of
    # their estimate either way (0.5x-1.5x of it).
    mean_miss_usd: float | None
    within_half: int


@dataclass(frozen=True)
class Calibration:
    guardian: GuardianCalibration
    economist: EconomistCalibration
    caveats: tuple[CaveatRecord, ...]  # the Scholar's, then the Strategist's


def guardian_calibration(blocks: Sequence[q.GuardianBlock]) -> GuardianCalibration:
    overridden = Endings()
    others: Counter[str] = Counter()
    for b in blocks:
        if b.override == "approved":
            overridden = overridden.plus(b.ending, 1, b.score is not None, b.score or 0.0)
        else:
            others["waiting" if b.override == "pending" else b.override or "no request"] += 1
    return GuardianCalibration(
        len(blocks), overridden, dict(others), tuple(b for b in blocks if b.override == "approved")
    )


def economist_calibration(checks: Sequence[EconomistCheck]) -> EconomistCalibration:
    estimated = [c for c in checks if c.predicted_cost_usd is not None]
    misses = [abs(c.miss_usd or 0.0) for c in estimated]
    within = sum(
        1
        for c in estimated
        if c.predicted_cost_usd is not None and _within_half(c.actual_cost_usd, c.predicted_cost_usd)
    )
    return EconomistCalibration(forecasts(list(checks)), sum(misses) / len(misses) if misses else None, within)


def _within_half(actual: float, predicted: float) -> bool:
    return 0.5 * predicted <= actual <= 1.5 * predicted


def confirming(caveat: str, findings: Iterable[q.Finding]) -> tuple[q.Finding | None, tuple[str, ...]]:
    """The first finding that confirms ``caveat`` and the content words they share, or (None, ())."""
    said = set(terms(caveat))
    if not said:
        return None, ()
    for f in findings:
        shared = said & set(terms(f"{f.dimension} {f.description} {f.fix}"))
        if shared and (len(shared) >= 2 or 2 * len(shared) >= len(said)):
            return f, tuple(sorted(shared))
    return None, ()


def caveat_records(caveats: Sequence[q.Caveat], findings: Iterable[q.Finding]) -> tuple[CaveatRecord, ...]:
    by_task: dict[str, list[q.Finding]] = {}
    for f in findings:
        by_task.setdefault(f.task_id, []).append(f)
    records = []
    for agency in CAVEAT_AGENCIES:
        mine = [c for c in caveats if c.agency == agency]
        checks = tuple(CaveatCheck(c, *confirming(c.text, by_task.get(c.task_id, ()))) for c in mine if c.evaluated)
        records.append(CaveatRecord(agency, len(mine), len(checks), sum(c.confirmed for c in checks), checks))
    return tuple(records)


# --- reading the rows ----------------------------------------------------------------------------------


async def mind_agencies(db: Database, since: str = "") -> AgenciesReport:
    deliberations, failed_closed = await q.deliberation_counts(db, since)
    return agencies_report(await q.agency_tallies(db, since), deliberations, failed_closed)


async def mind_dissent(db: Database, since: str = "") -> DissentReport:
    return dissent_report(await q.dissent_votes(db, since))


async def mind_calibration(db: Database, since: str = "") -> Calibration:
    caveats = await q.caveats(db, CAVEAT_AGENCIES, since)
    findings = await q.findings_of(db, [c.task_id for c in caveats if c.evaluated])
    # The Economist's estimates against actual costs: the same checks as `reflect honest`, over the tasks that
    # ended since ``since`` (there by when they ended, as every reflection figure counts a task).
    checks = await economist_checks(db, since, FAR_FUTURE)
    return Calibration(
        guardian_calibration(await q.guardian_blocks(db, since)),
        economist_calibration(checks),
        caveat_records(caveats, findings),
    )
