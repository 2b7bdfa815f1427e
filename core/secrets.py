"""The service's own secrets, and keeping their values out of chat and out of every log.

``SECRETS`` is process-wide because what it protects is: a log record from any library, a chat
message from any adapter. The service registers its platform tokens, signing and webhook secrets
and model API keys at start; ``redact`` replaces each value with ``[redacted]`` wherever it occurs.

* Chat: the thread publisher scrubs every engine event before rendering it (so Markdown
  conversion cannot hide a value from the match) and ``Outgoing``/``Reply`` redact their final
  text, so every message, edit and reply an adapter sends is covered.
* Logs: ``install_log_redaction`` wraps the log record factory, so a record is redacted when it is
  made, whichever logger made it (python-telegram-bot's "Set Bot API URL", httpx's request lines
  with the bot token in the URL, a traceback quoting a URL) and whichever handler shows it.

Values shorter than ``MIN_LENGTH`` are ignored: they are not secrets worth the name (``none``,
``sk-test``), and redacting them would garble ordinary words.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr

REDACTED = "[redacted]"
MIN_LENGTH = 8
# Environment variables that hold credentials by their name: *_API_KEY, *_TOKEN, *_SECRET,
# AWS_SECRET_ACCESS_KEY, OPENKOI_SLACK__BOT_TOKEN, DATABASE_PASSWORD …
SECRET_VARIABLE = re.compile(r"(^|_)(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)(_ID)?$", re.IGNORECASE)

T = TypeVar("T")


class SecretValues:
    """A multiset of secret values (several owners may register the same one) and their redaction."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str | None]) -> list[str]:
        """Register values (short or empty ones are skipped); returns what was registered, for ``remove``."""
        added = [v for v in values if v is not None and len(v) >= MIN_LENGTH]
        self._counts.update(added)
        self._compile()
        return added

    def remove(self, values: Iterable[str]) -> None:
        self._counts.subtract(values)
        self._counts = +self._counts  # drop values no owner holds any more
        self._compile()

    def _compile(self) -> None:
        # Longest first: a value that contains another is replaced whole.
        values = sorted(self._counts, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        """``text`` with every registered value replaced by ``[redacted]``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def scrub(self, value: T) -> T:
        """A copy of ``value`` with every string inside it redacted: strings, lists, tuples, dicts,
        dataclasses and pydantic models, recursively. Enums and other values are returned as they are."""
        if self._pattern is None:
            return value
        return self._scrub(value)  # type: ignore[no-any-return]

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, Enum):  # a StrEnum is a str: keep the member, not a redacted copy
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, BaseModel):
            return value.model_copy(
                update={name: self._scrub(getattr(value, name)) for name in type(value).model_fields}
            )
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changes = {f.name: self._scrub(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
            return dataclasses.replace(value, **changes)
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return tuple(self._scrub(v) for v in value)
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        return value


SECRETS = SecretValues()


def environment_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names say they hold a credential (model API keys,
    platform tokens given as variables, anything else the service was started with)."""
    env = os.environ if environ is None else environ
    return [value for name, value in env.items() if SECRET_VARIABLE.search(name) and value]


def secret_fields(model: BaseModel) -> list[str]:
    """Every ``SecretStr`` value inside a settings model (nested models, lists and dicts included),
    plain string fields named like a credential (``api_key``), and the values of the variables that
    fields such as ``api_key_env`` name."""
    found: list[str] = []

    def visit(value: Any, name: str = "") -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, str) and name.endswith("_env") and SECRET_VARIABLE.search(name[: -len("_env")]):
            found.append(os.environ.get(value, ""))  # api_key_env = "LAB_KEY": the key is that variable's value
        elif isinstance(value, str) and name and SECRET_VARIABLE.search(name):
            found.append(value)
        elif isinstance(value, BaseModel):
            for field in type(value).model_fields:
                visit(getattr(value, field), field)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, list | tuple):
            for item in value:
                visit(item)

    visit(model)
    return found


# --------------------------------------------------------------------------- logs

_installed = False


def install_log_redaction() -> None:
    """Redact every log record as it is made (idempotent). Records made before this is called, or
    while ``SECRETS`` is empty, are left alone."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if SECRETS:
            redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def redact_record(record: logging.LogRecord) -> None:
    """Replace secret values in a record's message, traceback and stack in place."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: logging reports it when the record is emitted
        return
    cleaned = SECRETS.redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when it is set, so the traceback they print is this one.
        traceback = logging.Formatter().formatException(record.exc_info)
        record.exc_text = SECRETS.redact(traceback)
    if record.stack_info:
        record.stack_info = SECRETS.redact(record.stack_info)
