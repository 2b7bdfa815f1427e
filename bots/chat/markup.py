"""Each platform's markup: escaping, emphasis, and how a Markdown result becomes its messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bots.chat import format as fmt

PlatformName = Literal["slack", "discord", "telegram"]


@dataclass(frozen=True)
class Markup:
    platform: PlatformName
    limit: int  # characters per message, as the platform counts them
    escape: Callable[[str], str]
    bold_raw: Callable[[str], str]
    italic_raw: Callable[[str], str]
    code_raw: Callable[[str], str]

    def bold(self, text: str) -> str:
        """Plain text, escaped and made bold."""
        return self.bold_raw(self.escape(text))

    def italic(self, text: str) -> str:
        return self.italic_raw(self.escape(text))

    def code(self, text: str) -> str:
        # Discord shows backslash escapes inside code literally: drop backticks instead of escaping.
        return self.code_raw(text.replace("`", "'") if self.platform == "discord" else self.escape(text))

    def document(self, markdown: str) -> list[str]:
        """A Markdown document converted and split into messages that each fit ``limit``."""
        return fmt.render_for(self.platform, markdown, self.limit)


SLACK = Markup("slack", 3000, fmt.slack_escape, lambda s: f"*{s}*", lambda s: f"_{s}_", lambda s: f"`{s}`")
DISCORD = Markup("discord", 2000, fmt.discord_escape, lambda s: f"**{s}**", lambda s: f"*{s}*", lambda s: f"`{s}`")
TELEGRAM = Markup(
    "telegram",
    4096,
    fmt.telegram_escape,
    lambda s: f"<b>{s}</b>",
    lambda s: f"<i>{s}</i>",
    lambda s: f"<code>{s}</code>",
)
