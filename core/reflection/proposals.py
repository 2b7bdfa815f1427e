"""Deciding a skill proposal: an approved one becomes a task skill in the ``proposed`` source.

Used alike by `openkoi learn approve|dismiss` and by the digest's Approve/Dismiss buttons, so a
proposal is decided the same way, once, wherever the decision comes from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import ConfigError
from core.files import write_private
from core.skills.document import Source, parse_document
from core.store.db import Database
from core.store.proposals import Proposal, ProposalRepository

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class ProposalDecision:
    """What became of a request to decide ``proposal``: ``won`` is False when someone decided it first
    (``proposal`` then shows who and how); ``path`` is the installed SKILL.md of an approval."""

    proposal: Proposal
    won: bool
    path: Path | None = None


def proposed_skill_path(skills_home: Path, name: str) -> Path:
    """Where an approved proposal named ``name`` lives: ``<skills home>/skills/proposed/<name>/SKILL.md``."""
    if not _SLUG.match(name):
        raise ConfigError(f"'{name}' is not a valid skill name (lowercase letters, digits and dashes)")
    return skills_home / "skills" / "proposed" / name / "SKILL.md"


def check_skill_md(proposal: Proposal) -> None:
    """Raise ConfigError unless the proposal's SKILL.md parses as a task skill named as the proposal."""
    skill = parse_document(proposal.skill_md, f"proposal {proposal.id}", Source.PROPOSED, "task")
    if skill.kind != "task" or skill.name != proposal.name:
        raise ConfigError(f"proposal {proposal.id}: its SKILL.md must be a task skill named '{proposal.name}'")


async def decide_proposal(
    db: Database,
    skills_home: Path,
    proposal_id: str,
    decision: Literal["approved", "dismissed"],
    decided_by: str,
) -> ProposalDecision:
    """Approve or dismiss a pending proposal, once. Raises NotFound-like ``LookupError`` for an unknown id.

    An approval checks the SKILL.md first and writes it (atomically, owner-only) after winning the
    decision; if the write fails the proposal is reopened and the error raised, so nothing is
    recorded as approved without its skill on disk.
    """
    proposals = ProposalRepository(db)
    proposal = await proposals.get(proposal_id)
    if proposal is None:
        raise LookupError(f"no skill proposal with id '{proposal_id}'")
    path = proposed_skill_path(skills_home, proposal.name) if decision == "approved" else None
    if decision == "approved":
        check_skill_md(proposal)
    if not await proposals.decide(proposal_id, decision, decided_by):
        current = await proposals.get(proposal_id)
        return ProposalDecision(current or proposal, won=False)
    if path is not None:
        try:
            write_private(path, proposal.skill_md)
        except OSError:
            await proposals.reopen(proposal_id)
            raise
    decided = await proposals.get(proposal_id)
    return ProposalDecision(decided or proposal, won=True, path=path)
