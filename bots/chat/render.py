"""What a task's thread says, in any platform's markup: the words are shared, the markup is not.

Every function returns text already escaped for ``m`` and within its limit (long results are split
by ``Markup.document``). Nothing here posts anything.
"""

from __future__ import annotations

from datetime import datetime

from bots.chat.markup import Markup
from core.deliberation.verdict import NO_JUDGEMENT, Verdict
from core.events import ConfirmationNeeded, ConfirmationResolved, Evaluated, TaskFinished
from core.models import TaskStatus
from core.outputs import Agency, Directive, Simulation, Vote
from core.text import clip, one_line

VOTE_ICON = {
    Vote.APPROVE: "✅",
    Vote.APPROVE_WITH_CAVEAT: "☑️",
    Vote.ABSTAIN: "⚪",
    Vote.BLOCK: "⛔",
}
AGENCY_ICON = {
    Agency.GUARDIAN: "🛡️",
    Agency.ECONOMIST: "💰",
    Agency.EMPATH: "💛",
    Agency.SCHOLAR: "📚",
    Agency.STRATEGIST: "♟️",
}
STATUS_ICON = {
    TaskStatus.QUEUED: "⏳",
    TaskStatus.RUNNING: "🧠",
    TaskStatus.AWAITING_CONFIRMATION: "✋",
    TaskStatus.DONE: "✅",
    TaskStatus.BELOW_BAR: "⚠️",
    TaskStatus.ABORTED: "⏹️",
    TaskStatus.ESCALATED: "🙋",
    TaskStatus.FAILED: "❌",
    TaskStatus.CANCELLED: "🚫",
}
MAX_LINE = 300  # reasons and findings are clipped in thread lines; the full text is in `openkoi task show`


def tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def parent(m: Markup, task_id: str, description: str, requester: str, status: str) -> str:
    """The task's parent message: what was asked, by whom, and its live status."""
    title = one_line(description, 500)
    return (
        f"{m.bold('/think')} {m.escape(title)}\nasked by {m.escape(requester)} · task {m.code(task_id[:8])}\n{status}"
    )


def cannot_post(task_id: str, description: str, reason: str, remedy: str) -> str:
    """Plain text for the requester alone: their task's chat refused the thread, so it was cancelled."""
    return (
        f"I could not post in this chat, so task {task_id[:8]} ({one_line(description, 80)}) was cancelled"
        f" instead of running where nobody could see it. {reason}. {remedy} Then ask again."
    )


def lost_thread(task_id: str, description: str, reason: str, remedy: str, cancelled: bool) -> str:
    """Plain text for the requester alone: their task's chat stopped taking messages mid-task."""
    what = (
        "so it was cancelled instead of going on where nobody could see it"
        if cancelled
        else "so its last messages (its result) could not be posted"
    )
    return (
        f"I can no longer post in the thread of task {task_id[:8]} ({one_line(description, 80)}), {what}."
        f" {reason}. {remedy} Then ask again."
    )


def status_line(status: TaskStatus, detail: str = "") -> str:
    label = status.value.replace("_", " ")
    return f"{STATUS_ICON[status]} {label}" + (f" — {detail}" if detail else "")


def directive(m: Markup, d: Directive, fallback: bool) -> str:
    lines = [
        f"{m.bold('Sovereign')} · {m.italic(one_line(d.stance, 200))}" + (" (static fallback)" if fallback else "")
    ]
    lines += [f"• {m.escape(one_line(g, MAX_LINE))}" for g in d.good_looks_like]
    lines += [f"• constraint: {m.escape(one_line(c, MAX_LINE))}" for c in d.constraints]
    return "\n".join(lines)


def verdict(m: Markup, v: Verdict) -> str:
    head = "approved" if not v.blocked else ("blocked" if not v.fail_closed else "blocked (deliberation unavailable)")
    if v.blocked and v.vote_of(Agency.GUARDIAN) is not None and v.reason.startswith(NO_JUDGEMENT):
        head = f"blocked: {NO_JUDGEMENT}"
    lines = [f"{m.bold('Parliament')} · {head}"]
    for vote in v.votes:
        line = (
            f"{VOTE_ICON[vote.vote]} {AGENCY_ICON[vote.agency]} {m.bold(vote.agency.value.capitalize())} "
            f"{vote.vote.value}: {m.escape(one_line(vote.reason, MAX_LINE))}"
        )
        if vote.caveat:
            line += f" — caveat: {m.escape(one_line(vote.caveat, MAX_LINE))}"
        if vote.invalid:
            line += f" — ⚠️ {m.bold('invalid')}, not counted: {m.escape(one_line(vote.invalid, MAX_LINE))}"
        lines.append(line)
    if v.assessment is not None:
        a = v.assessment
        lines.append(
            f"reversibility {a.reversibility} · blast radius {a.blast_radius} · permission {a.permission_level}"
        )
    if v.caveats:
        lines.append(m.bold("Caveats (carried into the plan):"))
        lines += [f"• {m.escape(one_line(c, MAX_LINE))}" for c in v.caveats]
    return "\n".join(lines)


def iteration(m: Markup, e: Evaluated) -> str:
    score = f"{e.score:.2f}" if e.score is not None else "n/a"
    line = f"{m.bold(f'Iteration {e.iteration}')} · score {m.bold(score)}"
    if e.skipped:
        line += " (identical output: evaluation reused)"
    elif e.incremental:
        line += f" (incremental: {m.escape(', '.join(e.rescored))})"
    lines = [line]
    if e.evaluation is not None:
        lines.append(" · ".join(f"{m.escape(d.name)} {d.score:.2f}" for d in e.evaluation.dimensions))
        for f in e.evaluation.findings[:3]:
            lines.append(f"• [{f.severity.value}] {m.escape(f.dimension)}: {m.escape(one_line(f.description, 200))}")
    return "\n".join(lines)


def simulation(m: Markup, s: Simulation) -> str:
    lines = [m.bold("Simulation")]
    for f in s.futures:
        lines.append(f"{m.bold(one_line(f.label, 100))} — {m.escape(one_line(f.action, 200))}")
        lines.append(f"  consequence: {m.escape(one_line(f.consequence, 200))}")
        lines.append(f"  likely response: {m.escape(one_line(f.likely_response, 200))} · risk {f.risk}")
    lines.append(
        f"{m.bold('Recommendation')}: {m.escape(one_line(s.recommendation, 100))} — {m.escape(one_line(s.reason, MAX_LINE))}"
    )
    lines.append(f"champion: {s.champion.value.capitalize()} — {m.escape(one_line(s.champion_reason, MAX_LINE))}")
    if s.dissent is not None:
        lines.append(
            f"dissent: {s.dissent.value.capitalize()} — {m.escape(one_line(s.dissent_reason or '', MAX_LINE))}"
        )
    return "\n".join(lines)


def done(m: Markup, f: TaskFinished) -> str:
    its = f"{f.iterations} iteration{'s' if f.iterations != 1 else ''}"
    spent = f"{tokens(f.tokens)} tokens, ${f.cost_usd:.4f}"
    score = f", score {f.score:.2f}" if f.score is not None else ""
    learned = f", {f.learnings} learning{'s' if f.learnings != 1 else ''} saved"
    if f.status is TaskStatus.DONE:
        # "Done" claims the bar was met; an unscored ending (a read-only answer, a simulation) says so.
        unscored = "" if f.score is not None else f" (not scored: {m.escape(clip(f.reason or 'no evaluation', 100))})"
        return f"{STATUS_ICON[f.status]} {m.bold('Done')}{unscored} · {its}, {spent}{score}{learned}"
    if f.status is TaskStatus.BELOW_BAR:
        figures = f"{f.score:.2f} < {f.bar:.2f}" if f.score is not None and f.bar is not None else "not scored"
        return (
            f"{STATUS_ICON[f.status]} {m.bold('Finished below the bar')} ({figures}) after {its}: "
            f"{m.escape(one_line(f.reason, MAX_LINE))} · {spent}{learned}"
        )
    if f.status is TaskStatus.FAILED:
        return failure(m, f.reason)
    reason = f": {m.escape(one_line(f.reason, MAX_LINE))}" if f.reason else ""
    return f"{STATUS_ICON[f.status]} {m.bold(f.status.value.capitalize())}{reason} · {its}, {spent}{score}"


BLOCKED_BY = {
    "guardian_block": "The Guardian blocked this task",
    "guardian_invalid": "The Guardian gave no usable judgement",
    "floor": "The rule floor blocked this task",
}


def confirmation(m: Markup, c: ConfirmationNeeded, ttl_minutes: float) -> str:
    """The block, the floor's rules and the Guardian's ballot beside it, and what an approver may do."""
    what = BLOCKED_BY.get(c.kind, "The Parliament blocked this task")
    return "\n".join(
        [
            f"✋ {m.bold(what)}: {m.escape(one_line(c.reason, 600))}",
            *(f"• {m.escape(clip(line, 400))}" for line in c.gate),
            f"reversibility {c.reversibility or 'unknown'} · blast radius {c.blast_radius or 'unknown'}"
            f" · permission {c.permission_level or 'ELEVATED'}",
            f"An approver may {m.bold('Override')} (run it anyway) or {m.bold('Cancel')}."
            f" This request expires in {ttl_minutes:g} minutes."
            f" Text fallback: {m.code(f'/think approve {c.confirmation_id}')} or {m.code(f'/think deny {c.confirmation_id}')}",
        ]
    )


def confirmation_decided(m: Markup, original_reason: str, r: ConfirmationResolved, when: datetime) -> str:
    at = when.strftime("%Y-%m-%d %H:%M UTC")
    if r.expired:
        outcome = f"⌛ {m.bold('Expired')} at {at} without a decision — the task was cancelled."
    elif r.approved:
        outcome = f"🔓 {m.bold('Overridden')} by {m.escape(r.decided_by or 'someone')} at {at} — the task continues."
    else:
        outcome = f"🚫 {m.bold('Cancelled')} by {m.escape(r.decided_by or 'someone')} at {at}."
    return f"✋ Blocked: {m.escape(one_line(original_reason, 600))}\n{outcome}"


def failure(m: Markup, error: str) -> str:
    return f"❌ {m.bold('Failed')}: {m.escape(one_line(error, 1000))}"


def notice(m: Markup, text: str) -> str:
    return f"⚠️ {m.escape(one_line(text, 1000))}"
