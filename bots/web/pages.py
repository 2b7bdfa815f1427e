"""The page's handlers: the task list, a task, the fragments the page's script refreshes, sign-in and sign-out,
and the static files.

Nothing is shown without a sign-in cookie carrying a token of the ``tasks:read`` scope: a page asks for one
(303 to the sign-in form), a fragment answers 401. Decision buttons are drawn only for a token of the
``approve`` scope (the API refuses the decisions of any other anyway), the start form only for ``tasks:write``.
Each signed-in request counts against its token's rate, as an API call does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from bots.api.context import ApiContext
from bots.api.tokens import ApiToken
from bots.api.views import DIGEST_SPANS
from bots.web import data, signin
from bots.web.assets import assets
from bots.web.render import event_types, render
from bots.web.settings import WebSettings

log = logging.getLogger(__name__)

HTML = "text/html"


@dataclass(frozen=True)
class Viewer:
    """The signed-in token, as the templates ask about it."""

    token: ApiToken

    @property
    def name(self) -> str:
        return self.token.name

    @property
    def scopes(self) -> str:
        return ", ".join(sorted(self.token.scopes))

    @property
    def can_approve(self) -> bool:
        return self.token.allows("approve")

    @property
    def can_write(self) -> bool:
        return self.token.allows("tasks:write")


class Refused(Exception):
    """A request the page answers with ``response`` instead (sign in first, too fast)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass
class Pages:
    api: ApiContext
    settings: WebSettings

    # ------------------------------------------------------------------------------------------ helpers

    def _html(self, template: str, answer: int = 200, **context: object) -> web.Response:
        text = render(template, refresh=self.settings.refresh_seconds, **context)
        return web.Response(status=answer, text=text, content_type=HTML)

    def error(self, status: int, title: str, detail: str, viewer: Viewer | None = None) -> web.Response:
        return self._html("error.html", status, status=status, title=title, detail=detail, viewer=viewer)

    def viewer(self, request: web.Request, *, fragment: bool = False) -> Viewer:
        """The signed-in token of ``request``; raises ``Refused`` (sign in, or 401 for a fragment) without one
        of the ``tasks:read`` scope, and 429 past its rate."""
        token = signin.signed_in(self.api, request)
        if token is None or not token.allows("tasks:read"):
            if fragment:
                raise Refused(web.Response(status=401, text="sign in first", headers={"WWW-Authenticate": "Cookie"}))
            raise Refused(web.Response(status=303, headers={"Location": "/sign-in"}))
        if self.api.limiter.take(token.name) > 0:
            raise Refused(
                web.Response(status=429, text=f"token {token.name} is over its rate", headers={"Retry-After": "1"})
            )
        return Viewer(token)

    # ------------------------------------------------------------------------------------------- pages

    async def index(self, request: web.Request) -> web.Response:
        viewer = self.viewer(request)
        older = request.query.get("older")
        return self._html(
            "index.html",
            viewer=viewer,
            page=await data.tasks(self.api, self.settings.page_size, older),
            live=older is None,
            approvals=await data.approvals(self.api),
            approvals_url="/page/approvals",
            proposals=await data.proposals(self.api),
            digest=None,
        )

    async def task(self, request: web.Request) -> web.Response:
        viewer = self.viewer(request)
        return await self._task(request, viewer, "task.html")

    async def _task(self, request: web.Request, viewer: Viewer, template: str) -> web.Response:
        task_id = request.match_info["id"]
        task = await data.detail(self.api, task_id)
        if task is None:
            return self.error(404, "No such task", f"There is no task {task_id}.", viewer)
        return self._html(
            template,
            viewer=viewer,
            task=task,
            approvals=await data.approvals(self.api, task.id),
            cancellable=not task.status.finished and (viewer.can_write or viewer.can_approve),
            event_types=event_types(),
        )

    # --------------------------------------------------------------------------------------- fragments

    async def tasks_fragment(self, request: web.Request) -> web.Response:
        viewer = self.viewer(request, fragment=True)
        older = request.query.get("older")
        page = await data.tasks(self.api, self.settings.page_size, older)
        return self._html("_tasks.html", viewer=viewer, page=page, live=older is None)

    async def approvals_fragment(self, request: web.Request) -> web.Response:
        viewer = self.viewer(request, fragment=True)
        approvals = await data.approvals(self.api)
        return self._html("_approvals.html", viewer=viewer, approvals=approvals, approvals_url="/page/approvals")

    async def task_fragment(self, request: web.Request) -> web.Response:
        viewer = self.viewer(request, fragment=True)
        return await self._task(request, viewer, "_detail.html")

    async def proposals_fragment(self, request: web.Request) -> web.Response:
        viewer = self.viewer(request, fragment=True)
        return self._html("_proposals.html", viewer=viewer, proposals=await data.proposals(self.api))

    async def digest_fragment(self, request: web.Request) -> web.Response:
        self.viewer(request, fragment=True)
        kind: Literal["daily", "weekly"] | None = DIGEST_SPANS.get(request.match_info["span"])
        if kind is None:
            return web.Response(status=404, text="ask for today or week")
        return self._html("_digest.html", digest=await data.digest(self.api, kind))

    # ---------------------------------------------------------------------------------------- sign-in

    async def sign_in_form(self, request: web.Request) -> web.Response:
        if signin.signed_in(self.api, request) is not None:
            return web.Response(status=303, headers={"Location": "/"})
        return self._html("sign_in.html", viewer=None, error=None, hours=self.settings.session_hours)

    async def sign_in(self, request: web.Request) -> web.Response:
        if not signin.from_this_page(request):
            return self.error(403, "Forbidden", "A sign-in must come from this page.")
        peer = request.remote or "?"
        if self.api.limiter.take(f"sign-in from {peer}") > 0:
            return self._sign_in_again(429, "Too many sign-in attempts; wait a moment.")
        form = await request.post()
        value = form.get("token")
        token = self.api.tokens.authenticate(value.strip()) if isinstance(value, str) and value.strip() else None
        if token is None:
            log.warning("web: refused a sign-in from %s: not a token this service knows", peer)
            return self._sign_in_again(401, "That is not a token this service knows.")
        if not token.allows("tasks:read"):
            return self._sign_in_again(403, f"The token {token.name} lacks the tasks:read scope the page needs.")
        assert isinstance(value, str)
        response = web.Response(status=303, headers={"Location": "/"})
        signin.keep(response, request, value.strip(), self.settings.session_hours)
        log.info("web: %s signed in from %s", token.label, peer)
        return response

    def _sign_in_again(self, status: int, why: str) -> web.Response:
        return self._html("sign_in.html", status, viewer=None, error=why, hours=self.settings.session_hours)

    async def sign_out(self, request: web.Request) -> web.Response:
        if not signin.from_this_page(request):
            return self.error(403, "Forbidden", "A sign-out must come from this page.")
        response = web.Response(status=303, headers={"Location": "/sign-in"})
        signin.forget(response, request)
        return response

    # ----------------------------------------------------------------------------------------- static

    async def static(self, request: web.Request) -> web.Response:
        asset = assets().get(request.match_info["name"])
        if asset is None:
            return web.Response(status=404, text="no such file")
        if request.headers.get("If-None-Match") == asset.etag:
            return web.Response(status=304, headers={"ETag": asset.etag})
        return web.Response(
            body=asset.body, content_type=asset.content_type, headers={"ETag": asset.etag, "Cache-Control": "no-cache"}
        )
