"""Every answer under /api/v1 that is an error is a problem document, whoever made it: a handler's
``ApiError``, aiohttp's own 404 / 405, the service's body guard (413, in plain text: it runs before any
route), or a bug (a 500 that says nothing of its cause; the traceback goes to the log).

This middleware is put first (outermost) on the service's application, so it sees the guard's answers
too; on any other path it does nothing.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

from aiohttp import web

from bots.api.problems import PROBLEM_JSON, ApiError, plain, problem_response
from bots.api.routes import PREFIX
from bots.chat.http_guard import Handler

log = logging.getLogger(__name__)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not _is_api(request.path):
        return await handler(request)
    try:
        response = await handler(request)
    except ApiError as exc:
        if exc.status >= 500:
            log.warning("%s %s: %d %s", request.method, request.path, exc.status, exc.detail)
        return exc.response()
    except web.HTTPException as exc:  # the router's 404 / 405, a body read past the limit (413)
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return problem_response(plain(exc.status, _detail(exc.status, exc.text)), headers)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return problem_response(plain(500, "an internal error; the service's log has the details"))
    if response.status >= 400 and not response.prepared and response.content_type != PROBLEM_JSON:
        text = response.text if isinstance(response, web.Response) else None
        return problem_response(plain(response.status, _detail(response.status, text)), _kept(response))
    return response


def _is_api(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def _detail(status: int, text: str | None) -> str | None:
    """The plain-text reason another layer gave, unless it only repeats the status line."""
    if not text:
        return None
    cleaned = " ".join(text.split())
    if cleaned.startswith(f"{status}:") or cleaned == HTTPStatus(status).phrase:
        return None
    try:  # a JSON error from elsewhere: keep it out of the problem's prose
        json.loads(cleaned)
        return None
    except ValueError:
        return cleaned[:500]


def _kept(response: web.StreamResponse) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() in ("allow", "retry-after", "www-authenticate")}
