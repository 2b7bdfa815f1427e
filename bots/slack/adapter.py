"""The Slack adapter: slack-bolt over our aiohttp server (Events API) or Socket Mode.

Inbound: ``/think …`` slash commands, ``@openkoi …`` mentions and the Override/Cancel buttons go
to the shared ingress and confirmation desk. Slack's 3-second deadline is met by answering from
the ingress's fast local work, and the answer (or Bolt's 200 for an event) is only given once the
command is saved: a command the database did not take in time is answered "not accepted", and an
event gets a 503 so that Slack delivers it again. Every HTTP request passes ``bots.slack.gate``
first (signature on the raw bytes, then the payload's shape), so a forged or malformed request is
refused with 401/400 before Bolt parses it; a signed slash command is then answered here without
Bolt's dispatch (see ``bots.slack.gate``), events and button presses go to Bolt. Redeliveries are
recognised by the ingress from the delivery key (``trigger_id`` for commands, the envelope's
``event_id`` for events).

Outbound: the publisher's ``open_thread`` / ``post`` / ``edit`` become ``chat.postMessage`` /
``chat.update`` with mrkdwn section blocks. Rate limits (429 + Retry-After) are waited out inside
the call by slack_sdk's retry handler, i.e. in the one task's outbox, never in a handler that
has to acknowledge something.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Literal

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bots.chat.desk import ConfirmationDesk
from bots.chat.http_guard import read_body, refuse
from bots.chat.ingress import Ingress
from bots.chat.intake import NOT_ACCEPTED_TEXT, NotAccepted
from bots.chat.markup import Markup
from bots.chat.platform import Actor, CannotPost, InboundCommand, Outgoing, Reply
from bots.chat.presses import NO_LONGER_VALID, Decision
from bots.chat.settings import Pace
from bots.slack import blocks, gate
from bots.slack.inbound import mention_text, plain_text, reply_mrkdwn
from bots.slack.manifest import EVENTS_PATH  # the request URL the app manifest names
from bots.slack.markup import SLACK
from bots.slack.settings import SlackSettings
from core.store.conversations import Conversation

log = logging.getLogger(__name__)

PLATFORM = "slack"
COMMAND = "/think"
# Slack gives up on an acknowledgement after 3 s. Commands: the ingress answers within its save
# deadline (2 s) plus a grace, or says the answer follows. Button presses: the desk is given this
# long before the press is acknowledged anyway.
ACK_BUDGET_SECONDS = 2.5
ERROR_TEXT = "Sorry, something went wrong on our side; please try again."
# A mention's requester name comes from users.info; the event is only acknowledged after it is
# saved, so the lookup may not eat into Slack's 3 s.
NAME_LOOKUP_SECONDS = 0.5
_NAME_CACHE_SIZE = 1024
# chat.postMessage errors that mean "this channel will not take our messages", with what fixes each.
REFUSALS = {
    "channel_not_found": "Invite me to the channel (/invite @openkoi): Slack hides private channels I am not in",
    "not_in_channel": "Invite me to the channel (/invite @openkoi)",
    "is_archived": "The channel is archived: ask in another channel",
    "restricted_action": "A workspace admin must allow apps to post in this channel",
    "ekm_access_denied": "A workspace admin must restore access to this channel",
}


@contextmanager
def _refusals() -> Iterator[None]:
    """Raise a Web API error that means "this channel will not take our messages" (``REFUSALS``) as
    CannotPost; any other as it was."""
    try:
        yield
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        if error in REFUSALS:
            raise CannotPost(f"Slack says {error}", REFUSALS[error] + ".") from exc
        raise


def retry_handlers() -> list[AsyncRetryHandler]:
    """429s wait out Retry-After (up to 3 times); a dropped connection or a 500/503 is retried once."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=1),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=1),
    ]


class SlackAdapter:
    """One Slack workspace, as the service's ``ChatPlatform`` for ``"slack"``.

    Lifecycle: construct, ``add_routes`` (HTTP mode registers ``POST /slack/events``), ``start``
    (``auth.test``, then the Socket Mode connection in socket mode), ``stop``. ``connected`` is
    True once the token has been proven (and, in Socket Mode, while the socket is up).
    """

    name = PLATFORM
    markup: Markup = SLACK

    def __init__(self, settings: SlackSettings, ingress: Ingress, desk: ConfirmationDesk) -> None:
        if settings.bot_token is None:
            raise ValueError("the Slack adapter needs a bot token")
        self.settings = settings
        self.edit_interval = settings.edit_interval
        self.mode: Literal["http", "socket"] = settings.resolved_mode
        self.ingress = ingress
        self.desk = desk
        self.ack_budget = ACK_BUDGET_SECONDS
        self._token = settings.bot_token.get_secret_value()
        secret = settings.signing_secret
        self._signing_secret = secret.get_secret_value().encode() if secret is not None else b""
        # Our own calls (threads, ephemerals) use this client; Bolt gets a tokenless one and its
        # per-request clients receive the token from ``_authorize``, so that Bolt never calls
        # auth.test itself on a request path (it would on the first request otherwise).
        self.client = AsyncWebClient(
            token=self._token, base_url=settings.api_url, retry_handlers=retry_handlers(), logger=log
        )
        self._identity: AuthorizeResult | None = None
        self._identity_lock = asyncio.Lock()
        self._names: OrderedDict[str, str] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._pending: set[asyncio.Future[None]] = set()
        self.app = self._build_app()

    # ------------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        if self._identity is None:
            return False
        if self.mode == "socket":
            session = self._socket.client.current_session if self._socket is not None else None
            return session is not None and not session.closed
        return True

    @property
    def bot_user_id(self) -> str | None:
        return self._identity.bot_user_id if self._identity is not None else None

    def add_routes(self, app: web.Application) -> None:
        """HTTP mode: ``POST /slack/events`` for slash commands, events and interactions alike
        (point all three Request URLs of the Slack app there). Socket Mode needs no route."""
        if self.mode == "http":
            app.router.add_post(EVENTS_PATH, self._http)

    async def start(self) -> None:
        """Prove the token (``auth.test``) and, in Socket Mode, connect. Raises if either fails."""
        # One keep-alive session for every Web API call instead of a new connection per call.
        self._session = aiohttp.ClientSession()
        self.client.session = self._session
        self.app.client.session = self._session
        await self._authorize()
        if self.mode == "socket":
            if self.settings.app_token is None:
                raise ValueError("Socket Mode needs SLACK_APP_TOKEN")
            self._socket = AsyncSocketModeHandler(self.app, app_token=self.settings.app_token.get_secret_value())
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack: connected as %s (%s mode)", self.bot_user_id, self.mode)

    async def settled(self) -> None:
        """Return once the work that follows acknowledgements (answers, follow-ups) is all done."""
        while self._pending:
            await asyncio.wait(set(self._pending))

    async def stop(self) -> None:
        """Finish answers in flight (briefly), then close the Socket Mode connection and the HTTP session."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=5)
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ ChatPlatform: outbound

    def pace(self, channel_id: str) -> tuple[Pace, ...]:
        return (self.settings.channel_pace,)

    async def open_thread(self, conversation: Conversation, parent: Outgoing) -> tuple[str, str]:
        """Post the parent message in the conversation's channel; its ``ts`` is also the thread.
        Raises CannotPost when Slack refuses the channel (``REFUSALS``)."""
        ts = await self.post_to_channel(conversation.channel_id, parent)
        return ts, ts

    async def notify_requester(self, conversation: Conversation, text: str) -> None:
        """Privately: through the slash command's response_url, else an ephemeral message in the
        channel, else a direct message (the channel itself may be what refused us)."""
        user, channel = conversation.requester_id, conversation.channel_id
        response_url = str(conversation.origin.get("response_url") or "")
        if response_url:
            hook = AsyncWebhookClient(response_url, session=self._session, retry_handlers=retry_handlers(), logger=log)
            try:
                answer = await hook.send(text=reply_mrkdwn(text), response_type="ephemeral", replace_original=False)
                if answer.status_code == 200:
                    return
            except Exception:
                log.info("slack: response_url refused a private notice", exc_info=True)
        thread_ts = conversation.origin.get("thread_ts")
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=user, text=reply_mrkdwn(text), thread_ts=thread_ts
            )
            return
        except SlackApiError as exc:
            log.info("slack: no ephemeral notice in %s: %s", channel, exc.response.get("error"))
        try:
            await self.client.chat_postMessage(channel=user, text=reply_mrkdwn(text))  # the app's DM with them
        except SlackApiError as exc:
            log.warning("slack: could not tell %s privately: %s", user, exc.response.get("error"))

    async def post(self, conversation: Conversation, message: Outgoing) -> str:
        """Reply in the task's thread (with Override/Cancel buttons when the message has them).
        Raises CannotPost when Slack refuses the channel (``REFUSALS``)."""
        return await self._post_message(conversation.channel_id, message, thread_ts=conversation.thread_id)

    async def edit(self, conversation: Conversation, message_id: str, message: Outgoing) -> None:
        """Replace text and blocks together: buttons disappear when ``message`` has none. Raises
        CannotPost when Slack refuses the channel (``REFUSALS``)."""
        await self.edit_in_channel(conversation.channel_id, message_id, message)

    async def post_to_channel(self, channel_id: str, message: Outgoing) -> str:
        """A top-level message in ``channel_id`` (a digest). Raises CannotPost when Slack refuses the channel."""
        return await self._post_message(channel_id, message)

    async def edit_in_channel(self, channel_id: str, message_id: str, message: Outgoing) -> None:
        with _refusals():
            await self.client.chat_update(
                channel=channel_id,
                ts=message_id,
                text=blocks.fallback_text(message),
                blocks=blocks.message_blocks(message),
            )

    async def _post_message(self, channel_id: str, message: Outgoing, thread_ts: str | None = None) -> str:
        with _refusals():
            response = await self.client.chat_postMessage(
                channel=channel_id,
                thread_ts=thread_ts,
                text=blocks.fallback_text(message),
                blocks=blocks.message_blocks(message),
                unfurl_links=False,
                unfurl_media=False,
            )
        return str(response["ts"])

    async def check_channel(self, channel_id: str) -> CannotPost | None:
        """``conversations.info``: an unknown or private channel is ``channel_not_found``; a public one
        the bot was not invited to answers ``is_member: false``."""
        try:
            response = await self.client.conversations_info(channel=channel_id)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            remedy = REFUSALS.get(error, "Check the channel id, and that the app has the channels:read scope")
            return CannotPost(f"Slack says {error}", remedy + ".")
        channel: dict[str, Any] = response.get("channel") or {}
        if channel.get("is_archived"):
            return CannotPost("Slack says is_archived", REFUSALS["is_archived"] + ".")
        if channel.get("is_member") is False:
            return CannotPost("Slack says not_in_channel", REFUSALS["not_in_channel"] + ".")
        return None

    # ------------------------------------------------------------------ Bolt wiring

    def _build_app(self) -> AsyncApp:
        secret = self.settings.signing_secret
        client = AsyncWebClient(base_url=self.settings.api_url, retry_handlers=retry_handlers(), logger=log)

        # A closure, not a method: Bolt injects arguments by parameter name and would pass self=None.
        async def authorize() -> AuthorizeResult:
            return await self._authorize()

        app = AsyncApp(
            name="openkoi",
            client=client,
            authorize=authorize,
            # Every HTTP request is verified by ``gate.verify`` on its raw bytes before Bolt parses it
            # (Bolt's own check would come after its parsing, and a second HMAC per request costs
            # time under a burst); Socket Mode frames are authenticated by the app token's connection.
            signing_secret=secret.get_secret_value() if secret is not None else "",
            request_verification_enabled=False,
            # Bolt's default runs listeners in the background and polls for the ack every 10 ms;
            # under a burst of commands that polling alone costs more than the work. Our handlers
            # ack from fast local work and hand anything slower to ``_spawn``, so running them
            # before the response is both correct and quicker.
            process_before_response=True,
            logger=logging.getLogger(f"{__name__}.bolt"),
        )
        app.command(COMMAND)(self._on_command)
        app.event("app_mention")(self._on_mention)
        app.error(self._on_error)
        # Acknowledged and dropped: an unhandled event would get a 404 and be redelivered by Slack.
        app.event("message")(self._ignore)
        app.action(blocks.ANY_ACTION_PATTERN)(self._on_press)
        return app

    async def _authorize(self) -> AuthorizeResult:
        """The bot's identity from ``auth.test``, asked once and then served from memory."""
        async with self._identity_lock:
            if self._identity is None:
                response = await self.client.auth_test()
                self._identity = AuthorizeResult.from_auth_test_response(
                    bot_token=self._token, auth_test_response=response
                )
            return self._identity

    async def _http(self, request: web.Request) -> web.Response:
        """``POST /slack/events``: the gate (size, signature, shape), then Bolt."""
        body = await read_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            gate.verify(body, request.headers, self._signing_secret, time.time())
            # Until the token is proven, Bolt's authorization answers (as it would in any mode).
            command = gate.slash_command(body) if self._identity is not None else None
            if command is None:
                bolt_request = gate.read(body, request.headers, request.query_string)
        except gate.Rejected as exc:
            return refuse(request, exc.status, str(exc))
        if command is not None:
            text = await self._acknowledge(command)
            # What Bolt's ack() and ack(text=…) answer: an empty 200, or the reply as plain text
            # (which Slack shows to the sender only).
            return web.Response(text=text or "")
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> BoltResponse:
        """A listener failed. One that could not save its event answers 503, so Slack delivers it again."""
        if isinstance(error, NotAccepted):
            log.warning("slack: event %s not saved (%s); answering 503 so Slack retries", body.get("event_id"), error)
            return BoltResponse(status=503, body="not saved; please retry")
        log.error("slack: handling a request failed", exc_info=error)
        return BoltResponse(status=500, body="")

    # ------------------------------------------------------------------ handlers

    async def _on_command(self, ack: AsyncAck, command: dict[str, Any]) -> None:
        """``/think …`` through Bolt: in Socket Mode (over HTTP, ``_http`` reads commands itself once
        the token is proven)."""
        text = await self._acknowledge(gate.SlashCommand.model_validate(command))
        if text is None:
            await ack()
        else:
            await ack(text=text)

    async def _acknowledge(self, slash: gate.SlashCommand) -> str | None:
        """The acknowledgement of ``/think …`` (Slack shows it to the sender only), given once the
        ingress has saved the command; None for a redelivery, which was answered the first time.

        Awaited directly: the ingress answers within its save deadline (2 s) plus a grace, whatever
        the database does, so no timer or task per command is needed here (under a burst they cost
        more than the rest of the adapter's work). An answer it could not know in time follows
        through the command's response_url."""
        response_url = slash.response_url or ""
        inbound = InboundCommand(
            platform=PLATFORM,
            key=slash.trigger_id,
            actor=Actor(PLATFORM, slash.user_id, slash.user_name or slash.user_id),
            channel_id=slash.channel_id,
            text=plain_text(slash.text),
            origin={"response_url": response_url} if response_url else {},
        )
        try:
            reply = await self.ingress.handle(inbound)
        except Exception as exc:
            reply = self._failure(exc)
        if reply is None:
            return None
        if reply.follow_up is not None:
            self._spawn(self._answer_later(reply.follow_up, response_url))
        return reply_mrkdwn(reply.text)

    async def _answer_later(self, follow_up: asyncio.Future[Reply | None], response_url: str) -> None:
        try:
            reply = await follow_up
        except Exception as exc:
            reply = self._failure(exc)
        if reply is not None and response_url:
            await self._respond(response_url, reply.text)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run work that follows an acknowledgement without holding the HTTP response open."""
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @staticmethod
    def _failure(exc: Exception) -> Reply:
        if isinstance(exc, NotAccepted):
            log.warning("slack: a command was not saved (%s); told the sender to try again", exc)
            return Reply(NOT_ACCEPTED_TEXT, private=True)
        log.error("slack: handling a command failed", exc_info=exc)
        return Reply(ERROR_TEXT, private=True)

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        """``@openkoi …``: like ``/think …``; the answer goes into the mention's thread.

        Runs before Bolt's 200: the command is saved first, and if it cannot be, ``NotAccepted``
        reaches ``_on_error`` (a 503, and Slack delivers the event again). Only the answer, a
        Web API call, follows the acknowledgement."""
        mention = gate.Mention.model_validate(event)
        envelope = gate.EventCallback.model_validate(body)
        user = mention.user
        # Bolt already drops our own events; other bots are ignored so two bots cannot loop.
        if not user or mention.bot_id or mention.subtype == "bot_message" or user == self.bot_user_id:
            return
        thread_ts = mention.thread_ts or mention.ts
        inbound = InboundCommand(
            platform=PLATFORM,
            key=envelope.event_id,
            actor=Actor(PLATFORM, user, await self._user_name_within(user, NAME_LOOKUP_SECONDS)),
            channel_id=mention.channel,
            text=mention_text(mention.text, self.bot_user_id),
            origin={"mention_ts": mention.ts, "thread_ts": thread_ts},
        )
        reply = await self.ingress.handle(inbound)
        if reply is None:  # a redelivery of a mention already answered
            return
        if reply.follow_up is not None:  # still being saved: the real answer goes to the thread when known
            self._spawn(self._answer_mention_later(mention.channel, user, thread_ts, reply.follow_up))
            return
        self._spawn(self._answer(mention.channel, user, thread_ts, reply))

    async def _answer_mention_later(
        self, channel: str, user: str, thread_ts: str, follow_up: asyncio.Future[Reply | None]
    ) -> None:
        try:
            reply = await follow_up
        except Exception as exc:
            reply = self._failure(exc)
        if reply is not None:
            await self._answer(channel, user, thread_ts, reply)

    async def _ignore(self) -> None:
        return None

    async def _on_press(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Override/Cancel, 👍/👎 and skill proposals: decided before the acknowledgement, so that a 200
        means the decision is saved (Slack does not deliver a press again; a press lost after its
        ack would leave the presser believing it counted). A desk slower than Slack's deadline is
        acknowledged first and finishes after (``bots.chat.presses.Decision``). A refusal (and every vote's
        answer) is shown only to the person who pressed; an accepted decision needs no answer here, the
        publisher rewrites the confirmation message."""
        decision = Decision(self._decide_press(body, action), ERROR_TEXT, PLATFORM)
        await decision.within(self.ack_budget)
        await ack()
        self._spawn(self._answer_press(body, decision))

    async def _decide_press(self, body: dict[str, Any], action: dict[str, Any]) -> Reply:
        user = body.get("user") or {}
        user_id = str(user.get("id") or "")
        actor = Actor(PLATFORM, user_id, str(user.get("name") or user.get("username") or user_id))
        pressed = blocks.CODEC.decode((str(action.get("action_id") or ""), str(action.get("value") or "")))
        if pressed is None:  # Bolt routes only our action ids here
            return Reply(NO_LONGER_VALID, private=True)
        return await self.desk.press(actor, pressed.action, pressed.target_id)

    async def _answer_press(self, body: dict[str, Any], decision: Decision) -> None:
        """The presser's private answer (a Web API call, so it follows the acknowledgement)."""
        reply = await decision.reply()
        if not reply.private:
            return
        user_id = str((body.get("user") or {}).get("id") or "")
        container = body.get("container") or {}
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        thread_ts = container.get("thread_ts") or message.get("thread_ts")
        await self._answer(channel, user_id, str(thread_ts) if thread_ts else None, reply)

    # ------------------------------------------------------------------ answering

    async def _answer(self, channel: str, user_id: str, thread_ts: str | None, reply: Reply) -> None:
        """A private reply as an ephemeral message to ``user_id``; a public one in the thread."""
        text = reply_mrkdwn(reply.text)
        try:
            if reply.private:
                await self.client.chat_postEphemeral(channel=channel, user=user_id, text=text, thread_ts=thread_ts)
            else:
                await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        except SlackApiError as exc:
            log.warning("slack: could not answer %s in %s: %s", user_id, channel, exc.response.get("error"))

    async def _respond(self, response_url: str, text: str) -> None:
        hook = AsyncWebhookClient(response_url, session=self._session, retry_handlers=retry_handlers(), logger=log)
        try:
            await hook.send(text=reply_mrkdwn(text), response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("slack: could not answer through response_url")

    async def _user_name_within(self, user_id: str, seconds: float) -> str:
        """``_user_name``, or the id when Slack does not answer within ``seconds``."""
        try:
            async with asyncio.timeout(seconds):
                return await self._user_name(user_id)
        except TimeoutError:
            log.info("slack: users.info %s took over %ss; showing the id", user_id, seconds)
            return user_id

    async def _user_name(self, user_id: str) -> str:
        """A person's display name for "asked by …" (events carry only the id); the id if unknown."""
        cached = self._names.get(user_id)
        if cached is not None:
            self._names.move_to_end(user_id)
            return cached
        try:
            response = await self.client.users_info(user=user_id)
        except SlackApiError as exc:
            log.info("slack: users.info %s failed: %s", user_id, exc.response.get("error"))
            return user_id
        info: dict[str, Any] = response.get("user") or {}
        profile: dict[str, Any] = info.get("profile") or {}
        name = str(profile.get("display_name") or info.get("real_name") or info.get("name") or user_id)
        self._names[user_id] = name
        if len(self._names) > _NAME_CACHE_SIZE:
            self._names.popitem(last=False)
        return name
