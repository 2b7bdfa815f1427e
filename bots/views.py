"""What `openkoi mind agencies|dissent|calibrate` and `openkoi soul show` say, as a title and titled sections
of plain lines: the terminal prints them (``bots.terminal.mind``, ``bots.terminal.soul``), chat renders them
in a platform's markup (``bots.chat.views``). The words are shared; the markup is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.deliberation.soul import SoulReading
from core.reflection.mind import AgenciesReport, Calibration, CaveatRecord, DissentReport, Endings
from core.text import Section, one_line

SHORT = 70  # a task or a reason quoted in a line
ENDING_WORDS = {
    "below_bar": "below the bar",
    "blocked": "never ran (not overridden)",
    "waiting": "waiting for a person",
    "unfinished": "not finished",
}
VOTE_WORDS = {"APPROVE": "approve", "APPROVE_WITH_CAVEAT": "caveat", "ABSTAIN": "abstain", "BLOCK": "block"}
CONFIRMED_RULE = (
    "A caveat is confirmed when a finding on the same task shares at least two content words with it,"
    " or half of its own (stop words dropped, plurals folded)."
)


@dataclass(frozen=True)
class View:
    title: str
    sections: tuple[Section, ...]

    def plain(self) -> str:
        """The view as the terminal prints it."""
        out = [self.title]
        for s in self.sections:
            out += ["", s.title, *(f"  {line}" for line in s.lines)]
        return "\n".join(out)


def ending(word: str) -> str:
    return ENDING_WORDS.get(word, word.replace("_", " "))


def endings(e: Endings) -> str:
    """ "done 2, failed 1 — 1 went badly; mean score 0.75" """
    if not e.tasks:
        return "none"
    parts = ", ".join(f"{ending(k)} {n}" for k, n in sorted(e.counts.items(), key=lambda kv: (-kv[1], kv[0])))
    badly = f" — {e.badly} went badly" if e.badly else ""
    mean = f"; mean score {e.mean_score:.2f}" if e.mean_score is not None else ""
    return f"{parts}{badly}{mean}"


def _task(task_id: str, description: str) -> str:
    return f"{task_id[:8]} {one_line(description, SHORT)}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{ending(k)} {n}" for k, n in sorted(counts.items())) or "none"


def agencies_view(report: AgenciesReport) -> View:
    closed = (
        f"; {report.failed_closed} deliberation{'s' if report.failed_closed != 1 else ''} failed closed"
        " (no usable reply: not counted as anyone's judgement)"
        if report.failed_closed
        else ""
    )
    title = f"Each agency's record over {report.deliberations} deliberated task{'s' if report.deliberations != 1 else ''}{closed}"
    sections = []
    for r in report.agencies:
        votes = " · ".join(f"{VOTE_WORDS.get(v, v.lower())} {n}" for v, n in r.votes.items())
        lines = (
            votes,
            f"approved {r.approved.tasks}: {endings(r.approved)}",
            f"blocked {r.blocked.tasks}: {endings(r.blocked)}",
        )
        sections.append(Section(f"{r.agency.capitalize()} ({r.total} vote{'s' if r.total != 1 else ''})", lines))
    if not report.deliberations:
        sections = [Section("No deliberations yet", ("Run a task: every task is deliberated first.",))]
    return View(title, tuple(sections))


def dissent_view(report: DissentReport, limit: int = 10) -> View:
    n = len(report.cases)
    title = f"Dissent: {n} task{'s' if n != 1 else ''} where a vote went against the verdict"
    if not n:
        return View(title, (Section("No dissent yet", ("Every deliberation so far was unanimous with its verdict.",)),))
    by_agency = tuple(
        f"{t.agency}: {t.dissents} dissent{'s' if t.dissents != 1 else ''}, borne out {t.borne_out},"
        f" not {t.not_borne_out}, cannot tell {t.dissents - t.borne_out - t.not_borne_out}"
        for t in report.by_agency
    )
    lines: list[str] = []
    for case in report.cases[:limit]:
        override = f", overridden by {case.overridden_by}" if case.overridden_by else ""
        score = f" (score {case.score:.2f})" if case.score is not None else ""
        lines.append(
            f"{_task(case.task_id, case.description)} — verdict {case.verdict.replace('_', ' ')}{override};"
            f" ended {ending(case.ending)}{score}"
        )
        for d in case.dissenters:
            judged = {True: "borne out", False: "not borne out", None: "cannot tell"}[d.borne_out]
            lines.append(f"↳ {d.agency} {VOTE_WORDS.get(d.vote, d.vote)}: {one_line(d.reason, SHORT)} — {judged}")
    more = [f"… and {n - limit} older"] if n > limit else []
    rule = (
        "A block under an approval is borne out when the task went badly; an approval under a block, when"
        " a person overrode it and the task ended done."
    )
    return View(title, (Section("By agency", (*by_agency, rule)), Section("Newest first", (*lines, *more))))


def calibration_view(c: Calibration, limit: int = 5) -> View:
    g = c.guardian
    guardian = [
        f"{g.blocks} block{'s' if g.blocks != 1 else ''}: {g.overridden.tasks} overridden by a person"
        f" ({endings(g.overridden)}); not overridden: {_counts(g.not_overridden)}"
    ]
    for b in g.overrides[:limit]:
        score = f" (score {b.score:.2f})" if b.score is not None else ""
        guardian.append(
            f"{_task(b.task_id, b.description)} — overridden by {b.decided_by}; ended {ending(b.ending)}{score}"
        )
    e = c.economist
    if e.forecasts is None:
        economist = ["no task with a cost estimate has ended yet"]
    else:
        f = e.forecasts
        economist = [
            f"{f.tasks} task{'s' if f.tasks != 1 else ''} with an estimate: estimated ${f.predicted_usd:.4f},"
            f" cost ${f.actual_usd:.4f}; mean miss ${e.mean_miss_usd or 0:.4f};"
            f" within half of the estimate {e.within_half} of {f.tasks}"
        ]
        for w in f.worst[:limit]:
            economist.append(
                f"{_task(w.task_id, w.description)} — estimated ${w.predicted_cost_usd or 0:.4f}, cost ${w.actual_cost_usd:.4f}"
            )
    sections = [Section("Guardian", tuple(guardian)), Section("Economist", tuple(economist))]
    sections += [_caveats(r, limit) for r in c.caveats]
    sections.append(Section("How a caveat is checked", (CONFIRMED_RULE,)))
    return View("Calibration: each agency's judgements against what happened", tuple(sections))


def _caveats(r: CaveatRecord, limit: int) -> Section:
    lines = [
        f"{r.caveats} caveat{'s' if r.caveats != 1 else ''}, {r.evaluated} on evaluated tasks,"
        f" {r.confirmed} confirmed by the evaluator's findings"
    ]
    for check in r.checks[:limit]:
        said = one_line(check.caveat.text, SHORT)
        if check.finding is not None:
            lines.append(
                f"✓ {check.caveat.task_id[:8]} “{said}” ← {check.finding.severity} {check.finding.dimension}:"
                f" {one_line(check.finding.description, SHORT)} (shared: {', '.join(check.shared)})"
            )
        else:
            lines.append(f"✗ {check.caveat.task_id[:8]} “{said}” — no finding about it")
    return Section(r.agency.capitalize(), tuple(lines))


def soul_view(reading: SoulReading) -> View:
    in_force = next((p for p in reading.places if p.found), None)
    looked = [
        f"{p.label}: {p.path} ({'in force' if p is in_force else 'also there, not used' if p.found else 'not there'})"
        for p in reading.places
    ]
    looked.append(f"bundled default ({'in force' if in_force is None else 'used when neither is there'})")
    sections = [
        Section("Looked in, in order", tuple(looked)),
        Section(
            "How the Sovereign reads it",
            (
                "The whole file, as the SOUL section of every directive prompt (halved only when a prompt would not fit).",
            ),
        ),
    ]
    for s in reading.sections:
        sections.append(Section(s.title or "(introduction)", (*s.prose, *(f"- {item}" for item in s.items))))
    if not reading.sections:
        sections.append(Section("(empty)", ("The Sovereign frames tasks with no values of the team's.",)))
    heading = f" — {reading.title}" if reading.title else ""
    return View(f"SOUL.md in force: {reading.origin}{heading}", tuple(sections))
