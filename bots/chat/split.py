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
  combining mark, variation selector, skin-tone modifier or zero-width joiner. A cut inside a line avoids
  starting the new line with a block marker ("- ", "# ", "> ", "1. ", "```"), which would change its meaning;
* no chunk ends with an empty code block: an opener that would end a chunk moves to the next one;
* blank lines at a chunk's edges, whitespace at a cut, and repeated blank lines between paragraphs are
  dropped; all other text survives, in order.

Only backtick fences are recognised (not ``~~~``); a fence opener's info string has no backticks, as in
CommonMark, so a one-line "```x```" is inline code. A very long opener is reopened as plain "```".
Cost: a few measurements per chunk (galloping search), each of about a chunk's size.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

MIN_LIMIT = 20
FENCE = "```"
_ZWJ = "\u200d"
_CLINGERS = {_ZWJ, "\ufe0e", "\ufe0f"}
_BLOCK_START = re.compile(r"\s*(?:(?:[-*+>]|#{1,6}|\d+[.)])(?:\s|$)|```)")


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
    packer.add_blocks(_blocks(lines))
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
        body[-1] = body[-1].rstrip()
        fence = self.reopen
        for line in body:
            fence = next_fence(line, fence)
        head = [self.reopen] if self.reopen else []
        tail = [FENCE] if fence else []
        return "\n".join(head + body + tail)

    def fits(self, lines: list[str]) -> bool:
        return self.measure(self.render(lines)) <= self.limit

    def flush(self) -> None:
        lines = _trim(self.lines)
        fence = self.reopen
        for line in lines[:-1]:
            fence = next_fence(line, fence)
        # An opener as the last line would leave an empty code block behind: the next chunk reopens it anyway.
        opener_last = bool(lines) and fence is None and next_fence(lines[-1], None) is not None
        chunk = self.render(lines[:-1] if opener_last and self.fits(lines[:-1]) else lines)
        if chunk:
            self.chunks.append(chunk)
        if lines:
            fence = next_fence(lines[-1], fence)
        # A very long opener ("```python title=...") would crowd out the code it reopens; plain ``` will do.
        if fence and self.measure(f"{fence}\n{FENCE}") > self.limit // 2:
            fence = FENCE
        self.reopen, self.lines = fence, []

    def most(self, count: int, candidate: Callable[[int], list[str]]) -> int:
        """The largest k <= count whose ``candidate(k)`` fits, found by galloping then bisecting.

        Probing from small k keeps the work near the chunk size, not the text size; every answer above 0 was
        actually measured, since a converting measure need not grow with the text.
        """
        good, step = 0, 1
        while good < count:
            k = min(good + step, count)
            if not self.fits(candidate(k)):
                break
            good, step = k, step * 2
        else:
            return count
        while k - good > 1:
            mid = (good + k) // 2
            good, k = (mid, k) if self.fits(candidate(mid)) else (good, mid)
        return good

    def add_blocks(self, blocks: list[list[str]]) -> None:
        def joined(k: int) -> list[str]:
            lines = list(self.lines)
            for block in blocks[i : i + k]:
                lines += ["", *block] if lines else block
            return lines

        i = 0
        while i < len(blocks):
            if k := self.most(len(blocks) - i, joined):
                self.lines, i = joined(k), i + k
            elif self.lines:
                self.flush()  # the next paragraph starts a chunk of its own
            else:
                self.add_lines(blocks[i])  # a paragraph too long for any chunk
                i += 1

    def add_lines(self, lines: list[str]) -> None:
        def joined(k: int) -> list[str]:
            return [*self.lines, *lines[j : j + k]]

        j = 0
        while j < len(lines):
            if k := self.most(len(lines) - j, joined):
                self.lines, j = joined(k), j + k
            elif self.lines:
                self.flush()
            else:
                line, j = lines[j], j + 1
                while parts := self.cut(line):  # a line too long for any chunk
                    self.lines, line = [parts[0]], parts[1]
                    self.flush()
                self.lines = [line]

    def cut(self, line: str) -> tuple[str, str] | None:
        """Split a line into a head that fits an empty chunk and the rest; None if it fits whole."""
        lo = self.most(len(line), lambda k: [line[:k]])
        if lo == len(line):
            return None
        if lo == 0:
            if self.reopen and self.reopen != FENCE:  # the carried-over opener may be what crowds the text out
                self.reopen = FENCE
                return self.cut(line)
            raise ValueError(f"limit {self.limit} is too small for this text under the given measure")
        candidates: list[tuple[str, str]] = []
        indent = len(line) - len(line.lstrip())
        # The rest starts a new line, so avoid a cut that would turn "a - b" into a bullet or "x ```" into a fence.
        spaces = (i for i in range(min(lo, len(line) - 1), indent, -1) if line[i].isspace())
        space = next((i for i in spaces if not _BLOCK_START.match(line, i + 1)), 0)
        if space:
            candidates.append((line[:space].rstrip(), line[space:].lstrip()))
        n = lo
        while n > max(1, lo - 8) and (_clings(line, n) or _BLOCK_START.match(line, n)):
            n -= 1
        candidates.append((line[:n], line[n:]))
        # Every fallback is checked, since a shorter head does not always measure less.
        return next((c for c in candidates if self.fits([c[0]])), (line[:lo], line[lo:]))
