"""Which path of the service is which page handler (``bots.web.pages``), each answer given the page's security
headers (``bots.web.security``) and its server time, and any failure answered as a page that tells nothing of its
cause (the traceback goes to the log)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bots.api.context import ApiContext
from bots.web.pages import Pages, Refused
from bots.web.security import secure
from bots.web.settings import WebSettings

log = logging.getLogger(__name__)

PageHandler = Callable[[web.Request], Awaitable[web.Response]]


def add_page(app: web.Application, api: ApiContext, settings: WebSettings) -> None:
    """Add the page's routes to the service's application (before it starts)."""
    pages = Pages(api, settings)
    get, post = app.router.add_get, app.router.add_post
    get("/", _answer(pages, pages.index))
    get("/tasks/{id}", _answer(pages, pages.task))
    get("/sign-in", _answer(pages, pages.sign_in_form))
    post("/sign-in", _answer(pages, pages.sign_in))
    post("/sign-out", _answer(pages, pages.sign_out))
    get("/page/tasks", _answer(pages, pages.tasks_fragment))
    get("/page/tasks/{id}", _answer(pages, pages.task_fragment))
    get("/page/approvals", _answer(pages, pages.approvals_fragment))
    get("/page/proposals", _answer(pages, pages.proposals_fragment))
    get("/page/digests/{span}", _answer(pages, pages.digest_fragment))
    get("/static/{name}", _answer(pages, pages.static, cacheable=True))


def _answer(pages: Pages, handler: PageHandler, *, cacheable: bool = False) -> PageHandler:
    async def answer(request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except Refused as refused:
            response = refused.response
        except web.HTTPException:
            raise  # the body guard's 413 and the like: the service's own answers
        except Exception:
            log.exception("web: %s %s failed", request.method, request.path)
            response = pages.error(500, "Internal error", "Something went wrong; the service's log has the details.")
        secure(response, cacheable=cacheable, took_ms=(time.perf_counter() - started) * 1000)
        return response

    return answer
