"""The outcome of a Parliament deliberation and the rules that turn votes into a verdict.

Fail-closed by construction: a verdict is APPROVED only when the Guardian does not BLOCK and either
fewer than two other agencies block or the Guardian assesses the task as fully reversible with a low
blast radius (then their dissent becomes caveats). Every other path is a block of some kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from core.outputs import Agency, AgencyVote, GuardianAssessment, ParliamentReply, Vote


class Outcome(StrEnum):
    APPROVED = "approved"
    GUARDIAN_BLOCK = "guardian_block"
    DISSENT_BLOCK = "dissent_block"


DISSENT_BLOCK_LIMIT = 2  # two or more non-Guardian BLOCK votes stop the task too


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str
    votes: tuple[AgencyVote, ...]
    assessment: GuardianAssessment | None
    fail_closed: bool = False
    caveats: tuple[str, ...] = field(default=())

    @property
    def blocked(self) -> bool:
        return self.outcome is not Outcome.APPROVED

    @property
    def dissent(self) -> tuple[AgencyVote, ...]:
        return tuple(v for v in self.votes if v.agency is not Agency.GUARDIAN and v.vote is Vote.BLOCK)

    def vote_of(self, agency: Agency) -> AgencyVote | None:
        return next((v for v in self.votes if v.agency is agency), None)


def unavailable(reason: str) -> Verdict:
    """The verdict when deliberation could not happen: a Guardian BLOCK, never an approval."""
    guardian = AgencyVote(
        agency=Agency.GUARDIAN, vote=Vote.BLOCK, reason=f"deliberation unavailable: {reason}", caveat=None
    )
    return Verdict(
        outcome=Outcome.GUARDIAN_BLOCK,
        reason=f"deliberation unavailable: {reason}",
        votes=(guardian,),
        assessment=None,
        fail_closed=True,
    )


def tally(reply: ParliamentReply) -> Verdict:
    """Turn a validated parliament reply into a verdict (pure). The reply has exactly one ballot per
    agency by construction (a required key each), so a missing or duplicate vote cannot reach here."""
    votes = tuple(reply.votes())
    guardian = votes[0]
    assert guardian.agency is Agency.GUARDIAN
    assessment = reply.assessment()
    caveats = tuple(f"{v.agency.value}: {v.caveat or v.reason}" for v in votes if v.vote is Vote.APPROVE_WITH_CAVEAT)
    if guardian.vote is Vote.BLOCK:
        return Verdict(Outcome.GUARDIAN_BLOCK, guardian.reason, votes, assessment, False, caveats)
    dissent = [v for v in votes if v.agency is not Agency.GUARDIAN and v.vote is Vote.BLOCK]
    # Dissent stops a task only when the Guardian does not judge it safe to undo: what is fully
    # reversible with a low blast radius goes ahead, with the dissent as caveats to respect.
    undoable = assessment.reversibility == "FULL" and assessment.blast_radius == "LOW"
    if len(dissent) >= DISSENT_BLOCK_LIMIT and not undoable:
        reason = "; ".join(f"{v.agency.value}: {v.reason}" for v in dissent)
        return Verdict(Outcome.DISSENT_BLOCK, reason, votes, assessment, False, caveats)
    dissent_caveats = tuple(f"{v.agency.value} (dissent): {v.reason}" for v in dissent)
    return Verdict(Outcome.APPROVED, "approved", votes, assessment, False, caveats + dissent_caveats)
