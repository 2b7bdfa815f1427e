"""The Slack app manifest (``app-manifest.yaml`` beside this module, linked from ``deploy/``) with the public
address of ``openkoi serve`` filled in: ``openkoi slack manifest --host URL``.

The file stays the one source: its request URLs are read from it and only their origin is replaced, and each
must be a path the adapter serves. The host is a bare https origin (a name or an address, an optional port);
anything that could make Slack call somewhere else (a path, a query, credentials, odd characters) is refused.
"""

from __future__ import annotations

import ipaddress
import re
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError

MANIFEST = "app-manifest.yaml"
EXAMPLE_ORIGIN = "https://openkoi.example.com"
# The routes the Slack adapter serves (HTTP mode): slash commands, events and interactions all arrive here.
EVENTS_PATH = "/slack/events"
SERVED_PATHS = frozenset({EVENTS_PATH})
# A DNS name (labels of letters, digits and hyphens; an IPv4 address is one too); IPv6 is checked apart.
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?")


def manifest_text() -> str:
    """The manifest as shipped, with the example address."""
    return resources.files("bots.slack").joinpath(MANIFEST).read_text(encoding="utf-8")


def public_origin(host: str) -> str:
    """``host`` as an https origin (``https://name[:port]``); ConfigError saying why when it is not one.

    A trailing slash is dropped; a bare name gets ``https://``.
    """
    given = host.strip()
    if not given or any(c.isspace() or ord(c) < 32 for c in given):
        raise ConfigError("must be the public https address of openkoi serve, e.g. https://openkoi.acme.dev")
    if "://" not in given:
        given = f"https://{given}"
    parts = urlsplit(given)
    if parts.scheme.lower() != "https":
        raise ConfigError(f"must be an https address (Slack calls only https request URLs), not {parts.scheme}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ConfigError("must not carry a user name or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment or given.endswith(("?", "#")):
        raise ConfigError(
            "must be the address alone (no path, query or fragment): openkoi serve answers Slack at "
            f"{EVENTS_PATH} of it"
        )
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = 0
    if port == 0:
        raise ConfigError("has a port that is not one (1-65535)")
    name = parts.hostname or ""
    if not (_HOSTNAME.fullmatch(name) or _is_ipv6(name)):
        raise ConfigError(f"has a host name that is not one: {name!r}")
    shown = f"[{name}]" if ":" in name else name.rstrip(".")
    return f"https://{shown}" + (f":{port}" if port is not None and port != 443 else "")


def _is_ipv6(name: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(name), ipaddress.IPv6Address)
    except ValueError:
        return False


def filled_manifest(host: str) -> dict[str, Any]:
    """The manifest with every request URL on ``host``'s origin (see ``public_origin``)."""
    import yaml

    origin = public_origin(host)
    document = yaml.safe_load(manifest_text())
    replaced = _replace_origin(document, origin)
    if replaced == 0:
        raise ConfigError(f"{MANIFEST} has no request URL on {EXAMPLE_ORIGIN} to fill in")
    result: dict[str, Any] = document
    return result


def _replace_origin(node: Any, origin: str) -> int:
    """Put ``origin`` in place of the example's in every string under ``node``; how many were replaced."""
    count = 0
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in list(items):
        if isinstance(value, str) and value.startswith(EXAMPLE_ORIGIN + "/"):
            path = value.removeprefix(EXAMPLE_ORIGIN)
            if path not in SERVED_PATHS:
                raise ConfigError(f"{MANIFEST} names {path}, which openkoi serve does not serve")
            node[key] = origin + path
            count += 1
        else:
            count += _replace_origin(value, origin)
    return count


def render(host: str) -> str:
    """The filled manifest as YAML to paste into Slack's "From an app manifest"."""
    import yaml

    filled = filled_manifest(host)
    head = f"# Slack app manifest for openkoi at {public_origin(host)} (openkoi slack manifest)\n"
    return head + yaml.safe_dump(filled, sort_keys=False, allow_unicode=True)
