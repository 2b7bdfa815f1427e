"""A platform spec: everything the rest of openkoi needs to know about one chat platform, in one value.

Each platform's package exports one ``PlatformSpec`` and registers it as an entry point in the
``openkoi.platforms`` group (see ``bots.chat.registry``); the service, the settings, ``openkoi doctor``, the
digests and the logs read it from there, so none of them names a platform. A spec module is imported for
``openkoi doctor`` and for every configuration load: it must be cheap to import (no SDK; the adapter's factory
imports the SDK when the service builds the adapter).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from bots.chat.markup import Markup
from bots.chat.platform import Adapter, Button, Pressed
from bots.chat.settings import PlatformSettings

if TYPE_CHECKING:
    import click

    from bots.chat.desk import ConfirmationDesk
    from bots.chat.ingress import Ingress

S = TypeVar("S", bound=PlatformSettings)
P = TypeVar("P")


class ButtonCodec(Protocol[P]):
    """How a platform carries a ``Button`` on the wire (``P``: its payload, e.g. a ``custom_id`` string), and
    what a press's payload means. A payload carries only the action and its opaque target id, so a button
    posted by an earlier process still decodes."""

    def encode(self, button: Button) -> P:
        """The button's payload; raises ValueError for a target id the platform cannot carry."""
        ...

    def decode(self, payload: P) -> Pressed | None:
        """The press a payload stands for; None for a payload this codec never made (no longer valid)."""
        ...


@dataclass(frozen=True)
class TokenCheck:
    """What one authenticated read with the bot token found: accepted or not, and a line saying so (which names
    the platform and never holds the token)."""

    accepted: bool
    what: str


@dataclass(frozen=True)
class SetupHint:
    """One line ``openkoi doctor`` prints to help finish a platform's set-up (``what``), with what to do about it
    (``todo``); ``warn``: something looks wrong (doctor prints a warning, not a failure)."""

    what: str
    todo: str = ""
    warn: bool = False


@dataclass(frozen=True)
class PlatformSpec(Generic[S]):
    """One chat platform, as the registry hands it to the rest of openkoi."""

    # Its name: the config.toml section, the OPENKOI_<NAME>__ prefix, the ``platform`` of its actors and tasks.
    name: str
    # The model of its config.toml section.
    settings: type[S]
    # The platform's own environment variables (its docs' names), each feeding a key of its section.
    env: Mapping[str, str]
    # What turns it on, for the start-up report when nothing is configured ("FOO_BOT_TOKEN").
    setup: str
    # Its markup: escaping, emphasis, converting Markdown, and measuring as the platform counts.
    markup: Markup
    # How its buttons are carried on the wire.
    buttons: ButtonCodec[Any]
    # ``openkoi doctor --live``: one authenticated read with the token. Blocking (doctor runs it in a
    # thread); raises OSError when the platform's API cannot be reached.
    probe: Callable[[S], TokenCheck]
    # The [digest] key listing the channels (or chats) its digests go to, e.g. "foo_channels".
    digest_key: str
    # The loggers of its SDK, quieted below WARNING unless tracing.
    loggers: tuple[str, ...]
    # Builds its adapter for the service (importing the SDK only then).
    adapter: Callable[[S, Ingress, ConfirmationDesk], Adapter]
    # Where it is listed among the platforms (the start-up report, doctor, digests): lower first, then by name.
    order: int = 100
    # ``openkoi doctor``: lines that help finish setting the platform up once its token is configured (e.g. the
    # link that adds the bot to a server), worked out from the settings alone: nothing is sent anywhere.
    setup_hints: Callable[[S], list[SetupHint]] | None = None
    # Commands of its own for the ``openkoi`` command line (``openkoi <name> …``), added by the registry; the
    # group must be cheap to build (its commands import what they need when they run).
    cli: click.Group | None = None

    @property
    def token_variable(self) -> str | None:
        """The environment variable that carries the bot token, when the platform has one."""
        return next((variable for variable, key in self.env.items() if key == "bot_token"), None)


def lazy_adapter(module: str, name: str) -> Callable[[Any, Ingress, ConfirmationDesk], Adapter]:
    """A spec's ``adapter`` factory for an adapter class ``name`` in ``module`` (called with the settings, the
    ingress and the desk): the module, and the SDK it imports, load only when a service builds the adapter."""

    def build(settings: Any, ingress: Ingress, desk: ConfirmationDesk) -> Adapter:
        made: Adapter = getattr(importlib.import_module(module), name)(settings, ingress, desk)
        return made

    return build
