"""The bundled skills that guard the loop: a skill proposal may never replace one.

The list is data, shipped beside the bundled skills (``skills/guarded.toml``), so guarding another
skill is one entry there. It is read once per process.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from core.errors import ConfigError


@dataclass(frozen=True)
class GuardedSkill:
    name: str
    why: str  # why it guards the loop, as a clause ("it keeps …"), shown when a proposal is refused


@cache
def guarded_skills() -> dict[str, GuardedSkill]:
    """The guarded skills by name. Raises ConfigError when the bundled list is malformed (a broken
    installation: it is never edited by a user)."""
    text = resources.files("skills").joinpath("guarded.toml").read_text(encoding="utf-8")
    try:
        entries = tomllib.loads(text).get("guarded", [])
        found = {str(e["name"]): GuardedSkill(str(e["name"]), str(e["why"])) for e in entries}
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"the bundled skills/guarded.toml is malformed ({exc}); reinstall openkoi") from exc
    return found


def guard_reason(name: str) -> str | None:
    """Why no proposal may replace the skill ``name``, or None when it is not guarded."""
    guarded = guarded_skills().get(name)
    if guarded is None:
        return None
    return f"'{name}' is a bundled skill that guards the loop ({guarded.why}); a skill proposal can never replace it"
