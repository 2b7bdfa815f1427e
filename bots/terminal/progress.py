"""Progress on stderr in the seed's style: [SOVEREIGN], [PARLIAMENT], [SKILL], [EXEC], [EVAL], [REFN], [LEARNED]."""

from __future__ import annotations

from typing import TextIO

from core.deliberation.verdict import Verdict
from core.events import (
    ActionApprovalNeeded,
    ActionEnded,
    ActionOutput,
    ActionReviewed,
    ConfirmationNeeded,
    Decided,
    DeliberationReady,
    DirectiveReady,
    Evaluated,
    Event,
    Executed,
    IterationStarted,
    Learned,
    Notice,
    PlanReady,
    Recalled,
    Refining,
    SkillsChosen,
    TaskFailed,
    TaskFinished,
    ToolCalled,
)
from core.models import TaskStatus
from core.outputs import Agency, Vote

VOTE_MARK = {
    Vote.APPROVE: "APPROVE",
    Vote.APPROVE_WITH_CAVEAT: "APPROVE+",
    Vote.ABSTAIN: "ABSTAIN",
    Vote.BLOCK: "BLOCK",
}


def tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def parliament_line(verdict: Verdict) -> str:
    return " ".join(
        f"{v.agency.value.capitalize()}={VOTE_MARK[v.vote]}" + ("(invalid)" if v.invalid else "") for v in verdict.votes
    )


def parliament_detail(verdict: Verdict) -> list[str]:
    lines = []
    for vote in verdict.votes:
        lines.append(f"  {vote.agency.value.upper()} -- {vote.vote.value}" + (" (invalid)" if vote.invalid else ""))
        lines.append(f'    "{vote.reason}"')
        if vote.invalid:
            lines.append(f"    not a judgement: {vote.invalid}")
        if vote.caveat:
            lines.append(f"    caveat: {vote.caveat}")
        if vote.agency is Agency.GUARDIAN and verdict.assessment is not None:
            a = verdict.assessment
            lines.append(
                f"    Reversibility: {a.reversibility}  Blast radius: {a.blast_radius}  Permission: {a.permission_level}"
            )
    if verdict.fail_closed:
        lines.append("  (deliberation unavailable: treated as a Guardian BLOCK)")
    return lines


def below_bar(f: TaskFinished) -> str:
    """ "below the bar (0.20 < 0.80)", or without the figures it lacks."""
    if f.score is None:
        return "below the bar (not scored)"
    bar = f" < {f.bar:.2f}" if f.bar is not None else ""
    return f"below the bar ({f.score:.2f}{bar})"


class Progress:
    """An event subscriber that writes progress lines; ``quiet`` silences all but errors."""

    def __init__(self, stream: TextIO, verbose: bool = False, quiet: bool = False) -> None:
        self.stream = stream
        self.verbose = verbose
        self.quiet = quiet

    def say(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        if self.quiet and not (isinstance(event, TaskFinished) and event.status is TaskStatus.FAILED):
            return
        for line in self.lines(event):
            self.say(line)

    def lines(self, event: Event) -> list[str]:
        match event:
            case Recalled(learnings=n, tokens=t) if n or self.verbose:
                return [f"[recall] {n} learnings ({t} tokens)"]
            case DirectiveReady(directive=d, fallback=fb):
                return [f'[SOVEREIGN] "{d.stance}"' + (" (fallback)" if fb else "")]
            case DeliberationReady(verdict=Verdict() as v):
                out = [f"[PARLIAMENT] {parliament_line(v)}"]
                if self.verbose or v.blocked or v.invalid:
                    out += parliament_detail(v)
                if v.caveats and self.verbose:
                    out += [f"  caveat → {c}" for c in v.caveats]
                return out
            case ConfirmationNeeded(reason=r, reversibility=rev, blast_radius=br, permission_level=pl):
                return [
                    "",
                    "  ESCALATION",
                    f"  Blocked: {r}",
                    f"  Reversibility: {rev or 'unknown'}  Blast radius: {br or 'unknown'}  Permission: {pl or 'ELEVATED'}",
                ]
            case SkillsChosen(skills=names, asked_for=asked) if names:
                shown = [f"{n} (asked for)" if n == asked else n for n in names]
                return [f"[SKILL] {', '.join(shown)}"]
            case PlanReady(plan=p, fallback=fb):
                out = [
                    f"[PLAN] {p.category} rubric, {len(p.steps)} step{'s' if len(p.steps) != 1 else ''}"
                    + (", read-only" if p.read_only else "")
                    + (" (fallback)" if fb else "")
                ]
                if self.verbose:
                    out += [f"  {n}. {s.title}" for n, s in enumerate(p.steps, 1)]
                return out
            case IterationStarted(iteration=i, max_iterations=m) if self.verbose:
                return [f"[iter {i}/{m}]"]
            case ToolCalled(name=name, arguments=args, repeat_count=n, warning=w):
                return [f"[TOOL] {name}({args})" + (f"  ! repeated {n}×" if w else "")]
            case ActionReviewed(tool=name, effect=eff, decision=d, reasons=why, preview=args):
                line = f"[ACT] {name}({args}) {eff}: {d}"
                return [line + (f" — {'; '.join(why)}" if why and d != "run" else "")]
            case ActionApprovalNeeded():
                return []  # the approver asks, with the whole card
            case ActionOutput(chunk=text) if self.verbose:
                return [f"  | {line}" for line in text.splitlines()]
            case ActionEnded(tool=name, outcome=o, duration_ms=ms, error=err):
                return [f"[ACT] {name}: {o} in {ms:,.0f} ms" + (f" — {err}" if err else "")]
            case Executed(iteration=i, output_chars=c, revision=r, truncated=cut):
                mark = " (cut off at the output limit: incomplete)" if cut else ""
                return [f"[{'REFN' if r else 'EXEC'}] iteration {i}: {c:,} characters{mark}"]
            case Evaluated(score=s, evaluation=e, incremental=inc, skipped=sk, rescored=rs) if s is not None:
                dims = " ".join(f"{d.name}={d.score:.2f}" for d in e.dimensions) if e else ""
                note = (
                    " (identical output: evaluation reused)"
                    if sk
                    else (f" (incremental: {', '.join(rs)})" if inc else "")
                )
                out = [f"[EVAL] score={s:.2f} {dims}{note}"]
                if e:
                    out += [f"  ! [{f.severity.value}] {f.dimension}: {f.description}" for f in e.findings[:3]]
                return out
            case Refining(findings=fs) if fs:
                return [f"[REFN] {fs[0].dimension}: {fs[0].fix}"]
            case Decided(decision=d, reason=r) if self.verbose:
                return [f"[DECIDE] {d.value}: {r}"]
            case Learned(text=t, reinforced=rf):
                return [f'[LEARNED] "{t}"' + (" (reinforced)" if rf else "")]
            case Notice(text=t, level=lvl) if self.verbose or lvl in {"warn", "error"}:
                return [f"[note] {t}"]
            case TaskFailed():
                return []  # said once, by TaskFinished
            case TaskFinished() as f:
                return [self.finished(f)]
        return []

    @staticmethod
    def finished(f: TaskFinished) -> str:
        spent = f"{tokens(f.tokens)} tokens, ${f.cost_usd:.2f}"
        its = f"{f.iterations} iteration{'s' if f.iterations != 1 else ''}"
        score = f", score {f.score:.2f}" if f.score is not None else ""
        learned = f", {f.learnings} learning{'s' if f.learnings != 1 else ''} saved" if f.learnings else ""
        if f.status is TaskStatus.DONE:
            # "Done" claims the bar was met; an unscored ending (a read-only answer, a simulation) says so.
            unscored = "" if f.score is not None else f" (not scored: {f.reason or 'no evaluation'})"
            return f"✓ Done{unscored}. {its}, {spent}{score}{learned}"
        if f.status is TaskStatus.BELOW_BAR:
            return f"⚠ Finished {below_bar(f)} after {its}: {f.reason}. {spent}{learned}"
        if f.status is TaskStatus.AWAITING_CONFIRMATION:
            return "… Waiting for a person's confirmation."
        if f.status is TaskStatus.FAILED:
            return f"✗ Failed: {f.reason}"
        return f"✗ {f.status.value.capitalize()}: {f.reason}. {its}, {spent}{score}"
