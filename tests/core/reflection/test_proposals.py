"""Deciding skill proposals: once, with the skill installed in the proposed source on approval."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.reflection.proposals import decide_proposal, installation, renamed_skill_md
from core.skills.catalog import load_catalog
from core.skills.document import Source
from core.store import Store
from tests.proposals import SKILL, propose


async def test_an_approved_proposal_becomes_a_proposed_task_skill(tmp_path: Path) -> None:
    home = tmp_path / "home"
    async with Store(tmp_path / "t.db") as store:
        proposal = await propose(store)
        assert [p.id for p in await store.proposals.pending()] == [proposal.id]
        decision = await decide_proposal(store.db, home, proposal.id, "approved", "slack:U1")
        assert decision.won and decision.path is not None
        assert decision.proposal.status == "approved" and decision.proposal.decided_by == "slack:U1"
        assert await store.proposals.pending() == []
    skill = load_catalog(home, tmp_path / "config", None).task("rotate-staging-certs")
    assert skill is not None and skill.source == Source.PROPOSED
    assert (decision.path.stat().st_mode & 0o077) == 0


async def test_a_proposal_is_decided_once_even_by_concurrent_presses(tmp_path: Path) -> None:
    async with Store(tmp_path / "t.db") as store:
        proposal = await propose(store)
        first, second = await asyncio.gather(
            decide_proposal(store.db, tmp_path, proposal.id, "dismissed", "slack:U1"),
            decide_proposal(store.db, tmp_path, proposal.id, "approved", "slack:U2"),
        )
        assert sorted([first.won, second.won]) == [False, True]
        loser = second if first.won else first
        assert loser.proposal.status == (first if first.won else second).proposal.status
        assert loser.proposal.decided_by == (first if first.won else second).proposal.decided_by


async def test_a_proposal_whose_skill_does_not_parse_is_not_approved(tmp_path: Path) -> None:
    async with Store(tmp_path / "t.db") as store:
        proposal = await propose(store, "broken", "no front matter at all")
        with pytest.raises(ConfigError):
            await decide_proposal(store.db, tmp_path, proposal.id, "approved", "slack:U1")
        found = await store.proposals.get(proposal.id)
        assert found is not None and found.status == "pending"
        with pytest.raises(LookupError):
            await decide_proposal(store.db, tmp_path, "nope", "dismissed", "slack:U1")


async def test_an_approval_whose_file_cannot_be_written_stays_pending(tmp_path: Path) -> None:
    blocked = tmp_path / "home"
    blocked.mkdir()
    (blocked / "skills").write_text("a file where the skills directory should be")
    async with Store(tmp_path / "t.db") as store:
        proposal = await propose(store)
        with pytest.raises(OSError):
            await decide_proposal(store.db, blocked, proposal.id, "approved", "slack:U1")
        found = await store.proposals.get(proposal.id)
        assert found is not None and found.status == "pending"


async def test_a_proposal_named_like_an_existing_skill_is_installed_under_a_free_name(tmp_path: Path) -> None:
    """Defect 5 of issue 16: approving a proposal named like a skill installed it over that skill (the bundled
    self-iterate included). Now the approval installs it under the first free ``<name>-<n>`` and says why."""
    home, workspace = tmp_path / "home", tmp_path / "repo"
    team = workspace / ".agents" / "skills" / "rotate-staging-certs" / "SKILL.md"
    team.parent.mkdir(parents=True)
    team.write_text(SKILL.replace("the way this team does it", "(the team's own)"), "utf-8")
    async with Store(tmp_path / "t.db") as store:
        guarded = await propose(store, "self-iterate", SKILL.replace("rotate-staging-certs", "self-iterate"))
        decision = await decide_proposal(store.db, home, guarded.id, "approved", "slack:U1", workspace=workspace)
        placed = decision.installation
        assert decision.won and placed is not None and placed.renamed
        assert (placed.name, placed.proposed_name) == ("self-iterate-2", "self-iterate")
        assert placed.taken_by is not None and "is a bundled skill that guards the loop" in placed.taken_by
        assert decision.path == home / "skills" / "proposed" / "self-iterate-2" / "SKILL.md"
        assert decision.proposal.name == "self-iterate-2", "the proposal is recorded under the name it got"
        assert "name: self-iterate-2\n" in decision.proposal.skill_md
        assert decision.path.read_text("utf-8") == decision.proposal.skill_md

        clash = await propose(store)
        decision = await decide_proposal(store.db, home, clash.id, "approved", "slack:U1", workspace=workspace)
        assert decision.installation is not None and decision.installation.name == "rotate-staging-certs-2"
        assert decision.installation.describe() == (
            "rotate-staging-certs-2 (renamed from rotate-staging-certs: a task skill named 'rotate-staging-certs'"
            f" already comes from workspace ({team}); a proposal never replaces a skill)"
        )
        # A second proposal of the same name never overwrites the first one's file either.
        again = await propose(store)
        decision = await decide_proposal(store.db, home, again.id, "approved", "slack:U1", workspace=workspace)
        assert decision.installation is not None and decision.installation.name == "rotate-staging-certs-3"

    catalog = load_catalog(home, home, workspace)
    for name, source in [("self-iterate", Source.BUNDLED), ("rotate-staging-certs", Source.WORKSPACE)]:
        kept = catalog.task(name)
        assert kept is not None and kept.source is source, f"{name} was not replaced"
    for name in ("self-iterate-2", "rotate-staging-certs-2", "rotate-staging-certs-3"):
        added = catalog.task(name)
        assert added is not None and added.source is Source.PROPOSED
    assert catalog.problems == []


async def test_a_free_name_is_kept_and_a_renamed_approval_that_fails_to_write_reopens_as_it_was(
    tmp_path: Path,
) -> None:
    async with Store(tmp_path / "t.db") as store:
        proposal = await propose(store)
        placed = installation(proposal.name, {}, tmp_path)
        assert not placed.renamed and placed.describe() == "rotate-staging-certs"
        blocked = tmp_path / "blocked"
        blocked.mkdir()
        (blocked / "skills").write_text("a file where the skills directory should be")
        guarded = await propose(store, "self-iterate", SKILL.replace("rotate-staging-certs", "self-iterate"))
        with pytest.raises(OSError):
            await decide_proposal(store.db, blocked, guarded.id, "approved", "slack:U1")
        found = await store.proposals.get(guarded.id)
        assert found is not None and (found.status, found.name) == ("pending", "self-iterate")
        assert "name: self-iterate\n" in found.skill_md
    with pytest.raises(ConfigError, match="no single 'name:' line"):
        renamed_skill_md("---\ndescription: x\n---\nbody\n", "other")
