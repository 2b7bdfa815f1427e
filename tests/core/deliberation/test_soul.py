"""`openkoi soul show` and `/think soul` read SOUL.md as the Sovereign does: the file in force (workspace,
then the config directory, then the bundled default), where it came from, and its values by section."""

from __future__ import annotations

from pathlib import Path

from core.deliberation.soul import SoulSection, read_soul, values

TEAM = """# Our soul

We ship small.

## Values
- Safety first: ask before anything irreversible.
- Tests before
  merging, always.
1. Numbered values count too.

### A detail
Kept as prose of its section.

## Empty

## Standards
* Docs stay true.
"""


def test_the_soul_in_force_and_where_it_came_from(tmp_path: Path) -> None:
    config_dir, workspace = tmp_path / "home", tmp_path / "repo"
    bundled = read_soul(config_dir, workspace)
    assert bundled.origin == "the bundled default" and bundled.soul.source == "bundled"
    assert [(p.label, p.found) for p in bundled.places] == [("workspace", False), ("config directory", False)]
    assert bundled.title == "Soul" and [s.title for s in bundled.sections] == ["", "Values", "Standards"]
    assert "Safety first: nothing irreversible without a person's explicit go-ahead." in bundled.sections[1].items

    config_dir.mkdir()
    (config_dir / "SOUL.md").write_text(TEAM, encoding="utf-8")
    home = read_soul(config_dir, workspace)
    assert home.origin == f"config directory ({config_dir / 'SOUL.md'})" and home.soul.text == TEAM
    (workspace / ".openkoi").mkdir(parents=True)
    (workspace / ".openkoi" / "SOUL.md").write_text("- only one value", encoding="utf-8")
    project = read_soul(config_dir, workspace)
    assert project.origin == f"workspace ({workspace / '.openkoi' / 'SOUL.md'})"
    assert [p.found for p in project.places] == [True, True], "both are there; the first one found is in force"
    assert project.sections == (SoulSection("", ("only one value",), ()),) and project.title == ""


def test_values_by_section() -> None:
    title, sections = values(TEAM)
    assert title == "Our soul"
    assert sections == (
        SoulSection("", (), ("We ship small.",)),
        SoulSection(
            "Values",
            (
                "Safety first: ask before anything irreversible.",
                "Tests before merging, always.",
                "Numbered values count too.",
            ),
            ("### A detail", "Kept as prose of its section."),
        ),
        SoulSection("Standards", ("Docs stay true.",), ()),
    )
    assert values("") == ("", ())
