"""Turn the model's Markdown into a platform's markup: the rules every platform shares.

Pure functions, no SDK imports. A platform's package writes its converter with these pieces (``events`` to
walk fences, ``prose_line`` with its ``Style`` for everything outside code) and keeps its own escaping.
What every converter built this way gives its callers:

* nothing inside a ``` fence or an inline `code` span is reformatted; it is only escaped by the style;
* emphasis needs its delimiters at word boundaries, so ``snake_case_name`` and ``2*3*4`` stay as written, and
  emphasis is only ever applied to balanced content, so the platform's tags always nest;
* links become platform links only for http(s), mailto and tg URLs; other ``[label](target)`` stay literal.

Splitting: convert *after* splitting. ``render`` splits the Markdown source with ``split_message`` using a
measure that converts each candidate chunk and counts the result as the platform does, then converts the
chunks. Call it (through ``Markup.document``) rather than splitting converted text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

from bots.chat.split import next_fence, split_message

# Private-use characters stand in for emphasis while a line is converted, so that one rule's output (Slack's
# "*bold*") is never re-read by a later rule (italics), and so that nesting can be checked before tags exist.
_B, _b, _I, _i, _S, _s = "\ue000\ue001\ue002\ue003\ue004\ue005"
_PAIRS = {_B: _b, _I: _i, _S: _s}
_HELD = re.compile("\ue010(\\d+)\ue011")  # a finished span (code, link, URL) parked out of the rules' reach
_PRIVATE = re.compile("[\ue000-\ue01f]")
_MARK = re.compile("[\ue000-\ue005]")
_EMPHASIS = [
    (re.compile(r"(?<!\w)\*\*\*(?=\S)(.+?)(?<=\S)\*\*\*(?!\w)"), _B + _I, _i + _b),
    (re.compile(r"(?<!\w)\*\*(?=\S)(.+?)(?<=\S)\*\*(?!\w)"), _B, _b),
    (re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)"), _B, _b),
    (re.compile(r"(?<!\w)~~(?=\S)(.+?)(?<=\S)~~(?!\w)"), _S, _s),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^*]+?)(?<=\S)\*(?![\w*])"), _I, _i),
    (re.compile(r"(?<![\w_])_(?=[^\s_])([^_]+?)(?<=\S)_(?![\w_])"), _I, _i),
]
_INLINE_CODE = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^()\s]+(?:\([^()\s]*\)[^()\s]*)?)\)")
_URL = re.compile(r"(?:https?://|mailto:)[^\s*~]+")
_SAFE_URL = re.compile(r"(?:https?://|mailto:|tg://)", re.IGNORECASE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?=\S)")
_LANG = re.compile(r"[\w#+.-]+")
# A quoted line ("> text"); converters decide how a quote looks.
QUOTE = re.compile(r"^\s*>\s?")


class Style(NamedTuple):
    """How a platform writes prose: its escaping, inline code, links and the three kinds of emphasis."""

    escape: Callable[[str], str]  # plain text
    code: Callable[[str], str]  # escaped inline code
    link: Callable[[str, str], str]  # (url, label), both escaped
    marks: Mapping[str, str]  # emphasis placeholders -> markup

    @classmethod
    def of(
        cls,
        escape: Callable[[str], str],
        code: Callable[[str], str],
        link: Callable[[str, str], str],
        bold: tuple[str, str],
        italic: tuple[str, str],
        strike: tuple[str, str],
    ) -> Style:
        """A style from each emphasis's (opening, closing) markup."""
        marks = {_B: bold[0], _b: bold[1], _I: italic[0], _i: italic[1], _S: strike[0], _s: strike[1]}
        return cls(escape, code, link, marks)


def render(
    md: str,
    limit: int,
    convert: Callable[[str], str],
    measure: Callable[[str], int] = len,
    raw_factor: int | None = None,
) -> list[str]:
    """Split ``md`` and ``convert`` each chunk; every returned chunk measures at most ``limit``.

    ``measure`` counts a converted chunk as the platform does; with ``raw_factor``, a converted chunk is also
    kept within ``raw_factor * limit`` characters of raw markup. Chunks never leave a code fence open.
    """

    def measured(chunk: str) -> int:
        converted = convert(chunk)
        if raw_factor is not None and len(converted) > raw_factor * limit:
            return limit + 1
        return measure(converted)

    converted = (convert(chunk) for chunk in split_message(md, limit, measured))
    return [chunk for chunk in converted if chunk.strip()]


def events(md: str) -> Iterator[tuple[str, str]]:
    """Lines tagged "open", "code", "close" or "text"; an unclosed fence ends with ("end", "")."""
    fence: str | None = None
    for line in md.split("\n"):
        after = next_fence(line, fence)
        if fence is None and after is not None:
            yield "open", line
        elif fence is not None and after is None:
            yield "close", line
        else:
            yield ("code" if fence else "text"), line
        fence = after
    if fence is not None:
        yield "end", ""


def fence_language(opener: str) -> str:
    """The language tag of a fence's opening line ("```python" → "python"), or "" when it has none."""
    words = opener.strip().lstrip("`").split()
    return words[0] if words and _LANG.fullmatch(words[0]) else ""


def split_code(line: str, prose: Callable[[str], str], code: Callable[[re.Match[str]], str]) -> str:
    """Apply ``prose`` between inline code spans and ``code`` to each span."""
    parts: list[str] = []
    pos = 0
    for m in _INLINE_CODE.finditer(line):
        parts += [prose(line[pos : m.start()]), code(m)]
        pos = m.end()
    return "".join([*parts, prose(line[pos:])])


def prose_line(line: str, style: Style) -> str:
    """A line outside code: a heading becomes one bold line, a bullet "• ", the rest goes through _inline."""
    if heading := _HEADING.match(line):
        title = _inline(heading.group(1), style._replace(marks={**style.marks, _B: "", _b: ""}))  # no bold in bold
        return style.marks[_B] + title + style.marks[_b] if title else ""
    prefix = ""
    if bullet := _BULLET.match(line):
        prefix, line = bullet.group(1) + "• ", line[bullet.end() :]
    return prefix + _inline(line, style)


def _balanced(text: str) -> bool:
    stack: list[str] = []
    for ch in text:
        if ch in _PAIRS:
            stack.append(_PAIRS[ch])
        elif ch in (_b, _i, _s) and (not stack or stack.pop() != ch):
            return False
    return not stack


def _emphasis(text: str) -> str:
    for pattern, start, end in _EMPHASIS:

        def wrap(m: re.Match[str], start: str = start, end: str = end) -> str:
            # Wrapping only balanced content keeps the tags properly nested ("**a *b** c*" stays partly literal).
            return start + m.group(1) + end if _balanced(m.group(1)) else m.group(0)

        text = pattern.sub(wrap, text)
    return text


def _inline(line: str, style: Style) -> str:
    """One line of prose: code spans escaped only, then links, bare URLs and emphasis."""
    held: list[str] = []

    def hold(span: str) -> str:
        held.append(span)
        return f"\ue010{len(held) - 1}\ue011"

    def to_link(m: re.Match[str]) -> str:
        url = m.group(2)
        return hold(style.link(url, _emphasis(m.group(1))) if _SAFE_URL.match(url) else m.group(0))

    line = _PRIVATE.sub("", line)
    text = split_code(line, style.escape, lambda m: hold(style.code(style.escape(m.group(2)))))
    text = _URL.sub(lambda m: hold(m.group(0)), _LINK.sub(to_link, text))
    text = _emphasis(text)
    while _HELD.search(text):  # a link's label may hold code spans of its own
        text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return _MARK.sub(lambda m: style.marks[m.group(0)], text)
