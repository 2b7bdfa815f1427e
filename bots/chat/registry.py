"""The one registry of chat platforms: Python entry points in the ``openkoi.platforms`` group.

Each entry point is named after its platform and points at that platform's ``PlatformSpec``
(``foo = "my_package.spec:FOO"``), so a separately installed package adds a platform without an edit here.
Platforms are listed (start-up report, doctor, digests) by their spec's ``order``, then by name. A plugin that cannot be loaded, or is not what it claims, is a ``PluginError``
naming it; nothing starts with a broken registry.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any

import click

from bots.chat.settings import PlatformSettings
from bots.chat.spec import PlatformSpec
from core.config import PLATFORM_GROUP, SERVICE_SECTIONS, forget_platform_sections
from core.errors import ConfigError

GROUP = PLATFORM_GROUP
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class PluginError(ConfigError):
    """A registered platform plugin that cannot be used; the message names it and says why."""


@functools.cache
def _load() -> Mapping[str, PlatformSpec[Any]]:
    found: dict[str, tuple[EntryPoint, PlatformSpec[Any]]] = {}
    for entry in entry_points(group=GROUP):
        spec = _spec_of(entry)
        if entry.name in found:
            other = found[entry.name][0]
            raise PluginError(
                f"chat platform {entry.name!r} is registered twice: by {_origin(other)} and by {_origin(entry)}"
            )
        found[entry.name] = (entry, spec)
    ordered = sorted((spec for _, spec in found.values()), key=lambda spec: (spec.order, spec.name))
    return MappingProxyType({spec.name: spec for spec in ordered})


def _origin(entry: EntryPoint) -> str:
    dist = f" in {entry.dist.name}" if entry.dist is not None else ""
    return f"{entry.value}{dist}"


def _spec_of(entry: EntryPoint) -> PlatformSpec[Any]:
    def broken(problem: str) -> PluginError:
        return PluginError(f"chat platform plugin {entry.name!r} ({_origin(entry)}) {problem}")

    if not _NAME.fullmatch(entry.name) or entry.name in SERVICE_SECTIONS:
        reserved = " or ".join(SERVICE_SECTIONS)
        raise broken(f"has a name that cannot be a config.toml section of its own (a-z, 0-9, _; not {reserved})")
    try:
        spec = entry.load()
    except Exception as exc:
        raise broken(f"could not be loaded: {type(exc).__name__}: {exc}") from exc
    if not isinstance(spec, PlatformSpec):
        raise broken(f"is not a PlatformSpec (it is a {type(spec).__name__})")
    if spec.name != entry.name:
        raise broken(f"is registered as {entry.name!r} but its spec is named {spec.name!r}")
    if not (isinstance(spec.settings, type) and issubclass(spec.settings, PlatformSettings)):
        raise broken("has settings that are not a PlatformSettings model")
    if spec.cli is not None and spec.cli.name != spec.name:
        # A platform's commands live under its own name: it cannot take over "think" or "doctor".
        raise broken(f"has commands named {spec.cli.name!r}: they must be named after the platform")
    return spec


def platforms() -> Mapping[str, PlatformSpec[Any]]:
    """Every registered platform by name, in registry order (read once per process; see ``forget``)."""
    return _load()


def names() -> list[str]:
    """The registered platforms' names, in registry order."""
    return list(_load())


def spec(name: str) -> PlatformSpec[Any]:
    """The registered platform ``name``; KeyError when there is none."""
    return _load()[name]


def commands() -> list[click.Group]:
    """The platforms' own command groups (``openkoi <platform> …``), in registry order. A broken registry gives
    none, so the command line still starts (``openkoi doctor`` names the broken plugin)."""
    try:
        specs = _load()
    except PluginError:
        return []
    return [spec.cli for spec in specs.values() if spec.cli is not None]


def forget() -> None:
    """Read the entry points again at the next look: after a plugin was installed into this process."""
    importlib.invalidate_caches()
    _load.cache_clear()
    forget_platform_sections()
