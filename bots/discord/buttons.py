"""Override / Cancel, 👍 / 👎, a skill proposal's Approve / Dismiss and an action's Allow once / Allow always / Deny
buttons that keep working across restarts.

A button's whole state is its ``custom_id`` (``bots.discord.custom_id``), matched by one ``DynamicItem``
template registered on the client at start-up. So a press on a message posted by a previous process still
reaches the desk: no view needs to be remembered, and no View timeout can silently kill the buttons (views
are created with ``timeout=None``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Protocol

import discord

from bots.chat.platform import Button, ButtonAction, Pressed
from bots.discord.custom_id import ANY_TEMPLATE, CODEC

log = logging.getLogger(__name__)

LABEL_LIMIT = 80  # Discord's limit for a button label
DEFAULT_LABELS: dict[ButtonAction, str] = {"approve": "Override", "deny": "Cancel", "up": "👍", "down": "👎"}
DEFAULT_LABELS |= {"skill_approve": "Approve", "skill_dismiss": "Dismiss"}
DEFAULT_LABELS |= {"act_once": "Allow once", "act_always": "Allow always", "act_deny": "Deny"}
STYLES: dict[ButtonAction, discord.ButtonStyle] = {
    "approve": discord.ButtonStyle.danger,  # overriding runs what a Guardian blocked
    "skill_approve": discord.ButtonStyle.success,
    "act_once": discord.ButtonStyle.danger,  # allowing runs what the gate would not run alone
    "act_always": discord.ButtonStyle.danger,
}


class PressHandler(Protocol):
    """Whoever decides presses; the client that received the interaction exposes one as ``press_handler``."""

    async def on_press(self, interaction: discord.Interaction[Any], pressed: Pressed) -> None: ...


class PressButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=ANY_TEMPLATE):
    """One button we posted: Override (danger) / Cancel, 👍 / 👎, or Approve (success) / Dismiss."""

    def __init__(self, pressed: Pressed, label: str | None = None) -> None:
        text = (label or DEFAULT_LABELS[pressed.action])[:LABEL_LIMIT]
        style = STYLES.get(pressed.action, discord.ButtonStyle.secondary)
        custom_id = CODEC.encode(Button(text, pressed.action, pressed.target_id))
        super().__init__(discord.ui.Button(label=text, style=style, custom_id=custom_id))
        self.pressed = pressed

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PressButton:
        pressed = CODEC.decode(match.group(0))
        if pressed is None:  # the template and the codec agree on what is ours; this cannot happen
            raise ValueError(f"not one of our buttons: {match.group(0)!r}")
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(pressed, label)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handler: PressHandler | None = getattr(interaction.client, "press_handler", None)
        if handler is None:  # a client we did not build; nothing can decide the press
            log.warning("press on %s reached a client without a press handler", self.custom_id)
            return
        await handler.on_press(interaction, self.pressed)


def button_view(buttons: Sequence[Button]) -> discord.ui.View:
    """A View (``timeout=None``) holding one DynamicItem per button, in order.

    A button whose id the template cannot match is left out (and logged): a button that can never
    fire is worse than none, and the message's text fallback (`/think approve <id>`) remains.
    """
    view = discord.ui.View(timeout=None)
    for button in buttons:
        try:
            view.add_item(PressButton(Pressed(button.action, button.target_id), button.label))
        except ValueError:
            log.error("not posting a %s button for unexpected id %r", button.action, button.target_id)
    return view
