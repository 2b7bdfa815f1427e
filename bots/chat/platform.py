"""What every chat adapter provides, and the platform-neutral values they exchange with the core of the service.

Adapters turn platform payloads into ``InboundCommand``/``Press`` and hand them to the ingress and
the confirmation desk; they post and edit ``Outgoing`` messages for the publisher. They never see a
prompt; the engine never sees a payload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from bots.chat.markup import Markup
from bots.chat.pacing import Rate
from core.secrets import SECRETS
from core.store.conversations import Conversation

if TYPE_CHECKING:
    from aiohttp import web


@dataclass(frozen=True)
class Actor:
    """A person on a platform. ``roles`` are the platform's role/group ids, when it has any."""

    platform: str
    user_id: str
    name: str
    roles: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return f"{self.name} ({self.platform}:{self.user_id})"


@dataclass(frozen=True)
class InboundCommand:
    """One `/think …` as it arrived: ``key`` is the platform's delivery key used for dedupe."""

    platform: str
    key: str
    actor: Actor
    channel_id: str
    text: str
    # Anything the adapter needs later to answer in place (Slack response_url, Discord
    # interaction token, Telegram command message id); stored with the task's conversation.
    origin: dict[str, Any] = field(default_factory=dict)


ButtonAction = Literal[
    "approve", "deny", "up", "down", "skill_approve", "skill_dismiss", "act_once", "act_always", "act_deny"
]
# The three answers to an action's approval card, in the order they are shown.
ACTION_CHOICES: tuple[ButtonAction, ...] = ("act_once", "act_always", "act_deny")


@dataclass(frozen=True)
class Button:
    """A button under a thread message. Its only state is an opaque id kept server-side, so a press
    works after a restart: ``approve``/``deny`` carry a confirmation id (Override/Cancel), ``up``/
    ``down`` a feedback request id (👍/👎 on a finished task's result), ``skill_approve``/
    ``skill_dismiss`` a proposal card id (Approve/Dismiss under a skill proposal in a digest), ``act_once``/
    ``act_always``/``act_deny`` an action approval id (Allow once / Allow always / Deny under a tool call)."""

    label: str
    action: ButtonAction
    target_id: str

    @property
    def style(self) -> Literal["danger", "secondary"]:
        return "danger" if self.action in ("approve", "act_once", "act_always") else "secondary"

    @property
    def is_feedback(self) -> bool:
        return self.action in ("up", "down")

    @property
    def is_proposal(self) -> bool:
        return self.action in ("skill_approve", "skill_dismiss")

    @property
    def is_action(self) -> bool:
        return self.action in ACTION_CHOICES


@dataclass(frozen=True)
class Pressed:
    """A button press as its platform decoded it: what the button does, and its opaque target id."""

    action: ButtonAction
    target_id: str


@dataclass(frozen=True)
class Outgoing:
    """A message ready for one platform: ``text`` is already in its markup and within its limit.

    The service's own secrets are replaced with ``[redacted]`` on construction: every thread
    message and edit an adapter sends is an ``Outgoing``, so none can carry a token.
    """

    text: str
    buttons: tuple[Button, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", SECRETS.redact(self.text))


@dataclass(frozen=True)
class Reply:
    """The immediate answer to a command or a press. ``private`` replies go only to the actor.

    Redacted on construction like ``Outgoing``: a task's error shown by `/think status` may quote anything.
    """

    text: str
    private: bool = False
    task_id: str | None = None
    # When the answer could not be known in time (the database was still saving the command), ``text``
    # says it follows and this resolves with it: None for a redelivery, or the ingress's exceptions.
    follow_up: asyncio.Future[Reply | None] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", SECRETS.redact(self.text))


class CannotPost(Exception):
    """The platform refused to post in the task's chat: the bot is not in the channel, lacks a
    permission, or was removed. ``reason`` is what the platform said; ``remedy`` what a person can do."""

    def __init__(self, reason: str, remedy: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.remedy = remedy


class ChatPlatform(Protocol):
    """An adapter the publisher can post through. Implementations honour the platform's
    rate limits (waiting out retry-after) without blocking anything but that message."""

    name: str
    markup: Markup
    edit_interval: float

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def pace(self, channel_id: str) -> Sequence[Rate]:
        """The posting rates to keep within in this chat (see ``bots.chat.pacing``); none: unpaced."""
        ...

    async def open_thread(self, conversation: Conversation, parent: Outgoing) -> tuple[str, str]:
        """Post the task's parent message; return (parent message id, thread id for replies).
        Raises ``CannotPost`` when the platform refuses to post in that chat at all."""
        ...

    async def notify_requester(self, conversation: Conversation, text: str) -> None:
        """Tell the person who asked, privately and in plain text, what the thread could not show
        (the chat itself refused us). Best effort: failures are logged, never raised."""
        ...

    async def post(self, conversation: Conversation, message: Outgoing) -> str:
        """Post into the task's thread; return the new message's id. Raises CannotPost when the chat
        refuses the bot (it was removed, or lost a permission, after the thread was opened)."""
        ...

    async def edit(self, conversation: Conversation, message_id: str, message: Outgoing) -> None:
        """Replace a message's text (and buttons: none removes them). ``message_id`` is one this
        adapter returned from ``open_thread`` or ``post`` for the same conversation."""
        ...

    async def post_to_channel(self, channel_id: str, message: Outgoing) -> str:
        """Post a message of its own in a channel, outside any task's thread (a digest); return its id.
        Raises ``CannotPost`` when the platform refuses to post in that channel at all."""
        ...

    async def edit_in_channel(self, channel_id: str, message_id: str, message: Outgoing) -> None:
        """Replace a message ``post_to_channel`` returned (text and buttons: none removes them)."""
        ...

    async def check_channel(self, channel_id: str) -> CannotPost | None:
        """The cheapest real check that the bot can reach ``channel_id``: None when it can, else why not
        and what to do. Errors that say nothing about the channel (a timeout, a 5xx) are raised."""
        ...


class Adapter(ChatPlatform, Protocol):
    """A chat platform the service runs: it may add HTTP routes before the server starts."""

    def add_routes(self, app: web.Application) -> None: ...

    async def settled(self) -> None:
        """Return once every command and press this adapter has taken so far is handled and answered (the
        work that follows an acknowledgement included): the adapter's part of the service's idle signal."""
        ...
