"""Telegram's HTML parse mode: escaping, the Markdown converter, visible length, and the ``Markup``.

Telegram output uses only b, i, s, code, pre, a and blockquote, and its tags are always balanced, so it can be
sent with ``parse_mode="HTML"``; an unclosed fence is closed. Messages are measured as Telegram counts its
4096-character limit (``telegram_visible_length``), and their HTML is also kept within twice the limit.
"""

from __future__ import annotations

import html
import re

from bots.chat.format import QUOTE, Style, events, fence_language, prose_line
from bots.chat.markup import Markup

_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def telegram_escape(text: str) -> str:
    """Escape ``& < >`` for Telegram's HTML parse mode; the result shows ``text`` literally."""
    return html.escape(text, quote=False)


_STYLE = Style.of(
    telegram_escape,
    "<code>{}</code>".format,
    lambda url, label: f'<a href="{url.replace(chr(34), "&quot;")}">{label}</a>',
    ("<b>", "</b>"),
    ("<i>", "</i>"),
    ("<s>", "</s>"),
)


def markdown_to_telegram(md: str) -> str:
    """Telegram HTML (see the module docstring): well-formed, with code in ``<pre><code>`` or ``<code>``."""
    out: list[str] = []
    code: list[str] = []
    pre = ""
    quoting = False
    for kind, line in events(md):
        quote = QUOTE.match(line) if kind == "text" else None
        if quoting and not quote:
            out[-1] += "</blockquote>"
            quoting = False
        if quote:
            # Consecutive "> " lines become one blockquote.
            out.append(("" if quoting else "<blockquote>") + prose_line(line[quote.end() :], _STYLE))
            quoting = True
        elif kind == "open":
            lang = fence_language(line)
            pre, code = (f'<pre><code class="language-{lang}">' if lang else "<pre><code>"), []
        elif kind == "code":
            code.append(telegram_escape(line))
        elif kind in ("close", "end"):
            out.append(pre + "\n".join(code) + "</code></pre>")
        else:
            out.append(prose_line(line, _STYLE))
    if quoting:
        out[-1] += "</blockquote>"
    return "\n".join(out)


def telegram_visible_length(html_text: str) -> int:
    """Length of Telegram HTML as Telegram counts it: tags dropped, each entity (``&lt;``...) one character,
    in UTF-16 code units (Telegram's unit for text lengths: an emoji outside the BMP counts twice).

    Use it on Markdown chunks converted with ``markdown_to_telegram`` (as ``Markup.render`` does); splitting
    the HTML itself could cut inside a tag or entity.
    """
    visible = _ENTITY.sub("_", _TAG.sub("", html_text))
    return len(visible.encode("utf-16-le")) // 2


TELEGRAM = Markup(
    4096,
    telegram_escape,
    "<b>{}</b>".format,
    "<i>{}</i>".format,
    "<code>{}</code>".format,
    markdown_to_telegram,
    measure=telegram_visible_length,
    raw_factor=2,
)
