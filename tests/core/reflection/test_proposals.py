"""Deciding skill proposals: once, with the skill installed in the proposed source on approval."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.reflection.proposals import decide_proposal
from core.skills.catalog import load_catalog
from core.skills.document import Source
from core.store import Store
from tests.proposals import propose


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
