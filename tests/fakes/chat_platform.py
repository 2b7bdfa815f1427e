"""An in-memory chat platform for testing the shared chat machinery without a platform SDK.

It implements the same ``ChatPlatform`` protocol the Slack, Discord and Telegram adapters do and
records every post and edit, so tests of the ingress, publisher, desk and service can assert what
a thread would show. Platform wire formats are tested separately against the platform fakes.

It is a platform of its own, ``recording``: ``RECORDING`` is its platform spec, which a test registers as an
``openkoi.platforms`` entry point like any plugin (``tests.support.registered_platforms``); its markup is
plain Markdown.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, get_args

from bots.chat.markup import Markup
from bots.chat.pacing import Rate
from bots.chat.platform import Adapter, Button, ButtonAction, CannotPost, Outgoing, Pressed
from bots.chat.settings import PlatformSettings
from bots.chat.spec import PlatformSpec, TokenCheck
from core.store.conversations import Conversation

if TYPE_CHECKING:
    from bots.chat.desk import ConfirmationDesk
    from bots.chat.ingress import Ingress

NAME = "recording"


def _identity(text: str) -> str:
    return text


# Plain Markdown, shown as written: what a test asserts is the words the chat layer chose.
MARKDOWN = Markup(3000, _identity, "**{}**".format, "_{}_".format, "`{}`".format, _identity)


@dataclass
class Posted:
    message_id: str
    channel_id: str
    thread_id: str | None
    message: Outgoing
    edits: list[Outgoing] = field(default_factory=list)

    @property
    def current(self) -> Outgoing:
        return self.edits[-1] if self.edits else self.message


@dataclass
class RecordingPlatform:
    name: str = NAME
    markup: Markup = MARKDOWN
    edit_interval: float = 0.0
    connected: bool = True
    messages: dict[str, Posted] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    delay: float = 0.0
    rates: Sequence[Rate] = ()
    # Channels that refuse the bot, like a platform does when it was never invited or lost a permission.
    refusing: dict[str, str] = field(default_factory=dict)
    notices: list[tuple[str, str]] = field(default_factory=list)  # (requester id, text) told privately
    timeline: list[tuple[float, str, str]] = field(default_factory=list)  # (monotonic time, channel, message id)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> None:
        self.connected = True

    async def stop(self) -> None:
        self.connected = False

    def add_routes(self, app: object) -> None:
        return None

    async def settled(self) -> None:
        return None  # nothing arrives from outside: tests call the ingress and desk themselves

    def refuse(self, channel_id: str, reason: str = "not_in_channel") -> None:
        self.refusing[channel_id] = reason

    def pace(self, channel_id: str) -> Sequence[Rate]:
        return self.rates

    async def open_thread(self, conversation: Conversation, parent: Outgoing) -> tuple[str, str]:
        self._check(conversation.channel_id)
        message_id = await self._record(conversation.channel_id, None, parent)
        return message_id, message_id

    async def notify_requester(self, conversation: Conversation, text: str) -> None:
        self.notices.append((conversation.requester_id, text))

    def _check(self, channel_id: str) -> None:
        if channel_id in self.refusing:
            raise CannotPost(f"the platform says {self.refusing[channel_id]}", "Invite me to the channel.")

    async def post(self, conversation: Conversation, message: Outgoing) -> str:
        self._check(conversation.channel_id)
        return await self._record(conversation.channel_id, conversation.thread_id, message)

    async def edit(self, conversation: Conversation, message_id: str, message: Outgoing) -> None:
        self._check(conversation.channel_id)
        self.messages[message_id].edits.append(message)
        self.timeline.append((time.monotonic(), conversation.channel_id, message_id))

    async def post_to_channel(self, channel_id: str, message: Outgoing) -> str:
        self._check(channel_id)
        return await self._record(channel_id, None, message)

    async def edit_in_channel(self, channel_id: str, message_id: str, message: Outgoing) -> None:
        self._check(channel_id)
        self.messages[message_id].edits.append(message)
        self.timeline.append((time.monotonic(), channel_id, message_id))

    async def check_channel(self, channel_id: str) -> CannotPost | None:
        if channel_id in self.refusing:
            return CannotPost(f"the platform says {self.refusing[channel_id]}", "Invite me to the channel.")
        return None

    async def _record(self, channel_id: str, thread_id: str | None, message: Outgoing) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        message_id = f"m{next(self._ids)}"
        self.messages[message_id] = Posted(message_id, channel_id, thread_id, message)
        self.order.append(message_id)
        self.timeline.append((time.monotonic(), channel_id, message_id))
        return message_id

    def thread(self, parent_id: str) -> list[Posted]:
        return [self.messages[m] for m in self.order if self.messages[m].thread_id == parent_id]

    def parents(self) -> list[Posted]:
        return [self.messages[m] for m in self.order if self.messages[m].thread_id is None]

    def texts(self) -> list[str]:
        return [self.messages[m].current.text for m in self.order]


class RecordingSettings(PlatformSettings):
    """``[recording]``: on once it has a bot token (any text)."""

    def off_reason(self) -> str | None:
        return "RECORDING_BOT_TOKEN is not set" if self.bot_token is None else None


class RecordingButtons:
    """A button is "<action> <target id>" on the wire."""

    def encode(self, button: Button) -> str:
        return f"{button.action} {button.target_id}"

    def decode(self, payload: str) -> Pressed | None:
        action, _, target = payload.partition(" ")
        for known in get_args(ButtonAction):
            if action == known and target:
                return Pressed(known, target)
        return None


def _probe(settings: RecordingSettings) -> TokenCheck:
    return TokenCheck(settings.bot_token is not None, f"{NAME}: a token is set")


def _adapter(settings: RecordingSettings, ingress: Ingress, desk: ConfirmationDesk) -> Adapter:
    return RecordingPlatform(edit_interval=settings.edit_interval)


RECORDING = PlatformSpec(
    name=NAME,
    settings=RecordingSettings,
    env={"RECORDING_BOT_TOKEN": "bot_token"},
    setup="RECORDING_BOT_TOKEN",
    markup=MARKDOWN,
    buttons=RecordingButtons(),
    probe=_probe,
    digest_key="recording_channels",
    loggers=(),
    adapter=_adapter,
)
