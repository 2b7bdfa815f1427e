"""What a task's thread says about its actions, in any platform's markup: the approval card (what will run, why
the agent wants it, its class and rule, Allow once / Allow always / Deny), the card once decided, and one
message per call that is edited as its output arrives and when it ends.

Output is shown as its latest ``OUTPUT_TAIL`` characters in a code block: the whole of it went to the model
(within the tool's own limits), a thread only needs to show what is happening.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bots.chat.markup import Markup
from bots.chat.platform import Button
from core.events import ActionApprovalNeeded
from core.store.actions import ActionApproval
from core.text import clip, one_line

OUTPUT_TAIL = 1000  # characters of a call's output shown in its message (its latest)
KEPT = 4 * OUTPUT_TAIL  # what is kept of the output while it streams
LINE = 300
EFFECT_ICON = {"read": "🔎", "write": "✏️", "destructive": "💥"}


def card(m: Markup, e: ActionApprovalNeeded) -> str:
    """The approval card: everything a person needs to decide, and what each button does."""
    expires = datetime.fromisoformat(e.expires_at).strftime("%H:%M UTC")
    floor = f" · floor: {', '.join(e.rules)}" if e.rules else ""
    lines = [
        f"{EFFECT_ICON.get(e.effect, '🔧')} {m.bold('Action needs a person')}: {m.code(e.tool)}",
        f"• arguments: {m.code(clip(e.preview, LINE))}",
        f"• class: {m.escape(e.effect)} · domain {m.escape(e.domain)}{m.escape(floor)}",
        *(f"• why asked: {m.escape(one_line(reason, LINE))}" for reason in e.reasons),
    ]
    if e.reason:
        lines.append(f"• the agent says: {m.escape(one_line(e.reason, LINE))}")
    lines.append(
        f"An approver may {m.bold('Allow once')} (this exact call), {m.bold('Allow always')} ({m.escape(e.tool)}"
        f" in {m.escape(e.domain)}, without asking again) or {m.bold('Deny')}. Expires at {expires}."
    )
    return "\n".join(lines)


def card_buttons(approval_id: str) -> tuple[Button, ...]:
    return (
        Button("Allow once", "act_once", approval_id),
        Button("Allow always", "act_always", approval_id),
        Button("Deny", "act_deny", approval_id),
    )


def decided(m: Markup, approval: ActionApproval) -> str:
    """The card once decided or expired, without its buttons: what it was for, who decided, when."""
    icon = EFFECT_ICON.get(approval.effect.value, "🔧")
    head = f"{icon} {m.code(approval.tool)} {m.code(clip(approval.preview, LINE))}"
    at = (approval.decided_at or approval.expires_at).strftime("%Y-%m-%d %H:%M UTC")
    by = m.escape(approval.decided_by or "someone")
    match approval.status:
        case "allowed_once":
            outcome = f"✅ {m.bold('Allowed once')} by {by} at {at}."
        case "allowed_always":
            outcome = (
                f"✅ {m.bold('Allowed always')} by {by} at {at}: {m.escape(approval.tool)} in"
                f" {m.escape(approval.domain)} runs without asking from now on."
            )
        case "denied":
            outcome = f"🚫 {m.bold('Denied')} by {by} at {at}; it did not run."
        case "expired":
            outcome = f"⌛ {m.bold('Expired')} at {at} without a decision; it did not run."
        case _:
            outcome = f"✋ waiting for an approver (until {approval.expires_at.strftime('%H:%M UTC')})."
    return f"{head}\n{outcome}"


@dataclass
class CallView:
    """One call's message in the thread: a header, its output so far, and how it ended."""

    tool: str
    preview: str
    effect: str
    state: str = "running"  # running, denied, ok, error, timeout
    detail: str = ""  # why it was denied, or the error
    duration_ms: float | None = None
    output: str = ""

    def add(self, chunk: str) -> None:
        self.output = (self.output + chunk)[-KEPT:]

    def render(self, m: Markup) -> str:
        icon = EFFECT_ICON.get(self.effect, "🔧")
        head = f"{icon} {m.code(self.tool)} {m.code(clip(self.preview, LINE))}"
        took = f" in {self.duration_ms:.0f} ms" if self.duration_ms is not None else ""
        match self.state:
            case "running":
                status = "▶️ running…"
            case "denied":
                status = f"🚫 {m.bold('Did not run')}: {m.escape(one_line(self.detail, LINE))}"
            case "ok":
                status = f"✅ ran{took}"
            case "timeout":
                status = f"⌛ {m.bold('Timed out')}{took}: {m.escape(one_line(self.detail, LINE))}"
            case _:
                status = f"❌ {m.bold('Failed')}{took}: {m.escape(one_line(self.detail, LINE))}"
        text = f"{head}\n{status}"
        if self.output.strip():
            tail = self.output[-OUTPUT_TAIL:]
            cut = "…" if len(self.output) > OUTPUT_TAIL else ""
            # The output is shown as it is, in a fence it cannot close early.
            fenced = "```\n" + cut + tail.replace("```", "'''").rstrip("\n") + "\n```"
            text += "\n" + m.convert(fenced)
        return text
