"""Telegram's button codec: a button's ``callback_data`` is ``okc:a:<id>`` / ``okc:d:<id>`` (Override / Cancel,
with a confirmation id), ``okf:u:<id>`` / ``okf:d:<id>`` (👍 / 👎, with a feedback request id) or ``okp:a:<id>`` /
``okp:d:<id>`` (a skill proposal's Approve / Dismiss, with a proposal card id) or ``oka:o:<id>`` / ``oka:a:<id>`` /
``oka:d:<id>`` (an action's Allow once / Allow always / Deny, with an action approval id).

Telegram allows at most 64 bytes, so the state lives server-side and only its id travels. No SDK here: the
platform spec names this codec.
"""

from __future__ import annotations

import re

from bots.chat.platform import Button, ButtonAction, Pressed

MAX_CALLBACK_DATA_BYTES = 64  # Bot API limit for InlineKeyboardButton.callback_data
# Matches every button this adapter ever made; one handler is registered with it.
PATTERN = r"^ok[cfpa]:"
_DATA = re.compile(r"(ok[cfpa]:[aduo]):([0-9A-Za-z_-]{1,58})")
_DATA_OF: dict[ButtonAction, str] = {"approve": "okc:a", "deny": "okc:d", "up": "okf:u", "down": "okf:d"}
_DATA_OF |= {"skill_approve": "okp:a", "skill_dismiss": "okp:d"}
_DATA_OF |= {"act_once": "oka:o", "act_always": "oka:a", "act_deny": "oka:d"}
_ACTION_OF = {prefix: action for action, prefix in _DATA_OF.items()}


def callback_data(button: Button) -> str:
    """The opaque ``callback_data`` of a button (see the module docstring). A payload over 64 bytes is a
    programming error and raises ValueError rather than posting a broken button."""
    data = f"{_DATA_OF[button.action]}:{button.target_id}"
    if len(data.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
        raise ValueError(f"callback_data over {MAX_CALLBACK_DATA_BYTES} bytes: {data!r}")
    return data


def pressed(data: str | None) -> Pressed | None:
    """The press a button made by ``callback_data`` stands for; None for anything else."""
    match = _DATA.fullmatch(data or "")
    action = _ACTION_OF.get(match.group(1)) if match is not None else None
    if match is None or action is None:
        return None
    return Pressed(action, match.group(2))


class TelegramButtons:
    """Encodes a ``Button`` as its ``callback_data``; decodes a pressed ``callback_data`` back."""

    def encode(self, button: Button) -> str:
        return callback_data(button)

    def decode(self, payload: str) -> Pressed | None:
        return pressed(payload)


CODEC = TelegramButtons()
