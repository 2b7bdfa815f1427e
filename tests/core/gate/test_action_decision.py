"""Every cell of the action decision table (``core.gate.action_decision``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.acting.action import Effect, Hints, ProposedAction
from core.gate.action_class import ActionClass, classify
from core.gate.action_decision import SUGGEST_ONLY, ActionDecision, ToolRules, decide_action
from core.gate.floor import FloorResult
from core.gate.gatekeeper import floor_for
from core.gate.settings import FloorSettings
from core.gate.trust import TrustLevel
from core.store.actions import StandingGrant
from tests.core.gate.action_stand_ins import tool

NAME = "mcp__ops__act"
GRANT = StandingGrant("g1", NAME, "tools", "grant", "carol", "a1", None, datetime(2026, 3, 2, tzinfo=UTC))
RUN, ASK, DENY = ActionDecision.RUN, ActionDecision.ASK, ActionDecision.DENY

# (effect, level): the decision with nothing else, with an allow pattern covering the tool, with a standing grant.
TABLE = {
    ("read", "ask"): (RUN, RUN, RUN),
    ("read", "suggest"): (RUN, RUN, RUN),
    ("read", "act"): (RUN, RUN, RUN),
    ("read", "autonomous"): (RUN, RUN, RUN),
    ("write", "ask"): (ASK, RUN, RUN),
    ("write", "suggest"): (DENY, DENY, DENY),
    ("write", "act"): (RUN, RUN, RUN),
    ("write", "autonomous"): (RUN, RUN, RUN),
    ("destructive", "ask"): (ASK, ASK, RUN),
    ("destructive", "suggest"): (DENY, DENY, DENY),
    ("destructive", "act"): (ASK, ASK, RUN),
    ("destructive", "autonomous"): (RUN, RUN, RUN),
}
CELLS = [(effect, level, i) for (effect, level) in TABLE for i in range(3)]


def klass(effect: str) -> ActionClass:
    return ActionClass(Effect(effect), "team", "tools", FloorResult(NAME, ()), (f"{effect}: stand-in",))


@pytest.mark.parametrize(("effect", "level", "column"), CELLS)
def test_every_cell_of_the_table(effect: str, level: str, column: int) -> None:
    rules = ToolRules(allow=("mcp__ops__*",)) if column == 1 else ToolRules()
    grant = GRANT if column == 2 else None
    ruling = decide_action(NAME, klass(effect), rules, TrustLevel(level), grant)
    assert ruling.decision is TABLE[(effect, level)][column], ruling.reasons
    assert ruling.level is TrustLevel(level)
    if ruling.decision is DENY:
        assert ruling.reasons[-1] == SUGGEST_ONLY
    if effect == "destructive" and level == "autonomous":
        assert ruling.autonomous and ruling.outcome == "autonomous" and ruling.grant is None
    else:
        assert not ruling.autonomous and ruling.outcome == ruling.decision.value
    # What decided is named: the grant or the allow pattern, only where it made the difference.
    made_the_difference = TABLE[(effect, level)][0] is not RUN and ruling.decision is RUN
    assert (ruling.grant is GRANT) == (column == 2 and made_the_difference)
    assert (ruling.pattern == "allow:mcp__ops__*") == (column == 1 and made_the_difference)


@pytest.mark.parametrize(("effect", "level", "column"), CELLS)
def test_a_deny_pattern_denies_every_cell_and_an_ask_pattern_asks(effect: str, level: str, column: int) -> None:
    grant = GRANT if column == 2 else None
    allow = ("mcp__ops__*",) if column == 1 else ()
    denied = decide_action(NAME, klass(effect), ToolRules(allow, ("*",), ("mcp__ops__act",)), TrustLevel(level), grant)
    assert denied.decision is DENY and denied.pattern == "deny:mcp__ops__act", "deny beats ask and allow"
    assert 'denied by the team\'s rule [tools] deny "mcp__ops__act"' in denied.reasons[-1]
    asked = decide_action(NAME, klass(effect), ToolRules(allow, ("mcp__*",), ("other",)), TrustLevel(level), grant)
    assert asked.decision is ASK and asked.pattern == "ask:mcp__*", "ask beats allow, grants and every level"


def test_an_allow_pattern_never_lets_a_destructive_action_run() -> None:
    """Least privilege: ``allow = ["mcp__git__*"]`` does not silently allow ``git_reset``."""
    floor = floor_for(FloorSettings(embedder=False))
    rules = ToolRules(allow=("mcp__git__*",))
    reset = ProposedAction("mcp__git__git_reset", {"repo_path": "/srv/app"})
    found = classify(reset, tool("mcp__git__git_reset", hints=Hints(destructive=True)), floor, {})
    assert found.effect is Effect.DESTRUCTIVE
    for level in (TrustLevel.ASK, TrustLevel.ACT):
        ruling = decide_action(reset.tool, found, rules, level, None)
        assert ruling.decision is ASK, ruling.reasons
        assert "never lets a destructive action run on its own" in ruling.reasons[-1]
    commit = ProposedAction("mcp__git__git_commit", {"message": "fix typo"})
    written = classify(commit, tool("mcp__git__git_commit", hints=Hints(destructive=False)), floor, {})
    assert decide_action(commit.tool, written, rules, TrustLevel.ASK, None).decision is RUN


def test_the_reasons_read_as_lines_for_a_person() -> None:
    ruling = decide_action(NAME, klass("write"), ToolRules(), TrustLevel.SUGGEST, None)
    assert ruling.reasons == ("write: stand-in", "trust: tools suggest", SUGGEST_ONLY)
