"""The small, SDK-facing rules of the Telegram adapter: the inline keyboard, the plain-text fallback,
waiting out flood control, and reading ids and people off updates. Kept apart from the adapter's
lifecycle so each rule can be read (and tested) alone."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import logging
import re
import warnings
from collections.abc import Awaitable, Callable
from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, User
from telegram.error import BadRequest, RetryAfter

from bots.chat.platform import Actor, Button
from bots.telegram.callback import callback_data
from core.store.text import storable

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 5  # per outbound call: the first try plus four waits out of flood control
LONG_WAIT_SECONDS = 30.0  # flood waits beyond this are still honoured, but worth a warning in the log
_TAG_RE = re.compile(r"<[^<>]*>")


def html_to_plain(text: str) -> str:
    """What Telegram HTML shows, as plain text: tags dropped, ``&lt;``/``&amp;``… turned back into characters.

    Used only when Telegram refuses the HTML; the visible length is unchanged, so the result still fits.
    """
    return html.unescape(_TAG_RE.sub("", text))


def is_bad_request(exc: BadRequest, fragment: str) -> bool:
    """True when Telegram's error text contains ``fragment``. PTB strips "Bad Request: " and
    re-capitalises the rest, so the comparison ignores case."""
    return fragment.lower() in exc.message.lower()


def retry_seconds(exc: RetryAfter) -> float:
    """``retry_after`` in seconds, whether PTB gives an int (its default until v23) or a timedelta
    (``PTB_TIMEDELTA=true``). Reading the int form warns as deprecated; that warning is ours to absorb."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    seconds = value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)
    return max(seconds, 0.0)


async def with_retry(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one Bot API call, waiting out Telegram's flood control (429 ``retry_after``) up to
    ``MAX_ATTEMPTS`` times; the last RetryAfter is re-raised. Only the awaiting coroutine waits: the
    event loop, other chats and other tasks' outboxes go on."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return await call()
        except RetryAfter as exc:
            if attempt == MAX_ATTEMPTS:
                raise
            wait = retry_seconds(exc)
            level = logging.WARNING if wait > LONG_WAIT_SECONDS else logging.INFO
            log.log(level, "telegram flood control on %s: retrying in %.1fs (attempt %d)", what, wait, attempt)
            # A hair over the asked wait: retrying at exactly retry_after can land just inside the window.
            await asyncio.sleep(wait + 0.05)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def after_command(text: str, command_length: int) -> str:
    """What follows the bot command that starts ``text`` (``command_length`` in UTF-16 code units, as
    Telegram counts). Lone surrogates (valid in Telegram's JSON, not in UTF-8 or SQLite) become U+FFFD
    first; that keeps every UTF-16 offset, so the cut stays where Telegram put it."""
    units = storable(text).encode("utf-16-le")
    return units[2 * command_length :].decode("utf-16-le")


def actor_of(user: User) -> Actor:
    """The person behind an update: Telegram user id, and their display name (first + last name)."""
    return Actor("telegram", str(user.id), user.full_name or user.username or str(user.id))


def chat_id_of(channel_id: str) -> int | str:
    """Chat ids are integers; a ``@channelusername`` stays a string, as the Bot API accepts both."""
    try:
        return int(channel_id)
    except ValueError:
        return channel_id


def int_or_none(value: object) -> int | None:
    """A message id read back from stored JSON or a stored string id; None when absent or unreadable."""
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def inline_keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    """One row of buttons carrying ``callback_data``; None (which removes a keyboard on edit) for none."""
    if not buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=callback_data(b)) for b in buttons]])
