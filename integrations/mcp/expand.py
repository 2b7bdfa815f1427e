"""``${NAME}`` in a server's ``env`` and ``headers`` values, read from the environment when it starts.

Settings keep the reference, never the value, so a secret is neither stored nor shown; every value read
this way that is long enough to be a secret is registered with the redactor (``core.secrets.SECRETS``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.secrets import MIN_LENGTH

REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class MissingVariable(Exception):
    """A referenced variable is not set: names the variable and where it was referenced, not a value."""

    def __init__(self, variable: str, where: str) -> None:
        super().__init__(f"environment variable {variable} is not set (referenced in {where})")
        self.variable = variable


@dataclass
class Expanded:
    """Expanded values, and the referenced variables' values that may be secrets."""

    values: dict[str, str]
    secrets: list[str] = field(default_factory=list)


def expand(values: Mapping[str, str], section: str, environ: Mapping[str, str] | None = None) -> Expanded:
    """``values`` with every ``${NAME}`` replaced by that variable's value.

    Raises ``MissingVariable`` for the first variable that is not set. ``section`` (``env``, ``headers``)
    only serves the message. Every referenced value of ``MIN_LENGTH`` characters or more is returned in
    ``secrets``: a reference is how a team passes a token without writing it down.
    """
    env = os.environ if environ is None else environ
    secrets: list[str] = []

    def replace(key: str, value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise MissingVariable(name, f"{section}.{key}")
            found = env[name]
            if len(found) >= MIN_LENGTH:
                secrets.append(found)
            return found

        return REFERENCE.sub(one, value)

    return Expanded({key: replace(key, value) for key, value in values.items()}, secrets)
