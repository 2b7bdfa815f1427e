"""The outcome of a Parliament deliberation and the rules that turn votes into a verdict.

Fail-closed by construction: a verdict is APPROVED only when the Guardian gives a valid ballot that
does not BLOCK and either fewer than two other agencies block or the Guardian assesses the task as fully
reversible with a low blast radius (then their dissent becomes caveats). Every other path is a block of
some kind.

Ballots that are not judgements are not votes (``invalid_ballots``): one whose reason or caveat copies
the prompt (its example, its instructions, a placeholder: ``core.llm.echo``) or repeats another agency's
reason word for word is *invalid*. An invalid Guardian ballot fails closed — a block a person may
override, "the Guardian gave no usable judgement" — and any other invalid ballot counts as an
abstention; each stays in the verdict, marked with why. A later rule may invalidate one more ballot
without touching the tally (``Verdict.with_invalid``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from core.llm import echo
from core.outputs import Agency, AgencyVote, GuardianAssessment, ParliamentReply, Vote


class Outcome(StrEnum):
    APPROVED = "approved"
    GUARDIAN_BLOCK = "guardian_block"
    DISSENT_BLOCK = "dissent_block"


DISSENT_BLOCK_LIMIT = 2  # two or more non-Guardian BLOCK votes stop the task too
NO_JUDGEMENT = "the Guardian gave no usable judgement"


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
        return tuple(
            v for v in self.votes if v.agency is not Agency.GUARDIAN and v.vote is Vote.BLOCK and v.invalid is None
        )

    @property
    def invalid(self) -> tuple[AgencyVote, ...]:
        """The ballots that are not judgements, each with why (``AgencyVote.invalid``)."""
        return tuple(v for v in self.votes if v.invalid is not None)

    def vote_of(self, agency: Agency) -> AgencyVote | None:
        return next((v for v in self.votes if v.agency is agency), None)

    def with_invalid(self, agency: Agency, why: str) -> Verdict:
        """This verdict with ``agency``'s ballot invalid for ``why`` as well, decided again by the same
        rules (e.g. the gate's: a Guardian FULL/LOW on a task the rule floor matched). A verdict that
        failed closed (no deliberation) stays as it is."""
        if self.fail_closed:
            return self
        votes = tuple(v.model_copy(update={"invalid": why}) if v.agency is agency else v for v in self.votes)
        return decide(votes, self.assessment)


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


def invalid_ballots(reply: ParliamentReply, copyable: echo.Sources) -> dict[Agency, str]:
    """The ballots of ``reply`` that are not judgements, with why: a reason or caveat that copies what
    ``copyable`` holds (the prompt's instructions and example, the schema; see ``core.llm.echo``), or a
    reason that repeats another agency's word for word (every ballot sharing it is invalid)."""
    ballots = {agency: getattr(reply, agency.value) for agency in Agency}
    invalid: dict[Agency, str] = {}
    for agency, ballot in ballots.items():
        for part in ("reason", "caveat"):
            text = getattr(ballot, part)
            what = echo.copied(text, copyable) if text else None
            if what is not None:
                invalid[agency] = f"its {part} copies {what} ({text!r})"
                break
    said = {agency: " ".join(echo.words(b.reason)) for agency, b in ballots.items()}
    for agency, key in said.items():
        twins = [other.value for other, k in said.items() if other is not agency and k == key]
        if twins and agency not in invalid:
            invalid[agency] = f"its reason repeats the {twins[0]}'s word for word"
    return invalid


def tally(reply: ParliamentReply, invalid: Mapping[Agency, str] | None = None) -> Verdict:
    """Turn a validated parliament reply into a verdict (pure), with the ``invalid`` ballots (see
    ``invalid_ballots``) marked. The reply has exactly one ballot per agency by construction (a required
    key each), so a missing or duplicate vote cannot reach here."""
    invalid = invalid or {}
    votes = tuple(v.model_copy(update={"invalid": invalid.get(v.agency)}) for v in reply.votes())
    return decide(votes, reply.assessment())


def decide(votes: tuple[AgencyVote, ...], assessment: GuardianAssessment | None) -> Verdict:
    """The rules (see the module docstring) over one vote per agency, the Guardian's first."""
    guardian = votes[0]
    assert guardian.agency is Agency.GUARDIAN
    valid = [v for v in votes if v.invalid is None]
    caveats = tuple(f"{v.agency.value}: {v.caveat or v.reason}" for v in valid if v.vote is Vote.APPROVE_WITH_CAVEAT)
    if guardian.invalid is not None:
        return Verdict(Outcome.GUARDIAN_BLOCK, f"{NO_JUDGEMENT}: {guardian.invalid}", votes, assessment, False, caveats)
    if guardian.vote is Vote.BLOCK:
        return Verdict(Outcome.GUARDIAN_BLOCK, guardian.reason, votes, assessment, False, caveats)
    if assessment is None:  # a Guardian ballot always carries one; without it nothing is judged safe
        return Verdict(Outcome.GUARDIAN_BLOCK, f"{NO_JUDGEMENT}: no assessment", votes, None, False, caveats)
    dissent = [v for v in valid if v.agency is not Agency.GUARDIAN and v.vote is Vote.BLOCK]
    # Dissent stops a task only when the Guardian does not judge it safe to undo: what is fully
    # reversible with a low blast radius goes ahead, with the dissent as caveats to respect.
    undoable = assessment.reversibility == "FULL" and assessment.blast_radius == "LOW"
    if len(dissent) >= DISSENT_BLOCK_LIMIT and not undoable:
        reason = "; ".join(f"{v.agency.value}: {v.reason}" for v in dissent)
        return Verdict(Outcome.DISSENT_BLOCK, reason, votes, assessment, False, caveats)
    dissent_caveats = tuple(f"{v.agency.value} (dissent): {v.reason}" for v in dissent)
    return Verdict(Outcome.APPROVED, "approved", votes, assessment, False, caveats + dissent_caveats)
