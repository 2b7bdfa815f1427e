"""The Discord adapter: discord.py over the gateway, `/think` as an application command.

Flow: an INTERACTION_CREATE for `/think` is deferred at once (ephemeral "thinking…", well inside
Discord's 3 s deadline, and a promise of nothing), then handed to the shared ingress; its answer
replaces the "thinking" message only once the command is saved, and a command the database did not
take in time is answered "not accepted, please try again" (Discord does not deliver it again). Each task gets a parent message in the channel and a thread started from it; the publisher
posts and edits there with the bot token (not the 15-minute interaction token). Override / Cancel
buttons are ``DynamicItem``s (see ``bots.discord.buttons``), so presses survive restarts.

Pointing discord.py elsewhere (the ``api_url`` / ``gateway_url`` settings, used by tests) means
setting ``discord.http.Route.BASE`` and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY``:
discord.py has no per-client option, so these are **process-global**. ``start`` sets them and
``stop`` puts back what it found, so one process hosts one Discord adapter at a time.

Rate limits: discord.py waits out 429s per route bucket inside the awaiting coroutine, so a
rate-limited thread post delays only that task's outbox, never the gateway or other interactions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import discord
import yarl
from aiohttp import web
from discord import app_commands

from bots.chat.desk import ConfirmationDesk
from bots.chat.ingress import Ingress, settled
from bots.chat.intake import NOT_ACCEPTED_TEXT, NotAccepted
from bots.chat.platform import CannotPost, InboundCommand, Outgoing, Pressed, Reply
from bots.chat.presses import Decision
from bots.chat.settings import Pace
from bots.discord.buttons import PressButton, button_view
from bots.discord.custom_id import CODEC
from bots.discord.markup import DISCORD
from bots.discord.settings import DiscordSettings
from bots.discord.slash import actor_of, cannot_post_in, is_think, think_command, thread_name
from core.store.conversations import Conversation
from core.text import clip

log = logging.getLogger(__name__)

CONTENT_LIMIT = 2000  # characters per message
NO_MENTIONS = discord.AllowedMentions.none()  # task text must never ping @everyone, roles or people
# An interaction token lets us answer privately for 15 minutes; a little margin for clocks and queues.
FOLLOWUP_SECONDS = 14 * 60
PRESS_FAILED = "Something went wrong recording your press; please try again."
REMEDY = (
    "Give me View Channel, Send Messages, Create Public Threads and Send Messages in Threads in this channel"
    " (or ask in another channel)."
)


def _clip(text: str) -> str:
    # The publisher already fits messages to 2000 characters; this only keeps a stray long reply
    # (an ingress answer) from being refused outright.
    return clip(text, CONTENT_LIMIT)


class _Client(discord.Client):
    """discord.py client with the `/think` command tree; ``press_handler`` decides button presses."""

    def __init__(self, adapter: DiscordAdapter, guild_ready_timeout: float) -> None:
        # We never join voice: without this discord.py warns that PyNaCl is missing on every start.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        # Default intents: no privileged ones (members, presences, message content) are needed,
        # since everything arrives as interactions.
        super().__init__(
            intents=discord.Intents.default(), guild_ready_timeout=guild_ready_timeout, allowed_mentions=NO_MENTIONS
        )
        self.press_handler = adapter
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(think_command(adapter))
        self.session_ready = asyncio.Event()

    async def setup_hook(self) -> None:
        self.add_dynamic_items(PressButton)
        guild_ids = self.adapter.settings.guild_ids
        try:
            if guild_ids:
                # Guild commands appear at once; global ones can take a while to propagate.
                for guild_id in guild_ids:
                    guild = discord.Object(id=guild_id)
                    self.tree.copy_global_to(guild=guild)
                    await self.tree.sync(guild=guild)
            else:
                await self.tree.sync()
        except discord.HTTPException:
            # Commands registered by an earlier start keep working; buttons need no registration.
            log.exception("could not register /think with Discord; keeping what is registered")

    async def on_ready(self) -> None:
        self.session_ready.set()

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # discord.py runs a button's DynamicItem only while the button is still on the message. A press on a
        # card the publisher has since edited (decided, expired: its buttons gone, the presser's client not yet
        # refreshed) would go unanswered and Discord would say "This interaction failed"; the desk says why
        # the press no longer counts instead.
        if interaction.type is not discord.InteractionType.component or interaction.message is None:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = data.get("custom_id")
        if not isinstance(custom_id, str) or _shows(interaction.message.components, custom_id):
            return
        pressed = CODEC.decode(custom_id)
        if pressed is not None:
            await self.press_handler.on_press(interaction, pressed)


class DiscordAdapter:
    """``ChatPlatform`` for Discord. Constructed by the service as ``DiscordAdapter(settings, ingress, desk)``.

    Callers may rely on: ``start`` returns once the gateway session is ready (or after
    ``start_within`` seconds, still connecting in the background) and raises if login fails;
    ``connected`` is True only while a gateway session is open; ``open_thread``/``post``/``edit``
    raise ``discord.HTTPException`` on failure and otherwise return ids usable with ``edit``.
    """

    name = "discord"
    markup = DISCORD
    # discord.py waits this long after the last GUILD_CREATE before it calls itself ready (2 s by
    # default); tests lower it, here or per instance.
    guild_ready_timeout: float = 2.0
    start_within: ClassVar[float] = 30.0
    # Button presses answer within Discord's 3 s: if the desk takes longer than this, the press is
    # acknowledged first and a refusal follows as an ephemeral follow-up.
    press_ack_within: ClassVar[float] = 2.0
    stop_within: ClassVar[float] = 10.0

    def __init__(
        self,
        settings: DiscordSettings,
        ingress: Ingress,
        desk: ConfirmationDesk,
        *,
        guild_ready_timeout: float | None = None,
    ) -> None:
        self.settings = settings
        self.ingress = ingress
        self.desk = desk
        self.edit_interval = settings.edit_interval
        if guild_ready_timeout is not None:
            self.guild_ready_timeout = guild_ready_timeout
        self.client: _Client | None = None
        self._runner: asyncio.Task[None] | None = None
        # (what we found, what we set) for Route.BASE and DEFAULT_GATEWAY, to put back on stop.
        self._patched: tuple[tuple[str, yarl.URL], tuple[str, yarl.URL]] | None = None
        # Interaction id -> (its follow-up webhook, when it arrived): for private notices about the
        # task it started. Memory only: the token is a credential, and it expires in 15 minutes anyway.
        self._followups: dict[str, tuple[discord.Webhook, float]] = {}
        # The `/think` and press handlers running now (discord.py runs each interaction in a task of its own).
        self._handling: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        client = self.client
        if client is None or client.is_closed() or not client.is_ready():
            return False
        ws = client.ws
        return ws is not None and bool(ws.open)

    def add_routes(self, app: web.Application) -> None:
        """Nothing to add: Discord reaches us over the gateway, not HTTP."""

    async def start(self) -> None:
        token = self.settings.bot_token
        if token is None:
            raise RuntimeError("DISCORD_BOT_TOKEN is not set")
        self._point_at(self.settings.api_url, self.settings.gateway_url)
        client = _Client(self, self.guild_ready_timeout)
        self.client = client
        runner = asyncio.create_task(client.start(token.get_secret_value()), name="discord-client")
        self._runner = runner
        ready = asyncio.create_task(client.session_ready.wait())
        done, _ = await asyncio.wait({runner, ready}, timeout=self.start_within, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            ready.cancel()
            error = runner.exception()
            await client.close()
            raise RuntimeError(f"Discord client stopped during start: {error!r}") from error
        if ready not in done:
            ready.cancel()
            log.warning("Discord is not ready after %ss; still connecting in the background", self.start_within)
        runner.add_done_callback(self._runner_done)

    def _runner_done(self, runner: asyncio.Task[None]) -> None:
        if not runner.cancelled() and runner.exception() is not None:
            log.error("the Discord client stopped", exc_info=runner.exception())

    async def stop(self) -> None:
        client, runner = self.client, self._runner
        if client is not None:
            try:
                # Bounded: a peer that never answers the websocket close must not hold up shutdown.
                await asyncio.wait_for(client.close(), self.stop_within)
            except TimeoutError:
                log.warning("closing the Discord client took over %ss; abandoning it", self.stop_within)
        if runner is not None and not runner.done():
            _, pending = await asyncio.wait({runner}, timeout=self.stop_within)
            if pending:
                runner.cancel()
                await asyncio.wait({runner}, timeout=1)
        self._unpoint()

    def _point_at(self, api_url: str, gateway_url: str) -> None:
        ours = (api_url.rstrip("/"), yarl.URL(gateway_url))
        found = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        self._patched = (found, ours)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = ours

    def _unpoint(self) -> None:
        if self._patched is None:
            return
        (base, gateway), (our_base, our_gateway) = self._patched
        self._patched = None
        # Only undo our own values: a newer adapter may have pointed them elsewhere meanwhile.
        if discord.http.Route.BASE is our_base:
            discord.http.Route.BASE = base
        if discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY is our_gateway:
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway

    def _client(self) -> _Client:
        if self.client is None:
            raise RuntimeError("the Discord adapter is not started")
        return self.client

    # ------------------------------------------------------------------ inbound

    def _track(self) -> None:
        """Count the running handler in until it returns (``settled``)."""
        task = asyncio.current_task()
        if task is not None:
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    async def settled(self) -> None:
        """Return once the `/think` and press handlers started so far have answered."""
        while self._handling:
            await asyncio.wait(set(self._handling))

    async def on_think(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Handle one `/think`: acknowledge first, then let the ingress decide, then answer privately."""
        self._track()
        try:
            await interaction.response.defer(thinking=True, ephemeral=True)
        except discord.HTTPException as exc:
            # 40060 "already acknowledged": a redelivery (gateway RESUME replay) of an interaction an
            # earlier delivery answered. The ingress dedupe decides whether anything is left to do.
            log.info("could not defer interaction %s (%s); continuing", interaction.id, exc)
        if cannot_post_in(interaction) and is_think(text):
            # Slash commands work in channels the bot cannot write to; a task there would run unseen.
            await self._answer(
                interaction,
                "I can't post in this channel, so the task would have nowhere to report. Give me View Channel"
                " and Send Messages here (and Create Public Threads), or ask in another channel.",
            )
            return
        self._remember_followup(interaction)
        command = InboundCommand(
            platform="discord",
            key=str(interaction.id),
            actor=actor_of(interaction.user),
            channel_id=str(interaction.channel_id or ""),
            text=text,
            origin={
                "interaction_id": str(interaction.id),
                "guild_id": str(interaction.guild_id) if interaction.guild_id else None,
                "title": thread_name(text, "openkoi task"),
            },
        )
        try:
            # The command is deferred: its answer has no deadline, so one that follows is awaited.
            reply = await settled(await self.ingress.handle(command))
        except NotAccepted as exc:
            log.warning("interaction %s was not saved (%s); told the sender to try again", interaction.id, exc)
            reply = Reply(NOT_ACCEPTED_TEXT, private=True)
        except Exception:
            log.exception("handling interaction %s failed", interaction.id)
            reply = Reply("Something went wrong on my side; please try again in a minute.", private=True)
        if reply is None:
            return  # a delivery already handled: its answer was given the first time
        await self._answer(interaction, reply.text)

    def _remember_followup(self, interaction: discord.Interaction[Any]) -> None:
        now = time.monotonic()
        for key, (_, at) in list(self._followups.items()):
            if now - at > FOLLOWUP_SECONDS:
                del self._followups[key]
        self._followups[str(interaction.id)] = (interaction.followup, now)

    @staticmethod
    async def _answer(interaction: discord.Interaction[Any], text: str) -> None:
        # After defer(ephemeral=True) the first follow-up replaces the "thinking…" message, privately.
        try:
            await interaction.followup.send(_clip(text), ephemeral=True)
        except discord.HTTPException:
            log.warning("could not answer interaction %s", interaction.id, exc_info=True)

    async def on_press(self, interaction: discord.Interaction[Any], pressed: Pressed) -> None:
        """Decide a button press within Discord's 3 s: a private reply (a refusal, a vote's thanks) as an
        ephemeral message, else an acknowledgement (a decision shows in its message); when the desk is slow,
        acknowledge first and send a private reply as a follow-up."""
        self._track()
        actor = actor_of(interaction.user)
        decision = Decision(self.desk.press(actor, pressed.action, pressed.target_id), PRESS_FAILED, "discord")
        in_time = await decision.within(self.press_ack_within)
        try:
            if in_time:
                reply = await decision.reply()
                if reply.private:
                    await interaction.response.send_message(_clip(reply.text), ephemeral=True)
                else:
                    # The publisher edits the confirmation message to show who decided (buttons gone).
                    await interaction.response.defer()
                return
            await interaction.response.defer()  # the desk is slow: acknowledge before the deadline
            reply = await decision.reply()
            if reply.private:
                await interaction.followup.send(_clip(reply.text), ephemeral=True)
        except discord.HTTPException as exc:
            # 40060 on a replayed press, or 10062 when Discord gave up on us: nothing left to say.
            log.info("could not answer press %s on %s: %s", interaction.id, pressed.target_id, exc)

    # ------------------------------------------------------------------ outbound

    def pace(self, channel_id: str) -> tuple[Pace, ...]:
        return (self.settings.channel_pace,)

    async def open_thread(self, conversation: Conversation, parent: Outgoing) -> tuple[str, str]:
        """Post the parent message in the task's channel and start a thread from it.

        Returns (parent message id, thread id). Where no thread can be started (a DM, a command
        issued inside a thread, missing permission), the thread id is the channel itself.
        Raises CannotPost when the channel refuses the message (403, e.g. 50013 Missing
        Permissions or 50001 Missing Access; 404 Unknown Channel).
        """
        client = self._client()
        channel = client.get_partial_messageable(int(conversation.channel_id), guild_id=_guild_id(conversation))
        try:
            message = await channel.send(_clip(parent.text), allowed_mentions=NO_MENTIONS)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise _refused(exc) from exc
        name = str(conversation.origin.get("title") or f"openkoi task {conversation.task_id[:8]}")
        try:
            thread = await message.create_thread(name=thread_name(name, f"openkoi task {conversation.task_id[:8]}"))
        except (discord.HTTPException, ValueError):
            log.warning("no thread for task %s; replying in the channel", conversation.task_id, exc_info=True)
            return str(message.id), conversation.channel_id
        return str(message.id), str(thread.id)

    async def notify_requester(self, conversation: Conversation, text: str) -> None:
        """Ephemerally through the `/think` interaction while its token lives, else a direct message."""
        followup = self._followups.pop(str(conversation.origin.get("interaction_id")), None)
        if followup is not None and time.monotonic() - followup[1] < FOLLOWUP_SECONDS:
            try:
                await followup[0].send(_clip(text), ephemeral=True, allowed_mentions=NO_MENTIONS)
                return
            except discord.HTTPException:
                log.info("discord: the interaction refused a private notice; trying a direct message", exc_info=True)
        try:
            dm = await self._client().create_dm(discord.Object(id=int(conversation.requester_id)))
            await dm.send(_clip(text), allowed_mentions=NO_MENTIONS)
        except (discord.HTTPException, ValueError) as exc:
            log.warning("discord: could not tell %s privately: %s", conversation.requester_id, exc)

    async def post(self, conversation: Conversation, message: Outgoing) -> str:
        """Send into the task's thread, with Override/Cancel buttons when the message has any. Raises
        CannotPost on 403/404 (the bot was removed or lost a permission after the thread was opened)."""
        client = self._client()
        target = client.get_partial_messageable(
            int(conversation.thread_id or conversation.channel_id), guild_id=_guild_id(conversation)
        )
        try:
            return await _send(target, message)
        except (discord.Forbidden, discord.NotFound) as exc:  # removed, or a permission taken away mid-task
            raise _refused(exc) from exc

    async def edit(self, conversation: Conversation, message_id: str, message: Outgoing) -> None:
        """Replace a message's text; its buttons become ``message.buttons`` (none removes them). Raises
        CannotPost on 403."""
        client = self._client()
        # A thread started from a message shares that message's id, so the parent is told apart by
        # id and edited in the channel; every other message lives in the thread.
        in_channel = message_id == conversation.parent_message_id or conversation.thread_id is None
        channel_id = conversation.channel_id if in_channel else str(conversation.thread_id)
        partial = client.get_partial_messageable(int(channel_id), guild_id=_guild_id(conversation))
        try:
            await _edit(partial, message_id, message)
        except discord.Forbidden as exc:  # a permission taken away mid-task; see ``post``
            raise _refused(exc) from exc

    async def post_to_channel(self, channel_id: str, message: Outgoing) -> str:
        """A message of its own in a channel (a digest). Raises CannotPost on 403/404 or a malformed id."""
        try:
            target = self._client().get_partial_messageable(int(channel_id))
        except ValueError as exc:
            raise CannotPost(f"{channel_id!r} is not a Discord channel id", "Use the channel's numeric id.") from exc
        try:
            return await _send(target, message)
        except (discord.Forbidden, discord.NotFound) as exc:
            raise _refused(exc) from exc

    async def edit_in_channel(self, channel_id: str, message_id: str, message: Outgoing) -> None:
        await _edit(self._client().get_partial_messageable(int(channel_id)), message_id, message)

    async def check_channel(self, channel_id: str) -> CannotPost | None:
        """``GET /channels/{id}``: 404 10003 Unknown Channel, or 403 50001 Missing Access when the bot
        cannot see it."""
        try:
            await self._client().fetch_channel(int(channel_id))
        except ValueError:
            return CannotPost(f"{channel_id!r} is not a Discord channel id", "Use the channel's numeric id.")
        except discord.NotFound as exc:
            return CannotPost(
                f"Discord says 404 {exc.text or 'Unknown Channel'} ({exc.code})",
                "Check the channel id in [digest] discord_channels, and that I am in that server.",
            )
        except discord.Forbidden as exc:
            return _refused(exc)
        return None


def _shows(components: Sequence[discord.Component], custom_id: str) -> bool:
    """Whether a message's components (rows of buttons) still hold a component with ``custom_id``."""
    for component in components:
        if getattr(component, "custom_id", None) == custom_id:
            return True
        children = getattr(component, "children", None)
        if children and _shows(children, custom_id):
            return True
    return False


def _refused(exc: discord.HTTPException) -> CannotPost:
    """Discord refusing the bot a channel (403 Missing Permissions / Access, 404 Unknown Channel)."""
    return CannotPost(f"Discord says {exc.status} {exc.text or 'Forbidden'} ({exc.code})", REMEDY)


def _guild_id(conversation: Conversation) -> int | None:
    value = conversation.origin.get("guild_id")
    return int(value) if value else None


async def _send(target: discord.PartialMessageable, message: Outgoing) -> str:
    """Send ``message`` with its buttons, if any, as a view; returns the new message's id."""
    if message.buttons:
        sent = await target.send(_clip(message.text), view=button_view(message.buttons), allowed_mentions=NO_MENTIONS)
    else:
        sent = await target.send(_clip(message.text), allowed_mentions=NO_MENTIONS)
    return str(sent.id)


async def _edit(target: discord.PartialMessageable, message_id: str, message: Outgoing) -> None:
    """Replace a message's text; its buttons become ``message.buttons`` (none removes them)."""
    view = button_view(message.buttons) if message.buttons else None
    await target.get_partial_message(int(message_id)).edit(
        content=_clip(message.text), view=view, allowed_mentions=NO_MENTIONS
    )
