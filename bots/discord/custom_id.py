"""Discord's button codec: a button's whole state is its ``custom_id``, ``openkoi:<action>:<target id>``
(``openkoi:approve:<confirmation id>``, ``openkoi:up:<feedback request id>``,
``openkoi:skill_approve:<proposal card id>``, ``openkoi:act_once:<action approval id>`` …). No SDK here: the platform spec names this codec."""

from __future__ import annotations

import re

from bots.chat.platform import Button, ButtonAction, Pressed

# Ids are 16 lowercase hex characters (core.models.new_id); anything else is not ours.
TEMPLATE = r"openkoi:(?P<action>approve|deny):(?P<cid>[0-9a-f]{16})"
FEEDBACK_TEMPLATE = r"openkoi:(?P<vote>up|down):(?P<fid>[0-9a-f]{16})"
PROPOSAL_TEMPLATE = r"openkoi:(?P<decision>skill_approve|skill_dismiss):(?P<card>[0-9a-f]{16})"
ACTION_TEMPLATE = r"openkoi:(?P<choice>act_once|act_always|act_deny):(?P<approval>[0-9a-f]{16})"
# Every button we post, whatever it does.
ANY_TEMPLATE = (
    r"openkoi:(?P<action>approve|deny|up|down|skill_approve|skill_dismiss|act_once|act_always|act_deny)"
    r":(?P<target>[0-9a-f]{16})"
)
_TEMPLATES: dict[ButtonAction, str] = {"approve": TEMPLATE, "deny": TEMPLATE, "up": FEEDBACK_TEMPLATE}
_TEMPLATES |= {"down": FEEDBACK_TEMPLATE, "skill_approve": PROPOSAL_TEMPLATE, "skill_dismiss": PROPOSAL_TEMPLATE}
_TEMPLATES |= {"act_once": ACTION_TEMPLATE, "act_always": ACTION_TEMPLATE, "act_deny": ACTION_TEMPLATE}
_ACTIONS: dict[str, ButtonAction] = {action: action for action in _TEMPLATES}


def custom_id(action: ButtonAction, target_id: str) -> str:
    """The button's ``custom_id`` (≤ 100 characters); raises ValueError for an id the template would not match."""
    value = f"openkoi:{action}:{target_id}"
    if re.fullmatch(_TEMPLATES[action], value) is None:
        raise ValueError(f"not an id a button can carry: {target_id!r}")
    return value


class DiscordButtons:
    """Encodes a ``Button`` as its ``custom_id``; decodes a pressed ``custom_id`` back."""

    def encode(self, button: Button) -> str:
        return custom_id(button.action, button.target_id)

    def decode(self, payload: str) -> Pressed | None:
        match = re.fullmatch(ANY_TEMPLATE, payload)
        if match is None:
            return None
        return Pressed(_ACTIONS[match["action"]], match["target"])


CODEC = DiscordButtons()
