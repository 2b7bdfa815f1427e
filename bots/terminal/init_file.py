"""What ``openkoi init`` writes into config.toml: the model (and its OpenAI-compatible server, if any) and each
chat platform's secrets, as ``${VAR}`` references or as values. tomlkit keeps whatever else the file holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import tomlkit
from tomlkit.items import Table

from core.errors import ConfigError
from core.files import write_private

if TYPE_CHECKING:
    from bots.chat.spec import PlatformSpec

HEADER = "openkoi configuration (openkoi init wrote the model and the chat platforms; see README, Configuration)"


@dataclass(frozen=True)
class Secret:
    """A secret answer: the environment variable a reference names, and the value given (never printed)."""

    variable: str
    value: str

    def __repr__(self) -> str:  # a traceback or a debugger never shows the value
        return f"Secret({self.variable})"


@dataclass(frozen=True)
class ModelAnswer:
    """``provider/model``; for an OpenAI-compatible server, its URL and its key (if it checks one)."""

    name: str
    server: str | None
    key: Secret | None


@dataclass(frozen=True)
class PlatformAnswer:
    spec: PlatformSpec[Any]
    secrets: dict[str, Secret]


def write_config(
    path: Path, model: ModelAnswer, platforms: list[PlatformAnswer], secrets: Literal["ref", "value"]
) -> None:
    """Put the answers into the file at ``path`` (created if missing), atomically and owner-only (0600)."""
    document = _document(path)
    document["model"] = model.name
    if model.server is not None:
        provider, _, name = model.name.partition("/")
        entry = tomlkit.table()
        entry["base_url"] = model.server
        entry["models"] = [name]
        if model.key is not None:
            if secrets == "ref":
                entry["api_key_env"] = model.key.variable
            else:
                entry["api_key"] = model.key.value
        _table(document, "providers", path, super_table=True)[provider] = entry
    for answer in platforms:
        section = _table(document, answer.spec.name, path)
        for key, secret in answer.secrets.items():
            section[key] = f"${{{secret.variable}}}" if secrets == "ref" else secret.value
    write_private(path, tomlkit.dumps(document))


def _document(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        document = tomlkit.document()
        document.add(tomlkit.comment(HEADER))
        return document
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, tomlkit.exceptions.ParseError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML: {exc}") from exc


def _table(document: tomlkit.TOMLDocument, name: str, path: Path, super_table: bool = False) -> Table:
    found = document.get(name)
    if found is None:
        found = tomlkit.table(is_super_table=super_table) if super_table else tomlkit.table()
        document[name] = found
    if not isinstance(found, Table):
        raise ConfigError(f"{path}: {name} is not a table")
    return found
