"""The web page as the service runs it: a platform whose only work is to add the page's routes.

Tasks started from the page are API tasks (the page POSTs to ``/api/v1/tasks`` with the signed-in token), run by
the same workers and followed over the API's event stream, so nothing is ever posted to the page: every posting
method refuses, as a chat refuses a bot it never let in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiohttp import web

from bots.api.app import CONTEXT
from bots.chat.markup import Markup
from bots.chat.pacing import Rate
from bots.chat.platform import CannotPost, Outgoing
from bots.web.routes import add_page
from bots.web.settings import WebSettings
from bots.web.spec import MARKUP, NAME
from core.store.conversations import Conversation

if TYPE_CHECKING:
    from bots.chat.desk import ConfirmationDesk
    from bots.chat.ingress import Ingress

log = logging.getLogger(__name__)


def _nothing_posted() -> CannotPost:
    return CannotPost(
        "the web page shows tasks; nothing is posted to it",
        "follow the task on the page, or remove the page's channel from [digest] web_channels",
    )


class WebPage:
    """The ``web`` platform: the page's routes on the service's application."""

    name = NAME
    markup: Markup = MARKUP
    edit_interval = 0.0

    def __init__(self, settings: WebSettings, ingress: Ingress, desk: ConfirmationDesk) -> None:
        self.settings = settings
        self._mounted = False

    @property
    def connected(self) -> bool:
        return self._mounted

    def add_routes(self, app: web.Application) -> None:
        api = app.get(CONTEXT)
        if api is None:  # off_reason keeps the page off without a token, so the API is mounted whenever it is on
            log.warning("web: the HTTP API is not mounted; the page is not served")
            return
        add_page(app, api, self.settings)
        self._mounted = True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def settled(self) -> None:
        return None

    def pace(self, channel_id: str) -> Sequence[Rate]:
        return ()

    async def open_thread(self, conversation: Conversation, parent: Outgoing) -> tuple[str, str]:
        raise _nothing_posted()

    async def notify_requester(self, conversation: Conversation, text: str) -> None:
        return None

    async def post(self, conversation: Conversation, message: Outgoing) -> str:
        raise _nothing_posted()

    async def edit(self, conversation: Conversation, message_id: str, message: Outgoing) -> None:
        raise _nothing_posted()

    async def post_to_channel(self, channel_id: str, message: Outgoing) -> str:
        raise _nothing_posted()

    async def edit_in_channel(self, channel_id: str, message_id: str, message: Outgoing) -> None:
        raise _nothing_posted()

    async def check_channel(self, channel_id: str) -> CannotPost | None:
        return _nothing_posted()
