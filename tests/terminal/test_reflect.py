"""``openkoi reflect today|week|honest|growth`` over the hand-built history of test_reflection, through
the real click command and a temporary OPENKOI_HOME."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bots.terminal.cli import cli
from core.config import load_settings
from core.store.db import Database
from tests.core.reflection.test_reflection import seed
from tests.support import probe_command


@pytest.fixture
def ids(home: Path) -> dict[str, str]:
    async def write() -> dict[str, str]:
        async with Database(load_settings().db_path) as db:
            return await seed(db)

    return asyncio.run(write())


def reflect(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["reflect", *args], catch_exceptions=False)
    return result


def test_today_in_berlin_reads_like_the_digest(ids: dict[str, str]) -> None:
    done = reflect("today", "--tz", "Europe/Berlin", "--at", "2026-11-30T20:00")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == (
        "5 tasks today so far: 2 done, 1 failed, 1 blocked, 1 escalated · mean score 0.70 (+0.05 from first try) · $0.38"
    )
    assert lines[1].startswith("score by day  ·▅····▆  (Tue 24 Nov")
    assert (
        f"  guardian block approved by slack:alice: Rotate the production keys (task {ids['t2'][:8]}, failed)" in lines
    )
    assert "  👎 “missed the migration” on Write the release notes (slack:U1)" in lines
    assert "Trend vs the week before" not in lines


def test_the_default_timezone_is_the_schedules(ids: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # t1 ended at 23:30 UTC on Sunday: Monday in Berlin, Sunday in UTC.
    monkeypatch.setenv("OPENKOI_SCHEDULE__TIMEZONE", "Europe/Berlin")
    berlin = json.loads(reflect("today", "--json", "--at", "2026-11-30T12:00").output)
    assert (berlin["tasks"], berlin["outcomes"]["done"]) == (5, 2)
    in_utc = json.loads(reflect("today", "--json", "--tz", "UTC", "--at", "2026-11-30T12:00").output)
    assert (in_utc["tasks"], in_utc["outcomes"]["done"]) == (4, 1)
    sunday_utc = json.loads(reflect("today", "--json", "--tz", "UTC", "--at", "2026-11-29T12:00").output)
    assert sunday_utc["tasks"] == 1 and sunday_utc["places"] == [{"platform": "slack", "channel": "C1", "tasks": 1}]


def test_week_as_json_has_the_week_before(ids: dict[str, str]) -> None:
    done = reflect("week", "--tz", "Europe/Berlin", "--at", "2026-12-01T09:00", "--json")
    assert done.exit_code == 0, done.output
    week = json.loads(done.output)
    assert (week["tasks"], sum(week["previous"]["outcomes"].values())) == (5, 2)
    assert week["sparklines"] == {"score": "··▅····▆······", "cost": "··▂·▂·▂▆█·····"}
    assert week["cost_usd"] == pytest.approx(0.88)
    text = reflect("week", "--tz", "Europe/Berlin", "--at", "2026-12-01T09:00").output
    assert "Trend vs the week before\n  tasks: 5 (+3 on 2)\n" in text


def test_honest_lists_the_thumbs_down_after_the_threshold_and_the_failed_override(ids: dict[str, str]) -> None:
    done = reflect("honest", "--tz", "Europe/Berlin", "--at", "2026-12-01T09:00")
    assert done.exit_code == 0, done.output
    text = done.output
    assert "Met the quality threshold, then rated down (1)\n" in text
    assert f"task {ids['t1'][:8]} Write the release notes (score 0.90) — “missed the migration”" in text
    assert "Overridden blocks that then failed (1)\n" in text
    assert f"task {ids['t2'][:8]} Rotate the production keys: overridden by slack:alice, failed" in text
    assert "Economist's cost predictions (2 tasks): predicted $0.0900, actual $0.1700\n" in text
    assert f"  predicted $0.0500, actual $0.1200: task {ids['t1'][:8]} Write the release notes" in text
    quiet = reflect("honest", "--day", "--tz", "Europe/Berlin", "--at", "2026-11-29T12:00")
    assert quiet.output.startswith("Nothing went wrong on Sun 29 Nov (so far)")


def test_growth(ids: dict[str, str]) -> None:
    done = reflect("growth", "--tz", "Europe/Berlin", "--at", "2026-12-02T12:00", "-w", "2")
    assert done.exit_code == 0, done.output
    assert "Mon 30 Nov        2      5         0       0.70         0" in done.output
    assert "learnings: 4 in all\nskills: 2 known\n" in done.output
    assert "proposals approved: 0" in done.output
    # In UTC (the default [schedule] timezone) t1 ended in the week before.
    data = json.loads(reflect("growth", "--json", "--at", "2026-12-02T12:00", "-w", "2").output)
    assert [w["tasks"] for w in data["weeks"]] == [3, 4] and data["proposals_approved"] == 0


def test_an_empty_database_and_a_bad_timezone(home: Path) -> None:
    empty = reflect("week", "--tz", "UTC", "--at", "2026-11-30T12:00")
    assert (empty.exit_code, empty.output.strip()) == (0, "No tasks in the week of Mon 30 Nov.")
    bad = CliRunner().invoke(cli, ["reflect", "today", "--tz", "Mars/Olympus"])
    assert bad.exit_code == 2 and "unknown timezone 'Mars/Olympus'" in bad.output
    typo = CliRunner().invoke(cli, ["reflect", "wek"])
    assert typo.exit_code == 2 and "Did you mean 'week'?" in typo.output


def test_reflect_help_does_not_load_the_engine(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    probed = probe_command(["reflect", "--help"], ["litellm", "core.reflection.figures"], env)
    assert (probed.code, probed.imported) == (0, []), probed
