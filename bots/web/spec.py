"""The web page as a registered platform (entry point ``web`` in ``openkoi.platforms``). Cheap to import.

Some fields of a platform spec are about a chat the page is not, and are filled honestly:

- ``markup``: HTML-escaped text. Nothing is posted to the page (its tasks are the API's, followed over the
  API), so the chat layer never renders a message with it.
- ``buttons``: the page's buttons are HTML buttons that POST to the API's routes; this codec (``action:target``)
  is what a chat button would carry, and nothing presses one.
- ``probe``: there is no bot token to try; people sign in with API tokens, which the API checks.
- ``digest_key``: ``[digest] web_channels`` exists because every platform has its key, and is unused: the page
  shows the digests itself. A channel listed there is reported unreachable at start-up.
"""

from __future__ import annotations

import html
from typing import get_args

from bots.chat.markup import Markup
from bots.chat.platform import Button, ButtonAction, Pressed
from bots.chat.spec import PlatformSpec, TokenCheck, lazy_adapter
from bots.web.settings import WebSettings

NAME = "web"

# A Markdown text shown as it was written, escaped: the page renders its own HTML from the API's data.
MARKUP = Markup(100_000, html.escape, "<b>{}</b>".format, "<i>{}</i>".format, "<code>{}</code>".format, html.escape)


class ButtonCodec:
    """``action:target``, for the codec every platform has; the page's own buttons call the API instead."""

    def encode(self, button: Button) -> str:
        if ":" in button.target_id:
            raise ValueError("a target id with ':' cannot be carried")
        return f"{button.action}:{button.target_id}"

    def decode(self, payload: str) -> Pressed | None:
        action, _, target = payload.partition(":")
        if not target or action not in get_args(ButtonAction):
            return None
        return Pressed(action, target)  # type: ignore[arg-type]  # checked against ButtonAction above


def probe(settings: WebSettings) -> TokenCheck:
    """Nothing to try: the page has no bot token (people sign in with the API's tokens)."""
    return TokenCheck(True, "web: no token of its own to check; people sign in with API tokens")


WEB = PlatformSpec(
    name=NAME,
    settings=WebSettings,
    env={},
    setup="an API token (OPENKOI_API_TOKEN or `openkoi api token create`)",
    markup=MARKUP,
    buttons=ButtonCodec(),
    probe=probe,
    digest_key="web_channels",
    loggers=(),
    adapter=lazy_adapter("bots.web.adapter", "WebPage"),
    order=90,
)
