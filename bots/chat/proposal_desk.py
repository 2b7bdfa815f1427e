"""Approve / Dismiss presses under a skill proposal in a digest, from any platform.

The same guarantees as Override / Cancel: only approvers decide (the ``approvers`` / ``approver_roles``
of the platform's ``access``); a decision is single-use (``decide_proposal``: of two presses, in one
channel or two, exactly one wins) and an approval installs the skill; the buttons expire
``proposal_ttl_hours`` after the digest was posted (the proposal then stays pending for
`openkoi learn`); a button carries only its card's opaque id, so presses work after a restart. The
messages showing the proposal (the one pressed first, then those in other digest channels) are edited
to show who decided, without buttons. Every refusal is private. A proposal named like an existing skill
(of the skills home, of ``workspace``, or a bundled one that guards the loop) is installed under a free
name, and both the answer and the edited card say so: a proposal never replaces a skill.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from bots.chat import digest as render
from bots.chat.access import AccessPolicy
from bots.chat.pacing import Pacer
from bots.chat.platform import Actor, ChatPlatform, Outgoing, Reply
from bots.chat.presses import NO_LONGER_VALID
from core.errors import ConfigError
from core.models import utcnow
from core.reflection.proposals import ProposalDecision, decide_proposal
from core.store import Store

log = logging.getLogger(__name__)


@dataclass
class ProposalDesk:
    store: Store
    skills_home: Path
    policies: Mapping[str, AccessPolicy]
    # The adapters by name (the service's live dict: adapters are added after the desk is built).
    platforms: Mapping[str, ChatPlatform]
    pacer: Pacer = field(default_factory=Pacer)
    # The service's workspace ([tools] workspace), whose skills a proposal must not take the name of.
    workspace: Path | None = None

    async def press(self, actor: Actor, card_id: str, approve: bool) -> Reply:
        """Decide the proposal behind a card. A decision is announced by editing the card (the reply is
        then public, for a toast); every refusal is private and changes nothing."""
        card = await self.store.digests.card(card_id)
        proposal = await self.store.proposals.get(card.proposal_id) if card else None
        if card is None or proposal is None or actor.platform != card.platform:
            return Reply(NO_LONGER_VALID, private=True)
        if proposal.status != "pending":
            return Reply(already(proposal.name, proposal.status, proposal.decided_by), private=True)
        if card.expires_at <= utcnow():
            return Reply(
                f"These buttons have expired, so nothing changed; skill proposal {proposal.name} is still pending."
                f" Decide it with `openkoi learn approve {proposal.id}` or `openkoi learn dismiss {proposal.id}`.",
                private=True,
            )
        policy = self.policies.get(card.platform)
        if policy is None or not policy.is_approver(actor):
            log.info("refused %s deciding skill proposal %s", actor.label, proposal.id)
            return Reply(refusal(card.platform, policy), private=True)
        decision: Literal["approved", "dismissed"] = "approved" if approve else "dismissed"
        try:
            outcome = await decide_proposal(
                self.store.db, self.skills_home, proposal.id, decision, actor.label, workspace=self.workspace
            )
        except LookupError:
            return Reply(NO_LONGER_VALID, private=True)
        except (ConfigError, OSError) as exc:
            log.warning("skill proposal %s could not be installed: %s", proposal.id, exc)
            return Reply(f"Not approved: the skill could not be installed ({exc}).", private=True)
        if not outcome.won:
            decided = outcome.proposal
            return Reply(already(decided.name, decided.status, decided.decided_by), private=True)
        log.info("skill proposal %s %s by %s", proposal.id, decision, actor.label)
        # Every message showing the proposal (one per digest channel it went to) now shows who decided,
        # the one pressed first, so that no one presses a stale button elsewhere.
        cards = await self.store.digests.cards_for(proposal.id)
        for shown in sorted(cards, key=lambda c: c.id != card.id):
            await self._show_decision(shown.platform, shown.channel_id, shown.message_id, outcome)
        placed = outcome.installation
        if approve and placed is not None and placed.renamed:
            return Reply(f"Approved by {actor.name}: the skill {placed.describe()} is installed.")
        if approve:
            return Reply(f"Approved by {actor.name}: the skill {outcome.proposal.name} is installed.")
        return Reply(f"Dismissed by {actor.name}.")

    async def _show_decision(
        self, platform_name: str, channel_id: str, message_id: str | None, outcome: ProposalDecision
    ) -> None:
        platform = self.platforms.get(platform_name)
        if platform is None or message_id is None:
            return
        proposal = outcome.proposal
        when = datetime.fromisoformat(proposal.decided_at) if proposal.decided_at else utcnow()
        text = render.proposal_decided(platform.markup, proposal, when, outcome.installation)
        try:
            await self.pacer.turn(platform.name, channel_id, platform.pace(channel_id))
            await platform.edit_in_channel(channel_id, message_id, Outgoing(text))
        except Exception:  # the decision stands; only its display failed
            log.exception("editing the skill proposal message %s in %s failed", message_id, channel_id)


def already(name: str, status: str, decided_by: str | None) -> str:
    by = f" by {decided_by}" if decided_by else ""
    return f"Skill proposal {name} was already {status}{by}."


def refusal(platform: str, policy: AccessPolicy | None) -> str:
    key = f"[{platform}.access]"
    if policy is not None and policy.has_approvers:
        return f"Sorry, only the approvers configured in {key} may approve or dismiss skill proposals."
    return (
        f"Skill proposals need an approver, and none is configured: set approvers (or approver_roles) in {key}"
        " in config.toml, or decide it with `openkoi learn approve|dismiss <id>`."
    )
