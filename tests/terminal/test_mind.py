"""`openkoi mind agencies|dissent|calibrate` (and `openkoi mind`) over the hand-built history of
``tests/core/reflection/test_mind.py``: the figures as the terminal prints them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.terminal.cli import cli
from core.config import load_settings
from core.store import Store
from tests.core.reflection.test_mind import seed


@pytest.fixture
def ids(home: Path) -> dict[str, str]:
    async def seeded() -> dict[str, str]:
        async with Store(load_settings().db_path) as store:
            return await seed(store.db)

    return asyncio.run(seeded())


def test_mind_agencies_is_also_plain_mind(ids: dict[str, str]) -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["mind", "agencies"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == (
        "Each agency's record over 8 deliberated tasks; 1 deliberation failed closed"
        " (no usable reply: not counted as anyone's judgement)"
    )
    guardian = lines[lines.index("Guardian (8 votes)") + 1 :][:3]
    assert guardian == [
        "  approve 5 · caveat 0 · abstain 0 · block 3",
        "  approved 5: done 2, below the bar 1, failed 1, simulated 1 — 2 went badly; mean score 0.75",
        "  blocked 3: aborted 1, never ran (not overridden) 1, done 1 — 1 went badly; mean score 0.85",
    ]
    assert "Economist (8 votes)" in lines and "  blocked 1: failed 1 — 1 went badly" in lines
    assert runner.invoke(cli, ["mind"]).output == shown.output
    assert runner.invoke(cli, ["mind", "agencies", "--days", "3650"]).exit_code == 0


def test_mind_dissent_lists_who_disagreed_and_how_it_ended(ids: dict[str, str]) -> None:
    shown = CliRunner().invoke(cli, ["mind", "dissent", "-n", "2"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "Dissent: 4 tasks where a vote went against the verdict"
    assert "  economist: 4 dissents, borne out 2, not 1, cannot tell 1" in lines
    newest = lines[lines.index("Newest first") + 1 :]
    assert newest[0] == (
        f"  {ids['t5'][:8]} Rotate the signing keys — verdict guardian block, overridden by slack:alice; ended aborted"
    )
    assert newest[1] == "  ↳ economist approve: because — not borne out"
    assert (
        f"  {ids['t4'][:8]} Delete the old backups — verdict guardian block; ended never ran (not overridden)" in newest
    )
    assert newest[-1] == "  … and 2 older"


def test_mind_calibrate_weighs_each_agency_against_what_happened(ids: dict[str, str]) -> None:
    shown = CliRunner().invoke(cli, ["mind", "calibrate"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert (
        "  3 blocks: 2 overridden by a person (aborted 1, done 1 — 1 went badly; mean score 0.85);"
        " not overridden: denied 1"
    ) in lines
    assert f"  {ids['t3'][:8]} Drop the staging database — overridden by terminal:bob; ended done (score 0.85)" in lines
    assert (
        "  2 tasks with an estimate: estimated $1.1000, cost $0.4200; mean miss $0.3600;"
        " within half of the estimate 1 of 2"
    ) in lines
    scholar = lines[lines.index("Scholar") + 1 :][:3]
    assert scholar[0] == "  3 caveats, 2 on evaluated tasks, 2 confirmed by the evaluator's findings"
    assert scholar[2] == (
        f"  ✓ {ids['t1'][:8]} “token comparison must be constant time” ← major safety: the token comparison is"
        " not constant-time (shared: comparison, constant, time, token)"
    )
    assert f"  ✗ {ids['t2'][:8]} “keep a rollback plan for the migration” — no finding about it" in lines
    assert lines[-1].startswith("  A caveat is confirmed when a finding on the same task shares at least two")
