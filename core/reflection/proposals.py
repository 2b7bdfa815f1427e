"""Deciding a skill proposal: an approved one becomes a task skill in the ``proposed`` source.

Used alike by `openkoi learn approve|dismiss` and by the digest's Approve/Dismiss buttons, so a
proposal is decided the same way, once, wherever the decision comes from.

A proposal only ever adds a skill. Its name is written by a model, so it may be the name of a skill
that exists already (the bundled ``self-iterate`` included): such a proposal is installed under the
first free name of ``<name>-2``, ``<name>-3`` … (the same rule the drafting uses between proposals),
its SKILL.md renamed to match, and the decision says so. The catalog refuses a proposed skill that
would still replace one (``core.skills.catalog``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from core.errors import ConfigError
from core.files import write_private
from core.skills.catalog import SkillCatalog, described, load_catalog
from core.skills.document import Source, parse_document, split_front_matter
from core.skills.guarded import guard_reason, guarded_skills
from core.store.db import Database
from core.store.proposals import Proposal, ProposalRepository

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_NAME_LINE = re.compile(r"^name[ \t]*:.*$", re.MULTILINE)
# A free name for a taken one: "<name>-<n>", the base cut so that the whole stays within 64 characters.
_BASE_CHARS = 60


@dataclass(frozen=True)
class Installation:
    """The name an approved proposal is installed under: its own, or, when that is taken, the first free
    ``<name>-<n>``; ``taken_by`` then says which skill holds the name (or why no proposal may have it)."""

    name: str
    proposed_name: str
    taken_by: str | None = None

    @property
    def renamed(self) -> bool:
        return self.name != self.proposed_name

    def describe(self) -> str:
        """One line for a card or a terminal: "rotate-certs", or "rotate-certs-2 (renamed: …)"."""
        if not self.renamed:
            return self.name
        return f"{self.name} (renamed from {self.proposed_name}: {self.taken_by}; a proposal never replaces a skill)"


@dataclass(frozen=True)
class ProposalDecision:
    """What became of a request to decide ``proposal``: ``won`` is False when someone decided it first
    (``proposal`` then shows who and how); ``path`` is the installed SKILL.md of an approval, and
    ``installation`` the name it was installed under."""

    proposal: Proposal
    won: bool
    path: Path | None = None
    installation: Installation | None = None


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


def taken_names(catalog: SkillCatalog) -> dict[str, str]:
    """Every name a proposal may not take, with what holds it: the task skills of ``catalog`` (every
    source, approved proposals included) and the bundled skills that guard the loop."""
    taken = {
        name: f"a task skill named '{name}' already comes from {described(skill)}"
        for (kind, name), skill in catalog.skills.items()
        if kind == "task"
    }
    for name in guarded_skills():
        taken[name] = guard_reason(name) or name
    return taken


def installation(name: str, taken: Mapping[str, str], skills_home: Path | None = None) -> Installation:
    """The name a proposal called ``name`` is installed under, given the ``taken`` names (see ``taken_names``).
    With ``skills_home``, a proposed skill directory already on disk counts as taken too (a refused one
    is not in the catalog, and its file must not be overwritten)."""

    def held(candidate: str) -> str | None:
        if candidate in taken:
            return taken[candidate]
        if skills_home is not None and proposed_skill_path(skills_home, candidate).exists():
            return f"{proposed_skill_path(skills_home, candidate)} already exists"
        return None

    why = held(name)
    if why is None:
        return Installation(name, name)
    n = 2
    while held(candidate := f"{name[:_BASE_CHARS].rstrip('-')}-{n}") is not None:
        n += 1
    return Installation(candidate, name, why)


def renamed_skill_md(text: str, name: str) -> str:
    """``text`` with its front matter's ``name:`` set to ``name``. Raises ConfigError when there is no such
    line to change (a proposal's SKILL.md always has one: openkoi writes it)."""
    lines = text.splitlines(keepends=True)
    end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
    if not lines or lines[0].strip() != "---" or end is None:
        raise ConfigError("the SKILL.md has no front matter to rename")
    front = "".join(lines[1:end])
    if len(_NAME_LINE.findall(front)) != 1:
        raise ConfigError("the SKILL.md's front matter has no single 'name:' line to rename")
    front = _NAME_LINE.sub(f"name: {name}", front)
    renamed = "".join([lines[0], front, *lines[end:]])
    split_front_matter(renamed, "the renamed SKILL.md")  # still valid YAML
    return renamed


async def decide_proposal(
    db: Database,
    skills_home: Path,
    proposal_id: str,
    decision: Literal["approved", "dismissed"],
    decided_by: str,
    *,
    workspace: Path | None = None,
) -> ProposalDecision:
    """Approve or dismiss a pending proposal, once. Raises NotFound-like ``LookupError`` for an unknown id.

    An approval checks the SKILL.md first, chooses the name it is installed under (its own, or the
    first free ``<name>-<n>`` when a skill of ``skills_home`` or ``workspace``, or a guarded one, has
    it), and writes it (atomically, owner-only) after winning the decision; the proposal is recorded
    under that name. If the write fails the proposal is reopened as it was and the error raised, so
    nothing is recorded as approved without its skill on disk.
    """
    proposals = ProposalRepository(db)
    proposal = await proposals.get(proposal_id)
    if proposal is None:
        raise LookupError(f"no skill proposal with id '{proposal_id}'")
    if decision == "dismissed":
        if not await proposals.decide(proposal_id, decision, decided_by):
            return ProposalDecision(await proposals.get(proposal_id) or proposal, won=False)
        return ProposalDecision(await proposals.get(proposal_id) or proposal, won=True)
    check_skill_md(proposal)
    catalog = await asyncio.to_thread(load_catalog, skills_home, skills_home, workspace)
    placed = installation(proposal.name, taken_names(catalog), skills_home)
    installed = proposal
    if placed.renamed:
        installed = replace(proposal, name=placed.name, skill_md=renamed_skill_md(proposal.skill_md, placed.name))
        check_skill_md(installed)
    path = proposed_skill_path(skills_home, placed.name)
    if not await proposals.decide(proposal_id, decision, decided_by, name=installed.name, skill_md=installed.skill_md):
        return ProposalDecision(await proposals.get(proposal_id) or proposal, won=False)
    try:
        write_private(path, installed.skill_md)
    except OSError:
        await proposals.reopen(proposal_id, name=proposal.name, skill_md=proposal.skill_md)
        raise
    decided = await proposals.get(proposal_id)
    return ProposalDecision(decided or installed, won=True, path=path, installation=placed)
