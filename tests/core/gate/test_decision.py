"""The gate's decision (``core.gate.decision``): the floor, the verdict and the trust levels, combined."""

from __future__ import annotations

from typing import Any

import pytest

from core.deliberation.verdict import Verdict, tally, unavailable
from core.gate.decision import NO_USABLE_JUDGEMENT, BlockKind, GateOutcome, block_lines, decide
from core.gate.floor import FloorMatch, FloorResult
from core.gate.trust import TrustLevel
from core.outputs import Agency, ParliamentReply

DROP = FloorMatch("database.destroy", "database", "Deletes or empties a database", "drop the production database")
BACKUPS = FloorMatch("backups.destroy", "backups", "Deletes backups", "delete all backups")
MATCHED = FloorResult("Drop the production database and delete all backups", (DROP, BACKUPS))
CLEAR = FloorResult("Summarise the README", ())


def verdict(
    guardian: str = "APPROVE",
    reversibility: str = "NONE",
    blast_radius: str = "HIGH",
    others: dict[str, str] | None = None,
) -> Verdict:
    """A tallied verdict: the Guardian's vote and assessment, the others' votes (APPROVE by default)."""
    votes = {"economist": "APPROVE", "empath": "APPROVE", "scholar": "APPROVE", "strategist": "APPROVE"}
    votes.update(others or {})
    payload: dict[str, Any] = {a: {"reason": f"{a} thinks so", "vote": v} for a, v in votes.items()}
    payload["economist"]["estimated_cost_usd"] = 0.01
    payload["guardian"] = {
        "reversibility": reversibility,
        "blast_radius": blast_radius,
        "permission_level": "ELEVATED",
        "reason": "the guardian's reason",
        "vote": guardian,
    }
    return tally(ParliamentReply.model_validate(payload))


def levels(level: TrustLevel) -> dict[str, TrustLevel]:
    return {"database": level, "backups": level}


def test_no_floor_match_and_an_approval_proceeds() -> None:
    decision = decide(CLEAR, verdict(reversibility="FULL", blast_radius="LOW"), {})
    assert decision.outcome is GateOutcome.PROCEEDED and not decision.stops and decision.level is None
    assert decision.invalid == ()


@pytest.mark.parametrize("level", list(TrustLevel))
def test_a_valid_guardian_block_stops_the_task_at_every_trust_level(level: TrustLevel) -> None:
    decision = decide(MATCHED, verdict(guardian="BLOCK"), levels(level))
    assert decision.stops and decision.block is BlockKind.GUARDIAN
    assert decision.reason == "the guardian's reason"
    assert decision.level is level


@pytest.mark.parametrize("level", list(TrustLevel))
def test_full_and_low_on_a_floor_match_is_no_usable_judgement_at_every_level(level: TrustLevel) -> None:
    decision = decide(MATCHED, verdict(reversibility="FULL", blast_radius="LOW"), levels(level))
    assert decision.stops and decision.block is BlockKind.GUARDIAN_INVALID
    assert decision.reason.startswith(NO_USABLE_JUDGEMENT)
    assert "database.destroy, backups.destroy" in decision.reason
    [invalid] = decision.invalid
    assert invalid.agency is Agency.GUARDIAN


def test_full_and_low_without_a_floor_match_is_a_judgement() -> None:
    decision = decide(CLEAR, verdict(reversibility="FULL", blast_radius="LOW"), {})
    assert decision.outcome is GateOutcome.PROCEEDED and decision.invalid == ()


def test_dissent_on_a_floor_match_no_longer_becomes_caveats_when_the_guardian_says_full_low() -> None:
    dissent = {"empath": "BLOCK", "scholar": "BLOCK"}
    plain = verdict(reversibility="FULL", blast_radius="LOW", others=dissent)
    assert not plain.blocked, "the tally still turns this dissent into caveats on a task the floor let through"
    assert decide(CLEAR, plain, {}).outcome is GateOutcome.PROCEEDED
    decision = decide(MATCHED, plain, levels(TrustLevel.AUTONOMOUS))
    assert decision.stops and decision.block is BlockKind.GUARDIAN_INVALID


def test_a_dissent_block_stops_the_task_even_at_autonomous() -> None:
    decision = decide(MATCHED, verdict(others={"empath": "BLOCK", "scholar": "BLOCK"}), levels(TrustLevel.AUTONOMOUS))
    assert decision.stops and decision.block is BlockKind.DISSENT


def test_a_deliberation_that_could_not_happen_stops_the_task_even_at_autonomous() -> None:
    decision = decide(MATCHED, unavailable("the reply was malformed"), levels(TrustLevel.AUTONOMOUS))
    assert decision.stops and decision.block is BlockKind.GUARDIAN and decision.invalid == ()


@pytest.mark.parametrize(
    ("level", "outcome", "stops"),
    [
        (TrustLevel.ASK, GateOutcome.BLOCKED, True),
        (TrustLevel.SUGGEST, GateOutcome.SUGGEST, False),
        (TrustLevel.ACT, GateOutcome.BLOCKED, True),
        (TrustLevel.AUTONOMOUS, GateOutcome.AUTONOMOUS, False),
    ],
)
def test_a_floor_match_under_an_approval_follows_the_trust_level(
    level: TrustLevel, outcome: GateOutcome, stops: bool
) -> None:
    decision = decide(MATCHED, verdict(), levels(level))
    assert decision.outcome is outcome and decision.stops is stops and decision.level is level
    assert decision.read_only is (level is TrustLevel.SUGGEST)
    if stops:
        assert decision.block is BlockKind.FLOOR and "database.destroy" in decision.reason
    if level is TrustLevel.ACT:
        assert "at task level a floor match still asks a person" in decision.reason


def test_the_most_restrictive_level_of_the_matched_domains_decides() -> None:
    mixed = {"database": TrustLevel.AUTONOMOUS, "backups": TrustLevel.SUGGEST}
    assert decide(MATCHED, verdict(), mixed).outcome is GateOutcome.SUGGEST
    missing = {"database": TrustLevel.AUTONOMOUS}  # backups: nobody granted anything
    decision = decide(MATCHED, verdict(), missing)
    assert decision.outcome is GateOutcome.BLOCKED and decision.levels["backups"] is TrustLevel.ASK


def test_a_simulation_is_never_stopped_and_a_floor_block_becomes_a_caveat() -> None:
    decision = decide(MATCHED, verdict(), levels(TrustLevel.ASK), simulate=True)
    assert decision.outcome is GateOutcome.BLOCKED and decision.simulated and not decision.stops
    [caveat] = decision.caveats()
    assert caveat.startswith("BLOCKED (floor: database.destroy, backups.destroy)")
    invalid = decide(MATCHED, verdict(reversibility="FULL", blast_radius="LOW"), levels(TrustLevel.ASK), simulate=True)
    assert [c.split(":")[0] for c in invalid.caveats()] == ["BLOCKED (guardian_invalid)", "BLOCKED (floor"]


def test_suggest_mode_tells_the_loop_nothing_is_carried_out() -> None:
    [caveat] = decide(MATCHED, verdict(), levels(TrustLevel.SUGGEST)).caveats()
    assert caveat.startswith("SUGGEST ONLY") and "a person can check and act on" in caveat


def test_the_block_names_each_rule_beside_the_guardians_ballot() -> None:
    copied = verdict(reversibility="FULL", blast_radius="LOW")
    lines = block_lines(decide(MATCHED, copied, levels(TrustLevel.ASK)), copied)
    assert (
        lines[0] == 'floor: database.destroy (database): Deletes or empties a database — "drop the production database"'
    )
    assert lines[1].startswith("floor: backups.destroy (backups)")
    assert lines[2] == "trust: database ask, backups ask"
    assert lines[3].startswith('Guardian: APPROVE — "the guardian\'s reason" (reversibility FULL, blast radius LOW')
    assert lines[4].startswith("Guardian's ballot does not count: it assessed FULL reversibility")
