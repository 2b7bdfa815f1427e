"""What the engine has learnt about each model endpoint, for the life of the process.

Real servers differ: llama-cpp-python refuses ``response_format: json_schema`` (HTTP 500), LM
Studio refuses ``json_object``, vLLM without ``--enable-auto-tool-choice`` refuses ``tools``
(HTTP 400), some servers report no ``usage``, and a server's tokenizer may count more tokens than
our estimate. A refusal is learnt once and never paid for again; a single-slot local server gets
one request at a time.
"""

from __future__ import annotations

import asyncio
import re
import weakref
from dataclasses import dataclass, field

from core.llm.providers import ModelRef
from core.llm.retry import status_of

# Structured-output modes, most to least constrained. "prompt" sends no response_format at all.
FORMAT_MODES = ("json_schema", "json_object", "prompt")

# An uncalibrated model may count up to this many times our character-based estimate; after the
# first reply with usage, the observed ratio (with a margin) is used instead.
UNCALIBRATED_RATIO = 2.0
CALIBRATION_MARGIN = 1.1

_FORMAT_REFUSAL = re.compile(r"response_format|json_schema|json_object|'text' or 'json_object'", re.IGNORECASE)
_TOOLS_REFUSAL = re.compile(r"tool|function[ _]call", re.IGNORECASE)
_REFUSAL_CODES = {400, 404, 415, 422, 500, 501}


def is_format_refusal(exc: BaseException) -> bool:
    """The server refused the response_format we sent (not a transient failure)."""
    return status_of(exc) in _REFUSAL_CODES and bool(_FORMAT_REFUSAL.search(str(exc)))


def is_tools_refusal(exc: BaseException) -> bool:
    """The server refused tool calling (e.g. vLLM without --enable-auto-tool-choice)."""
    return status_of(exc) in _REFUSAL_CODES and bool(_TOOLS_REFUSAL.search(str(exc)))


@dataclass
class Endpoint:
    """Negotiated facts about one model on one server."""

    format_mode: str | None = None  # None until negotiated (or fixed by configuration)
    tools: bool = True
    reports_usage: bool = True
    token_ratio: float | None = None  # server tokens per estimated token, once observed
    notices: set[str] = field(default_factory=set)

    def estimate(self, estimated: int) -> int:
        """A prompt's token count as this server will count it (conservative)."""
        ratio = self.token_ratio if self.token_ratio is not None else UNCALIBRATED_RATIO
        return int(estimated * ratio) + 1

    def calibrate(self, estimated: int, counted: int) -> None:
        if estimated <= 0 or counted <= 0:
            return
        observed = max(1.0, counted / estimated) * CALIBRATION_MARGIN
        self.token_ratio = observed if self.token_ratio is None else max(self.token_ratio * 0.9, observed)

    def downgrade_format(self, refused: str) -> str | None:
        """The next mode after ``refused``, remembered; None when nothing is left to try."""
        index = FORMAT_MODES.index(refused) if refused in FORMAT_MODES else len(FORMAT_MODES) - 1
        if index + 1 >= len(FORMAT_MODES):
            return None
        self.format_mode = FORMAT_MODES[index + 1]
        return self.format_mode

    def first_notice(self, key: str) -> bool:
        """True the first time ``key`` is seen: a learnt fact is announced once, not per call."""
        if key in self.notices:
            return False
        self.notices.add(key)
        return True


_ENDPOINTS: dict[tuple[str, str], Endpoint] = {}
# One gate per single-slot server and event loop (a semaphore belongs to the loop that uses it).
_SLOTS: dict[str, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}


def endpoint_for(ref: ModelRef) -> Endpoint:
    key = (ref.api_base or "", ref.litellm_model)
    found = _ENDPOINTS.get(key)
    if found is None:
        found = Endpoint(format_mode=None if ref.structured_output == "auto" else ref.structured_output)
        _ENDPOINTS[key] = found
    return found


def slot_for(ref: ModelRef) -> asyncio.Semaphore | None:
    """The one-at-a-time gate of a single-slot server (shared by every model it serves)."""
    if not ref.single_slot:
        return None
    per_loop = _SLOTS.setdefault(ref.api_base or ref.name, weakref.WeakKeyDictionary())
    loop = asyncio.get_running_loop()
    if loop not in per_loop:
        per_loop[loop] = asyncio.Semaphore(1)
    return per_loop[loop]


def forget_all() -> None:
    """Tests start from a process that has learnt nothing."""
    _ENDPOINTS.clear()
    _SLOTS.clear()
