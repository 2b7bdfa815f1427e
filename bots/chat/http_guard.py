"""What every HTTP endpoint of `openkoi serve` shares against hostile or broken requests.

A request that is unauthenticated, malformed or too large is answered 401 / 400 / 413 with one
warning line in the log and no traceback: such requests are the sender's problem, and a log full
of tracebacks would hide the service's own. Bodies are limited to ``MAX_BODY_BYTES``; a declared
``Content-Length`` over it is refused before a byte of the body is read.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # Slack and Telegram send a few KB; nothing legitimate comes near this

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def refuse(request: web.Request, status: int, reason: str) -> web.Response:
    """Answer ``status`` with ``reason`` as the body and log it as one warning line."""
    peer = request.remote or "?"
    log.warning("refused %s %s from %s: %d %s", request.method, request.path, peer, status, reason)
    return web.Response(status=status, text=reason)


async def read_body(request: web.Request) -> bytes | web.Response:
    """The raw body, or a 413 refusal when it is over ``MAX_BODY_BYTES`` (also when no length was declared)."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return refuse(request, 413, f"body over {MAX_BODY_BYTES} bytes")


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse an oversize declared body on any route before its handler runs."""
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return refuse(request, 413, f"body over {MAX_BODY_BYTES} bytes")
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:  # a handler read a chunked body past the limit
        return refuse(request, 413, f"body over {MAX_BODY_BYTES} bytes")


def application() -> web.Application:
    """The service's aiohttp application with the body limit and the guard in place."""
    return web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[guard])
