"""`openkoi soul [show]`: the SOUL.md in force for a task run here, where it came from, and its values."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.terminal.cli import cli
from tests.core.deliberation.test_soul import TEAM


def test_soul_show_names_the_file_in_force_and_its_values(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    runner = CliRunner()
    bundled = runner.invoke(cli, ["soul"])
    assert bundled.exit_code == 0, bundled.output
    lines = bundled.output.splitlines()
    assert lines[0] == "SOUL.md in force: the bundled default — Soul"
    assert f"  workspace: {project / '.openkoi' / 'SOUL.md'} (not there)" in lines
    assert "  bundled default (in force)" in lines
    assert "  - Safety first: nothing irreversible without a person's explicit go-ahead." in lines

    home.mkdir(parents=True, exist_ok=True)
    (home / "SOUL.md").write_text(TEAM, encoding="utf-8")
    shown = runner.invoke(cli, ["soul", "show"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"SOUL.md in force: config directory ({home / 'SOUL.md'}) — Our soul"
    assert f"  config directory: {home / 'SOUL.md'} (in force)" in lines
    assert "  bundled default (used when neither is there)" in lines
    values = lines[lines.index("Values") + 1 :]
    assert values[:3] == [
        "  ### A detail",
        "  Kept as prose of its section.",
        "  - Safety first: ask before anything irreversible.",
    ]
    assert "  - Tests before merging, always." in values
    raw = runner.invoke(cli, ["soul", "show", "--raw"])
    assert raw.output == TEAM

    elsewhere = tmp_path / "other"
    (elsewhere / ".openkoi").mkdir(parents=True)
    (elsewhere / ".openkoi" / "SOUL.md").write_text("## Values\n- other project\n", encoding="utf-8")
    other = runner.invoke(cli, ["soul", "show", "--workspace", str(elsewhere)])
    assert other.output.splitlines()[0] == f"SOUL.md in force: workspace ({elsewhere / '.openkoi' / 'SOUL.md'})"
    assert f"  config directory: {home / 'SOUL.md'} (also there, not used)" in other.output.splitlines()
