"""TOML files a person writes (config.toml, the floor's rulebook, a team's extra rules), read in one place.

Whichever file it is, a person who got it wrong is told the same way: which file (or which setting named
it), then what is wrong — unreadable, not TOML, or each key that does not fit — as a ``ConfigError``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_toml(path: Path, source: str | None = None) -> dict[str, Any]:
    """The document at ``path``; ``ConfigError`` starting with ``source`` (the path when not given) when the
    file cannot be read or is not valid TOML."""
    where = source or str(path)
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read: {exc.strerror}") from exc


def read_toml_model(path: Path, model: type[M], source: str | None = None) -> M:
    """The document at ``path`` validated into ``model``; ``ConfigError`` as ``read_toml`` says, or listing
    each key that does not fit (``describe_validation``)."""
    data = read_toml(path, source)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation(exc, source or str(path))) from exc


def describe_validation(error: ValidationError, source: str) -> str:
    """A pydantic error as lines a person reads: where, then what."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}")
    return f"{source}:\n  " + "\n  ".join(lines)
