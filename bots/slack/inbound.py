"""Reading what Slack sends: command and mention text back to plain text, and replies to mrkdwn.

Slack sends user text with ``& < >`` escaped and with links, mentions and channels as
``<https://x|label>``, ``<@U123|name>``, ``<#C123|general>``. The command grammar and the task
description want what the person typed, so ``plain_text`` undoes that; ``reply_mrkdwn`` escapes
the (plain) replies of the ingress and the desk for Slack.
"""

from __future__ import annotations

import re

from bots.chat import commands
from bots.slack.markup import slack_escape

# <target|label> or <target>; target is a URL, @user, #channel or !special.
_ENTITY = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_COMMAND_WORD = re.compile(r"^/think(?:\s+|$)", re.IGNORECASE)


def plain_text(text: str) -> str:
    """Slack's wire format of user text turned back into what the person typed (roughly: a user
    mention without a label stays ``@U123``, since resolving it would cost an API call)."""

    def entity(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            return f"@{label}" if label else target
        if target.startswith("#"):
            return f"#{label}" if label else target
        if target.startswith("!"):
            # <!here>, <!channel>, <!subteam^S123|@team>, <!date^…|fallback>
            if label:
                return label
            return "@" + target[1:].split("^", 1)[0]
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        # A link: keep the URL itself (what a task needs), not Slack's shortened label.
        return target

    unlinked = _ENTITY.sub(entity, text)
    # &amp; last, so "&amp;lt;" (a typed "&lt;") stays "&lt;".
    return unlinked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mention_text(text: str, bot_user_id: str | None) -> str:
    """The command in an ``@openkoi …`` message: the bot's first mention (and a typed ``/think``
    right after it) removed, the rest as plain text."""
    if bot_user_id:
        mention = re.compile(rf"<@{re.escape(bot_user_id)}(?:\|[^<>]*)?>[ \t]*")
        text = mention.sub("", text, count=1)
    text = _COMMAND_WORD.sub("", text.strip())
    return plain_text(text).strip()


def reply_mrkdwn(text: str) -> str:
    """An ingress/desk reply (plain text) as Slack mrkdwn; the help is shown preformatted so its
    columns line up."""
    escaped = slack_escape(text)
    if text == commands.HELP_TEXT:
        return f"```{escaped}```"
    return escaped
