"""Writing a token's hash into config.toml, keeping the person's own formatting and comments (tomlkit), and
the file owner-only (0600): it may hold other credentials, and the tokens' names and scopes are nobody
else's business."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import tomlkit
from tomlkit.items import Table

from bots.api.settings import ApiScope
from core.errors import ConfigError
from core.files import FILE_MODE, private_dir


def _document(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        return tomlkit.document()
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except (OSError, tomlkit.exceptions.ParseError) as exc:
        raise ConfigError(f"{path}: cannot be read as TOML: {exc}") from exc


def _tokens(document: tomlkit.TOMLDocument, path: Path) -> Table:
    api = document.get("api")
    if api is None:
        api = document["api"] = tomlkit.table()
    tokens = api.get("tokens") if isinstance(api, Table) else None
    if not isinstance(api, Table):
        raise ConfigError(f"{path}: [api] is not a table")
    if tokens is None:
        tokens = api["tokens"] = tomlkit.table(is_super_table=True)
    if not isinstance(tokens, Table):
        raise ConfigError(f"{path}: [api] tokens is not a table")
    return tokens


def add_token(path: Path, name: str, digest: str, scopes: list[ApiScope], *, replace: bool = False) -> None:
    """Write ``[api.tokens.NAME] hash, scopes``; ConfigError when NAME exists (unless ``replace``)."""
    document = _document(path)
    tokens = _tokens(document, path)
    if name in tokens and not replace:
        raise ConfigError(f"{path} already has a token named {name!r}; pass --replace to replace it")
    entry = tomlkit.table()
    entry["hash"] = digest
    entry["scopes"] = list(scopes)
    tokens[name] = entry
    _write(path, tomlkit.dumps(document))


def remove_token(path: Path, name: str) -> bool:
    """Remove ``[api.tokens.NAME]``; False when there is none."""
    document = _document(path)
    tokens = _tokens(document, path)
    if name not in tokens:
        return False
    del tokens[name]
    _write(path, tomlkit.dumps(document))
    return True


def _write(path: Path, text: str) -> None:
    """Replace the file atomically as 0600 (a reader sees the old file or the new one, never half)."""
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
