"""A browser's sign-in to the API: the token carried in a cookie instead of an ``Authorization`` header.

The web page (``bots.web``) sets this cookie once a person has signed in with a token (``HttpOnly``, so no
script can read it; ``SameSite=Strict``, so no other site's page sends it). The API accepts it as the token of
a request that has no ``Authorization`` header. A request that changes something (anything but GET and HEAD)
must also carry ``PAGE_HEADER: 1``, which a plain form or link from another site cannot add, and a script from
another origin cannot send without a CORS preflight this server never grants: a forged POST is refused (CSRF).
"""

from __future__ import annotations

from aiohttp import web

from bots.api.problems import ApiError

COOKIE = "openkoi_token"
PAGE_HEADER = "X-OpenKoi-Page"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_token(request: web.Request) -> str | None:
    """The token the request's sign-in cookie carries, or None; raises ApiError 403 for a state-changing
    request signed in by the cookie without the page's header."""
    value = request.cookies.get(COOKIE, "").strip()
    if not value:
        return None
    if request.method not in SAFE_METHODS and request.headers.get(PAGE_HEADER) != "1":
        raise ApiError(
            403,
            f"a change made with the page's sign-in cookie must come from the page ({PAGE_HEADER}: 1)",
            kind="forbidden",
        )
    return value
