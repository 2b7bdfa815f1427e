"""A local fake of the Slack Web API, ``response_url`` and Socket Mode, for tests.

The real ``slack_sdk`` / ``slack_bolt`` clients are pointed at it
(``AsyncWebClient(base_url=fake.api_url)``), so the bot is exercised through the same
HTTP and WebSocket wire formats as in production. Everything it receives is recorded:
``calls`` (every Web API call), ``messages`` (an in-memory model of the channels, so a
test can assert what a thread contains), ``responses`` (``response_url`` posts) and
``acks`` (Socket Mode acknowledgements). Failures are scripted with ``fail_next``.

Module-level helpers build what Slack *sends to* the bot: signed slash-command,
block-action and Events API request bodies, and the matching Socket Mode payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import WSCloseCode, WSMsgType, web

# Identities shared by the fake server and the payload builders, so a payload built
# with defaults is consistent with what ``auth.test`` says about the bot.
TEAM_ID = "T0FAKE"
TEAM_DOMAIN = "fake-team"
APP_ID = "A0FAKE"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
USER_ID = "U0USER"
CHANNEL_ID = "C0CHAN"

# Slack's first ts in these tests; later ones increase by 100 µs, like "1700000000.000200".
_TS_BASE_MICROS = 1_700_000_000 * 1_000_000

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):08d}"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SlackCall:
    """One Web API call as the fake received and answered it."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    http_method: str
    at: float  # time.monotonic() on arrival, for asserting retry back-off
    status: int
    response: dict[str, Any]

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :]
        token = self.params.get("token")
        return str(token) if token is not None else None

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass
class SlackMessage:
    """A message as the fake's channel model holds it (mutated by update/delete)."""

    channel: str
    ts: str
    text: str | None
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    user: str = BOT_USER_ID
    ephemeral_to: str | None = None
    deleted: bool = False
    # Text of every version, oldest first: lets tests assert on progress edits.
    history: list[str | None] = field(default_factory=list)

    @property
    def edited(self) -> bool:
        return len(self.history) > 1

    def to_api(self, bot_id: str) -> dict[str, Any]:
        """The ``message`` object Slack echoes back."""
        out: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "bot_id": bot_id,
            "ts": self.ts,
            "text": self.text or "",
            "team": TEAM_ID,
        }
        if self.blocks is not None:
            out["blocks"] = self.blocks
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
            out["parent_user_id"] = self.user
        if self.edited:
            out["edited"] = {"user": self.user, "ts": self.ts}
        return out


@dataclass(frozen=True)
class ResponsePost:
    """One JSON post to a ``response_url``."""

    id: str
    body: dict[str, Any]
    headers: dict[str, str]
    at: float


@dataclass(frozen=True)
class SocketAck:
    """The client's acknowledgement of one Socket Mode envelope."""

    envelope_id: str
    payload: dict[str, Any] | None
    raw: dict[str, Any]
    latency: float  # seconds from sending the envelope to receiving the ack


@dataclass(frozen=True)
class _Failure:
    status: int
    error: str
    retry_after: int | None


# --------------------------------------------------------------------------- signing


def sign(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack adds to every request it sends to an app."""
    ts = int(time.time()) if timestamp is None else timestamp
    base = b"v0:" + str(ts).encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


def signed_headers(
    body: bytes,
    secret: str,
    *,
    json_body: bool = False,
    timestamp: int | None = None,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> dict[str, str]:
    """``sign`` plus the Content-Type Slack uses and, for redeliveries, the retry headers."""
    headers = sign(body, secret, timestamp)
    headers["Content-Type"] = "application/json" if json_body else "application/x-www-form-urlencoded"
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    return headers


# --------------------------------------------------------------------------- payloads

# Loopback and a closed port: a test that forgets to pass the fake's response_url fails
# fast with "connection refused" instead of trying to reach hooks.slack.com.
UNSET_RESPONSE_URL = "http://127.0.0.1:9/response/unset"


def slash_command_payload(
    command: str = "/think",
    text: str = "",
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    response_url: str = UNSET_RESPONSE_URL,
    *,
    user_name: str = "alice",
    channel_name: str = "general",
    api_app_id: str = APP_ID,
) -> dict[str, str]:
    """The fields of a slash command (also the Socket Mode ``slash_commands`` payload)."""
    return {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        # Unique per invocation: the dedupe key for slash commands.
        "trigger_id": trigger_id or _next_id("1337.42."),
    }


def slash_command_body(
    command: str = "/think",
    text: str = "",
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    response_url: str = UNSET_RESPONSE_URL,
    **extra: str,
) -> bytes:
    """A slash command request body, form-encoded as Slack sends it."""
    payload = slash_command_payload(command, text, user_id, channel_id, team_id, trigger_id, response_url, **extra)
    return urlencode(payload).encode()


def block_action_payload(
    action_id: str,
    value: str,
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    message_ts: str = "1700000000.000100",
    *,
    block_id: str = "actions",
    thread_ts: str | None = None,
    message_text: str = "",
    team_id: str = TEAM_ID,
    trigger_id: str | None = None,
    response_url: str = UNSET_RESPONSE_URL,
    api_app_id: str = APP_ID,
    user_name: str = "alice",
) -> dict[str, Any]:
    """A ``block_actions`` interaction for a button press on a bot message (by ``user_name``)."""
    container: dict[str, Any] = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    message: dict[str, Any] = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "ts": message_ts,
        "text": message_text,
        "blocks": [],
    }
    if thread_ts is not None:
        container["thread_ts"] = thread_ts
        message["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "container": container,
        "trigger_id": trigger_id or _next_id("1337.43."),
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "general"},
        "message": message,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": value, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


def block_action_body(
    action_id: str,
    value: str,
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    message_ts: str = "1700000000.000100",
    **extra: Any,
) -> bytes:
    """An interaction request body: form-encoded ``payload=<json>``, as Slack sends it."""
    payload = block_action_payload(action_id, value, user_id, channel_id, message_ts, **extra)
    return urlencode({"payload": json.dumps(payload)}).encode()


def app_mention_event(
    text: str,
    user_id: str = USER_ID,
    channel_id: str = CHANNEL_ID,
    ts: str | None = None,
    thread_ts: str | None = None,
) -> dict[str, Any]:
    """An ``app_mention`` event; ``text`` should contain ``<@U0BOT>`` like Slack's does."""
    event_ts = ts or f"{time.time():.6f}"
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user_id,
        "text": text,
        "ts": event_ts,
        "channel": channel_id,
        "event_ts": event_ts,
        "team": TEAM_ID,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    return event


def event_callback_payload(
    event: dict[str, Any],
    event_id: str | None = None,
    *,
    team_id: str = TEAM_ID,
    api_app_id: str = APP_ID,
    event_time: int | None = None,
) -> dict[str, Any]:
    """An Events API ``event_callback`` (also the Socket Mode ``events_api`` payload)."""
    return {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        # The dedupe key for Events API redeliveries.
        "event_id": event_id or _next_id("Ev"),
        "event_time": int(time.time()) if event_time is None else event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def event_callback_body(event: dict[str, Any], event_id: str | None = None, **extra: Any) -> bytes:
    """An Events API request body (JSON)."""
    return json.dumps(event_callback_payload(event, event_id, **extra)).encode()


# --------------------------------------------------------------------------- server

# Methods that need a bot/user token; apps.connections.open needs an app-level token.
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})


class FakeSlack:
    """Slack Web API + response_url + Socket Mode on 127.0.0.1 with a free port.

    ``bot_token`` / ``app_token``: when given, only that exact token is accepted;
    otherwise any token with the right prefix (``xoxb-``/``xoxp-`` or ``xapp-``) is.
    """

    def __init__(
        self,
        *,
        bot_token: str | None = None,
        app_token: str | None = None,
        team_id: str = TEAM_ID,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        app_id: str = APP_ID,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.port = 0
        self.calls: list[SlackCall] = []
        self.store: list[SlackMessage] = []  # every message ever posted, incl. deleted/ephemeral
        self.responses: list[ResponsePost] = []
        self.envelopes: list[dict[str, Any]] = []
        self.acks: list[SocketAck] = []
        # Overridable directory data for conversations.info / users.info.
        self.channels: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        # Channels the bot may not post in, with Slack's error for them (see ``refuse_channel``).
        self.refusing: dict[str, str] = {}
        self._refuse_after_post: dict[str, str] = {}  # see refuse_channel(after_first_post=True)
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._ts_seq = itertools.count(1)
        self._tickets: set[str] = set()
        self._sockets: list[web.WebSocketResponse] = []
        self._pending: dict[str, tuple[asyncio.Future[SocketAck], float]] = {}
        self._runner: web.AppRunner | None = None

    # ----------------------------------------------------------------- addresses

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """For ``AsyncWebClient(base_url=...)``; the trailing slash matters (urljoin)."""
        return f"{self.base_url}/api/"

    def response_url(self, id: str) -> str:
        return f"{self.base_url}/response/{id}"

    # ----------------------------------------------------------------- queries

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def messages(self) -> list[SlackMessage]:
        """Visible channel messages (not deleted, not ephemeral), in posting order."""
        return [m for m in self.store if not m.deleted and m.ephemeral_to is None]

    @property
    def ephemerals(self) -> list[SlackMessage]:
        return [m for m in self.store if m.ephemeral_to is not None]

    def message(self, ts: str, channel: str | None = None) -> SlackMessage | None:
        for m in self.store:
            if m.ts == ts and m.ephemeral_to is None and (channel is None or m.channel == channel):
                return m
        return None

    def thread(self, ts: str, channel: str | None = None) -> list[SlackMessage]:
        """The parent message ``ts`` (if the bot posted it) followed by its visible replies."""
        return [
            m for m in self.messages if (m.ts == ts or m.thread_ts == ts) and (channel is None or m.channel == channel)
        ]

    def thread_texts(self, ts: str, channel: str | None = None) -> list[str]:
        return [m.text or "" for m in self.thread(ts, channel)]

    def responses_to(self, id: str) -> list[dict[str, Any]]:
        return [r.body for r in self.responses if r.id == id]

    @property
    def socket_connections(self) -> int:
        return sum(1 for ws in self._sockets if not ws.closed)

    async def wait_until(self, predicate: Callable[[], bool], within: float = 3.0) -> None:
        """Poll ``predicate``: Bolt acks before its handler's Web API calls have landed."""
        deadline = time.monotonic() + within
        while not predicate():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {within} s")
            await asyncio.sleep(0.01)

    async def wait_for_calls(self, method: str, count: int = 1, within: float = 3.0) -> list[SlackCall]:
        await self.wait_until(lambda: len(self.calls_to(method)) >= count, within)
        return self.calls_to(method)

    # ----------------------------------------------------------------- scripting

    def fail_next(
        self,
        method: str,
        status: int | None = None,
        *,
        error: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next call to ``method`` fail once (queued failures stack).

        ``fail_next(m)`` / ``fail_next(m, status=429, retry_after=1)``: HTTP 429 with
        ``Retry-After`` (what ``AsyncRateLimitErrorRetryHandler`` reads).
        ``fail_next(m, error="channel_not_found")``: HTTP 200 with ``ok: false``.
        ``method`` may also be ``"response_url"``.
        """
        if status is None:
            status = 200 if error is not None else 429
        if status == 429 and retry_after is None:
            retry_after = 1
        if error is None:
            error = "ratelimited" if status == 429 else "fatal_error"
        self._failures[method].append(_Failure(status, error, retry_after))

    def refuse_channel(self, channel: str, error: str = "not_in_channel", *, after_first_post: bool = False) -> None:
        """Make ``channel`` refuse the bot as Slack does when it was never invited (``not_in_channel``)
        or the channel is private to it (``channel_not_found``): chat.postMessage, chat.update and
        chat.postEphemeral there fail with ``error``; response_urls and DMs still work. conversations.info
        answers as Slack does: ``channel_not_found``, or ``is_member: false`` / ``is_archived: true``.
        ``after_first_post``: only once the bot's next message there is posted (removed right after it)."""
        if after_first_post:
            self._refuse_after_post[channel] = error
        else:
            self.refusing[channel] = error

    # ----------------------------------------------------------------- Web API

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        # slack_sdk sends query strings (GET), form posts, and JSON (chat.* methods).
        params: dict[str, Any] = dict(request.query)
        if request.body_exists:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    params[key] = value if isinstance(value, str) else getattr(value, "filename", "")
        # Form posts carry blocks/attachments as JSON strings; decode so tests see one shape.
        for key in ("blocks", "attachments", "metadata"):
            raw = params.get(key)
            if isinstance(raw, str):
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(raw)
        return params

    def _check_token(self, method: str, token: str | None) -> str | None:
        """Slack's auth errors; returns the error code or None when the token is fine."""
        if not token:
            return "not_authed"
        if method in _APP_TOKEN_METHODS:
            if not token.startswith("xapp-"):
                return "not_allowed_token_type"
            if self.app_token is not None and token != self.app_token:
                return "invalid_auth"
            return None
        if token.startswith("xapp-"):
            return "not_allowed_token_type"
        if not token.startswith(("xoxb-", "xoxp-")):
            return "invalid_auth"
        if self.bot_token is not None and token != self.bot_token:
            return "invalid_auth"
        return None

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._read_params(request)
        headers = dict(request.headers)
        auth = headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.get("token")

        status = 200
        extra_headers: dict[str, str] = {}
        body: dict[str, Any]
        handler = self._methods().get(method)
        failures = self._failures.get(method)
        if failures:
            failure = failures.popleft()
            status = failure.status
            body = {"ok": False, "error": failure.error}
            if failure.retry_after is not None:
                extra_headers["Retry-After"] = str(failure.retry_after)
        elif handler is None:
            body = {"ok": False, "error": "unknown_method", "req_method": method}
        elif (auth_error := self._check_token(method, str(token) if token else None)) is not None:
            body = {"ok": False, "error": auth_error}
        elif method.startswith("chat.") and str(params.get("channel", "")) in self.refusing:
            body = {"ok": False, "error": self.refusing[str(params["channel"])]}
        else:
            body = handler(params)
            channel = str(params.get("channel", ""))
            if method == "chat.postMessage" and body.get("ok") and channel in self._refuse_after_post:
                self.refusing[channel] = self._refuse_after_post.pop(channel)

        self.calls.append(
            SlackCall(
                method=method,
                params=params,
                headers=headers,
                http_method=request.method,
                at=time.monotonic(),
                status=status,
                response=body,
            )
        )
        return web.json_response(body, status=status, headers=extra_headers)

    def _methods(self) -> Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "apps.connections.open": self._apps_connections_open,
        }

    def _next_ts(self) -> str:
        micros = _TS_BASE_MICROS + next(self._ts_seq) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        # Bolt's AsyncApp calls this once, on the first request it handles.
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Fake Team",
            "user": "openkoi",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    @staticmethod
    def _content(params: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
        text = params.get("text")
        blocks = params.get("blocks")
        return (
            None if text is None else str(text),
            blocks if isinstance(blocks, list) else None,
        )

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        posted = self._post(params, ephemeral_to=None)
        if isinstance(posted, dict):
            return posted
        return {"ok": True, "channel": posted.channel, "ts": posted.ts, "message": posted.to_api(self.bot_id)}

    def _post(self, params: dict[str, Any], *, ephemeral_to: str | None) -> SlackMessage | dict[str, Any]:
        """Store a new message (shown only to ``ephemeral_to`` when given), or the error Slack answers."""
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        text, blocks = self._content(params)
        if not text and not blocks and not params.get("attachments"):
            return {"ok": False, "error": "no_text"}
        thread_ts = params.get("thread_ts") or None
        msg = SlackMessage(
            channel=str(channel),
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=str(thread_ts) if thread_ts else None,
            user=self.bot_user_id,
            ephemeral_to=ephemeral_to,
            history=[text],
        )
        self.store.append(msg)
        return msg

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self.message(str(params.get("ts", "")), str(params.get("channel", "")))
        if msg is None or msg.deleted:
            return {"ok": False, "error": "message_not_found"}
        text, blocks = self._content(params)
        if text is None and blocks is None and not params.get("attachments"):
            return {"ok": False, "error": "no_text"}
        if text is not None:
            msg.text = text
        # Like Slack: omitting blocks keeps the old ones (a text-only update of a block
        # message changes nothing visible — slack-sdk issue #523); [] removes them.
        if "blocks" in params:
            msg.blocks = blocks or None
        msg.history.append(msg.text)
        return {
            "ok": True,
            "channel": msg.channel,
            "ts": msg.ts,
            "text": msg.text or "",
            "message": msg.to_api(self.bot_id),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, user = params.get("channel"), params.get("user")
        if channel and not user:
            return {"ok": False, "error": "user_not_found"}
        posted = self._post(params, ephemeral_to=str(user))
        return posted if isinstance(posted, dict) else {"ok": True, "message_ts": posted.ts}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        msg = self.message(str(params.get("ts", "")), str(params.get("channel", "")))
        if msg is None or msg.deleted:
            return {"ok": False, "error": "message_not_found"}
        msg.deleted = True
        return {"ok": True, "channel": msg.channel, "ts": msg.ts}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = str(params.get("channel", ""))
        # Like Slack: a channel the bot cannot see (unknown, or private without it) is channel_not_found;
        # a public one it was not invited to is found, with is_member false.
        refusal = self.refusing.get(channel_id)
        if not channel_id or refusal == "channel_not_found":
            return {"ok": False, "error": "channel_not_found"}
        default = {
            "id": channel_id,
            "name": channel_id.lower(),
            "is_channel": channel_id.startswith("C"),
            "is_im": channel_id.startswith("D"),
            "is_private": channel_id.startswith("G"),
            "is_member": refusal != "not_in_channel",
            "is_archived": refusal == "is_archived",
        }
        return {"ok": True, "channel": self.channels.get(channel_id, default)}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params.get("user", ""))
        if not user_id:
            return {"ok": False, "error": "user_not_found"}
        name = "openkoi" if user_id == self.bot_user_id else user_id.lower()
        default = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "real_name": name,
            "is_bot": user_id == self.bot_user_id,
            "deleted": False,
            "tz": "UTC",
            "profile": {"display_name": name, "real_name": name},
        }
        return {"ok": True, "user": self.users.get(user_id, default)}

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        # A one-off ticket, like Slack's: the WebSocket handshake must present it.
        ticket = _next_id("ticket-")
        self._tickets.add(ticket)
        return {
            "ok": True,
            "url": f"ws://127.0.0.1:{self.port}/socket-mode?ticket={ticket}&app_id={self.app_id}",
        }

    # ----------------------------------------------------------------- response_url

    async def _response(self, request: web.Request) -> web.Response:
        id = request.match_info["id"]
        try:
            body = await request.json()
        except ValueError:
            body = {"_raw": await request.text()}
        self.responses.append(
            ResponsePost(
                id=id,
                body=body if isinstance(body, dict) else {"_raw": body},
                headers=dict(request.headers),
                at=time.monotonic(),
            )
        )
        failures = self._failures.get("response_url")
        if failures:
            failure = failures.popleft()
            return web.json_response({"ok": False, "error": failure.error}, status=failure.status)
        return web.json_response({"ok": True})

    # ----------------------------------------------------------------- Socket Mode

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        # autoping answers the SDK's "sdk-ping-pong:<t>" pings; without pongs it reconnects.
        # A short close timeout keeps stop() quick when a client stops reading.
        ws = web.WebSocketResponse(autoping=True, timeout=1.0)
        await ws.prepare(request)
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": self.socket_connections + 1,
                "debug_info": {"host": "fake-slack", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": self.app_id},
            }
        )
        # Registered only after hello, so a pushed envelope never overtakes it.
        self._sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_socket_text(msg.data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
        return ws

    def _on_socket_text(self, data: str) -> None:
        try:
            raw = json.loads(data)
        except ValueError:
            return
        if not isinstance(raw, dict) or "envelope_id" not in raw:
            return
        envelope_id = str(raw["envelope_id"])
        pending = self._pending.pop(envelope_id, None)
        latency = time.monotonic() - pending[1] if pending else 0.0
        ack = SocketAck(envelope_id=envelope_id, payload=raw.get("payload"), raw=raw, latency=latency)
        self.acks.append(ack)
        if pending and not pending[0].done():
            pending[0].set_result(ack)

    async def wait_socket_connected(self, within: float = 3.0) -> None:
        await self.wait_until(lambda: self.socket_connections > 0, within)

    async def push_socket_envelope(
        self,
        payload_type: str,
        payload: dict[str, Any],
        *,
        within: float = 3.0,
        envelope_id: str | None = None,
        accepts_response_payload: bool | None = None,
        retry_attempt: int = 0,
        retry_reason: str = "",
    ) -> SocketAck:
        """Send an envelope (``events_api``, ``slash_commands``, ``interactive``) on the
        newest connection and wait for its ack; ``TimeoutError`` if none ``within`` seconds
        (Slack's deadline is 3 s)."""
        await self.wait_socket_connected(within)
        ws = [s for s in self._sockets if not s.closed][-1]
        envelope_id = envelope_id or _next_id("env-")
        if accepts_response_payload is None:
            # Slash commands and interactions may answer in the ack; events may not.
            accepts_response_payload = payload_type != "events_api"
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": payload_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        if payload_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = retry_reason
        future: asyncio.Future[SocketAck] = asyncio.get_running_loop().create_future()
        self._pending[envelope_id] = (future, time.monotonic())
        self.envelopes.append(envelope)
        await ws.send_json(envelope)
        try:
            return await asyncio.wait_for(future, within)
        finally:
            self._pending.pop(envelope_id, None)

    async def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Ask clients to reconnect, as Slack does every few hours."""
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-slack"}})

    async def close_sockets(self) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)

    # ----------------------------------------------------------------- lifecycle

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{id}", self._response)
        app.router.add_get("/socket-mode", self._socket)
        return app

    async def start(self) -> FakeSlack:
        self._runner = web.AppRunner(self._app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        await self.close_sockets()
        for future, _ in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
