"""`openkoi learn` through click's CliRunner: mine, list, show, approve, dismiss; an approved proposal
is a skill of source `proposed`, and a proposal is decided once."""

from __future__ import annotations

import asyncio
import getpass
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.terminal.cli import cli
from core.config import load_settings
from core.memory.embedder import LocalEmbedder
from core.store import Store
from tests.core.reflection.test_mining import ANNOUNCES, CERTS, DEPLOYS, REPORT
from tests.usage_log import insert


def _seed(monkeypatch: pytest.MonkeyPatch) -> Path:
    # The planted log is from March 2025: mine all of it, in the team's timezone.
    monkeypatch.setenv("OPENKOI_PATTERNS__LOOKBACK_DAYS", "0")
    monkeypatch.setenv("OPENKOI_SCHEDULE__TIMEZONE", "Europe/Berlin")
    settings = load_settings()

    async def migrate() -> None:
        async with Store(settings.db_path):
            pass

    asyncio.run(migrate())
    conn = sqlite3.connect(settings.db_path)
    insert(conn, [*REPORT, *CERTS, *DEPLOYS, *ANNOUNCES])
    conn.close()
    return settings.db_path


def _ids(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT kind, id FROM skill_proposals").fetchall())


def test_learn_mine_list_show_approve_dismiss(
    home: Path, local_embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _seed(monkeypatch)
    runner = CliRunner()
    empty = runner.invoke(cli, ["learn"])
    assert empty.exit_code == 0 and "no pending skill proposals" in empty.output

    mined = runner.invoke(cli, ["learn", "mine"])
    assert mined.exit_code == 0, mined.output
    assert "3 new proposals" in mined.output and "drafted by template" in mined.output
    ids = _ids(db)

    listed = runner.invoke(cli, ["learn", "list"])
    assert listed.exit_code == 0
    rows = listed.output.splitlines()
    assert rows[0].split() == ["ID", "NAME", "KIND", "SUPPORT", "CONF", "AGE"]
    assert any(
        r.split()[:5] == [ids["recurring"][:8], "rotate-the-staging-certs", "recurring", "5", "0.80"] for r in rows
    )
    assert len(rows) == 4 and runner.invoke(cli, ["learn"]).output == listed.output

    shown = runner.invoke(cli, ["learn", "show", ids["recurring"][:6]])
    assert shown.exit_code == 0, shown.output
    assert "support     5 tasks, confidence 0.80" in shown.output
    assert "please rotate staging certs" in shown.output and "evidence (5 tasks):" in shown.output
    assert "name: rotate-the-staging-certs" in shown.output and "## What was asked" in shown.output

    approved = runner.invoke(cli, ["learn", "approve", ids["recurring"][:6]])
    assert approved.exit_code == 0, approved.output
    assert "✓ approved rotate-the-staging-certs" in approved.output
    skills = runner.invoke(cli, ["skills", "list"])
    assert any(
        line.split()[:3] == ["task", "rotate-the-staging-certs", "proposed"] for line in skills.output.splitlines()
    )

    again = runner.invoke(cli, ["learn", "dismiss", ids["recurring"]])
    assert again.exit_code == 1
    assert f"was already approved by terminal:{getpass.getuser()}" in again.output

    dismissed = runner.invoke(cli, ["learn", "dismiss", ids["time"][:8]])
    assert dismissed.exit_code == 0 and "proposed again only if its support reaches 8" in dismissed.output
    pending = runner.invoke(cli, ["learn", "list"]).output.splitlines()
    assert len(pending) == 2 and pending[1].startswith(ids["sequence"][:8])
    everything = runner.invoke(cli, ["learn", "list", "--all"]).output
    assert "approved" in everything and "dismissed" in everything and "pending" in everything

    remined = runner.invoke(cli, ["learn", "mine"])
    assert "0 new proposals" in remined.output and "already pending" in remined.output


def test_unknown_and_ambiguous_ids(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = _seed(monkeypatch)

    async def propose() -> None:
        async with Store(db) as store:
            for n in range(2):
                await store.proposals.add(
                    pattern_key=f"recurring:{n}", kind="recurring", name=f"skill-{n}", description="d",
                    skill_md=f"---\nname: skill-{n}\n---\nbody\n", drafted_by="template", support=3,
                    confidence=1.0, evidence=("certs-1",),
                )  # fmt: skip

    asyncio.run(propose())
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE skill_proposals SET id = 'abcd' || substr(id, 5)")
    runner = CliRunner()
    ambiguous = runner.invoke(cli, ["learn", "approve", "abcd"])
    assert ambiguous.exit_code == 2 and "id prefix 'abcd' is ambiguous" in ambiguous.output
    unknown = runner.invoke(cli, ["learn", "show", "ffff"])
    assert unknown.exit_code == 2 and "no skill proposal with id 'ffff'" in unknown.output


def test_learn_show_and_approve_say_when_a_proposal_is_renamed(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _seed(monkeypatch)
    monkeypatch.chdir(tmp_path)

    async def propose() -> str:
        async with Store(db) as store:
            proposal = await store.proposals.add(
                pattern_key="recurring:x", kind="recurring", name="self-iterate", description="d",
                skill_md="---\nname: self-iterate\ndescription: mine\n---\nbody\n", drafted_by="template",
                support=3, confidence=1.0, evidence=("certs-1",),
            )  # fmt: skip
            return proposal.id

    proposal_id = asyncio.run(propose())
    runner = CliRunner()
    shown = runner.invoke(cli, ["learn", "show", proposal_id])
    assert shown.exit_code == 0, shown.output
    assert (
        "installs as self-iterate-2 (renamed from self-iterate: 'self-iterate' is a bundled skill that guards the"
        " loop (" in shown.output
    )
    approved = runner.invoke(cli, ["learn", "approve", proposal_id])
    assert approved.exit_code == 0, approved.output
    assert "✓ approved self-iterate-2: installed as a proposed skill at " in approved.output
    assert "renamed from self-iterate" in approved.output
    listed = [line.split()[:3] for line in runner.invoke(cli, ["skills", "list"]).output.splitlines()]
    assert ["task", "self-iterate", "bundled"] in listed and ["task", "self-iterate-2", "proposed"] in listed
