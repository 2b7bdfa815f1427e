"""An engine event as the API shows it: a type in snake case (``TaskStarted`` → ``task_started``) and its
fields as JSON, redacted (the service's own secrets, ``core.secrets``) and with every text clipped, so a stored
event stays small whatever a model wrote. The whole output is in the task itself (``GET /tasks/{id}``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from enum import Enum
from typing import Any

from pydantic import BaseModel

from core.events import Event
from core.secrets import SECRETS
from core.text import clip

TEXT_LIMIT = 4000  # characters of any one text in an event
ITEMS_LIMIT = 50  # items of any one list

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def event_type(event: Event) -> str:
    return type_name(type(event))


def type_name(kind: type[Event]) -> str:
    """An event class's type in the stream: ``TaskStarted`` → ``task_started``."""
    return _CAMEL.sub("_", kind.__name__).lower()


def event_json(event: Event) -> str:
    """The event's fields (``task_id`` included) as a JSON object, redacted and clipped."""
    return json.dumps(_plain(SECRETS.scrub(event)), ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return clip(value, TEXT_LIMIT)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in list(value)[:ITEMS_LIMIT]]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in list(value.items())[:ITEMS_LIMIT]}
    return clip(str(value), TEXT_LIMIT)
