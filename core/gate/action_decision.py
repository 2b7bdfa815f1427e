"""Whether a classified action runs, asks a person, or is refused: one pure function of the class, the team's
``[tools] deny / ask / allow`` patterns over the tool name, the trust level in force, and any standing
"allow always for this tool in this domain" grant. The first row that applies decides:

    a [tools] deny pattern covers the tool             → DENY (never runs; the model is told)
    a [tools] ask pattern covers the tool              → ASK (a person decides)
    read                                               → RUN, at every level (suggest too)
    write or destructive, trust suggest                → DENY: "trust is suggest: proposed, not run"
    write, trust ask                                   → ASK, unless an allow pattern or a standing grant
                                                         covers the tool → RUN
    write, trust act or autonomous                     → RUN
    destructive, trust autonomous                      → RUN, audited as autonomous
    destructive, trust ask or act                      → ASK, unless a standing grant for this tool in this
                                                         domain → RUN

An allow *pattern* alone never lets a destructive action run (least privilege: ``allow = ["mcp__git__*"]``
does not silently allow ``git_reset``); only a person's "allow always" for that one tool, or the domain's
``autonomous`` level, does. The trust level is the most restrictive among the action's domains (its own and
every domain the floor matched): a floor match may only add caution.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from core.acting.action import Effect
from core.gate.action_class import ActionClass
from core.gate.trust import TrustLevel
from core.store.actions import StandingGrant

SUGGEST_ONLY = "trust is suggest: proposed, not run"


class ActionDecision(StrEnum):
    RUN = "run"
    ASK = "ask"  # a person decides
    DENY = "deny"  # never runs; the model is told


@dataclass(frozen=True)
class ToolRules:
    """The team's ``[tools] allow / ask / deny``: shell-style patterns over tool names."""

    allow: tuple[str, ...] = ()
    ask: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    @classmethod
    def of(cls, allow: Iterable[str], ask: Iterable[str], deny: Iterable[str]) -> ToolRules:
        return cls(tuple(allow), tuple(ask), tuple(deny))


@dataclass(frozen=True)
class ActionRuling:
    """The decision, the lines a person reads, and what decided it: the ``[tools]`` pattern (``"deny:
    mcp__db__*"``), the standing ``grant``, or the ``autonomous`` level."""

    decision: ActionDecision
    reasons: tuple[str, ...]
    level: TrustLevel
    pattern: str | None = None
    grant: StandingGrant | None = None
    autonomous: bool = False

    @property
    def outcome(self) -> str:
        """The audit's word: ``run``, ``autonomous`` (a destructive action run by the domain's level), ``ask``
        or ``deny``."""
        return "autonomous" if self.autonomous else self.decision.value


def first_match(name: str, patterns: Iterable[str]) -> str | None:
    """The first of ``patterns`` that covers ``name`` (case-sensitive, as tool names are)."""
    return next((pattern for pattern in patterns if fnmatch.fnmatchcase(name, pattern)), None)


def decide_action(
    tool: str, klass: ActionClass, rules: ToolRules, level: TrustLevel, grant: StandingGrant | None
) -> ActionRuling:
    """The decision on a call of ``tool`` (see the module's table). ``level``: the most restrictive level in
    force among ``klass.domains``; ``grant``: the standing grant for ``tool`` in ``klass.domain``, if any."""
    effect = klass.effect
    head = (*klass.why, f"trust: {', '.join(klass.domains)} {level.value}")

    def made(
        decision: ActionDecision,
        line: str,
        pattern: str | None = None,
        grant: StandingGrant | None = None,
        autonomous: bool = False,
    ) -> ActionRuling:
        return ActionRuling(decision, (*head, line), level, pattern, grant, autonomous)

    denied = first_match(tool, rules.deny)
    if denied is not None:
        return made(
            ActionDecision.DENY, f'denied by the team\'s rule [tools] deny "{denied}"', pattern=f"deny:{denied}"
        )
    asked = first_match(tool, rules.ask)
    if asked is not None:
        return made(ActionDecision.ASK, f'a person decides: [tools] ask "{asked}"', pattern=f"ask:{asked}")
    if effect is Effect.READ:
        return made(ActionDecision.RUN, "runs: it only reads")
    if level is TrustLevel.SUGGEST:
        return made(ActionDecision.DENY, SUGGEST_ONLY)
    allowed = first_match(tool, rules.allow)
    by_grant = f"runs: allowed always for {tool} in {klass.domain} by {grant.granted_by}" if grant else ""
    if effect is Effect.WRITE:
        if level is not TrustLevel.ASK:
            return made(ActionDecision.RUN, f"runs: trust {level.value} lets a write run")
        if allowed is not None:
            return made(ActionDecision.RUN, f'runs: [tools] allow "{allowed}"', pattern=f"allow:{allowed}")
        if grant is not None:
            return made(ActionDecision.RUN, by_grant, grant=grant)
        return made(ActionDecision.ASK, "a person decides: a write at trust ask")
    if level is TrustLevel.AUTONOMOUS:
        return made(ActionDecision.RUN, "runs without asking: trust autonomous (audited)", autonomous=True)
    if grant is not None:
        return made(ActionDecision.RUN, by_grant, grant=grant)
    why = f"a person decides: destructive at trust {level.value}"
    if allowed is not None:
        why += f' ([tools] allow "{allowed}" never lets a destructive action run on its own)'
    return made(ActionDecision.ASK, why)
