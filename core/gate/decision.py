"""The gate's decision on a task: the floor's result, the Parliament's verdict and the trust levels in force,
combined by one pure function. A model may add caution, never remove it.

    the Parliament blocks (a valid Guardian BLOCK, two dissenting BLOCKs,
      a deliberation that could not happen)                 → blocked, at every trust level
    the floor matched and the Guardian assessed the task FULL
      reversibility with LOW blast radius                   → the Guardian's ballot is invalid: blocked,
                                                               "the Guardian gave no usable judgement"
    the floor matched; the most restrictive level in force
      for its domains is  ask                                → blocked, a person decides
                          suggest                            → runs read-only; the result is a proposal
                          act                                → blocked: at task level the match is the part
                                                               that asks (actions the floor lets through
                                                               will run on their own from the acting issue)
                          autonomous                         → runs without asking, audited
    the floor matched nothing and the Parliament approves    → proceeds

``--simulate`` executes nothing, so nothing stops it: the decision is still made (and audited), and a block
reaches the simulation as a "BLOCKED (…)" caveat.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from core.deliberation.verdict import NO_JUDGEMENT, Outcome, Verdict
from core.gate.floor import FloorResult
from core.gate.trust import TrustLevel, most_restrictive
from core.outputs import Agency


class GateOutcome(StrEnum):
    """What happened at the gate. The first four are the gate's own; the others are a person's (or the
    clock's) later decision on a block, recorded as rows of their own."""

    PROCEEDED = "proceeded"
    SUGGEST = "suggest"
    BLOCKED = "blocked"
    AUTONOMOUS = "autonomous"
    OVERRIDDEN = "overridden"
    DENIED = "denied"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class BlockKind(StrEnum):
    """Why a task is blocked; the confirmation's ``kind``."""

    GUARDIAN = "guardian_block"
    DISSENT = "dissent_block"
    GUARDIAN_INVALID = "guardian_invalid"
    FLOOR = "floor"


NO_USABLE_JUDGEMENT = NO_JUDGEMENT  # one wording, whether the tally or the gate found the ballot was no judgement


@dataclass(frozen=True)
class InvalidBallot:
    """A ballot that is not a judgement, and why; it does not count as a vote."""

    agency: Agency
    why: str


@dataclass(frozen=True)
class GateDecision:
    outcome: GateOutcome
    reason: str
    floor: FloorResult
    block: BlockKind | None = None
    # The level in force for each domain the floor matched, and the most restrictive of them (None: no match).
    levels: Mapping[str, TrustLevel] = field(default_factory=dict)
    level: TrustLevel | None = None
    invalid: tuple[InvalidBallot, ...] = ()
    simulated: bool = False

    @property
    def stops(self) -> bool:
        """True when the task must wait for a person (never in a simulation, which executes nothing)."""
        return self.outcome is GateOutcome.BLOCKED and not self.simulated

    @property
    def read_only(self) -> bool:
        """True when the task may only read and propose (trust level ``suggest``)."""
        return self.outcome is GateOutcome.SUGGEST

    @property
    def floor_matched(self) -> bool:
        return self.floor.needs_person

    def caveats(self) -> list[str]:
        """What the loop must respect beyond the Parliament's caveats: in a simulation, the blocks the gate
        adds to the Parliament's (whose own block is already a caveat, see ``core.stages.loop_caveats``); in
        suggest mode, that nothing it writes is carried out."""
        found: list[str] = []
        if self.outcome is GateOutcome.BLOCKED and self.simulated:
            if self.block is BlockKind.GUARDIAN_INVALID:
                found.append(f"BLOCKED ({self.block.value}): {self.reason}")
            if self.floor_matched:
                why = self.reason if self.block is BlockKind.FLOOR else "a person must decide before it runs"
                found.append(f"BLOCKED (floor: {', '.join(self.floor.rules)}): {why}")
        if self.read_only:
            found.append(
                f"SUGGEST ONLY (trust level suggest; floor: {', '.join(self.floor.rules)}): do not do it. Nothing "
                "you write is carried out: write a proposal a person can check and act on, step by step."
            )
        return found


def contradiction(floor: FloorResult, verdict: Verdict) -> InvalidBallot | None:
    """The Guardian's ballot is not a judgement when it calls a task the floor matched fully reversible
    with a low blast radius (the prompt's own example says just that for a harmless summary)."""
    a = verdict.assessment
    if not floor.needs_person or a is None or verdict.fail_closed:
        return None
    if a.reversibility == "FULL" and a.blast_radius == "LOW":
        rules = ", ".join(floor.rules)
        return InvalidBallot(
            Agency.GUARDIAN,
            f"it assessed FULL reversibility and LOW blast radius, but the rule floor matched {rules}",
        )
    return None


def decide(
    floor: FloorResult, verdict: Verdict, levels: Mapping[str, TrustLevel], *, simulate: bool = False
) -> GateDecision:
    """The gate's decision (pure; see the module's table). ``levels``: the level in force per domain; a domain
    the floor matched that is missing from it counts as ``ask``."""
    invalid = contradiction(floor, verdict)
    invalids = (invalid,) if invalid is not None else ()
    matched = {domain: levels.get(domain, TrustLevel.ASK) for domain in floor.domains}
    level = most_restrictive(matched.values()) if matched else None

    def made(outcome: GateOutcome, reason: str, block: BlockKind | None = None) -> GateDecision:
        return GateDecision(outcome, reason, floor, block, matched, level, invalids, simulate)

    rules = ", ".join(floor.rules)
    if verdict.blocked:
        guardian = verdict.vote_of(Agency.GUARDIAN)
        if guardian is not None and guardian.invalid is not None:
            kind = BlockKind.GUARDIAN_INVALID  # the tally found its ballot was no judgement (it copied the prompt)
        elif verdict.outcome is Outcome.GUARDIAN_BLOCK:
            kind = BlockKind.GUARDIAN
        else:
            kind = BlockKind.DISSENT
        # The verdict's own reason; the rules the floor matched are named beside it (``block_lines``).
        return made(GateOutcome.BLOCKED, verdict.reason, kind)
    if invalid is not None:
        return made(GateOutcome.BLOCKED, f"{NO_USABLE_JUDGEMENT}: {invalid.why}", BlockKind.GUARDIAN_INVALID)
    if level is None:
        return made(GateOutcome.PROCEEDED, "approved")
    where = ", ".join(f"{domain} {matched[domain].value}" for domain in floor.domains)
    if level is TrustLevel.SUGGEST:
        return made(GateOutcome.SUGGEST, f"the rule floor matched {rules}; trust ({where}) allows a proposal only")
    if level is TrustLevel.AUTONOMOUS:
        return made(GateOutcome.AUTONOMOUS, f"the rule floor matched {rules}; trust ({where}) lets it run, audited")
    why = "a person decides" if level is TrustLevel.ASK else "at task level a floor match still asks a person"
    return made(GateOutcome.BLOCKED, f"the rule floor matched {rules}; trust ({where}): {why}", BlockKind.FLOOR)


def block_lines(decision: GateDecision, verdict: Verdict | None) -> list[str]:
    """What a block message shows beside its reason: each rule the floor matched (id, domain, description,
    evidence), the trust levels in force, and the Guardian's ballot with whether it counted."""
    lines = [f'floor: {m.rule} ({m.domain}): {m.description} — "{m.evidence}"' for m in decision.floor.matches]
    if decision.levels:
        lines.append("trust: " + ", ".join(f"{d} {lvl.value}" for d, lvl in decision.levels.items()))
    guardian = verdict.vote_of(Agency.GUARDIAN) if verdict is not None else None
    if verdict is not None and guardian is not None:
        line = f'Guardian: {guardian.vote.value} — "{guardian.reason}"'
        if verdict.assessment is not None:
            a = verdict.assessment
            line += (
                f" (reversibility {a.reversibility}, blast radius {a.blast_radius}, permission {a.permission_level})"
            )
        lines.append(line)
    if verdict is not None:
        lines += [f"{v.agency.value.capitalize()}'s ballot does not count: {v.invalid}" for v in verdict.invalid]
    lines += [f"{b.agency.value.capitalize()}'s ballot does not count: {b.why}" for b in decision.invalid]
    return lines
