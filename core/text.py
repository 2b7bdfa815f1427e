"""Rules about text that hold across the engine: how many tokens a text is taken to be, and how a text
is cut to a length.

The token estimate is about 3 characters per token, which over-counts English and code without paying
for a tokenizer on every call: what is budgeted by it (recall, skills, the gateway's admission of a call)
never takes more than its share. The gateway scales it per endpoint by what the server really counted
(``core.llm.endpoint``).
"""

from __future__ import annotations

CHARS_PER_TOKEN = 3
ELLIPSIS = "…"


def estimated_tokens(text: str) -> int:
    """The tokens ``text`` is taken to be: never zero, so that even an empty entry costs something."""
    return len(text) // CHARS_PER_TOKEN + 1


def clip(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its first ``limit - 1`` and an ellipsis
    (whitespace at the cut dropped, so the ellipsis follows the last word): the one place a text is
    cut to a length with a mark that it was."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def one_line(text: str, limit: int) -> str:
    """``text`` on one line (every run of whitespace, newlines included, one space), clipped to ``limit``."""
    return clip(" ".join(text.split()), limit)
