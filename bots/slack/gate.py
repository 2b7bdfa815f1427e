"""Slack's HTTP requests checked before slack-bolt sees them: the signature on the raw bytes, then the shape.

A slash command is read here whole (``slash_command``) and never reaches Bolt over HTTP: Bolt reads
any form body that contains the word "payload" as an interaction, so ``/think design the payload
format`` reached our listener as an empty body; and its dispatch (context, middleware, listener
matching, kwargs injection) cost more per command than everything else on the path (measured by
tests/benchmarks/ack_latency). Events and interactions still go through Bolt.

Bolt parses a body before it verifies its signature, and answers 500 with a traceback to a
timestamp that is not a number, a signature that is not ASCII, a body that is not JSON or is nested
deeper than Python's recursion limit; its listeners get payloads without the fields they need. Here
each of those is refused first: 401 when Slack did not sign the request, 400 when it is signed but
not something Slack sends. Bolt and our listeners then only ever see requests they can handle.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.request.async_request import AsyncBoltRequest
from yarl import URL

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
MAX_SKEW_SECONDS = 300  # Slack's rule: a request more than five minutes old may be a replay
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Rejected(Exception):
    """The request is refused with ``status``; the message says why (one line, safe to log)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def verify(raw: bytes, headers: Mapping[str, str], secret: bytes, now: float) -> None:
    """Raise ``Rejected(401)`` unless Slack signed exactly ``raw`` less than five minutes ago.

    Only ASCII digits count as a timestamp and only ``v0=`` and 64 lowercase hex digits as a
    signature; the comparison is on bytes, in constant time."""
    timestamp, signature = headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise Rejected(401, "missing Slack signature headers")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Rejected(401, "malformed Slack request timestamp")
    if abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        raise Rejected(401, "stale Slack request timestamp")
    if not _SIGNATURE.fullmatch(signature):
        raise Rejected(401, "malformed Slack signature")
    base = b"v0:" + timestamp.encode("ascii") + b":" + raw
    expected = b"v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest().encode("ascii")
    if not hmac.compare_digest(expected, signature.encode("ascii")):
        raise Rejected(401, "bad Slack signature")


class _Payload(BaseModel):
    # Slack adds fields freely; only the ones read here are checked.
    model_config = ConfigDict(extra="allow")


class SlashCommand(_Payload):
    command: str
    trigger_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    channel_id: str = Field(min_length=1)
    text: str = ""
    user_name: str | None = None
    response_url: str | None = None


class Mention(_Payload):
    """An ``app_mention`` event."""

    type: Literal["app_mention"]
    channel: str = Field(min_length=1)
    ts: str = Field(min_length=1)
    text: str = ""
    user: str | None = None
    thread_ts: str | None = None
    bot_id: str | None = None
    subtype: str | None = None


class _Event(_Payload):
    type: str


class EventCallback(_Payload):
    type: Literal["event_callback"]
    event_id: str = Field(min_length=1)
    event: _Event


class _User(_Payload):
    id: str = Field(min_length=1)
    name: str | None = None
    username: str | None = None


class _Action(_Payload):
    action_id: str
    value: str = ""


class _Channel(_Payload):
    id: str


class BlockActions(_Payload):
    type: Literal["block_actions"]
    user: _User
    actions: list[_Action] = Field(min_length=1)
    channel: _Channel | None = None
    container: dict[str, Any] = Field(default_factory=dict)
    message: dict[str, Any] = Field(default_factory=dict)


class UrlVerification(_Payload):
    type: Literal["url_verification"]
    challenge: str


def slash_command(raw: bytes) -> SlashCommand | None:
    """The signed body as a slash command, or None when it is another kind of request (JSON, or a
    form with an interaction's ``payload``) for ``read`` and Bolt.

    Read as Bolt reads a form (``parse_qsl`` with blank values kept, a repeated field's last value
    wins), by yarl's compiled query parser: the same pairs (tests/test_chat_hostile.py compares them
    on random input) in a tenth of the time. Raises ``Rejected(400)`` for a body that is not UTF-8
    or a command missing what it needs."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    if text.startswith("{"):
        return None
    form = form_fields(text)
    if "command" not in form or "payload" in form:
        return None
    try:
        return SlashCommand.model_validate(form)
    except ValidationError as exc:
        raise Rejected(400, f"malformed SlashCommand: {_first_error(exc)}") from None


def form_fields(text: str) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict, as ``dict(parse_qsl(text, keep_blank_values=True))``."""
    return dict(URL.build(query_string=text, encoded=True).query.items())  # items(): the last value wins


def read(raw: bytes, headers: Mapping[str, str], query: str) -> AsyncBoltRequest:
    """The signed request as Bolt's request, once its body is known to be one Slack sends us.

    Raises ``Rejected(400)`` for a body that is not UTF-8, not parseable (as Bolt parses it: JSON,
    a form, or a form with a JSON ``payload``), or missing what its kind needs (a slash command's
    ``trigger_id``, a button press's ``actions`` …); ``Rejected(404)`` for a kind we do not handle."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    try:
        request = AsyncBoltRequest(body=text, query=query, headers=dict(headers))
    except RecursionError:
        raise Rejected(400, "body nested too deeply") from None
    except Exception as exc:  # Bolt parses and reads the body here: whatever fails is the body's fault
        raise Rejected(400, f"unreadable body ({type(exc).__name__})") from None
    body = request.body
    if not isinstance(body, dict):
        raise Rejected(400, "body is not an object")
    check(body)
    return request


def check(body: dict[str, Any]) -> None:
    """Raise ``Rejected`` unless ``body`` is a kind of request we handle, with what that kind needs."""
    kind = body.get("type")
    model: type[_Payload]
    if "command" in body:
        model = SlashCommand
    elif kind == "event_callback":
        model = EventCallback
    elif kind == "block_actions":
        model = BlockActions
    elif kind == "url_verification":
        model = UrlVerification
    else:
        raise Rejected(404, f"not a kind of Slack request handled here ({str(kind)[:40]!r})")
    try:
        model.model_validate(body)
        event = body.get("event")
        if model is EventCallback and isinstance(event, dict) and event.get("type") == "app_mention":
            Mention.model_validate(event)
    except (ValidationError, RecursionError) as exc:
        raise Rejected(400, f"malformed {model.__name__}: {_first_error(exc)}") from None


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "body"
        return f"{where}: {error['msg']}"
    return type(exc).__name__
