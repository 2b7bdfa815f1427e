"""The headers every answer of the page carries: a strict Content-Security-Policy (only this server's own
scripts, styles and connections; no inline script, no framing), no MIME sniffing, no Referer (a task id in a
URL goes nowhere), no caching of what a token was shown, and how long the server took (``Server-Timing``)."""

from __future__ import annotations

from aiohttp import web

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def secure(response: web.StreamResponse, *, cacheable: bool = False, took_ms: float | None = None) -> None:
    """Add the page's headers to ``response`` (before it is sent)."""
    response.headers.update(HEADERS)
    if not cacheable:
        response.headers["Cache-Control"] = "no-store"
    if took_ms is not None:
        response.headers["Server-Timing"] = f"page;dur={took_ms:.1f}"
