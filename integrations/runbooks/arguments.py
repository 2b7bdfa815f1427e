"""A runbook's arguments: refused unless they are exactly its parameters, each a string its pattern matches
whole and that cannot be mistaken for anything but one argument; then placed into the command's argv.

The checks that do not depend on the pattern are the ones a hurried pattern forgets: a NUL ends a C string
early, a newline or carriage return splits a log line or a value a tool reads line by line, and a leading
``-`` turns a value into an option (``--output=/etc/passwd``). Nothing here runs a shell, so ``;``, ``$(…)``,
backticks and ``|`` are only characters; the team's pattern is what keeps them out of a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.acting.settings import PLACEHOLDER, RunbookParam
from core.errors import OpenKoiError
from core.secrets import SECRETS

PREVIEW_CHARS = 40


class RunbookError(OpenKoiError):
    """A runbook could not run: its arguments were refused or its command could not start. The message is
    one line, fit for a thread."""


class RunbookRefused(RunbookError):
    """A runbook's arguments were refused before anything ran."""


def preview(value: str) -> str:
    """A short, quoted, one-line form of ``value`` for a message: redacted, cut at ``PREVIEW_CHARS``."""
    cleaned = SECRETS.redact(value)
    shown = cleaned[:PREVIEW_CHARS]
    return repr(shown) + ("…" if len(cleaned) > PREVIEW_CHARS else "")


def check_arguments(runbook: str, params: Mapping[str, RunbookParam], arguments: Any) -> dict[str, str]:
    """The validated arguments of ``runbook``; raises ``RunbookRefused`` naming the parameter and the reason.

    Exactly the declared parameters, each a string: without NUL, newline or carriage return, not starting
    with ``-``, and matched entirely by its pattern (``re.fullmatch``, whatever anchors the pattern has)."""
    if not isinstance(arguments, Mapping):
        raise RunbookRefused(f"{runbook}: arguments must be an object of parameters, got {type(arguments).__name__}")
    unknown = [str(name) for name in arguments if name not in params]
    if unknown:
        listed = ", ".join(preview(name) for name in sorted(unknown)[:5])
        raise RunbookRefused(f"{runbook}: unknown parameter {listed} (it takes {_names(params)})")
    missing = [name for name in params if name not in arguments]
    if missing:
        raise RunbookRefused(f"{runbook}: missing parameter {', '.join(sorted(missing))}")
    checked: dict[str, str] = {}
    for name, param in params.items():
        value = arguments[name]
        if not isinstance(value, str):
            raise RunbookRefused(f"{runbook}: parameter {name} refused: must be a string, got {type(value).__name__}")
        reason = _unsafe(value) or _unmatched(value, param.pattern)
        if reason:
            raise RunbookRefused(f"{runbook}: parameter {name} refused: {reason}")
        checked[name] = value
    return checked


def _names(params: Mapping[str, RunbookParam]) -> str:
    return ", ".join(sorted(params)) if params else "none"


def _unsafe(value: str) -> str | None:
    if "\x00" in value:
        return "it contains a NUL character"
    if "\n" in value or "\r" in value:
        return f"it contains a line break: {preview(value)}"
    if value.startswith("-"):
        return f"it starts with '-' and could be read as an option: {preview(value)}"
    return None


def _unmatched(value: str, pattern: str) -> str | None:
    if re.fullmatch(pattern, value) is None:
        return f"{preview(value)} does not match the pattern {pattern}"
    return None


def render_command(command: list[str], arguments: Mapping[str, str]) -> list[str]:
    """``command`` with each ``{param}`` replaced by its argument, in one pass: a value that itself holds
    ``{other}`` stays as it is, and so do braces that do not name a parameter."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return arguments[name] if name in arguments else match.group(0)

    return [PLACEHOLDER.sub(replace, part) for part in command]
