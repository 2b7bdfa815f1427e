"""What went wrong with a model call, in one sentence a person can act on.

litellm's exceptions carry provider boilerplate ("litellm.BadRequestError: OpenAIException - …")
and sometimes a whole JSON body. A person needs the cause: the server cannot be reached, the key
was rejected, the model is unknown, no answer came in time. ``describe`` turns any exception from
a call into that sentence and says whether the model is unavailable (nothing else can work) or
only this request was refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from core.llm.retry import status_of
from core.text import clip

# "litellm.InternalServerError: InternalServerError: OpenAIException - <the provider's words>"
_BOILERPLATE = re.compile(r"^(?:(?:litellm\.)?\w*(?:Error|Exception)\s*[:-]\s*)+")
_MODEL_UNKNOWN = re.compile(
    r"model[^.]{0,80}(?:not found|does not exist|not exist|unknown|is not available|no such)|"
    r"(?:unknown|invalid) model|model_not_found",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Failure:
    reason: str
    unavailable: bool


def provider_message(exc: BaseException, limit: int = 200) -> str:
    """The provider's own words, without litellm's prefixes or a JSON wrapper, cut to ``limit``."""
    text = " ".join(str(getattr(exc, "message", None) or exc).split())
    text = _BOILERPLATE.sub("", text, count=1)
    text = re.sub(r"\s*(?:Received Model Group|Available Model Group Fallbacks)=.*$", "", text)
    text = re.sub(r"\.?\s*Handle with `litellm\.\w+`\.?", "", text)
    start = text.find("{")
    if start != -1:
        try:
            body = json.loads(text[start:])
            error = body.get("error", body) if isinstance(body, dict) else body
            inner = error.get("message") if isinstance(error, dict) else None
            if isinstance(inner, str) and inner.strip():
                text = " ".join(inner.split())
        except ValueError:
            pass
    text = text.strip() or type(exc).__name__
    return clip(text, limit)


def _connection_failed(exc: BaseException) -> bool:
    """A connection that never got an HTTP answer, however litellm relabelled it."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            break
        name = type(seen).__name__
        if name in {"APIConnectionError", "ConnectError", "ConnectionRefusedError", "ClientConnectorError"}:
            return True
        seen = seen.__cause__ or seen.__context__
    return str(exc).rstrip().endswith("Connection error.")


def describe(exc: BaseException, *, model: str, endpoint: str, key_env: str | None, timeout: float) -> Failure:
    """One clear reason for a failed call (after retries, if any were made)."""
    from litellm import exceptions

    code = status_of(exc)
    message = provider_message(exc)
    if isinstance(exc, exceptions.Timeout) or "timed out" in message.lower():
        return Failure(f"{model} did not answer within {timeout:.3g} s ({endpoint})", True)
    if isinstance(exc, exceptions.APIConnectionError) or _connection_failed(exc):
        # litellm reports a refused connection as an InternalServerError (500); it is "cannot reach".
        return Failure(f"cannot reach {endpoint} ({message})", True)
    if isinstance(exc, exceptions.AuthenticationError) or code == 401:
        where = f" in {key_env}" if key_env else ""
        return Failure(f"{endpoint} rejected the API key{where} (HTTP 401: {message})", True)
    if isinstance(exc, exceptions.PermissionDeniedError) or code == 403:
        return Failure(f"{endpoint} refused access to {model} (HTTP 403): {message}", True)
    if isinstance(exc, exceptions.NotFoundError) or code == 404 or _MODEL_UNKNOWN.search(message):
        return Failure(f"{endpoint} does not know the model {model}", True)
    if code == 429:
        return Failure(f"{endpoint} kept rate-limiting the requests (HTTP 429)", True)
    if code is not None and code >= 500:
        return Failure(f"{endpoint} failed with HTTP {code}: {message}", True)
    if code is not None:
        return Failure(f"{endpoint} refused the request (HTTP {code}): {message}", False)
    return Failure(f"{type(exc).__name__}: {message}", False)
