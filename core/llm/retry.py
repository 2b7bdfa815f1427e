"""The one retry policy for model calls.

Exponential backoff (base × 2ⁿ, capped) with random jitter; a server's Retry-After wins when it
asks for longer. Only rate limits (429), server errors (5xx), timeouts and dropped connections
are retried; everything else fails at once.
"""

from __future__ import annotations

import random
import re
from email.utils import parsedate_to_datetime
from typing import Any

from tenacity import RetryCallState

from core.config import RetrySettings

RETRY_AFTER_CEILING = 300.0  # never sleep longer than this on a server's say-so


def status_of(exc: BaseException) -> int | None:
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, int) else None


# Phrasings providers use for "your prompt is too long"; litellm maps only some of them.
_OVERFLOW = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|input is too long|"
    r"too many tokens|exceeds? the (?:model'?s? )?(?:maximum|max)|reduce the length",
    re.IGNORECASE,
)


def is_overflow(exc: BaseException) -> bool:
    from litellm import exceptions

    if isinstance(exc, exceptions.ContextWindowExceededError):
        return True
    return status_of(exc) in {400, 413} and bool(_OVERFLOW.search(str(exc)))


def is_retryable(exc: BaseException) -> bool:
    from litellm import exceptions

    if is_overflow(exc):
        return False  # answered by shrinking the prompt, not by waiting
    if isinstance(exc, exceptions.Timeout | exceptions.APIConnectionError):
        return True
    code = status_of(exc)
    return code is not None and (code == 429 or code >= 500)


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, from a Retry-After header (seconds or HTTP date)."""
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CEILING)
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        delta = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        return min(max(delta, 0.0), RETRY_AFTER_CEILING)
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, settings: RetrySettings) -> float:
    """Jittered delay before retry number ``attempt`` (1-based)."""
    ceiling = min(settings.max_delay, settings.base_delay * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def make_wait(settings: RetrySettings) -> Any:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        delay = backoff(state.attempt_number, settings)
        asked = retry_after(exc) if exc else None
        return max(delay, asked) if asked is not None else delay

    return wait
