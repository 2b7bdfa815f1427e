"""Override / Cancel, 👍 / 👎 and a skill proposal's Approve / Dismiss buttons that keep working across restarts.

A button's whole state is its ``custom_id`` (``openkoi:approve:<confirmation id>``,
``openkoi:up:<feedback request id>``, ``openkoi:skill_approve:<proposal card id>``), matched by a ``DynamicItem`` template registered on the
client at start-up. So a press on a message posted by a previous process still reaches its desk: no
view needs to be remembered, and no View timeout can silently kill the buttons (views are created
with ``timeout=None``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

import discord

from bots.chat.platform import Button
from bots.discord.custom_id import (
    FEEDBACK_TEMPLATE,
    PROPOSAL_TEMPLATE,
    TEMPLATE,
    Action,
    ProposalAction,
    VoteAction,
    custom_id,
)

log = logging.getLogger(__name__)

LABEL_LIMIT = 80  # Discord's limit for a button label
DEFAULT_LABELS: dict[Action, str] = {"approve": "Override", "deny": "Cancel"}
VOTE_LABELS: dict[VoteAction, str] = {"up": "👍", "down": "👎"}
PROPOSAL_LABELS: dict[ProposalAction, str] = {"skill_approve": "Approve", "skill_dismiss": "Dismiss"}


class PressHandler(Protocol):
    """Whoever decides presses; the client that received the interaction exposes one as ``press_handler``."""

    async def on_press(self, interaction: discord.Interaction[Any], action: Action, confirmation_id: str) -> None: ...

    async def on_vote(self, interaction: discord.Interaction[Any], vote: VoteAction, request_id: str) -> None: ...

    async def on_proposal(
        self, interaction: discord.Interaction[Any], action: ProposalAction, card_id: str
    ) -> None: ...


def _handler(interaction: discord.Interaction[Any], custom: str) -> PressHandler | None:
    handler: PressHandler | None = getattr(interaction.client, "press_handler", None)
    if handler is None:  # a client we did not build; nothing can decide the press
        log.warning("press on %s reached a client without a press handler", custom)
    return handler


class ConfirmationButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """One Override (danger) or Cancel (secondary) button for a pending confirmation."""

    def __init__(self, action: Action, confirmation_id: str, label: str | None = None) -> None:
        style = discord.ButtonStyle.danger if action == "approve" else discord.ButtonStyle.secondary
        text = (label or DEFAULT_LABELS[action])[:LABEL_LIMIT]
        super().__init__(discord.ui.Button(label=text, style=style, custom_id=custom_id(action, confirmation_id)))
        self.action: Action = action
        self.confirmation_id = confirmation_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ConfirmationButton:
        action: Action = "approve" if match["action"] == "approve" else "deny"
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(action, match["cid"], label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = _handler(interaction, self.custom_id)
        if handler is not None:
            await handler.on_press(interaction, self.action, self.confirmation_id)


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=FEEDBACK_TEMPLATE):
    """👍 or 👎 under a finished task's last message."""

    def __init__(self, vote: VoteAction, request_id: str, label: str | None = None) -> None:
        text = (label or VOTE_LABELS[vote])[:LABEL_LIMIT]
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=text, style=discord.ButtonStyle.secondary, custom_id=custom_id(vote, request_id)
        )
        super().__init__(button)
        self.vote: VoteAction = vote
        self.request_id = request_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        vote: VoteAction = "up" if match["vote"] == "up" else "down"
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(vote, match["fid"], label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = _handler(interaction, self.custom_id)
        if handler is not None:
            await handler.on_vote(interaction, self.vote, self.request_id)


class ProposalButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=PROPOSAL_TEMPLATE):
    """Approve (success) or Dismiss (secondary) under a skill proposal in a digest."""

    def __init__(self, action: ProposalAction, card_id: str, label: str | None = None) -> None:
        style = discord.ButtonStyle.success if action == "skill_approve" else discord.ButtonStyle.secondary
        text = (label or PROPOSAL_LABELS[action])[:LABEL_LIMIT]
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=text, style=style, custom_id=custom_id(action, card_id)
        )
        super().__init__(button)
        self.action: ProposalAction = action
        self.card_id = card_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ProposalButton:
        action: ProposalAction = "skill_approve" if match["decision"] == "skill_approve" else "skill_dismiss"
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(action, match["card"], label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler = _handler(interaction, self.custom_id)
        if handler is not None:
            await handler.on_proposal(interaction, self.action, self.card_id)


def _item(button: Button) -> discord.ui.DynamicItem[discord.ui.Button[Any]]:
    if button.action == "up" or button.action == "down":
        return FeedbackButton(button.action, button.target_id, button.label)
    if button.action == "skill_approve" or button.action == "skill_dismiss":
        return ProposalButton(button.action, button.target_id, button.label)
    return ConfirmationButton(button.action, button.target_id, button.label)


def button_view(buttons: Sequence[Button]) -> discord.ui.View:
    """A View (``timeout=None``) holding one DynamicItem per button, in order.

    A button whose id the template cannot match is left out (and logged): a button that can never
    fire is worse than none, and the message's text fallback (`/think approve <id>`) remains.
    """
    view = discord.ui.View(timeout=None)
    for button in buttons:
        try:
            view.add_item(_item(button))
        except ValueError:
            log.error("not posting a %s button for unexpected id %r", button.action, button.target_id)
    return view
