"""Turn the model's Markdown into Slack mrkdwn, Discord Markdown or Telegram HTML.

Pure functions, no SDK imports. What callers may rely on:

* nothing inside a ``` fence or an inline `code` span is reformatted; it is only escaped where the platform
  requires it (Slack and Telegram: ``& < >``);
* Telegram output uses only b, i, s, code, pre, a and blockquote, and its tags are always balanced, so it can be
  sent with ``parse_mode="HTML"``; an unclosed fence is closed;
* emphasis needs its delimiters at word boundaries, so ``snake_case_name`` and ``2*3*4`` stay as written;
* links become platform links only for http(s), mailto and tg URLs; other ``[label](target)`` stay literal;
* ``@everyone`` and ``@here`` never reach Discord live outside code (a zero-width space follows the ``@``).

Splitting: convert *after* splitting. ``render_for`` splits the Markdown source with ``split_message`` using a
measure that converts each candidate chunk and counts the result (for Telegram, ``telegram_visible_length``,
which is what Telegram's 4096 limit counts), then converts the chunks. Call it rather than splitting HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Literal, NamedTuple

from bots.chat.split import next_fence, split_message

Platform = Literal["slack", "discord", "telegram"]

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
_QUOTE = re.compile(r"^\s*>\s?")
_LANG = re.compile(r"[\w#+.-]+")
_MASS_MENTION = re.compile(r"@(everyone|here)\b", re.IGNORECASE)
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|\[\]])")
_DISCORD_LINE_START = re.compile(r"^(\s*)([>#-])", re.MULTILINE)
_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


class _Style(NamedTuple):
    escape: Callable[[str], str]  # plain text
    code: Callable[[str], str]  # escaped inline code
    link: Callable[[str, str], str]  # (url, label), both escaped
    marks: Mapping[str, str]  # emphasis placeholders -> markup


def slack_escape(text: str) -> str:
    """Escape Slack's control characters ``& < >``; the result shows ``text`` literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def telegram_escape(text: str) -> str:
    """Escape ``& < >`` for Telegram's HTML parse mode; the result shows ``text`` literally."""
    return html.escape(text, quote=False)


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
    for kind, line in _events(md):
        if kind == "text":
            out.append(_split_code(line, _defuse, lambda m: m.group(0)))
        elif kind != "end":
            out.append(line)
    return "\n".join(out)


def markdown_to_slack(md: str) -> str:
    """Slack mrkdwn: ``& < >`` escaped everywhere, emphasis, headings, links and bullets translated,
    fences kept without their language tag (Slack has none) and their content verbatim."""
    out: list[str] = []
    for kind, line in _events(md):
        if kind == "text" and (quote := _QUOTE.match(line)):
            # Slack quotes with a bare ">" at line start; only the rest of the line is escaped.
            out.append(("> " + _prose_line(line[quote.end() :], _SLACK)).rstrip())
        elif kind == "text":
            out.append(_prose_line(line, _SLACK))
        elif kind == "code":
            out.append(slack_escape(line))
        else:
            out.append("```")
    return "\n".join(out)


def markdown_to_telegram(md: str) -> str:
    """Telegram HTML (see the module docstring): well-formed, with code in ``<pre><code>`` or ``<code>``."""
    out: list[str] = []
    code: list[str] = []
    pre = ""
    quoting = False
    for kind, line in _events(md):
        quote = _QUOTE.match(line) if kind == "text" else None
        if quoting and not quote:
            out[-1] += "</blockquote>"
            quoting = False
        if quote:
            # Consecutive "> " lines become one blockquote.
            out.append(("" if quoting else "<blockquote>") + _prose_line(line[quote.end() :], _TELEGRAM))
            quoting = True
        elif kind == "open":
            lang = _lang(line)
            pre, code = (f'<pre><code class="language-{lang}">' if lang else "<pre><code>"), []
        elif kind == "code":
            code.append(telegram_escape(line))
        elif kind in ("close", "end"):
            out.append(pre + "\n".join(code) + "</code></pre>")
        else:
            out.append(_prose_line(line, _TELEGRAM))
    if quoting:
        out[-1] += "</blockquote>"
    return "\n".join(out)


def telegram_visible_length(html_text: str) -> int:
    """Length of Telegram HTML as Telegram counts it: tags dropped, each entity (``&lt;``...) one character,
    in UTF-16 code units (Telegram's unit for text lengths: an emoji outside the BMP counts twice).

    Use it as ``split_message``'s measure on Markdown chunks converted with ``markdown_to_telegram`` (as
    ``render_for`` does); splitting the HTML itself could cut inside a tag or entity.
    """
    visible = _ENTITY.sub("_", _TAG.sub("", html_text))
    return len(visible.encode("utf-16-le")) // 2


_SLACK = _Style(slack_escape, "`{}`".format, "<{}|{}>".format, {_B: "*", _b: "*", _I: "_", _i: "_", _S: "~", _s: "~"})
_TELEGRAM = _Style(
    telegram_escape,
    "<code>{}</code>".format,
    lambda url, label: f'<a href="{url.replace(chr(34), "&quot;")}">{label}</a>',
    {_B: "<b>", _b: "</b>", _I: "<i>", _i: "</i>", _S: "<s>", _s: "</s>"},
)


def render_for(platform: Platform, md: str, limit: int) -> list[str]:
    """Split ``md`` and convert it for ``platform``; every returned chunk measures at most ``limit``.

    Measured as the platform counts: the converted length on Slack and Discord, the visible length on
    Telegram (whose HTML is also kept within ``2 * limit``). Chunks never leave a code fence open.
    """
    convert: Callable[[str], str]
    measure: Callable[[str], int]
    if platform == "telegram":
        convert = markdown_to_telegram

        def measure(chunk: str) -> int:
            converted = markdown_to_telegram(chunk)
            return telegram_visible_length(converted) if len(converted) <= 2 * limit else limit + 1

    else:
        convert = markdown_to_slack if platform == "slack" else markdown_to_discord

        def measure(chunk: str) -> int:
            return len(convert(chunk))

    converted = (convert(chunk) for chunk in split_message(md, limit, measure))
    return [chunk for chunk in converted if chunk.strip()]


def _events(md: str) -> Iterator[tuple[str, str]]:
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


def _lang(opener: str) -> str:
    words = opener.strip().lstrip("`").split()
    return words[0] if words and _LANG.fullmatch(words[0]) else ""


def _defuse(text: str) -> str:
    return _MASS_MENTION.sub("@\u200b\\1", text)


def _split_code(line: str, prose: Callable[[str], str], code: Callable[[re.Match[str]], str]) -> str:
    """Apply ``prose`` between inline code spans and ``code`` to each span."""
    parts: list[str] = []
    pos = 0
    for m in _INLINE_CODE.finditer(line):
        parts += [prose(line[pos : m.start()]), code(m)]
        pos = m.end()
    return "".join([*parts, prose(line[pos:])])


def _prose_line(line: str, style: _Style) -> str:
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


def _inline(line: str, style: _Style) -> str:
    """One line of prose: code spans escaped only, then links, bare URLs and emphasis."""
    held: list[str] = []

    def hold(span: str) -> str:
        held.append(span)
        return f"\ue010{len(held) - 1}\ue011"

    def to_link(m: re.Match[str]) -> str:
        url = m.group(2)
        return hold(style.link(url, _emphasis(m.group(1))) if _SAFE_URL.match(url) else m.group(0))

    line = _PRIVATE.sub("", line)
    text = _split_code(line, style.escape, lambda m: hold(style.code(style.escape(m.group(2)))))
    text = _URL.sub(lambda m: hold(m.group(0)), _LINK.sub(to_link, text))
    text = _emphasis(text)
    while _HELD.search(text):  # a link's label may hold code spans of its own
        text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return _MARK.sub(lambda m: style.marks[m.group(0)], text)
