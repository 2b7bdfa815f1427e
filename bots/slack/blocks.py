"""Block Kit for what openkoi posts: mrkdwn sections, the Override/Cancel buttons and 👍/👎.

Callers may rely on: every section's text is at most ``SECTION_LIMIT`` characters, a message has at
most ``MAX_BLOCKS`` blocks, button labels fit Slack's 75-character limit, the Override/Cancel buttons
carry ``APPROVE_ACTION`` / ``DENY_ACTION`` as ``action_id`` with the confirmation id as ``value``, and
👍/👎 carry ``FEEDBACK_UP_ACTION`` / ``FEEDBACK_DOWN_ACTION`` with the feedback request id, and a skill
proposal's Approve/Dismiss carry ``PROPOSAL_APPROVE_ACTION`` / ``PROPOSAL_DISMISS_ACTION`` with its card id, and
an action's Allow once / Allow always / Deny carry ``ACT_ONCE_ACTION`` / ``ACT_ALWAYS_ACTION`` / ``ACT_DENY_ACTION``
with the approval id.
"""

from __future__ import annotations

import re
from typing import Any

from bots.chat.platform import Button, ButtonAction, Outgoing, Pressed
from core.text import clip

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
BUTTON_LABEL_LIMIT = 75
APPROVE_ACTION = "openkoi_approve"
DENY_ACTION = "openkoi_deny"
ACTIONS_BLOCK_ID = "openkoi_confirmation"
FEEDBACK_UP_ACTION = "openkoi_feedback_up"
FEEDBACK_DOWN_ACTION = "openkoi_feedback_down"
FEEDBACK_BLOCK_ID = "openkoi_feedback"
PROPOSAL_APPROVE_ACTION = "openkoi_skill_approve"
PROPOSAL_DISMISS_ACTION = "openkoi_skill_dismiss"
PROPOSAL_BLOCK_ID = "openkoi_proposal"
ACT_ONCE_ACTION = "openkoi_act_once"
ACT_ALWAYS_ACTION = "openkoi_act_always"
ACT_DENY_ACTION = "openkoi_act_deny"
ACTION_APPROVAL_BLOCK_ID = "openkoi_action"
# Every button we post, whatever it does.
ANY_ACTION_PATTERN = re.compile(
    r"^openkoi_(approve|deny|feedback_up|feedback_down|skill_approve|skill_dismiss|act_once|act_always|act_deny)$"
)
ACTION_IDS: dict[ButtonAction, str] = {
    "approve": APPROVE_ACTION,
    "deny": DENY_ACTION,
    "up": FEEDBACK_UP_ACTION,
    "down": FEEDBACK_DOWN_ACTION,
    "skill_approve": PROPOSAL_APPROVE_ACTION,
    "skill_dismiss": PROPOSAL_DISMISS_ACTION,
    "act_once": ACT_ONCE_ACTION,
    "act_always": ACT_ALWAYS_ACTION,
    "act_deny": ACT_DENY_ACTION,
}

ACTIONS: dict[str, ButtonAction] = {action_id: action for action, action_id in ACTION_IDS.items()}

Block = dict[str, Any]


class SlackButtons:
    """Slack's button codec: a button is its ``action_id`` (what it does) and ``value`` (its target id)."""

    def encode(self, button: Button) -> tuple[str, str]:
        return ACTION_IDS[button.action], button.target_id

    def decode(self, payload: tuple[str, str]) -> Pressed | None:
        """(action_id, value) of a press; None for an action_id we never post."""
        action_id, value = payload
        action = ACTIONS.get(action_id)
        return Pressed(action, value) if action is not None else None


CODEC = SlackButtons()


def message_blocks(message: Outgoing) -> list[Block]:
    """The blocks of one message: its text as section(s), then one actions block if it has buttons.

    Always a non-empty list, so a ``chat.update`` with it replaces the old blocks (and removes
    buttons) instead of keeping them, which is what an update without ``blocks`` does.
    """
    limit = MAX_BLOCKS - (1 if message.buttons else 0)
    blocks = sections(message.text)[:limit]
    if message.buttons:
        blocks.append(actions(message.buttons))
    return blocks


def fallback_text(message: Outgoing) -> str:
    """The ``text`` field: what notifications and screen readers show. Never empty (Slack rejects that)."""
    return message.text if message.text.strip() else "…"


def sections(text: str) -> list[Block]:
    """mrkdwn section blocks for ``text``: one when it fits, else split on line boundaries."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in _chunks(text)]


def _chunks(text: str) -> list[str]:
    # The publisher already sends texts within 3000 characters; this is only a guard so a longer
    # one degrades into several sections instead of an invalid_blocks error and a lost message.
    if not text.strip():
        return ["…"]
    if len(text) <= SECTION_LIMIT:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > SECTION_LIMIT:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:SECTION_LIMIT])
            line = line[SECTION_LIMIT:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > SECTION_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return chunks


def actions(buttons: tuple[Button, ...]) -> Block:
    if all(b.is_feedback for b in buttons):
        block_id = FEEDBACK_BLOCK_ID
    elif all(b.is_proposal for b in buttons):
        block_id = PROPOSAL_BLOCK_ID
    elif all(b.is_action for b in buttons):
        block_id = ACTION_APPROVAL_BLOCK_ID
    else:
        block_id = ACTIONS_BLOCK_ID
    return {"type": "actions", "block_id": block_id, "elements": [button(b) for b in buttons]}


def button(b: Button) -> Block:
    label = clip(b.label, BUTTON_LABEL_LIMIT)
    action_id, value = CODEC.encode(b)
    element: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }
    # Slack knows only "primary" and "danger"; the default look is the neutral one.
    if b.style == "danger":
        element["style"] = "danger"
    if b.action == "approve":
        # Overriding a block runs something a Guardian refused: one more click to be sure.
        element["confirm"] = confirm(
            "Override the block?", "The task will run what the Parliament blocked.", "Override"
        )
    elif b.action == "act_always":
        # A standing grant outlives this card: every later call of the tool in this domain runs unasked.
        text = "Later calls of this tool in this domain will run without asking."
        element["confirm"] = confirm("Allow always?", text, "Allow always")
    return element


def confirm(title: str, text: str, yes: str) -> Block:
    """A button's confirmation dialog (a second click, in Slack's danger style), with "Back" to change one's mind."""
    return {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "mrkdwn", "text": text},
        "confirm": {"type": "plain_text", "text": yes},
        "deny": {"type": "plain_text", "text": "Back"},
        "style": "danger",
    }
