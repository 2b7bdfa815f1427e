"""Signing in to the page: an API token, checked, kept in the browser as the API's sign-in cookie.

The cookie (``bots.api.session.COOKIE``) is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other
site's page sends it), ``Path=/``, ``Secure`` when the request came over https, and lasts ``[web]
session_hours``. Its value is the token itself: the service keeps only hashes, and the API accepts the cookie as
the token (for a change, only with the page's header). The token never appears in a URL, a log line or the HTML.

A sign-in or sign-out form must come from the page itself (its ``Origin``), so another site cannot sign a person
in with its own token or out; sign-in attempts are rate-limited per client address like the API's tokens.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from bots.api.context import ApiContext
from bots.api.session import COOKIE
from bots.api.tokens import ApiToken


def signed_in(api: ApiContext, request: web.Request) -> ApiToken | None:
    """The token the request's cookie carries, when it is one the service knows; None otherwise."""
    value = request.cookies.get(COOKIE, "").strip()
    return api.tokens.authenticate(value) if value else None


def came_over_https(request: web.Request) -> bool:
    # A proxy's X-Forwarded-Proto may claim https falsely; that only adds Secure, which costs a liar their cookie.
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def keep(response: web.StreamResponse, request: web.Request, token: str, hours: float) -> None:
    """Set the sign-in cookie on ``response``."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(hours * 3600),
        path="/",
        httponly=True,
        samesite="Strict",
        secure=came_over_https(request),
    )


def forget(response: web.StreamResponse, request: web.Request) -> None:
    """Clear the sign-in cookie."""
    response.set_cookie(
        COOKIE, "", max_age=0, path="/", httponly=True, samesite="Strict", secure=came_over_https(request)
    )


def from_this_page(request: web.Request) -> bool:
    """Whether a form POST came from this server's own page. Browsers say so in ``Sec-Fetch-Site``; one that does
    not says where from in ``Origin`` (which the page's ``Referrer-Policy: no-referrer`` turns into ``null`` in
    Chromium: refused, as an opaque origin is). A request with neither (a script, curl) is taken as it is: no
    browser sends a cross-site form without them."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == request.host
