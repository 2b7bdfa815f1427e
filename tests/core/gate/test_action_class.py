"""An action's class (``core.gate.action_class``): the team's rules, then the declared effect, then the
server's untrusted hints; the rule floor raises the class and never lowers it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.acting.action import ActionTool, Effect, Hints, ProposedAction
from core.config import ToolSettings
from core.gate.action_class import TOOLS_DOMAIN, classify, team_effect
from core.gate.domains import Domains
from core.gate.floor import Floor
from core.gate.gatekeeper import floor_for
from core.gate.settings import FloorSettings, GateSettings
from tests.core.gate.action_stand_ins import tool

DROP = {"sql": "DROP TABLE orders"}
SELECT = {"sql": "select id from orders limit 3"}


@pytest.fixture(scope="module")
def floor() -> Floor:
    return floor_for(FloorSettings(embedder=False))


def test_the_teams_rule_comes_before_the_declared_effect_and_the_hints(floor: Floor) -> None:
    declared = tool("restart-worker", effect=Effect.WRITE, domain="deploy", hints=Hints(destructive=True))
    found = classify(ProposedAction("restart-worker", {"name": "w1"}), declared, floor, {"restart-*": Effect.READ})
    assert (found.effect, found.source, found.rule) == (Effect.READ, "team", "restart-*")
    assert "[tools.effects]" in found.why[0]


def test_the_most_specific_team_pattern_wins_and_a_tie_goes_to_the_most_severe() -> None:
    effects = {"mcp__git__*": Effect.WRITE, "mcp__git__git_log": Effect.READ, "*": Effect.DESTRUCTIVE}
    assert team_effect("mcp__git__git_log", effects) == ("mcp__git__git_log", Effect.READ)
    assert team_effect("mcp__git__git_commit", effects) == ("mcp__git__*", Effect.WRITE)
    assert team_effect("mcp__db__query", effects) == ("*", Effect.DESTRUCTIVE)
    tie = {"mcp__git__git_lo?": Effect.READ, "mcp__git__git_?og": Effect.WRITE}
    assert team_effect("mcp__git__git_log", tie) == ("mcp__git__git_?og", Effect.WRITE)
    assert team_effect("mcp__git__git_log", {"mcp__db__*": Effect.READ}) is None


def test_the_declared_effect_comes_before_the_servers_hints(floor: Floor) -> None:
    declared = tool("restart-worker", effect=Effect.WRITE, hints=Hints(read_only=True))
    found = classify(ProposedAction("restart-worker", {"name": "w1"}), declared, floor, {})
    assert (found.effect, found.source) == (Effect.WRITE, "declared")


@pytest.mark.parametrize(
    ("hints", "effect", "source"),
    [
        (Hints(read_only=True), Effect.READ, "hints"),
        (Hints(read_only=True, destructive=False), Effect.READ, "hints"),
        (Hints(read_only=True, destructive=True), Effect.DESTRUCTIVE, "hints"),  # contradictory: caution
        (Hints(destructive=False), Effect.WRITE, "hints"),
        (Hints(read_only=False, destructive=False), Effect.WRITE, "hints"),
        (Hints(destructive=True), Effect.DESTRUCTIVE, "hints"),
        (Hints(), Effect.DESTRUCTIVE, "unknown"),
        (Hints(idempotent=True, open_world=False), Effect.DESTRUCTIVE, "unknown"),
    ],
)
def test_the_servers_hints_count_last_and_silence_is_destructive(
    floor: Floor, hints: Hints, effect: Effect, source: str
) -> None:
    found = classify(ProposedAction("mcp__tracker__list_issues", {"limit": 3}), tool("x", hints=hints), floor, {})
    assert (found.effect, found.source) == (effect, source)


def test_an_unknown_tool_is_destructive_unless_the_team_says_otherwise(floor: Floor) -> None:
    action = ProposedAction("mcp__tracker__list_issues", {"limit": 3})
    found = classify(action, None, floor, {})
    assert (found.effect, found.source, found.domain) == (Effect.DESTRUCTIVE, "unknown", TOOLS_DOMAIN)
    assert classify(action, None, floor, {"mcp__tracker__list_*": Effect.READ}).effect is Effect.READ


@pytest.mark.parametrize(
    "make",
    [
        lambda: ({"mcp__db__query": Effect.READ}, tool("mcp__db__query")),  # the team says read
        lambda: ({}, tool("mcp__db__query", effect=Effect.READ)),  # the tool declares read
        lambda: ({}, tool("mcp__db__query", hints=Hints(read_only=True))),  # the server hints read
        lambda: ({}, tool("mcp__db__query", hints=Hints(destructive=False))),  # the server hints write
    ],
)
def test_the_floor_raises_any_class_to_destructive_and_names_its_rule(
    floor: Floor, make: Callable[[], tuple[dict[str, Effect], ActionTool]]
) -> None:
    """A team's "read" on a tool whose arguments say DROP TABLE is still stopped by the floor."""
    effects, stand_in = make()
    found = classify(ProposedAction("mcp__db__query", DROP), stand_in, floor, effects)
    assert (found.effect, found.source) == (Effect.DESTRUCTIVE, "floor")
    assert found.rules == ("database.destroy",) and found.domain == "database"
    assert any("database.destroy" in line and '"drop table"' in line for line in found.why)
    assert any("only caution is added" in line for line in found.why)
    # The same tool with harmless arguments keeps the class it was given.
    assert classify(ProposedAction("mcp__db__query", SELECT), stand_in, floor, effects).effect is not Effect.DESTRUCTIVE


def test_the_floor_never_lowers_a_class(floor: Floor) -> None:
    harmless = ProposedAction("mcp__git__git_log", {"max_count": 3})
    found = classify(harmless, tool("mcp__git__git_log"), floor, {"mcp__git__*": Effect.DESTRUCTIVE})
    assert not found.floor.needs_person
    assert (found.effect, found.source) == (Effect.DESTRUCTIVE, "team")
    # Already destructive: the floor's match is kept (its rules, its domain) but the class was the team's.
    dropped = classify(ProposedAction("mcp__db__query", DROP), tool("q"), floor, {"mcp__db__*": Effect.DESTRUCTIVE})
    assert (dropped.source, dropped.rules) == ("team", ("database.destroy",))


def test_the_domain_is_declared_else_the_floors_else_tools(floor: Floor) -> None:
    drop = ProposedAction("mcp__db__query", DROP)
    assert classify(drop, tool("q", domain="payments"), floor, {}).domain == "payments"
    declared = classify(drop, tool("q", domain="payments"), floor, {})
    assert declared.domains == ("payments", "database"), "the floor's domains still count for trust"
    assert classify(drop, tool("q"), floor, {}).domain == "database"
    assert classify(ProposedAction("mcp__db__query", SELECT), tool("q"), floor, {}).domain == TOOLS_DOMAIN


def test_trust_may_be_granted_on_the_tools_domain() -> None:
    assert Domains.of(GateSettings(), []).check("tools") == "tools"


def test_tools_effects_are_read_from_the_configuration() -> None:
    settings = ToolSettings.model_validate({"effects": {"mcp__git__git_log": "read"}, "approval_minutes": 5})
    assert settings.effects == {"mcp__git__git_log": Effect.READ} and settings.approval_minutes == 5
    with pytest.raises(ValueError, match="effects"):
        ToolSettings.model_validate({"effects": {"mcp__git__git_log": "harmless"}})
