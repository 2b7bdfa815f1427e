"""Slack's mrkdwn: escaping, the Markdown converter, and the ``Markup`` the chat layer writes with."""

from __future__ import annotations

from bots.chat.format import QUOTE, Style, events, prose_line
from bots.chat.markup import Markup


def slack_escape(text: str) -> str:
    """Escape Slack's control characters ``& < >``; the result shows ``text`` literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_STYLE = Style.of(slack_escape, "`{}`".format, "<{}|{}>".format, ("*", "*"), ("_", "_"), ("~", "~"))


def markdown_to_slack(md: str) -> str:
    """Slack mrkdwn: ``& < >`` escaped everywhere, emphasis, headings, links and bullets translated,
    fences kept without their language tag (Slack has none) and their content verbatim."""
    out: list[str] = []
    for kind, line in events(md):
        if kind == "text" and (quote := QUOTE.match(line)):
            # Slack quotes with a bare ">" at line start; only the rest of the line is escaped.
            out.append(("> " + prose_line(line[quote.end() :], _STYLE)).rstrip())
        elif kind == "text":
            out.append(prose_line(line, _STYLE))
        elif kind == "code":
            out.append(slack_escape(line))
        else:
            out.append("```")
    return "\n".join(out)


SLACK = Markup(3000, slack_escape, "*{}*".format, "_{}_".format, "`{}`".format, markdown_to_slack)
