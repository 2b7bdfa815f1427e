"""How severe a proposed action is (read / write / destructive), who said so, and in which trust domain.

The effect is taken from the first of these that knows it:

    1. the team's rules, ``[tools.effects]``: shell-style patterns over tool names, e.g.
       ``"mcp__git__git_log" = "read"``; the most specific pattern wins (the most literal characters), and a
       tie goes to the most severe effect;
    2. the effect the tool declares (a runbook's ``effect``, written by the team);
    3. last, and untrusted, the MCP server's hints: ``readOnlyHint`` true (and not also ``destructiveHint``)
       → read; ``destructiveHint`` false → write; anything else, or a tool nobody knows → destructive.

Then **the rule floor** screens the action's name and every argument (``Floor.screen_action``): a match
makes it destructive and names the rule. The floor can only *raise* the class, never lower it: a model (or
a server's annotation, or a team's "read") may add caution, never remove it. A team's ``read`` on
``mcp__db__query`` still stops ``{"sql": "DROP TABLE orders"}``.

The domain is the one the tool declares, else the first floor match's, else ``tools``. Pure: no store.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from core.acting.action import ActionTool, Effect, ProposedAction
from core.gate.floor import Floor, FloorResult

# The domain of an action that declares none and matches no floor rule (a shipped domain: trust may be
# granted on it, see category_domains.toml).
TOOLS_DOMAIN = "tools"

ClassSource = Literal["team", "declared", "floor", "hints", "unknown"]

_WILDCARDS = re.compile(r"\[[^\]]*\]|[*?]")


@dataclass(frozen=True)
class ActionClass:
    """A proposed action's effect, the ``source`` that decided it (``floor`` when the floor raised it),
    the team pattern that set it (``rule``, for ``team``), the floor's result (its matches, always kept,
    even when they did not change the class), the action's ``domain`` and ``why``: lines a person reads."""

    effect: Effect
    source: ClassSource
    domain: str
    floor: FloorResult
    why: tuple[str, ...]
    rule: str | None = None

    @property
    def domains(self) -> tuple[str, ...]:
        """The action's domain and every domain the floor matched: the trust of each of them counts."""
        return tuple(dict.fromkeys([self.domain, *self.floor.domains]))

    @property
    def rules(self) -> tuple[str, ...]:
        """The floor rules that matched."""
        return self.floor.rules


def team_effect(name: str, effects: Mapping[str, Effect]) -> tuple[str, Effect] | None:
    """The team's ``[tools.effects]`` pattern that covers ``name`` and its effect: the most specific pattern
    (most literal characters), a tie going to the most severe effect. None when no pattern matches."""
    matching = [(pattern, effect) for pattern, effect in effects.items() if fnmatch.fnmatchcase(name, pattern)]
    if not matching:
        return None
    return max(matching, key=lambda item: (len(_WILDCARDS.sub("", item[0])), item[1].severity))


def classify(
    action: ProposedAction, tool: ActionTool | None, floor: Floor, effects: Mapping[str, Effect]
) -> ActionClass:
    """The class of ``action`` (see the module's order). ``tool`` is None for a tool nobody knows (the model
    named one that is not offered): destructive unless the team's rules say otherwise. Runs the floor's
    screen synchronously: call it off the event loop when the embedder may be on."""
    screened = floor.screen_action(action.tool, action.arguments)
    effect, source, rule, why = _before_floor(action.tool, tool, effects)
    domain = (tool.domain if tool is not None else None) or next(iter(screened.domains), None) or TOOLS_DOMAIN
    lines = [why]
    if screened.needs_person:
        lines += [f"rule floor: {line}" for line in screened.explain().splitlines()]
        if effect is not Effect.DESTRUCTIVE:
            lines.append(f"the rule floor raises it from {effect.value} to destructive: only caution is added")
            effect, source = Effect.DESTRUCTIVE, "floor"
    return ActionClass(effect, source, domain, screened, tuple(lines), rule)


def _before_floor(
    name: str, tool: ActionTool | None, effects: Mapping[str, Effect]
) -> tuple[Effect, ClassSource, str | None, str]:
    found = team_effect(name, effects)
    if found is not None:
        pattern, effect = found
        return (
            effect,
            "team",
            pattern,
            f'{effect.value}: the team\'s rule [tools.effects] "{pattern}" = "{effect.value}"',
        )
    if tool is None:
        return Effect.DESTRUCTIVE, "unknown", None, "destructive: an unknown tool counts as destructive"
    if tool.effect is not None:
        return tool.effect, "declared", None, f"{tool.effect.value}: the tool's declared effect"
    hints = tool.hints
    if hints.read_only is True and hints.destructive is not True:
        return Effect.READ, "hints", None, "read: the server's hint readOnlyHint (untrusted)"
    if hints.read_only is not True and hints.destructive is False:
        return Effect.WRITE, "hints", None, "write: the server's hint destructiveHint=false (untrusted)"
    if hints.destructive is True:
        return Effect.DESTRUCTIVE, "hints", None, "destructive: the server's hint destructiveHint (taken as caution)"
    return Effect.DESTRUCTIVE, "unknown", None, "destructive: nobody trustworthy said what it does"
