"""The names the model sees for a server's tools: ``mcp__<server>__<tool>``.

Providers accept tool names matching ``^[a-zA-Z0-9_-]{1,64}$``. Other characters of a tool's own name
(``.``, ``/``, spaces …) become ``_``; a name that is still too long, or that would collide with another
tool of the same server, is left out with a notice rather than cut (a cut name could call the wrong tool).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

PREFIX = "mcp"
SEPARATOR = "__"
MAX_LENGTH = 64
_REFUSED = re.compile(r"[^A-Za-z0-9_-]")
ALLOWED = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def tool_name(server: str, tool: str) -> str:
    """The model-facing name of ``tool`` on ``server``, before the length check."""
    return f"{PREFIX}{SEPARATOR}{_REFUSED.sub('_', server)}{SEPARATOR}{_REFUSED.sub('_', tool)}"


@dataclass
class Naming:
    """Model-facing names for one server's tools (original name → model name), and what was left out."""

    names: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def name_tools(server: str, tools: Iterable[str]) -> Naming:
    """Name each of ``server``'s tools; tools whose names cannot be given are left out with a notice."""
    naming = Naming()
    taken: dict[str, str] = {}
    for tool in tools:
        name = tool_name(server, tool)
        if not ALLOWED.match(name):
            naming.notices.append(f"tool '{tool}' left out: '{name}' is longer than {MAX_LENGTH} characters")
        elif name in taken:
            naming.notices.append(f"tool '{tool}' left out: its name '{name}' is already '{taken[name]}''s")
        else:
            taken[name] = tool
            naming.names[tool] = name
    return naming
