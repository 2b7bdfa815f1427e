"""A local Discord REST API + gateway for tests.

It speaks enough of the real wire protocol that the *real* discord.py (2.7.x) logs in,
connects, receives interactions and answers them exactly as in production, with two
process-global patch points (see ``PLATFORMS.md``)::

    monkeypatch.setattr(discord.http.Route, "BASE", fake.api_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", fake.gateway_url)

One aiohttp server on 127.0.0.1 serves REST under ``/api/v10`` and the gateway websocket
under ``/gateway``. The fake keeps a small world model (one guild, one text channel,
threads, messages per channel, interactions and their ``@original`` messages), records
every REST call and every gateway frame, and can inject errors (429s with the headers
discord.py needs, or any other status).

Behaviour copied from real Discord because bots depend on it:

* every JSON answer carries ``Content-Type: application/json`` *exactly* (discord.py compares
  the header verbatim; aiohttp's ``json_response`` would append ``; charset=utf-8`` and
  discord.py would then treat the body as text);
* interaction callbacks answer 200 with the ``with_response`` JSON body, not 204;
* an interaction can be acknowledged once (40060), unknown ones answer 10062;
* after a deferred response (type 5) the first follow-up *replaces* the "thinking" message;
* a thread started from a message has the message's id;
* RESUME replays the dispatches the client missed, then sends RESUMED.

Gateway frames are sent as TEXT, never compressed: discord.py asks for
``compress=zlib-stream`` (or ``zstd-stream``) in the URL but only feeds BINARY frames to its
decompressor, so plain text frames are always understood.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yarl
from aiohttp import WSMsgType, web

JSON = dict[str, Any]

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000

# Message flags and interaction callback types used by the message model.
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
CALLBACK_MESSAGE = 4
CALLBACK_DEFERRED_MESSAGE = 5
CALLBACK_DEFERRED_UPDATE = 6
CALLBACK_UPDATE_MESSAGE = 7

_counter = itertools.count()


def snowflake() -> str:
    """A real-looking, strictly increasing snowflake (discord.py derives ``created_at`` from it)."""
    ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((ms << 22) | (next(_counter) & 0x3FFFFF))


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _option_type(value: Any) -> int:
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _compile_route(pattern: str) -> tuple[str | None, re.Pattern[str]]:
    """``"POST /channels/*/messages"`` → (method, regex). ``*`` and ``{name}`` match one segment."""
    method: str | None = None
    path = pattern.strip()
    if " " in path:
        method, path = path.split(None, 1)
        method = method.upper()
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :]
    parts = []
    for segment in path.split("/"):
        if segment == "*" or (segment.startswith("{") and segment.endswith("}")):
            parts.append("[^/]+")
        elif segment == "**":
            parts.append(".*")
        else:
            parts.append(re.escape(segment))
    return method, re.compile("/".join(parts))


@dataclass
class Call:
    """One REST request as the fake saw it. ``path`` is relative to ``/api/v10``."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    files: list[JSON] = field(default_factory=list)
    status: int = 0
    at: float = field(default_factory=time.monotonic)


_CALL_KEY = web.RequestKey("call", Call)


@dataclass
class InteractionCallback:
    """One ``POST /interactions/{id}/{token}/callback``: type 4 message, 5 deferred,
    6 deferred update, 7 update message, 8 autocomplete, 9 modal."""

    interaction_id: str
    token: str
    type: int
    data: JSON
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    method: str | None
    regex: re.Pattern[str]
    status: int
    retry_after: float
    is_global: bool
    body: JSON | None
    via: bool
    remaining: int


class FakeDiscord:
    """Discord REST (``/api/v10``) and gateway (``/gateway``) on 127.0.0.1 with a free port."""

    BOT_ID = "1100000000000000001"
    GUILD_ID = "1100000000000000100"
    CHANNEL_ID = "1100000000000000200"
    USER_ID = "1100000000000000300"
    OWNER_ID = "1100000000000000400"

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_name: str = "openkoi",
        guild_name: str = "Koi Pond",
        channel_name: str = "general",
        heartbeat_interval_ms: int = 41250,
        interaction_deadline: float | None = None,
    ) -> None:
        # token=None accepts any token; a string makes wrong tokens fail like Discord (401 / close 4004).
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        # Real Discord rejects a first answer later than 3 s with 10062; off by default so slow
        # machines do not flake, set to 3.0 to test deadline handling.
        self.interaction_deadline = interaction_deadline
        self.application_id = self.BOT_ID
        self.guild_id = self.GUILD_ID
        self.channel_id = self.CHANNEL_ID
        self.user_id = self.USER_ID
        self.bot_user: JSON = {
            "id": self.BOT_ID,
            "username": bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "public_flags": 0,
            "locale": "en-US",
        }
        self.users: dict[str, JSON] = {self.BOT_ID: self.bot_user}
        self.add_user(self.USER_ID, "alice")
        self.add_user(self.OWNER_ID, "owner")
        self.guild_name = guild_name
        self.channels: dict[str, JSON] = {self.CHANNEL_ID: self._text_channel(self.CHANNEL_ID, channel_name)}

        # Recordings.
        self.calls: list[Call] = []
        self.callbacks: list[InteractionCallback] = []
        self.messages: dict[str, list[JSON]] = {self.CHANNEL_ID: []}
        self.interactions: dict[str, JSON] = {}
        self.commands: list[JSON] = []
        self.guild_commands: dict[str, list[JSON]] = {}
        self.gateway_received: list[JSON] = []
        self.gateway_sent: list[JSON] = []
        self.gateway_connections: list[dict[str, str]] = []
        self.identify_payload: JSON | None = None
        self.resume_payloads: list[JSON] = []

        # Internal state.
        self._message_index: dict[str, JSON] = {}
        self._interaction_by_token: dict[str, JSON] = {}
        self._pushed_at: dict[str, float] = {}
        self._original: dict[str, str] = {}  # interaction token -> message id of @original
        self._acked: set[str] = set()
        self._failures: list[_Failure] = []
        self._forbidden: dict[str, tuple[int, str]] = {}  # channel id -> (error code, message); see forbid_channel
        self._forbid_new_threads: tuple[int, str] | None = None  # see forbid_new_threads
        self._session_id: str | None = None
        self._seq = 0
        self._session_log: list[JSON] = []  # dispatches of this session, for RESUME replays
        self._last_dispatch: dict[str | None, JSON] = {}  # by event name; None = any event
        self._forced_replays: list[JSON] = []
        self._ws: web.WebSocketResponse | None = None
        self._send_lock = asyncio.Lock()
        self._live = asyncio.Event()  # set while a session is READY/RESUMED on an open socket
        self._resumed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ------------------------------------------------------------------ addresses

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> yarl.URL:
        """Value for ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` (a ``yarl.URL``:
        discord.py calls ``.with_query(v=10, encoding=json, compress=...)`` on it)."""
        return yarl.URL(f"ws://127.0.0.1:{self.port}/gateway")

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop serving the fake (for ``run_coroutine_threadsafe`` when started in a thread)."""
        return self._loop

    # ------------------------------------------------------------------ world model

    def add_user(self, user_id: str, username: str) -> JSON:
        user: JSON = {
            "id": user_id,
            "username": username,
            "discriminator": "0",
            "global_name": username.title(),
            "avatar": None,
            "public_flags": 0,
        }
        self.users[user_id] = user
        return user

    def _user(self, user_id: str) -> JSON:
        return self.users.get(user_id) or self.add_user(user_id, f"user{user_id[-4:]}")

    def _text_channel(self, channel_id: str, name: str) -> JSON:
        return {
            "id": channel_id,
            "type": 0,
            "guild_id": self.GUILD_ID,
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "default_auto_archive_duration": 1440,
            "default_thread_rate_limit_per_user": 0,
            "flags": 0,
        }

    def add_text_channel(self, name: str, channel_id: str | None = None) -> JSON:
        """A further text channel in the guild (only visible to clients that connect afterwards)."""
        channel = self._text_channel(channel_id or snowflake(), name)
        self.channels[channel["id"]] = channel
        self.messages.setdefault(channel["id"], [])
        return channel

    def dm_channel(self, user_id: str) -> JSON:
        """The DM channel (type 1) between the bot and ``user_id``, created on first use."""
        for channel in self.channels.values():
            if channel["type"] == 1 and channel["recipients"][0]["id"] == user_id:
                return channel
        channel = {
            "id": snowflake(),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [self._user(user_id)],
        }
        self.channels[channel["id"]] = channel
        self.messages.setdefault(channel["id"], [])
        return channel

    def member(self, user_id: str, roles: Sequence[str] = ()) -> JSON:
        return {
            "user": self._user(user_id),
            "roles": list(roles),
            "nick": None,
            "avatar": None,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
            # Members inside interactions carry their resolved channel permissions.
            "permissions": "2251799813685247",
        }

    def guild_payload(self) -> JSON:
        """The GUILD_CREATE payload: the guild, its channels and threads, the bot as member."""
        everyone = {
            "id": self.GUILD_ID,
            "name": "@everyone",
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "position": 0,
            "permissions": "2248473465835073",
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }
        bot_member = self.member(self.BOT_ID)
        bot_member.pop("permissions")
        return {
            "id": self.GUILD_ID,
            "name": self.guild_name,
            "icon": None,
            "owner_id": self.OWNER_ID,
            "unavailable": False,
            "large": False,
            "member_count": 3,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "features": [],
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "channels": [c for c in self.channels.values() if c["type"] not in (1, 11)],
            "threads": [c for c in self.channels.values() if c["type"] == 11],
            "members": [bot_member],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def application_payload(self) -> JSON:
        return {
            "id": self.application_id,
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self._user(self.OWNER_ID),
            "team": None,
            "bot": self.bot_user,
            "rpc_origins": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": 1,
            "integration_types_config": {"0": {}},
        }

    def message(self, message_id: str) -> JSON | None:
        return self._message_index.get(str(message_id))

    def channel_messages(self, channel_id: str | int) -> list[JSON]:
        return self.messages.get(str(channel_id), [])

    def threads(self) -> list[JSON]:
        return [c for c in self.channels.values() if c["type"] == 11]

    def original_message(self, token: str) -> JSON | None:
        message_id = self._original.get(token)
        return None if message_id is None else self.message(message_id)

    def add_message(
        self,
        channel_id: str | int | None = None,
        content: str = "",
        *,
        author_id: str | None = None,
        embeds: Sequence[JSON] = (),
        components: Sequence[JSON] = (),
        flags: int = 0,
        message_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> JSON:
        """Store a full message object (as Discord would return it) and return it."""
        channel = str(channel_id or self.CHANNEL_ID)
        author = self._user(author_id or self.BOT_ID)
        msg: JSON = {
            "id": message_id or snowflake(),
            "type": 0,
            "channel_id": channel,
            "guild_id": self.GUILD_ID,
            "author": author,
            "content": content,
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": list(embeds),
            "components": list(components),
            "pinned": False,
            "flags": flags,
        }
        if self.channels.get(channel, {}).get("type") == 1:
            msg.pop("guild_id")  # DM messages have no guild
        if extra:
            msg.update(extra)
        self.messages.setdefault(channel, []).append(msg)
        self._message_index[msg["id"]] = msg
        if channel in self.channels:
            self.channels[channel]["last_message_id"] = msg["id"]
            if self.channels[channel]["type"] == 11:
                self.channels[channel]["message_count"] += 1
                self.channels[channel]["total_message_sent"] += 1
        return msg

    def _edit_message(self, msg: JSON, body: JSON, files: list[JSON]) -> JSON:
        for key in ("content", "embeds", "components", "flags", "attachments"):
            if key in body and body[key] is not None:
                msg[key] = body[key]
        if files:
            msg["attachments"] = list(msg.get("attachments", [])) + files
        msg["edited_timestamp"] = now_iso()
        return msg

    def _delete_message(self, message_id: str) -> bool:
        msg = self._message_index.pop(message_id, None)
        if msg is None:
            return False
        self.messages[msg["channel_id"]].remove(msg)
        return True

    # ------------------------------------------------------------------ interaction builders

    def _channel_for_interaction(self, channel_id: str) -> JSON:
        channel = self.channels.get(channel_id)
        if channel is None:
            return self._text_channel(channel_id, "unknown")
        return dict(channel)

    def _interaction_base(
        self,
        *,
        kind: int,
        user_id: str | None,
        guild_id: str | None,
        channel_id: str | None,
        interaction_id: str | None,
        roles: Sequence[str] = (),
    ) -> JSON:
        user = user_id or self.USER_ID
        dm = guild_id == ""
        channel = str(channel_id or (self.dm_channel(user)["id"] if dm else self.CHANNEL_ID))
        iid = interaction_id or snowflake()
        payload: JSON = {
            "id": iid,
            "application_id": self.application_id,
            "type": kind,
            "token": f"itoken-{iid}",
            "version": 1,
            "channel_id": channel,
            "channel": self._channel_for_interaction(channel),
            "app_permissions": "2248473465835073",
            "locale": "en-US",
            "entitlements": [],
            "entitlement_skus": [],
            # discord.py reads this key unconditionally (KeyError without it).
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if dm:
            # A DM carries a bare user instead of a member; context 1 = bot DM.
            payload["user"] = self._user(user)
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"1": user}
        else:
            gid = guild_id or self.GUILD_ID
            payload["guild_id"] = gid
            payload["guild"] = {"id": gid, "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = self.member(user, roles)
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": gid}
        return payload

    def slash_command_interaction(
        self,
        name: str = "think",
        options: Sequence[JSON] | Mapping[str, Any] | None = None,
        *,
        user_id: str | None = None,
        guild_id: str | None = None,
        channel_id: str | int | None = None,
        interaction_id: str | None = None,
        command_id: str | None = None,
        roles: Sequence[str] = (),
    ) -> JSON:
        """An APPLICATION_COMMAND (type 2) payload for a chat-input command.

        ``options`` is either raw Discord options or ``{"task": "..."}`` (types inferred).
        ``data.guild_id`` is set only when ``name`` was synced as a guild command, because
        discord.py's CommandTree looks commands up by it. Pass ``guild_id=""`` for a DM.
        ``roles`` are the member's role ids (ignored in a DM, where there is no member).
        """
        if options is None:
            raw: list[JSON] = []
        elif isinstance(options, Mapping):
            raw = [{"name": k, "type": _option_type(v), "value": v} for k, v in options.items()]
        else:
            raw = list(options)
        payload = self._interaction_base(
            kind=2,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=str(channel_id) if channel_id else None,
            interaction_id=interaction_id,
            roles=roles,
        )
        data: JSON = {"id": command_id, "name": name, "type": 1, "options": raw}
        registered = self._find_command(name, payload.get("guild_id"))
        if registered is not None:
            data["id"] = command_id or registered["id"]
            if registered.get("guild_id"):
                data["guild_id"] = registered["guild_id"]
        data["id"] = data["id"] or snowflake()
        payload["data"] = data
        return payload

    def component_interaction(
        self,
        custom_id: str,
        *,
        user_id: str | None = None,
        message_id: str | int | None = None,
        channel_id: str | int | None = None,
        guild_id: str | None = None,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        interaction_id: str | None = None,
        roles: Sequence[str] = (),
    ) -> JSON:
        """A MESSAGE_COMPONENT (type 3) payload for a press on ``custom_id``.

        The interaction carries the message the component sits on: the stored message
        ``message_id`` if the fake has it, else a synthetic bot message holding one button with
        ``custom_id``. discord.py only runs a DynamicItem when the message's components contain
        a component with that exact custom_id, so a stored message must really have it.
        """
        stored = self.message(str(message_id)) if message_id is not None else None
        channel = str(channel_id or (stored["channel_id"] if stored else self.CHANNEL_ID))
        payload = self._interaction_base(
            kind=3,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel,
            interaction_id=interaction_id,
            roles=roles,
        )
        if stored is None:
            row = {
                "type": 1,
                "id": 1,
                "components": [
                    {"type": component_type, "id": 2, "custom_id": custom_id, "style": 1, "label": "Confirm"}
                ],
            }
            stored = self.add_message(
                channel, "Confirm?", components=[row], message_id=str(message_id) if message_id is not None else None
            )
        payload["message"] = json.loads(json.dumps(stored))  # a snapshot, as on the wire
        data: JSON = {"custom_id": custom_id, "component_type": component_type, "id": 2}
        if values is not None:
            data["values"] = list(values)
        payload["data"] = data
        return payload

    def _find_command(self, name: str, guild_id: str | None) -> JSON | None:
        if guild_id:
            for cmd in self.guild_commands.get(guild_id, []):
                if cmd["name"] == name:
                    return cmd
        for cmd in self.commands:
            if cmd["name"] == name:
                return cmd
        return None

    # ------------------------------------------------------------------ gateway: pushing events

    async def dispatch(self, event: str, data: JSON) -> int:
        """Send a DISPATCH (op 0) with the next sequence number; returns the sequence.

        While no session is live the event waits in the session log and is replayed on RESUME,
        as real Discord does.
        """
        frame = self._next_dispatch(event, data)
        self._last_dispatch[event] = frame
        self._last_dispatch[None] = frame
        if self._live.is_set():
            await self._send_frame(frame)
        return int(frame["s"])

    async def push_interaction(self, payload: JSON) -> JSON:
        """Deliver an INTERACTION_CREATE and remember it for callbacks; returns the payload."""
        self.interactions[payload["id"]] = payload
        self._interaction_by_token[payload["token"]] = payload
        self._pushed_at[payload["id"]] = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return payload

    async def wait_until_connected(self, within: float = 5.0) -> None:
        """Until a session is live (READY or RESUMED sent)."""
        await asyncio.wait_for(self._live.wait(), within)

    async def disconnect(self, code: int = 4000) -> None:
        """Close the gateway socket from the server side. 4000 makes discord.py RESUME;
        4004/4010-4014 make it give up, as with real Discord."""
        ws = self._ws
        self._live.clear()
        if ws is not None and not ws.closed:
            await ws.close(code=code, message=b"fake disconnect")

    async def replay_last_dispatch(self, event: str | None = "INTERACTION_CREATE", within: float = 5.0) -> JSON:
        """Simulate a redelivery: drop the socket, and when the client RESUMEs send the last
        ``event`` dispatch (``None``: of any kind, READY/GUILD_CREATE excluded) again, with a
        fresh sequence number, before RESUMED. Returns the replayed ``d`` once resumed."""
        last = self._last_dispatch.get(event)
        if last is None:
            raise RuntimeError(f"no {event or 'event'} has been dispatched yet")
        self._forced_replays.append(last)
        self._resumed.clear()
        await self.disconnect(4000)
        await asyncio.wait_for(self._resumed.wait(), within)
        data: JSON = last["d"]
        return data

    def dispatches(self, event: str | None = None) -> list[JSON]:
        """Dispatch frames sent so far (all sessions), optionally of one event name."""
        return [f for f in self.gateway_sent if f.get("op") == 0 and (event is None or f.get("t") == event)]

    def _next_dispatch(self, event: str, data: JSON) -> JSON:
        self._seq += 1
        frame: JSON = {"op": 0, "t": event, "s": self._seq, "d": data}
        self._session_log.append(frame)
        return frame

    async def _send_frame(self, frame: JSON, ws: web.WebSocketResponse | None = None) -> None:
        target = ws or self._ws
        if target is None or target.closed:
            return
        # One writer at a time: the gateway loop and push_interaction may send concurrently.
        async with self._send_lock:
            try:
                await target.send_str(json.dumps(frame))
            except (ConnectionError, RuntimeError):
                # The client went away mid-send; a dispatch stays in the session log and is
                # replayed on RESUME, as on Discord.
                return
            self.gateway_sent.append(frame)

    # ------------------------------------------------------------------ gateway: the socket

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self.gateway_connections.append(dict(request.query))
        previous, self._ws = self._ws, ws
        if previous is not None and not previous.closed:
            await previous.close(code=4000)
        self._live.clear()
        await self._send_frame(
            {
                "op": 10,
                "s": None,
                "t": None,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake-gateway"]},
            },
            ws,
        )
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.gateway_received.append(frame)
                await self._on_gateway_frame(ws, frame)
        finally:
            if self._ws is ws:
                self._ws = None
                self._live.clear()
        return ws

    async def _on_gateway_frame(self, ws: web.WebSocketResponse, frame: JSON) -> None:
        op = frame.get("op")
        data = frame.get("d")
        if op == 1:
            await self._send_frame({"op": 11, "s": None, "t": None, "d": None}, ws)
        elif op == 2:
            await self._identify(ws, data or {})
        elif op == 6:
            await self._resume(ws, data or {})
        elif op == 8:
            # Only sent with the members intent; answer so chunking does not hang.
            chunk = {
                "guild_id": self.GUILD_ID,
                "members": [self.member(self.BOT_ID)],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
                "nonce": (data or {}).get("nonce"),
            }
            await self._send_frame(self._next_dispatch("GUILD_MEMBERS_CHUNK", chunk), ws)

    async def _identify(self, ws: web.WebSocketResponse, data: JSON) -> None:
        self.identify_payload = data
        if self.token is not None and data.get("token") != self.token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        self._session_id = f"fake-session-{snowflake()}"
        self._seq = 0
        self._session_log = []
        self._forced_replays = []
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": self.GUILD_ID, "unavailable": True}],
            "session_id": self._session_id,
            "session_type": "normal",
            "resume_gateway_url": str(self.gateway_url),
            "shard": data.get("shard", [0, 1]),
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["fake-gateway"],
        }
        await self._send_frame(self._next_dispatch("READY", ready), ws)
        await self._send_frame(self._next_dispatch("GUILD_CREATE", self.guild_payload()), ws)
        self._live.set()

    async def _resume(self, ws: web.WebSocketResponse, data: JSON) -> None:
        self.resume_payloads.append(data)
        if data.get("session_id") != self._session_id or data.get("session_id") is None:
            # Invalid session, not resumable: the client will IDENTIFY again.
            await self._send_frame({"op": 9, "s": None, "t": None, "d": False}, ws)
            return
        seen = int(data.get("seq") or 0)
        for frame in [f for f in self._session_log if int(f["s"]) > seen]:
            await self._send_frame(frame, ws)
        replays, self._forced_replays = self._forced_replays, []
        for old in replays:
            await self._send_frame(self._next_dispatch(str(old["t"]), old["d"]), ws)
        await self._send_frame(self._next_dispatch("RESUMED", {"_trace": ["fake-gateway"]}), ws)
        self._live.set()
        self._resumed.set()

    # ------------------------------------------------------------------ REST plumbing

    def fail_next(
        self,
        route_pattern: str,
        status: int = 429,
        retry_after: float = 0.5,
        *,
        times: int = 1,
        is_global: bool = False,
        body: JSON | None = None,
        via: bool = True,
    ) -> None:
        """Answer the next ``times`` requests matching ``route_pattern`` with ``status``.

        ``route_pattern`` is ``"[METHOD ]/path"`` relative to ``/api/v10``; ``*`` or ``{name}``
        match one segment, ``**`` anything (``"POST /channels/*/messages"``). A 429 carries the
        body and headers discord.py honours (``retry_after``, X-RateLimit-*, ``Via``);
        ``via=False`` drops ``Via`` so discord.py treats it as a Cloudflare ban and raises.
        Note that discord.py retries 5xx five times with 1+2n s sleeps (~25 s in total).
        """
        method, regex = _compile_route(route_pattern)
        self._failures.append(_Failure(method, regex, status, retry_after, is_global, body, via, times))

    def forbid_channel(self, channel_id: str, code: int = 50013, message: str = "Missing Permissions") -> None:
        """Make the bot unable to post in ``channel_id``, as Discord answers when a permission was taken
        away: 403 with ``code`` (50013 Missing Permissions, 50001 Missing Access) on every message post,
        and with 50001 (no View Channel) on ``GET /channels/{id}`` too."""
        self._forbidden[channel_id] = (code, message)

    def forbid_new_threads(self, code: int = 50013, message: str = "Missing Permissions") -> None:
        """Make every thread created from now on refuse the bot's messages as soon as it exists, as when
        Send Messages in Threads is taken away right after the thread was started."""
        self._forbid_new_threads = (code, message)

    def calls_to(self, method: str, path_prefix: str = "") -> list[Call]:
        """Recorded calls with this method whose path starts with ``path_prefix``
        (relative to ``/api/v10``; a full ``/api/v10/...`` prefix works too)."""
        if path_prefix.startswith(API_PREFIX):
            path_prefix = path_prefix[len(API_PREFIX) :]
        return [c for c in self.calls if c.method == method.upper() and c.path.startswith(path_prefix)]

    async def wait_for_call(
        self, method: str, path_prefix: str = "", *, count: int = 1, within: float = 5.0
    ) -> list[Call]:
        """Wait until at least ``count`` matching calls have been answered; returns them all."""
        deadline = time.monotonic() + within
        while True:
            found = [c for c in self.calls_to(method, path_prefix) if c.status]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} x {method} {path_prefix}: saw {len(found)}")
            await asyncio.sleep(0.01)

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if (failure.method in (None, method)) and failure.regex.fullmatch(path):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    @staticmethod
    def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
        # Not web.json_response: it sends "application/json; charset=utf-8", and discord.py
        # only decodes a body whose Content-Type is exactly "application/json".
        merged = {"Content-Type": "application/json", "Via": "1.1 google"}
        merged.update(headers or {})
        return web.Response(body=json.dumps(payload).encode(), status=status, headers=merged)

    @classmethod
    def _error(cls, status: int, code: int, message: str) -> web.Response:
        return cls._json({"message": message, "code": code}, status=status)

    def _failure_response(self, failure: _Failure) -> web.Response:
        if failure.status != 429:
            body = failure.body or {"message": f"{failure.status}: scripted failure", "code": 0}
            return self._json(body, status=failure.status)
        body = failure.body or {
            "message": "You are being rate limited.",
            "retry_after": failure.retry_after,
            "global": failure.is_global,
        }
        headers = {
            "Retry-After": str(max(1, math.ceil(failure.retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
            "X-RateLimit-Bucket": "fakebucket0000000000000000000000",
            "X-RateLimit-Scope": "global" if failure.is_global else "user",
        }
        if failure.is_global:
            headers["X-RateLimit-Global"] = "true"
        response = self._json(body, status=429, headers=headers)
        if not failure.via:
            del response.headers["Via"]
        return response

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            result: web.StreamResponse = await handler(request)
            return result
        path = request.path[len(API_PREFIX) :]
        body: Any = None
        files: list[JSON] = []
        if request.content_type.startswith("multipart/"):
            # discord.py sends files as multipart with the JSON in "payload_json".
            form = await request.post()
            for name, value in form.items():
                if name == "payload_json":
                    body = json.loads(str(value))
                elif isinstance(value, web.FileField):
                    content = value.file.read()
                    files.append(
                        {
                            "id": snowflake(),
                            "filename": value.filename,
                            "size": len(content),
                            "content_type": value.content_type,
                            "url": f"{self.base_url}/attachments/{value.filename}",
                            "proxy_url": f"{self.base_url}/attachments/{value.filename}",
                        }
                    )
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
        keep = ("Authorization", "X-Audit-Log-Reason", "Content-Type", "User-Agent")
        call = Call(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            headers={k: request.headers[k] for k in keep if k in request.headers},
            files=files,
        )
        self.calls.append(call)
        request[_CALL_KEY] = call
        response: web.StreamResponse
        failure = self._take_failure(request.method, path)
        if failure is not None:
            response = self._failure_response(failure)
        elif (
            self.token is not None
            and self._needs_auth(path)
            and (call.headers.get("Authorization") != f"Bot {self.token}")
        ):
            response = self._error(401, 0, "401: Unauthorized")
        else:
            response = await handler(request)
        call.status = response.status
        return response

    @staticmethod
    def _needs_auth(path: str) -> bool:
        # Interaction callbacks and webhook-token routes are authenticated by their token.
        return not (path.startswith("/interactions/") or path.startswith("/webhooks/"))

    @staticmethod
    def _call(request: web.Request) -> Call:
        return request[_CALL_KEY]

    def _body(self, request: web.Request) -> JSON:
        body = self._call(request).json
        return body if isinstance(body, dict) else {}

    # ------------------------------------------------------------------ REST handlers

    async def _users_me(self, request: web.Request) -> web.Response:
        return self._json(self.bot_user)

    async def _application_me(self, request: web.Request) -> web.Response:
        return self._json(self.application_payload())

    async def _gateway_info(self, request: web.Request) -> web.Response:
        return self._json({"url": str(self.gateway_url)})

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return self._json(
            {
                "url": str(self.gateway_url),
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    def _echo_commands(self, body: Any, guild_id: str | None) -> list[JSON]:
        echoed = []
        for raw in body if isinstance(body, list) else []:
            cmd = dict(raw)
            cmd.setdefault("type", 1)
            cmd.setdefault("description", "")
            cmd.setdefault("options", [])
            cmd.setdefault("default_member_permissions", None)
            cmd.setdefault("nsfw", False)
            cmd.update(id=snowflake(), application_id=self.application_id, version=snowflake())
            if guild_id is not None:
                cmd["guild_id"] = guild_id
            echoed.append(cmd)
        return echoed

    async def _global_commands(self, request: web.Request) -> web.Response:
        if request.method == "PUT":
            self.commands = self._echo_commands(self._call(request).json, None)
        return self._json(self.commands)

    async def _guild_commands(self, request: web.Request) -> web.Response:
        guild_id = request.match_info["guild"]
        if request.method == "PUT":
            self.guild_commands[guild_id] = self._echo_commands(self._call(request).json, guild_id)
        return self._json(self.guild_commands.get(guild_id, []))

    def _interaction_message(self, interaction: JSON, body: JSON, files: list[JSON], flags: int = 0) -> JSON:
        user_id = (interaction.get("member") or {}).get("user", {}).get("id") or interaction["user"]["id"]
        meta = {
            "id": interaction["id"],
            "type": interaction["type"],
            "user": self._user(user_id),
            "authorizing_integration_owners": interaction.get("authorizing_integration_owners", {}),
        }
        msg = self.add_message(
            interaction["channel_id"],
            body.get("content") or "",
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            flags=int(body.get("flags") or 0) | flags,
            extra={
                "webhook_id": self.application_id,
                "application_id": self.application_id,
                "interaction_metadata": meta,
                "type": 20 if interaction["type"] == 2 else 0,
            },
        )
        if files:
            msg["attachments"] = files
        return msg

    async def _interaction_callback(self, request: web.Request) -> web.Response:
        iid, token = request.match_info["id"], request.match_info["token"]
        interaction = self.interactions.get(iid)
        if interaction is None or interaction["token"] != token:
            return self._error(404, 10062, "Unknown interaction")
        pushed = self._pushed_at.get(iid, 0.0)
        if self.interaction_deadline is not None and time.monotonic() - pushed > self.interaction_deadline:
            return self._error(404, 10062, "Unknown interaction")
        if iid in self._acked:
            return self._error(400, 40060, "Interaction has already been acknowledged.")
        body = self._body(request)
        kind = int(body.get("type", 0))
        data: JSON = body.get("data") or {}
        call = self._call(request)
        self._acked.add(iid)
        self.callbacks.append(InteractionCallback(iid, token, kind, data))
        ephemeral = bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)
        meta: JSON = {"id": iid, "type": interaction["type"]}
        message: JSON | None = None
        if kind == CALLBACK_MESSAGE:
            message = self._interaction_message(interaction, data, call.files)
        elif kind == CALLBACK_DEFERRED_MESSAGE:
            message = self._interaction_message(interaction, {"flags": data.get("flags")}, [], FLAG_LOADING)
            meta["response_message_loading"] = True
        elif kind in (CALLBACK_DEFERRED_UPDATE, CALLBACK_UPDATE_MESSAGE):
            source = interaction.get("message") or {}
            stored = self.message(str(source.get("id")))
            if stored is not None:
                message = stored
                if kind == CALLBACK_UPDATE_MESSAGE:
                    self._edit_message(stored, data, call.files)
        if message is not None:
            self._original[token] = message["id"]
            meta["response_message_id"] = message["id"]
            meta["response_message_ephemeral"] = ephemeral or bool(message["flags"] & FLAG_EPHEMERAL)
        answer: JSON = {"interaction": meta}
        if kind in (CALLBACK_MESSAGE, CALLBACK_DEFERRED_MESSAGE, CALLBACK_UPDATE_MESSAGE) and message is not None:
            answer["resource"] = {"type": kind, "message": message}
        elif kind in (CALLBACK_DEFERRED_UPDATE, 8, 9):
            answer["resource"] = {"type": kind}
        return self._json(answer)

    def _webhook_interaction(self, request: web.Request) -> JSON | None:
        if request.match_info["app"] != self.application_id:
            return None
        return self._interaction_by_token.get(request.match_info["token"])

    async def _webhook_execute(self, request: web.Request) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        if interaction is None:
            return self._error(404, 10015, "Unknown Webhook")
        body = self._body(request)
        call = self._call(request)
        original = self.original_message(interaction["token"])
        if original is not None and original["flags"] & FLAG_LOADING:
            # Discord: the first follow-up after a deferred response fills in the thinking message.
            original["flags"] &= ~FLAG_LOADING
            message = self._edit_message(original, body, call.files)
        else:
            message = self._interaction_message(interaction, body, call.files)
        if request.query.get("wait", "").lower() in ("true", "1"):
            return self._json(message)
        return web.Response(status=204, headers={"Via": "1.1 google"})

    async def _webhook_message(self, request: web.Request) -> web.StreamResponse:
        interaction = self._webhook_interaction(request)
        if interaction is None:
            return self._error(404, 10015, "Unknown Webhook")
        mid = request.match_info["mid"]
        msg = self.original_message(interaction["token"]) if mid == "@original" else self.message(mid)
        if msg is None:
            return self._error(404, 10008, "Unknown Message")
        if request.method == "GET":
            return self._json(msg)
        if request.method == "DELETE":
            self._delete_message(msg["id"])
            return web.Response(status=204, headers={"Via": "1.1 google"})
        msg["flags"] &= ~FLAG_LOADING
        return self._json(self._edit_message(msg, self._body(request), self._call(request).files))

    async def _get_channel(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["channel"])
        if channel is None:
            return self._error(404, 10003, "Unknown Channel")
        forbidden = self._forbidden.get(channel["id"])
        if forbidden is not None and forbidden[0] == 50001:
            # Without View Channel the bot cannot even read the channel; 50013 (no Send Messages) can.
            return self._error(403, *forbidden)
        return self._json(channel)

    async def _channel_messages(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel"]
        if channel_id not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        if request.method == "GET":
            limit = int(request.query.get("limit", "50"))
            return self._json(list(reversed(self.channel_messages(channel_id)))[:limit])
        if channel_id in self._forbidden:
            code, message = self._forbidden[channel_id]
            return self._error(403, code, message)
        body = self._body(request)
        call = self._call(request)
        if not (
            body.get("content")
            or body.get("embeds")
            or body.get("components")
            or call.files
            or body.get("sticker_ids")
            or body.get("poll")
        ):
            return self._error(400, 50006, "Cannot send an empty message")
        msg = self.add_message(
            channel_id,
            body.get("content") or "",
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            flags=int(body.get("flags") or 0),
        )
        if call.files:
            msg["attachments"] = call.files
        if "message_reference" in body:
            msg["message_reference"] = body["message_reference"]
            msg["type"] = 19
        return self._json(msg)

    async def _channel_message(self, request: web.Request) -> web.StreamResponse:
        msg = self.message(request.match_info["mid"])
        if msg is None or msg["channel_id"] != request.match_info["channel"]:
            return self._error(404, 10008, "Unknown Message")
        if request.method == "GET":
            return self._json(msg)
        if request.method == "DELETE":
            self._delete_message(msg["id"])
            return web.Response(status=204, headers={"Via": "1.1 google"})
        return self._json(self._edit_message(msg, self._body(request), self._call(request).files))

    def _new_thread(self, parent_id: str, name: str, thread_id: str, body: JSON) -> JSON:
        created = now_iso()
        thread: JSON = {
            "id": thread_id,
            "type": int(body.get("type") or 11),
            "guild_id": self.GUILD_ID,
            "parent_id": parent_id,
            "owner_id": self.BOT_ID,
            "name": name,
            "last_message_id": None,
            "rate_limit_per_user": int(body.get("rate_limit_per_user") or 0),
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": int(body.get("auto_archive_duration") or 1440),
                "archive_timestamp": created,
                "locked": False,
                "create_timestamp": created,
            },
            "member": {"id": thread_id, "user_id": self.BOT_ID, "join_timestamp": created, "flags": 1},
        }
        self.channels[thread_id] = thread
        self.messages.setdefault(thread_id, [])
        if self._forbid_new_threads is not None:
            self._forbidden[thread_id] = self._forbid_new_threads
        return thread

    async def _message_thread(self, request: web.Request) -> web.Response:
        parent_id, mid = request.match_info["channel"], request.match_info["mid"]
        msg = self.message(mid)
        if msg is None or msg["channel_id"] != parent_id:
            return self._error(404, 10008, "Unknown Message")
        if mid in self.channels:
            return self._error(400, 160004, "A thread has already been created for this message")
        body = self._body(request)
        # A thread started from a message shares the message's id.
        thread = self._new_thread(parent_id, str(body.get("name") or "thread"), mid, body)
        msg["flags"] |= FLAG_HAS_THREAD
        msg["thread"] = thread
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return self._json(thread)

    async def _channel_thread(self, request: web.Request) -> web.Response:
        parent_id = request.match_info["channel"]
        if parent_id not in self.channels:
            return self._error(404, 10003, "Unknown Channel")
        body = self._body(request)
        thread = self._new_thread(parent_id, str(body.get("name") or "thread"), snowflake(), body)
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        return self._json(thread)

    async def _create_dm(self, request: web.Request) -> web.Response:
        """``POST /users/@me/channels``: open (or return) the DM channel with ``recipient_id``."""
        return self._json(self.dm_channel(str(self._body(request).get("recipient_id"))))

    async def _typing(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"Via": "1.1 google"})

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._error(404, 0, "404: Not Found")

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        p = API_PREFIX
        r.add_get("/gateway", self._gateway)
        r.add_get(f"{p}/users/@me", self._users_me)
        r.add_post(f"{p}/users/@me/channels", self._create_dm)
        r.add_get(f"{p}/oauth2/applications/@me", self._application_me)
        r.add_get(f"{p}/applications/@me", self._application_me)
        r.add_get(f"{p}/gateway", self._gateway_info)
        r.add_get(f"{p}/gateway/bot", self._gateway_bot)
        for method in ("GET", "PUT"):
            r.add_route(method, f"{p}/applications/{{app}}/commands", self._global_commands)
            r.add_route(method, f"{p}/applications/{{app}}/guilds/{{guild}}/commands", self._guild_commands)
        r.add_post(f"{p}/interactions/{{id}}/{{token}}/callback", self._interaction_callback)
        r.add_post(f"{p}/webhooks/{{app}}/{{token}}", self._webhook_execute)
        for method in ("GET", "PATCH", "DELETE"):
            r.add_route(method, f"{p}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_message)
            r.add_route(method, f"{p}/channels/{{channel}}/messages/{{mid}}", self._channel_message)
        r.add_get(f"{p}/channels/{{channel}}", self._get_channel)
        r.add_route("GET", f"{p}/channels/{{channel}}/messages", self._channel_messages)
        r.add_route("POST", f"{p}/channels/{{channel}}/messages", self._channel_messages)
        r.add_post(f"{p}/channels/{{channel}}/messages/{{mid}}/threads", self._message_thread)
        r.add_post(f"{p}/channels/{{channel}}/threads", self._channel_thread)
        r.add_post(f"{p}/channels/{{channel}}/typing", self._typing)
        # Last: anything else is a JSON 404 (and stays recorded in ``calls``) so a missing
        # route shows up as a clear NotFound instead of an HTML page discord.py cannot parse.
        r.add_route("*", f"{p}/{{tail:.*}}", self._not_found)
        return app

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeDiscord:
        self._loop = asyncio.get_running_loop()
        self._send_lock = asyncio.Lock()
        self._live = asyncio.Event()
        self._resumed = asyncio.Event()
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close(code=1001)
        self._ws = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # A server on its own thread, for tests that run the bot in a subprocess; drive it with
    # asyncio.run_coroutine_threadsafe(fake.push_interaction(...), fake.loop).
    def start_in_thread(self) -> FakeDiscord:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-discord", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
