"""One attempt to deliver one webhook: a signed POST with aiohttp, and what came of it.

Only a 2xx answer is a delivery. A redirect is not followed (the specification: update the URL instead) and counts
as a failure naming where it pointed; a 410 Gone says the receiver wants no more; anything else — another status,
a timeout, a refused connection — is a failure, retried on the schedule. The request goes to the configured URL
and nowhere else: no redirect, no proxy from the environment.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import aiohttp

from core.secrets import SECRETS
from core.store.webhooks import AttemptOutcome
from core.text import one_line
from integrations.webhooks.settings import Endpoint
from integrations.webhooks.signing import signed_headers

ERROR_CHARS = 300
USER_AGENT = "openkoi-webhooks/1"


@dataclass(frozen=True)
class Sent:
    """What one attempt came to."""

    outcome: AttemptOutcome
    status_code: int | None
    duration_ms: float
    error: str | None = None
    retry_after: float | None = None  # seconds, when the receiver asked (429, 503)


async def send(
    session: aiohttp.ClientSession, endpoint: Endpoint, message_id: str, body: str, now: datetime, within: float
) -> Sent:
    """POST ``body`` to ``endpoint``, signed for ``message_id`` at ``now``, within ``within`` seconds."""
    data = body.encode("utf-8")
    headers = signed_headers(endpoint.keys, message_id, int(now.timestamp()), data)
    headers |= {"content-type": "application/json", "user-agent": USER_AGENT}
    started = time.monotonic()
    try:
        async with session.post(
            endpoint.url, data=data, headers=headers, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=within)
        ) as response:
            status = response.status
            text = "" if 200 <= status < 300 else await _start_of(response)
            location = response.headers.get("Location")
            retry_after = _seconds(response.headers.get("Retry-After"))
    except TimeoutError:
        return Sent("failed", None, _ms(started), f"no answer within {within:g}s")
    except aiohttp.ClientError as exc:
        return Sent("failed", None, _ms(started), _error(f"{type(exc).__name__}: {exc}"))
    duration = _ms(started)
    if 200 <= status < 300:
        return Sent("delivered", status, duration)
    if status == 410:
        return Sent("gone", status, duration, _error(f"HTTP 410 Gone: the receiver wants no more webhooks {text}"))
    if 300 <= status < 400:
        return Sent("failed", status, duration, _error(f"HTTP {status}: redirect to {location or '?'} not followed"))
    return Sent("failed", status, duration, _error(f"HTTP {status} {text}"), retry_after)


async def _start_of(response: aiohttp.ClientResponse) -> str:
    """The start of a failed answer's body, for the attempt's error (a receiver's message helps a person)."""
    try:
        chunk = await asyncio.wait_for(response.content.read(ERROR_CHARS), 2.0)
    except (TimeoutError, aiohttp.ClientError):
        return ""
    return chunk.decode("utf-8", errors="replace")


def _seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds (its date form is ignored: the schedule's wait stands)."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _error(text: str) -> str:
    return one_line(SECRETS.redact(text), ERROR_CHARS)
