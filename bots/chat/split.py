"""Split a long Markdown reply into chunks that a chat platform accepts.

What callers may rely on:

* every chunk is non-empty and ``measure(chunk) <= limit``; ``measure`` is applied to whole candidate chunks,
  so it may convert before counting (Slack escaping, Telegram HTML);
* a ``` fence never stays open: a chunk that ends inside one gets a closing "```" line, and the next chunk
  reopens it with the same opening line (so "```python" keeps its highlighting). Those lines count toward
  ``limit``;
* text that already fits comes back as one chunk, unchanged apart from leading blank lines and trailing
  whitespace; empty or blank text gives ``[]``;
* cuts fall at paragraph breaks (blank lines outside fences) if possible, then at line breaks, then at the last
  whitespace of an over-long line, and only then mid-word, never between a character and a following
  combining mark, variation selector, skin-tone modifier or zero-width joiner;
* blank lines at the edges of a chunk are dropped, and runs of blank lines between paragraphs become one.

Only backtick fences are recognised (not ``~~~``); a fence opener's info string has no backticks, as in
CommonMark, so a one-line "```x```" is inline code.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

MIN_LIMIT = 20
FENCE = "```"
_ZWJ = "\u200d"
_CLINGERS = {_ZWJ, "\ufe0e", "\ufe0f"}


def next_fence(line: str, fence: str | None) -> str | None:
    """The fence state after ``line``: the stripped opening line while inside a ``` block, else None."""
    s = line.strip()
    if fence is None:
        return s if s.startswith(FENCE) and "`" not in s.lstrip("`") else None
    return None if s.startswith(FENCE) and not s.strip("`") else fence


def split_message(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Split ``text`` into chunks with ``measure(chunk) <= limit`` each (see the module docstring).

    Raises ValueError if ``limit`` is below 20, or if ``measure`` rates even one character over ``limit``.
    """
    if limit < MIN_LIMIT:
        raise ValueError(f"limit must be at least {MIN_LIMIT}, got {limit}")
    lines = _trim(text.rstrip().split("\n"))
    if not lines:
        return []
    whole = "\n".join(lines)
    if measure(whole) <= limit:
        return [whole]
    packer = _Packer(limit, measure)
    for block in _blocks(lines):
        packer.add_block(block)
    packer.flush()
    return packer.chunks


def _trim(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def _blocks(lines: list[str]) -> list[list[str]]:
    """Paragraphs: runs of lines between blank lines. Blank lines inside a fence belong to the code."""
    blocks: list[list[str]] = []
    current: list[str] = []
    fence: str | None = None
    for line in lines:
        if fence is None and not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        current.append(line)
        fence = next_fence(line, fence)
    if current:
        blocks.append(current)
    return blocks


def _clings(line: str, n: int) -> bool:
    """Whether cutting before ``line[n]`` would tear a character from its mark, modifier or joiner."""
    ch = line[n]
    return (
        bool(unicodedata.combining(ch)) or ch in _CLINGERS or line[n - 1] == _ZWJ or "\U0001f3fb" <= ch <= "\U0001f3ff"
    )


class _Packer:
    """Greedy packing: the current chunk grows while its rendering (with fence repairs) still fits."""

    def __init__(self, limit: int, measure: Callable[[str], int]) -> None:
        self.limit = limit
        self.measure = measure
        self.chunks: list[str] = []
        self.lines: list[str] = []
        self.reopen: str | None = None  # fence opener carried into the current chunk from the previous one

    def render(self, lines: list[str]) -> str:
        body = _trim(lines)
        if not body:
            return ""
        fence = self.reopen
        for line in body:
            fence = next_fence(line, fence)
        head = [self.reopen] if self.reopen else []
        tail = [FENCE] if fence else []
        return "\n".join(head + body + tail)

    def fits(self, lines: list[str]) -> bool:
        return self.measure(self.render(lines)) <= self.limit

    def flush(self) -> None:
        chunk = self.render(self.lines)
        if chunk:
            self.chunks.append(chunk)
        fence = self.reopen
        for line in self.lines:
            fence = next_fence(line, fence)
        # A very long opener ("```python title=...") would crowd out the code it reopens; plain ``` will do.
        if fence and self.measure(f"{fence}\n{FENCE}") > self.limit // 2:
            fence = FENCE
        self.reopen, self.lines = fence, []

    def add_block(self, block: list[str]) -> None:
        joined = [*self.lines, "", *block] if self.lines else block
        if self.fits(joined):
            self.lines = list(joined)
            return
        self.flush()
        if self.fits(block):
            self.lines = list(block)
            return
        for line in block:
            self.add_line(line)

    def add_line(self, line: str) -> None:
        if self.fits([*self.lines, line]):
            self.lines.append(line)
            return
        self.flush()
        while not self.fits([line]):
            head, line = self.cut(line)
            self.lines = [head]
            self.flush()
        self.lines = [line]

    def cut(self, line: str) -> tuple[str, str]:
        """Split an over-long line into a head that fits an empty chunk and the rest."""
        lo, hi = 0, len(line)
        while lo < hi:  # longest fitting prefix, assuming measure grows with the text...
            mid = (lo + hi + 1) // 2
            if self.fits([line[:mid]]):
                lo = mid
            else:
                hi = mid - 1
        while lo > 0 and not self.fits([line[:lo]]):  # ...which a converting measure need not do
            lo -= 1
        if lo == 0:
            raise ValueError(f"limit {self.limit} is too small for this text under the given measure")
        candidates: list[tuple[str, str]] = []
        indent = len(line) - len(line.lstrip())
        space = next((i for i in range(lo, indent, -1) if line[i].isspace()), 0)
        if space:
            candidates.append((line[:space].rstrip(), line[space:].lstrip()))
        n = lo
        while n > 1 and _clings(line, n):
            n -= 1
        candidates.append((line[:n], line[n:]))
        # Every fallback is checked, since a shorter head does not always measure less.
        return next((c for c in candidates if self.fits([c[0]])), (line[:lo], line[lo:]))
