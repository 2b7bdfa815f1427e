"""The Telegram adapter: `/think` in any chat the bot is in, a task thread of replies, Override/Cancel buttons.

python-telegram-bot (PTB 22) does the wire work. Updates arrive by long polling or, in webhook mode,
through our own aiohttp route (``POST /telegram/webhook``, secret header checked in constant time,
401 otherwise); either way each is processed concurrently, so one slow update never holds up the
others, and is acknowledged to Telegram only once it is saved (``bots.telegram.updates``): the poll
offset moves past an update, or the webhook answers 200, after the command is in SQLite.

A task's "thread" is a reply chain: the parent message replies to the `/think` command and every later
message replies to the parent. Texts arrive already in Telegram HTML within 4096 visible characters
(``bots.telegram.markup.TELEGRAM``); if Telegram still refuses the HTML, the message is resent as plain
text rather than lost. Every outbound call waits out flood control (429 ``retry_after``) in the
coroutine that made it. Redelivered updates are recognised by ``update_id``, durably: commands through
the ingress, button presses here.

Telegram has no ephemeral messages: replies the core marks private are sent as a reply to the command
in the same chat, and private answers to button presses as an alert only the presser sees.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web
from telegram import (
    CallbackQuery,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
    Update,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import (
    Application,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    filters,
)

from bots.chat.desk import ConfirmationDesk
from bots.chat.http_guard import read_body, refuse
from bots.chat.ingress import Ingress, settled
from bots.chat.intake import NotAccepted
from bots.chat.markup import Markup
from bots.chat.platform import Button, CannotPost, InboundCommand, Outgoing
from bots.chat.presses import NO_LONGER_VALID, is_refusal
from bots.chat.settings import Pace
from bots.telegram.callback import CODEC
from bots.telegram.markup import TELEGRAM
from bots.telegram.settings import TelegramSettings
from bots.telegram.updates import Poller, Receipts
from bots.telegram.wire import (
    actor_of,
    after_command,
    chat_id_of,
    html_to_plain,
    inline_keyboard,
    int_or_none,
    is_bad_request,
    with_retry,
)
from core.store.conversations import Conversation
from core.text import clip

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Only what we handle: fewer updates to fetch, and Telegram stores this choice with the webhook too.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
ANSWER_LIMIT = 200  # answerCallbackQuery text, in characters
# 400s that, like a 403, mean this chat will not take our messages at all.
REFUSING_BAD_REQUESTS = ("not enough rights", "chat not found", "have no rights", "chat_write_forbidden")
REMEDY = "Add me to the group and let me send messages there (or ask in a chat where I can)."


@contextmanager
def refusals() -> Iterator[None]:
    """Raise the chat refusing us (403: removed or never added; 400: no right to send, unknown chat)
    as CannotPost; any other bad request, which is ours, as it was."""
    try:
        yield
    except (Forbidden, BadRequest) as exc:
        if isinstance(exc, Forbidden) or any(is_bad_request(exc, fragment) for fragment in REFUSING_BAD_REQUESTS):
            raise CannotPost(f"Telegram says: {exc.message}", REMEDY) from exc
        raise


TelegramApp = Application[
    ExtBot[None],
    CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]],
    dict[Any, Any],
    dict[Any, Any],
    dict[Any, Any],
    None,
]


class TelegramAdapter:
    """``ChatPlatform`` for Telegram, plus the webhook route. Built by the service from ``[telegram]``.

    Callers may rely on: ``start`` raises if the bot token is refused (getMe), leaving ``connected``
    False; ``stop`` is safe after a failed or partial ``start``; message ids returned by
    ``open_thread``/``post`` are Telegram message ids (as strings) in the conversation's chat.
    """

    name = "telegram"
    markup: Markup = TELEGRAM

    def __init__(self, settings: TelegramSettings, ingress: Ingress, desk: ConfirmationDesk) -> None:
        if settings.bot_token is None:
            raise ValueError("the Telegram adapter needs a bot token (TELEGRAM_BOT_TOKEN)")
        self.settings = settings
        self.ingress = ingress
        self.desk = desk
        self.edit_interval = settings.edit_interval
        self.webhook = settings.resolved_mode == "webhook"
        secret = settings.webhook_secret
        self._secret = secret.get_secret_value().encode() if secret is not None else None
        builder = (
            Application.builder()
            .token(settings.bot_token.get_secret_value())
            .base_url(settings.api_url)
            .concurrent_updates(True)
            .job_queue(None)  # PTB would start an APScheduler we never use
            # Not PTB's Updater: it confirms updates to Telegram as soon as they are fetched.
            .updater(None)
        )
        self.application: TelegramApp = builder.build()
        self.receipts = Receipts(self.application)
        self.poller = Poller(self.application.bot, self.receipts, ALLOWED_UPDATES)
        self._polling: asyncio.Task[None] | None = None
        app = self.application
        # New messages only: editing an old `/think` must not start a second task.
        app.add_handler(CommandHandler("think", self._on_think, filters=filters.UpdateType.MESSAGE))
        app.add_handler(CallbackQueryHandler(self._on_press))
        app.add_error_handler(self._on_error)
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        """True once getMe succeeded and updates flow (polling running, or the webhook route live)."""
        if not self._started:
            return False
        return self.webhook or (self._polling is not None and not self._polling.done())

    async def start(self) -> None:
        """Log in (getMe), start dispatching, then poll or register the webhook.

        Polling keeps whatever Telegram still holds (nothing is dropped: redeliveries are deduped by
        ``update_id``). In webhook mode ``setWebhook`` is called only when ``webhook_url`` is set, so an
        operator may also register it by hand.
        """
        app = self.application
        await app.initialize()
        await app.start()
        if not self.webhook:
            await app.bot.delete_webhook(drop_pending_updates=False)  # getUpdates is refused while one is set
            self._polling = asyncio.create_task(self.poller.run(), name="telegram-polling")
        elif self.settings.webhook_url:
            secret = self.settings.webhook_secret
            await app.bot.set_webhook(
                url=self.settings.webhook_url,
                secret_token=secret.get_secret_value() if secret is not None else None,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            log.warning("telegram: webhook mode without webhook_url; Telegram must already post to %s", WEBHOOK_PATH)
        self._started = True
        log.info("telegram: connected as @%s (%s)", app.bot.username, self.settings.resolved_mode)

    async def settled(self) -> None:
        """Return once every update received so far has been handled and answered."""
        await self.receipts.idle()

    async def stop(self) -> None:
        """Stop polling, let updates in flight finish (briefly), confirm what is saved, close the client."""
        self._started = False
        app = self.application
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
            self._polling = None
        await self.receipts.settle()
        await self.poller.confirm()  # polling only: the offset is set once an update was saved
        if app.running:
            await app.stop()
        await app.shutdown()

    def add_routes(self, app: web.Application) -> None:
        """In webhook mode, serve ``POST /telegram/webhook``; polling mode adds nothing."""
        if self.webhook:
            app.router.add_post(WEBHOOK_PATH, self._webhook)

    async def _webhook(self, request: web.Request) -> web.Response:
        # Authenticity first: a wrong or missing secret gets 401 and nothing is read or parsed.
        given = request.headers.get(SECRET_HEADER, "")
        # isascii first: aiohttp keeps undecodable header bytes as surrogates, which cannot be encoded.
        if self._secret is None or not given.isascii() or not hmac.compare_digest(given.encode(), self._secret):
            return refuse(request, 401, "wrong or missing secret token")
        body = await read_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            return refuse(request, 400, "malformed JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return refuse(request, 400, "not a Telegram update")
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # anything PTB cannot read is the sender's fault, not ours
            return refuse(request, 400, f"unreadable update ({type(exc).__name__})")
        if not self.application.running:
            return web.Response(status=503)  # Telegram retries later; nothing is lost
        # Answered once the update is saved; replies and the task itself follow in the background.
        try:
            await self.receipts.dispatch(update)
        except NotAccepted as exc:
            log.warning("telegram: update %s not saved (%s); answering 503 so Telegram retries", update.update_id, exc)
            return web.Response(status=503, text="not saved; please retry")
        return web.Response(text="ok")

    # ------------------------------------------------------------------ inbound

    async def _on_think(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message, user = update.message, update.effective_user
        if message is None or message.text is None or not message.entities or user is None:
            return
        # CommandHandler matched a bot_command entity at offset 0 ("/think" or "/think@BotName");
        # everything after it is the request, spacing and newlines kept for the parser.
        command = after_command(message.text, message.entities[0].length)
        origin: dict[str, Any] = {"message_id": message.message_id}
        if message.is_topic_message and message.message_thread_id is not None:
            origin["message_thread_id"] = message.message_thread_id
        inbound = InboundCommand(
            platform=self.name,
            key=str(update.update_id),
            actor=actor_of(user),
            channel_id=str(message.chat_id),
            text=command,
            origin=origin,
        )
        try:
            # Whether the update is saved must be known before it is confirmed: an answer that
            # follows (a save still in progress) is awaited.
            reply = await settled(await self.ingress.handle(inbound))
        except NotAccepted as exc:
            self.receipts.not_saved(update, exc)  # Telegram delivers it again; nothing to answer now
            return
        self.receipts.saved(update)
        if reply is None:
            return  # a redelivery of an update already answered
        # The answer counts against the chat's rate like the task's thread does (20 a minute in a
        # group), so it takes its turn at the publisher's pacer; PTB runs updates concurrently, so
        # waiting here holds up no other update.
        chat = str(message.chat_id)
        await self.ingress.pacer.turn(self.name, chat, self.pace(chat))
        await self._send(
            message.chat_id,
            reply.text[: MessageLimit.MAX_TEXT_LENGTH],
            reply_to=message.message_id,
            thread=origin.get("message_thread_id"),
            html=False,  # the core's replies are plain text
        )

    async def _on_press(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Any button press: decided, then answered with a toast only the presser sees, or an alert for a
        refusal. A decision itself shows in its message (the publisher, or the proposal desk, edits it:
        who decided, when, keyboard removed)."""
        query = update.callback_query
        if query is None:
            return
        pressed = CODEC.decode(query.data or "")
        if pressed is None:  # always answer, or the client spins
            await self._answer(query, NO_LONGER_VALID, alert=True)
            return
        # A redelivered press was already answered (answers are one-shot) and decided; the desk would
        # only say "already approved". Claimed in the same durable table as commands: update ids are
        # unique across update types, so the keys cannot collide.
        if not await self.ingress.claim(self.name, str(update.update_id)):
            return
        reply = await self.desk.press(actor_of(query.from_user), pressed.action, pressed.target_id)
        self.receipts.saved(update)  # the decision is recorded; only the answer is left
        await self._answer(query, reply.text, alert=is_refusal(reply))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("telegram: handling update %s failed", update_id, exc_info=context.error)

    async def _answer(self, query: CallbackQuery, text: str, *, alert: bool) -> None:
        clipped = clip(text, ANSWER_LIMIT)
        try:
            await with_retry("answerCallbackQuery", lambda: query.answer(clipped, show_alert=alert))
        except BadRequest as exc:  # the query expired (~15 s without an answer): the decision still stands
            log.info("telegram: could not answer a button press: %s", exc.message)

    # ------------------------------------------------------------------ outbound (ChatPlatform)

    def pace(self, channel_id: str) -> tuple[Pace, ...]:
        """One message a second in any chat; groups (negative ids) also 20 a minute."""
        if channel_id.startswith("-"):
            return (self.settings.chat_pace, self.settings.group_pace)
        return (self.settings.chat_pace,)

    async def open_thread(self, conversation: Conversation, parent: Outgoing) -> tuple[str, str]:
        """Post the parent message as a reply to the `/think` command; it is also the thread id,
        since the thread is the chain of replies to it. Raises CannotPost when the chat refuses us
        (403: removed or never added; 400: no right to send)."""
        origin = conversation.origin
        with refusals():
            sent = await self._send(
                chat_id_of(conversation.channel_id),
                parent.text,
                reply_to=int_or_none(origin.get("message_id")),
                thread=int_or_none(origin.get("message_thread_id")),
            )
        return str(sent.message_id), str(sent.message_id)

    async def notify_requester(self, conversation: Conversation, text: str) -> None:
        """A direct message: Telegram has no private message inside a group, and the group refused
        us. Works once the person has started a chat with the bot; otherwise it is only logged."""
        try:
            await self._send(chat_id_of(conversation.requester_id), text, reply_to=None, html=False)
        except (Forbidden, BadRequest) as exc:
            log.warning("telegram: could not tell %s privately: %s", conversation.requester_id, exc.message)

    async def post(self, conversation: Conversation, message: Outgoing) -> str:
        """Post ``message`` as a reply to the task's parent, with its buttons as an inline keyboard.
        Raises CannotPost when the chat refuses us (removed, or no right to send, after the parent)."""
        with refusals():
            sent = await self._send(
                chat_id_of(conversation.channel_id),
                message.text,
                reply_to=int_or_none(conversation.thread_id),
                thread=int_or_none(conversation.origin.get("message_thread_id")),
                buttons=message.buttons,
            )
        return str(sent.message_id)

    async def edit(self, conversation: Conversation, message_id: str, message: Outgoing) -> None:
        """Replace the text (and keyboard: no buttons removes it). An identical edit is a no-op."""
        await self.edit_in_channel(conversation.channel_id, message_id, message)

    async def post_to_channel(self, channel_id: str, message: Outgoing) -> str:
        """A message of its own in a chat (a digest), not a reply. Raises CannotPost when the chat refuses us."""
        with refusals():
            sent = await self._send(chat_id_of(channel_id), message.text, reply_to=None, buttons=message.buttons)
        return str(sent.message_id)

    async def check_channel(self, channel_id: str) -> CannotPost | None:
        """``getChat``: 403 when the bot was removed or never added, 400 "chat not found" for an unknown chat."""
        try:
            with refusals():
                await with_retry("getChat", lambda: self.application.bot.get_chat(chat_id_of(channel_id)))
        except CannotPost as refused:
            return refused
        return None

    async def edit_in_channel(self, channel_id: str, message_id: str, message: Outgoing) -> None:
        """Replace the text (and keyboard: no buttons removes it). An identical edit is a no-op.
        Raises CannotPost when the chat refuses us."""
        chat_id, keyboard = chat_id_of(channel_id), inline_keyboard(message.buttons)

        async def attempt(text: str, parse_mode: str | None) -> None:
            await with_retry(
                "editMessageText",
                lambda: self.application.bot.edit_message_text(
                    text,
                    chat_id=chat_id,
                    message_id=int(message_id),
                    parse_mode=parse_mode,
                    reply_markup=keyboard,
                    link_preview_options=NO_PREVIEW,
                ),
            )

        with refusals():
            try:
                try:
                    await attempt(message.text, ParseMode.HTML)
                except BadRequest as exc:
                    if not is_bad_request(exc, "can't parse entities"):
                        raise
                    log.warning("telegram refused our HTML (%s); editing as plain text", exc.message)
                    await attempt(html_to_plain(message.text), None)
            except BadRequest as exc:
                # The throttled status editor can race a restart or a replay into the same text.
                if not is_bad_request(exc, "message is not modified"):
                    raise

    async def _send(
        self,
        chat_id: int | str,
        text: str,
        *,
        reply_to: int | None,
        thread: int | None = None,
        buttons: tuple[Button, ...] = (),
        html: bool = True,
    ) -> Message:
        keyboard = inline_keyboard(buttons)
        # If the message we reply to was deleted, post anyway (unthreaded) rather than lose the text.
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to is not None else None

        async def attempt(body: str, parse_mode: str | None) -> Message:
            return await with_retry(
                "sendMessage",
                lambda: self.application.bot.send_message(
                    chat_id,
                    body,
                    parse_mode=parse_mode,
                    reply_markup=keyboard,
                    message_thread_id=thread,
                    link_preview_options=NO_PREVIEW,
                    reply_parameters=reply,
                ),
            )

        if not html:
            return await attempt(text, None)
        try:
            return await attempt(text, ParseMode.HTML)
        except BadRequest as exc:
            if not is_bad_request(exc, "can't parse entities"):
                raise
            log.warning("telegram refused our HTML (%s); sending as plain text", exc.message)
            return await attempt(html_to_plain(text), None)
