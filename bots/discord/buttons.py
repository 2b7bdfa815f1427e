"""Override / Cancel buttons that keep working across restarts.

A button's whole state is its ``custom_id`` (``openkoi:approve:<confirmation id>``), matched by a
``DynamicItem`` template registered on the client at start-up. So a press on a message posted by a
previous process still reaches the confirmation desk: no view needs to be remembered, and no View
timeout can silently kill the buttons (views are created with ``timeout=None``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import discord

from bots.chat.platform import Button

log = logging.getLogger(__name__)

Action = Literal["approve", "deny"]

# Confirmation ids are 16 lowercase hex characters (core.models.new_id); anything else is not ours.
TEMPLATE = r"openkoi:(?P<action>approve|deny):(?P<cid>[0-9a-f]{16})"
_TEMPLATE = re.compile(TEMPLATE)
LABEL_LIMIT = 80  # Discord's limit for a button label
DEFAULT_LABELS: dict[Action, str] = {"approve": "Override", "deny": "Cancel"}


class PressHandler(Protocol):
    """Whoever decides presses; the client that received the interaction exposes one as ``press_handler``."""

    async def on_press(self, interaction: discord.Interaction[Any], action: Action, confirmation_id: str) -> None: ...


def custom_id(action: Action, confirmation_id: str) -> str:
    """The button's ``custom_id`` (≤ 100 characters); raises ValueError for an id the template would not match."""
    value = f"openkoi:{action}:{confirmation_id}"
    if _TEMPLATE.fullmatch(value) is None:
        raise ValueError(f"not a confirmation id: {confirmation_id!r}")
    return value


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
        handler: PressHandler | None = getattr(interaction.client, "press_handler", None)
        if handler is None:  # a client we did not build; nothing can decide the press
            log.warning("press on %s reached a client without a press handler", self.custom_id)
            return
        await handler.on_press(interaction, self.action, self.confirmation_id)


def confirmation_view(buttons: Sequence[Button]) -> discord.ui.View:
    """A View (``timeout=None``) holding one ConfirmationButton per button, in order.

    A button whose confirmation id the template cannot match is left out (and logged): a button that
    can never fire is worse than none, and the message's text fallback (`/think approve <id>`) remains.
    """
    view = discord.ui.View(timeout=None)
    for button in buttons:
        try:
            view.add_item(ConfirmationButton(button.action, button.confirmation_id, button.label))
        except ValueError:
            log.error(
                "not posting a %s button for unexpected confirmation id %r", button.action, button.confirmation_id
            )
    return view
