"""A local Telegram Bot API server for tests.

The real python-telegram-bot is pointed at it with
``Application.builder().token(fake.token).base_url(fake.base_url)`` and talks the real wire
protocol: ``POST /bot{token}/{method}`` with a form body (PTB 22 sends every parameter
form-encoded, nested objects as JSON strings; multipart only when uploading files) or a JSON
body (what other clients and hand-written tests send). Answers are the real envelopes
``{"ok": true, "result": ...}`` / ``{"ok": false, "error_code": ..., "description": ...}``.

The constraints bots most often trip over in production are enforced rather than waved
through, so a test fails here instead of in a chat: 4096-character texts, HTML that Telegram
cannot parse, reserved MarkdownV2 characters, 64-byte ``callback_data``, "message is not
modified" on identical edits, replies to unknown messages, getUpdates while a webhook is set,
https-only webhooks and one-shot callback query answers.

Every call is recorded (``calls``), sent and pushed messages live in a per-chat store
(``messages``), and updates are injected with ``push_message`` / ``push_callback_query`` /
``push_raw``. ``fail_next`` scripts one error (429 by default) for a method, optionally for the next
call whose params match a predicate.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

JSONDict = dict[str, Any]
ChatId = int | str

DEFAULT_TOKEN = "123456789:AAFakeTokenForOpenKoiTests_0123456789"
DEFAULT_USERNAME = "openkoi_bot"
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"

# Parameters that are plain strings on the wire. PTB sends every other value JSON-encoded in
# the form, so those are decoded; these must not be, or a text like "42" would become an int.
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "secret_token",
        "url",
        "action",
        "language_code",
        "description",
        "short_description",
        "name",
        "ip_address",
        "emoji",
    }
)

_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "a": "text_link",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_ATTR_RE = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_MENTION_RE = re.compile(r"(?<![A-Za-z0-9_@/])@[A-Za-z0-9_]{5,32}")
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
# An inline button must carry exactly one action; a bare text button is rejected.
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
# Outside code and link targets these are never markup in MarkdownV2, so an unescaped one is
# exactly the "Character '.' is reserved" error real bots hit with version numbers and URLs.
_MD2_ALWAYS_RESERVED = frozenset(".!-=+#{}()")


class ApiError(Exception):
    """An error answer of the Bot API, raised inside method handlers."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


class Call(NamedTuple):
    """One recorded API call, as the fake received it (token not included), and when (``time.monotonic()``)."""

    method: str
    params: JSONDict
    at: float = 0.0


@dataclass
class StoredMessage:
    """A message in a chat as Telegram keeps it: ``text`` is after entity parsing."""

    chat_id: ChatId
    message_id: int
    text: str
    from_bot: bool
    user_id: int
    date: int
    entities: list[JSONDict] = field(default_factory=list)
    reply_to: int | None = None
    reply_markup: JSONDict | None = None
    sent_text: str | None = None  # the raw text as sent, markup included
    parse_mode: str | None = None
    message_thread_id: int | None = None
    edit_date: int | None = None
    history: list[str] = field(default_factory=list)  # earlier texts, oldest first
    deleted: bool = False

    @property
    def buttons(self) -> list[JSONDict]:
        """Inline keyboard buttons, flattened, for quick assertions."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


class _Failure(NamedTuple):
    """A scripted error for one method, for the next call whose params ``matching`` accepts."""

    error: ApiError
    matching: Callable[[JSONDict], bool] | None


@dataclass
class _Queued:
    update_id: int
    payload: JSONDict
    # push_raw deliveries survive offsets once, so a redelivered (already confirmed)
    # update_id really reaches the bot instead of vanishing in the confirm step.
    sticky: bool = False
    delivered: bool = False


def utf16_len(text: str) -> int:
    """Entity offsets and lengths are counted in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Strip Telegram HTML into plain text and entities, failing like the Bot API does."""
    out: list[str] = []
    offset = 0  # UTF-16 position in the plain text
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[JSONDict] = []

    def emit(chunk: str) -> None:
        nonlocal offset
        plain = unescape(chunk)
        out.append(plain)
        offset += utf16_len(plain)

    position = 0
    while position < len(text):
        lt = text.find("<", position)
        if lt < 0:
            emit(text[position:])
            break
        emit(text[position:lt])
        match = _TAG_RE.match(text, lt)
        if match is None:
            raise bad_request(
                f'can\'t parse entities: Unsupported start tag "" at byte offset {_byte_offset(text, lt)}'
            )
        closing, name, raw_attrs = match.group(1) == "/", match.group(2).lower(), match.group(3)
        where = _byte_offset(text, lt)
        if closing:
            if not stack:
                raise bad_request(f"can't parse entities: Unexpected end tag at byte offset {where}")
            open_name, start, attrs = stack.pop()
            if open_name != name:
                raise bad_request(
                    f"can't parse entities: Unmatched end tag at byte offset {where}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            _close_entity(open_name, start, offset, attrs, stack, entities)
        else:
            if name not in _HTML_ENTITY_TYPES:
                raise bad_request(f'can\'t parse entities: Unsupported start tag "{name}" at byte offset {where}')
            attrs = {
                m.group(1).lower(): unescape(m.group(2) or m.group(3) or m.group(4) or "")
                for m in _ATTR_RE.finditer(raw_attrs)
            }
            if name == "span" and attrs.get("class") != "tg-spoiler":
                raise bad_request('can\'t parse entities: Tag "span" must have class "tg-spoiler"')
            stack.append((name, offset, attrs))
        position = match.end()
    if stack:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close_entity(
    name: str,
    start: int,
    end: int,
    attrs: dict[str, str],
    stack: list[tuple[str, int, dict[str, str]]],
    entities: list[JSONDict],
) -> None:
    if end <= start:
        return  # Telegram drops empty entities
    kind = _HTML_ENTITY_TYPES[name]
    entity: JSONDict = {"type": kind, "offset": start, "length": end - start}
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language, not two entities.
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][2]["language"] = language.removeprefix("language-")
        return
    if name == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    elif name == "a":
        if not attrs.get("href"):
            return
        entity["url"] = attrs["href"]
    elif name == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    elif name == "tg-emoji":
        if not attrs.get("emoji-id"):
            return
        entity["custom_emoji_id"] = attrs["emoji-id"]
    entities.append(entity)


def check_markdown_v2(text: str) -> None:
    """Reject the reserved characters MarkdownV2 never accepts unescaped (a partial check)."""
    index = 0
    in_code = False
    in_pre = False
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if text.startswith("```", index):
            in_pre = not in_pre
            index += 3
            continue
        if in_pre:
            index += 1
            continue
        if char == "`":
            in_code = not in_code
        elif not in_code:
            if text.startswith("](", index):
                # A link target: only ')' and '\' need escaping inside it.
                index += 2
                while index < len(text) and text[index] != ")":
                    index += 2 if text[index] == "\\" else 1
            elif char in _MD2_ALWAYS_RESERVED or (char == ">" and index and text[index - 1] != "\n"):
                raise bad_request(
                    f"can't parse entities: Character '{char}' is reserved and must be escaped with the preceding '\\'"
                )
        index += 1


def check_reply_markup(markup: Any) -> JSONDict | None:
    """Validate an inline keyboard the way the Bot API does for the common mistakes."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup  # reply keyboards / force_reply / remove: echoed as sent
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if not any(action in button for action in _BUTTON_ACTIONS):
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                size = len(data.encode("utf-8")) if isinstance(data, str) else 0
                if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
    return markup


def _decode_param(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id="@channel"


def _chat_key(chat_id: Any) -> ChatId:
    if isinstance(chat_id, bool):
        raise bad_request("chat not found")
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str):
        if re.fullmatch(r"-?\d+", chat_id):
            return int(chat_id)
        if chat_id:
            return chat_id
    raise bad_request("chat_id is empty")


def _int_param(params: JSONDict, name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None:
        raise bad_request(f"{name} is required")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f'field "{name}" must be of type Integer') from None


_UNSET: Any = object()


def unexpected_updates(first_update_id: int) -> list[tuple[str, JSONDict]]:
    """Updates python-telegram-bot accepts but whose shape no handler should have to read: (name, update).

    A ``/think`` whose text is a number or a list, a message with no chat or whose entity lengths are not
    numbers, button presses with no sender or with data that is not a string. Telegram itself never sends
    these; a forger who knows the webhook secret, or a proxy that mangles JSON, might. Each has its own id.
    """
    user: JSONDict = {"id": 4242, "is_bot": False, "first_name": "Mallory"}
    chat: JSONDict = {"id": 4242, "type": "private", "first_name": "Mallory"}
    command: list[JSONDict] = [{"type": "bot_command", "offset": 0, "length": 6}]
    message: JSONDict = {
        "message_id": 1,
        "date": 0,
        "chat": chat,
        "from": user,
        "text": "/think hi",
        "entities": command,
    }
    press: JSONDict = {"id": "q-odd", "chat_instance": "ci-odd", "data": "okc:a:0123456789abcdef"}
    shapes: list[tuple[str, JSONDict]] = [
        ("text as a number", {"message": {**message, "text": 5}}),
        ("text as a list", {"message": {**message, "text": ["/think", "hi"]}}),
        ("text as an object", {"message": {**message, "text": {"t": "/think hi"}}}),
        ("a message with no chat", {"message": {k: v for k, v in message.items() if k != "chat"}}),
        ("a chat id that is not a number", {"message": {**message, "chat": {**chat, "id": "x"}}}),
        ("a sender id that is not a number", {"message": {**message, "from": {**user, "id": [1]}}}),
        ("an entity length that is text", {"message": {**message, "entities": [{**command[0], "length": "six"}]}}),
        ("a button press with no sender", {"callback_query": press}),
        ("a button press whose data is a number", {"callback_query": {**press, "from": user, "data": 7}}),
        ("a button press whose id is a number", {"callback_query": {**press, "from": user, "id": 99}}),
    ]
    return [(name, {"update_id": first_update_id + n, **body}) for n, (name, body) in enumerate(shapes)]


class FakeTelegram:
    """Serves ``/bot{token}/{method}`` on 127.0.0.1 with a free port."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        username: str = DEFAULT_USERNAME,
        first_name: str = "OpenKoi",
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.port = 0
        self.calls: list[Call] = []
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.commands: list[JSONDict] = []
        # callback query id -> answerCallbackQuery params (None until answered).
        self.callback_answers: dict[str, JSONDict | None] = {}
        self._queue: list[_Queued] = []
        self._next_update_id = 1000
        self._next_message_id: dict[ChatId, int] = defaultdict(int)
        self._store: dict[ChatId, dict[int, StoredMessage]] = defaultdict(dict)
        self._chats: dict[ChatId, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        # Chats that refuse the bot's messages (see ``refuse_chat``): chat key -> the error.
        self._refusing: dict[ChatId, ApiError] = {}
        self._waiters: set[asyncio.Future[None]] = set()
        self._poll_generation = 0
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._methods = {
            "getme": self._get_me,
            "logout": self._true,
            "close": self._true,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "sendchataction": self._true,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getchat": self._get_chat,
        }

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_user(self) -> JSONDict:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    async def start(self) -> FakeTelegram:
        self._loop = asyncio.get_running_loop()
        self._closing = False
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        # Release parked long polls first, or cleanup would wait for their timeouts.
        self._closing = True
        self._wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- assertions

    def calls_to(self, method: str) -> list[JSONDict]:
        """Params of every call to ``method`` (case-insensitive, as Telegram treats names)."""
        wanted = method.lower()
        return [call.params for call in self.calls if call.method.lower() == wanted]

    def messages(self, chat_id: ChatId, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Every message of a chat (pushed and sent), oldest first."""
        stored = self._store.get(_chat_key(chat_id), {})
        return [m for _, m in sorted(stored.items()) if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: ChatId) -> list[StoredMessage]:
        return [m for m in self.messages(chat_id) if m.from_bot]

    def message(self, chat_id: ChatId, message_id: int) -> StoredMessage:
        return self._store[_chat_key(chat_id)][message_id]

    def replies_to(self, chat_id: ChatId, message_id: int) -> list[StoredMessage]:
        return [m for m in self.messages(chat_id) if m.reply_to == message_id]

    @property
    def pending_updates(self) -> int:
        """Updates not yet confirmed by a getUpdates offset."""
        return len(self._queue)

    @staticmethod
    def callback_id(update_id: int) -> str:
        """The callback query id used in the update ``push_callback_query`` returned."""
        return f"cbq-{update_id}"

    # ---------------------------------------------------------------- injection

    def fail_next(
        self,
        method: str,
        retry_after: int | None = 1,
        *,
        error_code: int = 429,
        description: str | None = None,
        matching: Callable[[JSONDict], bool] | None = None,
    ) -> None:
        """Answer the next call to ``method`` with an error (default: 429 flood wait).

        With ``matching``, the error is kept for the next call whose params satisfy it (e.g. one
        particular message's text); calls that do not match go through untouched.
        """
        parameters: JSONDict | None = None
        if error_code == 429:
            wait = retry_after or 1
            description = description or f"Too Many Requests: retry after {wait}"
            parameters = {"retry_after": wait}
        elif description is None:
            description = {
                400: "Bad Request: injected error",
                403: "Forbidden: bot was blocked by the user",
                502: "Bad Gateway",
            }.get(error_code, "Internal Server Error")
        self._failures[method.lower()].append(_Failure(ApiError(error_code, description, parameters), matching))

    def refuse_chat(
        self,
        chat_id: ChatId,
        error_code: int = 403,
        description: str = "Forbidden: bot is not a member of the supergroup chat",
    ) -> None:
        """Make ``chat_id`` refuse sendMessage and editMessageText as Telegram does once the bot was
        removed (403) or may not write there (400 "not enough rights to send text messages to the chat");
        getChat fails too for a 403 and for 400 "Bad Request: chat not found" (a chat the bot is not in)."""
        self._refusing[_chat_key(chat_id)] = ApiError(error_code, description)

    def update_payload(
        self,
        chat_id: ChatId,
        user_id: int,
        text: str,
        *,
        username: str | None = None,
        first_name: str | None = None,
        chat_type: str = "group",
        reply_to: int | None = None,
        entities: list[JSONDict] | None = None,
        message_thread_id: int | None = None,
    ) -> JSONDict:
        """A message update (stored in the chat, not queued) for webhook tests to POST."""
        chat = self._remember_chat(chat_id, chat_type)
        user = self._remember_user(user_id, username, first_name)
        if chat_type == "private":
            chat.update({k: v for k, v in user.items() if k in ("first_name", "username")})
        if entities is None:
            entities = self._auto_entities(text)
        message = self._store_message(
            chat["id"],
            text=text,
            from_bot=False,
            user_id=user_id,
            entities=entities,
            reply_to=reply_to,
            message_thread_id=message_thread_id,
        )
        return {"update_id": self._allocate_update_id(), "message": self._message_payload(message)}

    def callback_payload(
        self,
        chat_id: ChatId,
        user_id: int,
        message_id: int,
        data: str,
        *,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSONDict:
        """A callback_query update (not queued); its id is ``callback_id(update_id)``."""
        key = _chat_key(chat_id)
        update_id = self._allocate_update_id()
        query_id = self.callback_id(update_id)
        self.callback_answers[query_id] = None
        stored = self._store.get(key, {}).get(message_id)
        if stored is not None and not stored.deleted:
            message = self._message_payload(stored)
        else:
            # What Telegram sends for a message the bot can no longer see.
            message = {"chat": self._chat(key), "message_id": message_id, "date": 0}
        return {
            "update_id": update_id,
            "callback_query": {
                "id": query_id,
                "from": self._remember_user(user_id, username, first_name),
                "chat_instance": f"ci{abs(hash(key)) % 10**12}",
                "message": message,
                "data": data,
            },
        }

    def push_message(
        self,
        chat_id: ChatId,
        user_id: int,
        text: str,
        *,
        username: str | None = None,
        first_name: str | None = None,
        chat_type: str = "group",
        reply_to: int | None = None,
        entities: list[JSONDict] | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """Queue a message update (see ``update_payload``); returns its update_id."""
        update = self.update_payload(
            chat_id,
            user_id,
            text,
            username=username,
            first_name=first_name,
            chat_type=chat_type,
            reply_to=reply_to,
            entities=entities,
            message_thread_id=message_thread_id,
        )
        return self._enqueue(update, sticky=False)

    def push_callback_query(
        self,
        chat_id: ChatId,
        user_id: int,
        message_id: int,
        data: str,
        *,
        username: str | None = None,
        first_name: str | None = None,
    ) -> int:
        """Queue a button press on ``message_id``; returns the update_id."""
        payload = self.callback_payload(chat_id, user_id, message_id, data, username=username, first_name=first_name)
        return self._enqueue(payload, sticky=False)

    def push_raw(self, update: JSONDict) -> int:
        """Queue an update as given. It is delivered once even if its update_id was already
        confirmed, which is what a redelivery looks like to the bot."""
        update_id = int(update["update_id"])
        self._next_update_id = max(self._next_update_id, update_id + 1)
        return self._enqueue(update, sticky=True)

    async def post_webhook(self, update: JSONDict, url: str, *, secret: str | None = _UNSET) -> tuple[int, str]:
        """POST an update to the bot's webhook route like Telegram does; returns (status, body).

        ``url`` is the bot's local route (the registered one must be public https);
        ``secret`` defaults to the registered ``secret_token``, ``None`` omits the header.
        """
        token = self.webhook_secret if secret is _UNSET else secret
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=json.dumps(update), headers=headers) as response,
        ):
            return response.status, await response.text()

    # ---------------------------------------------------------------- internals

    def _allocate_update_id(self) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        return update_id

    def _enqueue(self, update: JSONDict, *, sticky: bool) -> int:
        update_id = int(update["update_id"])
        self._queue.append(_Queued(update_id, update, sticky=sticky))
        self._wake()
        return update_id

    def _wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake_now()
        else:  # pushed from another thread
            loop.call_soon_threadsafe(self._wake_now)

    def _wake_now(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _remember_chat(self, chat_id: ChatId, chat_type: str) -> JSONDict:
        key = _chat_key(chat_id)
        chat = self._chats.setdefault(key, {"id": key})
        chat["type"] = chat_type
        if chat_type in ("group", "supergroup", "channel"):
            chat.setdefault("title", f"Chat {key}")
        return chat

    def _chat(self, key: ChatId) -> JSONDict:
        if key in self._chats:
            return self._chats[key]
        if isinstance(key, int) and key > 0:
            return {"id": key, "type": "private", "first_name": f"User{key}"}
        kind = "supergroup" if str(key).startswith("-100") else "group"
        return {"id": key, "type": kind, "title": f"Chat {key}"}

    def _remember_user(self, user_id: int, username: str | None, first_name: str | None) -> JSONDict:
        user: JSONDict = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    @staticmethod
    def _auto_entities(text: str) -> list[JSONDict]:
        entities: list[JSONDict] = []
        command = _COMMAND_RE.match(text)
        if command:
            entities.append({"type": "bot_command", "offset": 0, "length": utf16_len(command.group())})
        for mention in _MENTION_RE.finditer(text):
            if command and mention.start() < command.end():
                continue
            entities.append(
                {
                    "type": "mention",
                    "offset": utf16_len(text[: mention.start()]),
                    "length": utf16_len(mention.group()),
                }
            )
        return entities

    def _store_message(
        self,
        key: ChatId,
        *,
        text: str,
        from_bot: bool,
        user_id: int,
        entities: list[JSONDict],
        reply_to: int | None = None,
        reply_markup: JSONDict | None = None,
        sent_text: str | None = None,
        parse_mode: str | None = None,
        message_thread_id: int | None = None,
    ) -> StoredMessage:
        # Telegram numbers messages per chat, shared by users and the bot.
        self._next_message_id[key] += 1
        message = StoredMessage(
            chat_id=key,
            message_id=self._next_message_id[key],
            text=text,
            from_bot=from_bot,
            user_id=user_id,
            date=int(time.time()),
            entities=entities,
            reply_to=reply_to,
            reply_markup=reply_markup,
            sent_text=text if sent_text is None else sent_text,
            parse_mode=parse_mode,
            message_thread_id=message_thread_id,
        )
        self._store[key][message.message_id] = message
        return message

    def _message_payload(self, message: StoredMessage, *, nested: bool = False) -> JSONDict:
        sender = self.bot_user if message.from_bot else self._users.get(message.user_id, {"id": message.user_id})
        payload: JSONDict = {
            "message_id": message.message_id,
            "from": sender,
            "chat": self._chat(message.chat_id),
            "date": message.date,
            "text": message.text,
        }
        if message.entities:
            payload["entities"] = message.entities
        if message.message_thread_id is not None:
            payload["message_thread_id"] = message.message_thread_id
        if message.edit_date is not None:
            payload["edit_date"] = message.edit_date
        if message.reply_markup is not None and "inline_keyboard" in message.reply_markup:
            payload["reply_markup"] = message.reply_markup
        if not nested and message.reply_to is not None:
            # Telegram includes the replied-to message one level deep only.
            target = self._store[message.chat_id].get(message.reply_to)
            if target is not None:
                payload["reply_to_message"] = self._message_payload(target, nested=True)
        return payload

    def _find(self, params: JSONDict, missing: str) -> StoredMessage:
        key = _chat_key(params.get("chat_id"))
        message_id = _int_param(params, "message_id")
        message = self._store.get(key, {}).get(message_id)
        if message is None or message.deleted:
            raise bad_request(missing)
        return message

    @staticmethod
    def _render(params: JSONDict) -> tuple[str, list[JSONDict]]:
        """Text after entity parsing, as Telegram measures and stores it."""
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("message text is empty")
        mode = str(params.get("parse_mode") or "").lower()
        if mode == "html":
            plain, entities = parse_html(text)
        else:
            if mode == "markdownv2":
                check_markdown_v2(text)
            plain = text
            given = params.get("entities")
            entities = list(given) if isinstance(given, list) else []
        if not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return plain, entities

    # ---------------------------------------------------------------- HTTP

    async def _read_params(self, request: web.Request) -> JSONDict:
        params: JSONDict = {k: _decode_param(k, v) for k, v in request.query.items()}
        if not request.body_exists:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("can't parse JSON object")
            params.update(body)
            return params
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, str):
                params[name] = _decode_param(name, value)
            elif isinstance(value, bytes | bytearray):
                params[name] = bytes(value)
            else:  # an uploaded file: keep what a test may want to check
                params[name] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "data": value.file.read(),
                }
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            params = await self._read_params(request)
        except ApiError as error:
            self.calls.append(Call(method, {}, time.monotonic()))
            return web.json_response(error.payload(), status=error.code)
        self.calls.append(Call(method, params, time.monotonic()))
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            failures = self._failures.get(method.lower())
            scripted = next((f for f in failures or () if f.matching is None or f.matching(params)), None)
            if scripted is not None and failures is not None:
                failures.remove(scripted)
                raise scripted.error
            handler = self._methods.get(method.lower())
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            if method.lower() in ("sendmessage", "editmessagetext") and "chat_id" in params:
                refused = self._refusing.get(_chat_key(params["chat_id"]))
                if refused is not None:
                    raise refused
            result = await handler(params)
        except ApiError as error:
            return web.json_response(error.payload(), status=error.code)
        return web.json_response({"ok": True, "result": result})

    # ---------------------------------------------------------------- methods

    async def _true(self, params: JSONDict) -> Any:
        return True

    async def _get_me(self, params: JSONDict) -> Any:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSONDict) -> Any:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if offset < 0:
            self._queue = self._queue[offset:]  # keep the last -offset updates
        elif offset > 0:
            self._queue = [q for q in self._queue if q.update_id >= offset or (q.sticky and not q.delivered)]
        # A newer getUpdates ends an older parked one with 409, as Telegram does when two
        # instances poll the same token.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_now()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = sorted(self._queue, key=lambda q: q.update_id)[:limit]
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                for queued in batch:
                    queued.delivered = True
                return [queued.payload for queued in batch]
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.add(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(waiter)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                )

    async def _set_webhook(self, params: JSONDict) -> Any:
        url = str(params.get("url") or "")
        if url:
            if not url.startswith("https://"):
                raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
            port = urlsplit(url).port or 443
            if port not in (80, 88, 443, 8443):
                raise bad_request("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
            raise bad_request("secret token contains unallowed characters")
        if params.get("drop_pending_updates") is True:
            self._queue.clear()
        self.webhook_url = url
        self.webhook_secret = str(secret) if secret is not None and url else None
        return True

    async def _delete_webhook(self, params: JSONDict) -> Any:
        if params.get("drop_pending_updates") is True:
            self._queue.clear()
        self.webhook_url = ""
        self.webhook_secret = None
        return True

    async def _get_webhook_info(self, params: JSONDict) -> Any:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }

    async def _send_message(self, params: JSONDict) -> Any:
        key = _chat_key(params.get("chat_id"))
        text, entities = self._render(params)
        markup = check_reply_markup(params.get("reply_markup"))
        reply_to: int | None = None
        allow_without = bool(params.get("allow_sending_without_reply"))
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            reply_to = _int_param(reply, "message_id")
            allow_without = bool(reply.get("allow_sending_without_reply"))
        elif params.get("reply_to_message_id") is not None:
            reply_to = _int_param(params, "reply_to_message_id")
        if reply_to is not None:
            target = self._store.get(key, {}).get(reply_to)
            if target is None or target.deleted:
                if not allow_without:
                    raise bad_request("message to be replied not found")
                reply_to = None
        thread = params.get("message_thread_id")
        message = self._store_message(
            key,
            text=text,
            from_bot=True,
            user_id=self.bot_id,
            entities=entities,
            reply_to=reply_to,
            reply_markup=markup,
            sent_text=str(params["text"]),
            parse_mode=params.get("parse_mode"),
            message_thread_id=int(thread) if thread is not None else None,
        )
        return self._message_payload(message)

    async def _edit_message_text(self, params: JSONDict) -> Any:
        if params.get("inline_message_id"):
            self._render(params)
            check_reply_markup(params.get("reply_markup"))
            return True
        message = self._find(params, "message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        text, entities = self._render(params)
        # Omitting reply_markup removes the keyboard, so None is a real new value here.
        markup = check_reply_markup(params.get("reply_markup"))
        if text == message.text and entities == message.entities and markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        message.history.append(message.text)
        message.text, message.entities, message.reply_markup = text, entities, markup
        message.sent_text = str(params["text"])
        message.parse_mode = params.get("parse_mode")
        message.edit_date = int(time.time())
        return self._message_payload(message)

    async def _edit_message_reply_markup(self, params: JSONDict) -> Any:
        markup = check_reply_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        message = self._find(params, "message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        if markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)
        message.reply_markup = markup
        message.edit_date = int(time.time())
        return self._message_payload(message)

    async def _delete_message(self, params: JSONDict) -> Any:
        message = self._find(params, "message to delete not found")
        message.deleted = True
        return True

    async def _answer_callback_query(self, params: JSONDict) -> Any:
        query_id = str(params.get("callback_query_id") or "")
        # A query can be answered once; unknown and repeated ids get the same error.
        if query_id not in self.callback_answers or self.callback_answers[query_id] is not None:
            raise bad_request(QUERY_INVALID)
        self.callback_answers[query_id] = params
        return True

    async def _set_my_commands(self, params: JSONDict) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("commands must be an Array of up to 100 BotCommand")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND_RE.fullmatch(str(command.get("command"))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise bad_request("command description is empty")
        self.commands = commands
        return True

    async def _get_my_commands(self, params: JSONDict) -> Any:
        return self.commands

    async def _delete_my_commands(self, params: JSONDict) -> Any:
        self.commands = []
        return True

    async def _get_chat(self, params: JSONDict) -> Any:
        key = _chat_key(params.get("chat_id"))
        refused = self._refusing.get(key)
        # A bot removed from a chat (403), or one that never was in it (400 "chat not found"), cannot
        # read it either; one that may only not write there ("not enough rights") still can.
        if refused is not None and (refused.code == 403 or "chat not found" in refused.description):
            raise refused
        if key == self.bot_id:
            chat: JSONDict = {"id": key, "type": "private", "first_name": self.first_name, "username": self.username}
        else:
            chat = dict(self._chat(key))
        # ChatFullInfo fields PTB 22 requires.
        chat.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        return chat
