"""Who is calling: the bearer token of a request (401 without a known one), its scope for the route (403),
and its rate (429 with Retry-After once its bucket is empty)."""

from __future__ import annotations

import logging
import math

from aiohttp import web

from bots.api.context import ApiContext
from bots.api.problems import ApiError
from bots.api.routes import Route
from bots.api.session import cookie_token
from bots.api.tokens import ApiToken

log = logging.getLogger(__name__)

REALM = 'Bearer realm="openkoi"'


def authenticate(api: ApiContext, route: Route, request: web.Request) -> ApiToken:
    """The caller's token, checked for ``route``; raises ApiError 401 / 403 / 429. Without an Authorization
    header, the web page's sign-in cookie is the token (``bots.api.session``)."""
    header = request.headers.get("Authorization", "")
    if not header and (signed_in := cookie_token(request)) is not None:
        header = f"Bearer {signed_in}"
    scheme, _, presented = header.strip().partition(" ")
    if not header:
        raise ApiError(
            401,
            "send an API token: Authorization: Bearer <token>",
            kind="unauthorized",
            headers={"WWW-Authenticate": REALM},
        )
    token = api.tokens.authenticate(presented.strip()) if scheme.lower() == "bearer" and presented.strip() else None
    if token is None:
        log.warning("refused %s %s from %s: 401 unknown API token", request.method, request.path, request.remote or "?")
        raise ApiError(
            401,
            "the API token is not one this service knows",
            kind="unauthorized",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
    wait = api.limiter.take(token.name)
    if wait > 0:
        raise ApiError(
            429,
            f"token {token.name} is over its rate ({api.settings.rate_per_second:g}/s, bursts of {api.settings.burst})",
            kind="rate-limited",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    if route.scope is not None and not token.allows(route.scope):
        raise ApiError(
            403,
            f"token {token.name} lacks the {route.scope} scope this needs",
            kind="insufficient-scope",
            headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{route.scope}"'},
        )
    return token
