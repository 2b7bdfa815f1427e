"""What a reflection digest says in chat, in any platform's markup: the words are shared, the markup is not.

A digest is its headline (always the first line of the first message), its sparklines, its
sections, then one message per pending skill proposal with Approve / Dismiss buttons. Every text
returned here is escaped for ``m`` and fits its limit (as the platform counts it). Nothing here posts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bots.chat.markup import Markup
from bots.chat.split import split_message
from core.reflection.digest import Digest
from core.reflection.proposals import Installation
from core.store.proposals import Proposal
from core.text import clip, one_line

# A digest line is a sentence or a figure; clipping keeps every cut on a line boundary (never inside
# a tag or an entity of the converted markup).
MAX_LINE = 500
KIND_ICON = {"recurring": "🔁", "time": "🕘", "sequence": "⛓️"}


def measure_for(m: Markup) -> Callable[[str], int]:
    """How ``m``'s platform counts a message's length (e.g. Telegram: visible characters after its HTML)."""
    return m.measure


def title(digest: Digest) -> str:
    """ "Daily digest · 2026-11-30" / "Weekly digest · week of 2026-11-23"."""
    start = digest.period.start.date().isoformat()
    return f"Daily digest · {start}" if digest.kind == "daily" else f"Weekly digest · week of {start}"


def digest_messages(m: Markup, digest: Digest) -> list[str]:
    """The digest's own messages (without proposals), split within ``m.limit``; the first one starts
    with the headline. An empty digest is its headline (and title) alone."""
    lines = [f"📊 {m.bold(one_line(digest.headline, MAX_LINE))}", m.italic(title(digest))]
    if not digest.empty:
        if digest.sparklines:
            lines.append("")
            width = max(len(name) for name in digest.sparklines)
            for name, spark in digest.sparklines.items():
                lines.append(f"{m.escape(name.ljust(width))}  {m.escape(one_line(spark, MAX_LINE))}")
        for section in digest.sections:
            lines.append("")
            lines.append(m.bold(one_line(section.title, 200)))
            lines += [f"• {m.escape(one_line(line, MAX_LINE))}" for line in section.lines]
    return split_message("\n".join(lines), m.limit, measure_for(m))


def proposal_card(m: Markup, proposal: Proposal, ttl_hours: float) -> str:
    """One pending skill proposal, to be posted with Approve / Dismiss buttons."""
    icon = KIND_ICON.get(proposal.kind, "💡")
    figures = f"{proposal.kind} pattern · support {proposal.support} · confidence {proposal.confidence:.2f}"
    return "\n".join(
        [
            f"💡 {m.bold('Skill proposal')}: {m.code(proposal.name)}",
            f"{icon} {m.escape(figures)}",
            m.escape(one_line(proposal.description, 1000)),
            f"An approver may {m.bold('Approve')} (install it as a skill) or {m.bold('Dismiss')} it;"
            f" the buttons work for {ttl_hours:g} hours. Details: {m.code(f'openkoi learn show {proposal.id}')}",
        ]
    )


def proposal_decided(m: Markup, proposal: Proposal, when: datetime, placed: Installation | None = None) -> str:
    """The card once decided: who decided and when, without buttons; for an approval renamed because its
    name was taken (``placed``), the name it had and why it could not keep it."""
    at = when.strftime("%Y-%m-%d %H:%M UTC")
    who = m.escape(proposal.decided_by or "someone")
    if proposal.status == "approved":
        outcome = f"✅ {m.bold('Approved')} by {who} at {at} — installed as the skill {m.code(proposal.name)}."
        if placed is not None and placed.renamed:
            why = clip(f"{placed.taken_by}; a proposal never replaces a skill", 300)
            outcome += f"\n↪️ Renamed from {m.code(placed.proposed_name)}: {m.escape(why)}."
    else:
        outcome = f"🗑️ {m.bold('Dismissed')} by {who} at {at}."
    return f"💡 {m.bold('Skill proposal')}: {m.code(proposal.name)}\n{m.escape(one_line(proposal.description, 300))}\n{outcome}"
