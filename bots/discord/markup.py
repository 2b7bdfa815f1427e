"""Discord's Markdown: escaping user text, defusing mass mentions, and the ``Markup`` the chat layer writes with.

``@everyone`` and ``@here`` never reach Discord live outside code (a zero-width space follows the ``@``).
"""

from __future__ import annotations

import re

from bots.chat.format import events, split_code
from bots.chat.markup import Markup

_MASS_MENTION = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|\[\]])")
_DISCORD_LINE_START = re.compile(r"^(\s*)([>#-])", re.MULTILINE)


def discord_escape(text: str) -> str:
    """Make user-given plain text (a task title, say) show literally on Discord and ping nobody.

    Backslash-escapes ``\\ * _ ~ ` | [ ]`` anywhere and ``> # -`` at the start of a line (quotes, headings,
    lists), and defuses ``@everyone``/``@here``. User and role mentions (``<@id>``) are left to the caller's
    ``allowed_mentions``.
    """
    escaped = _DISCORD_LINE_START.sub(r"\1\\\2", _DISCORD_SPECIAL.sub(r"\\\1", text))
    return _defuse(escaped)


def markdown_to_discord(md: str) -> str:
    """Discord speaks Markdown already: ``md`` comes back as is, except ``@everyone``/``@here`` outside code."""
    out: list[str] = []
    for kind, line in events(md):
        if kind == "text":
            out.append(split_code(line, _defuse, lambda m: m.group(0)))
        elif kind != "end":
            out.append(line)
    return "\n".join(out)


def _defuse(text: str) -> str:
    return _MASS_MENTION.sub("@\u200b\\1", text)


def _code_text(text: str) -> str:
    # Discord shows backslash escapes inside code literally: drop backticks instead of escaping.
    return text.replace("`", "'")


DISCORD = Markup(
    2000, discord_escape, "**{}**".format, "*{}*".format, "`{}`".format, markdown_to_discord, code_text=_code_text
)
