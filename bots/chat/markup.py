"""A platform's markup, as the platform-neutral chat layer uses it: escaping, emphasis, and how a Markdown
result becomes messages that each fit the platform's limit (as the platform counts it).

Each platform's package builds its ``Markup`` (``bots.<platform>.markup``) and names it in its platform spec;
nothing here knows a platform.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bots.chat import format as fmt


@dataclass(frozen=True)
class Markup:
    limit: int  # characters per message, as the platform counts them
    escape: Callable[[str], str]  # plain text shown literally
    bold_raw: Callable[[str], str]
    italic_raw: Callable[[str], str]
    code_raw: Callable[[str], str]
    convert: Callable[[str], str]  # a Markdown document in the platform's markup
    # A converted text's length as the platform counts it against ``limit``.
    measure: Callable[[str], int] = len
    # Plain text made safe inside ``code_raw``; None: ``escape``.
    code_text: Callable[[str], str] | None = None
    # A converted message is also kept within this many times ``limit`` in raw characters; None: no such cap.
    raw_factor: int | None = None

    def bold(self, text: str) -> str:
        """Plain text, escaped and made bold."""
        return self.bold_raw(self.escape(text))

    def italic(self, text: str) -> str:
        return self.italic_raw(self.escape(text))

    def code(self, text: str) -> str:
        return self.code_raw((self.code_text or self.escape)(text))

    def render(self, markdown: str, limit: int) -> list[str]:
        """A Markdown document converted and split into messages that each measure at most ``limit``."""
        return fmt.render(markdown, limit, self.convert, self.measure, self.raw_factor)

    def document(self, markdown: str) -> list[str]:
        """A Markdown document converted and split into messages that each fit ``limit``."""
        return self.render(markdown, self.limit)
