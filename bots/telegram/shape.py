"""The shape of the Telegram updates the adapter handles, checked before any handler sees one.

python-telegram-bot builds an ``Update`` from almost any JSON: a message whose ``text`` is a number or a list,
a message with no ``chat``, a button press with no sender. Our handlers (and PTB's own ``CommandHandler``) read
those fields as the Bot API documents them, and would raise on such an update after the webhook had already
answered 200. An update is therefore checked once, here, against the fields the handlers read, with their
documented types; one that does not match is ignored with a single log line (``Receipts``), never a traceback.
Updates we do not handle at all (an edited message, a poll) pass: no handler of ours takes them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError
from telegram import Update


class _Part(BaseModel):
    # Telegram adds fields over time; only the ones a handler reads are checked.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _User(_Part):
    id: StrictInt
    first_name: StrictStr | None = None
    last_name: StrictStr | None = None
    username: StrictStr | None = None


class _Chat(_Part):
    id: StrictInt
    type: StrictStr


class _Entity(_Part):
    type: StrictStr
    offset: StrictInt = Field(ge=0)
    length: StrictInt = Field(ge=0)


class _Message(_Part):
    message_id: StrictInt
    chat: _Chat
    sender: _User | None = Field(None, alias="from")
    text: StrictStr | None = None
    entities: list[_Entity] = Field(default_factory=list)
    message_thread_id: StrictInt | None = None
    is_topic_message: StrictBool | None = None


class _Press(_Part):
    id: StrictStr
    sender: _User = Field(alias="from")
    data: StrictStr | None = None


class _Handled(_Part):
    update_id: StrictInt
    message: _Message | None = None
    callback_query: _Press | None = None


def unexpected(update: Update) -> str | None:
    """Why ``update`` is not of a shape our handlers read (one line: the first field that is wrong and how),
    or None when it is."""
    try:
        data: dict[str, Any] = update.to_dict()
    except Exception as exc:  # PTB could not even write it back out: nothing of ours should read it
        return f"unreadable ({type(exc).__name__})"
    try:
        _Handled.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "update"
        return f"{where}: {first['msg'].lower()}"
    return None
