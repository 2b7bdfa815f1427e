"""Rules about text that hold across the engine: how many tokens a text is taken to be, how a text
is cut to a length, and the titled blocks of lines that reports (digests, the mind's views) are made of.

The token estimate is about 3 characters per token, which over-counts English and code without paying
for a tokenizer on every call: what is budgeted by it (recall, skills, the gateway's admission of a call)
never takes more than its share. The gateway scales it per endpoint by what the server really counted
(``core.llm.endpoint``).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Section:
    """A titled block of short lines (each a sentence or a figure; plain text, no markup): what a digest and a
    view of the mind or the soul are made of, printed by the terminal and put in markup by each platform."""

    title: str
    lines: tuple[str, ...]
