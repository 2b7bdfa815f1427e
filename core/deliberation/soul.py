"""SOUL.md: the team's values. Looked up in ./.openkoi, then the config dir, then the bundled default.

The Sovereign reads the whole file as the SOUL section of its directive prompt. ``read_soul`` gives the
same text as `openkoi soul show` and `/think soul` present it: where it came from, the places looked in,
and its values, section by section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

BUNDLED = "bundled"


@dataclass(frozen=True)
class Soul:
    text: str
    source: str  # the SOUL.md's path, or "bundled" for the default shipped with openkoi


@dataclass(frozen=True)
class SoulPlace:
    """One place SOUL.md is looked for, in order: ``label`` says what it is, ``found`` whether a file is there."""

    label: str
    path: Path
    found: bool


@dataclass(frozen=True)
class SoulSection:
    """A ``##`` section of SOUL.md (the title's own text before any, as ``title`` ""): its bullet points, and
    any other lines as ``prose``."""

    title: str
    items: tuple[str, ...]
    prose: tuple[str, ...]


@dataclass(frozen=True)
class SoulReading:
    """SOUL.md as the Sovereign reads it: the text in force, where it came from, and its values."""

    soul: Soul
    origin: str  # "workspace (/p/.openkoi/SOUL.md)", "config directory (…)", "the bundled default"
    places: tuple[SoulPlace, ...]  # where it was looked for, in order; the first found is in force
    title: str  # the first "# " heading, "" when there is none
    sections: tuple[SoulSection, ...]


def places(config_dir: Path, workspace: Path | None) -> list[SoulPlace]:
    """Where SOUL.md is looked for, first to last (the bundled default comes after them all)."""
    candidates = []
    if workspace is not None:
        candidates.append(("workspace", workspace / ".openkoi" / "SOUL.md"))
    candidates.append(("config directory", config_dir / "SOUL.md"))
    return [SoulPlace(label, path, path.is_file()) for label, path in candidates]


def load_soul(config_dir: Path, workspace: Path | None) -> Soul:
    for place in places(config_dir, workspace):
        if place.found:
            return Soul(place.path.read_text(encoding="utf-8"), str(place.path))
    text = resources.files("core").joinpath("data", "SOUL.md").read_text(encoding="utf-8")
    return Soul(text, BUNDLED)


def read_soul(config_dir: Path, workspace: Path | None) -> SoulReading:
    """The SOUL.md in force for a task run with ``workspace`` (as ``load_soul`` finds it), read into sections."""
    looked = places(config_dir, workspace)
    soul = load_soul(config_dir, workspace)
    chosen = next((p for p in looked if str(p.path) == soul.source), None)
    origin = f"{chosen.label} ({chosen.path})" if chosen is not None else "the bundled default"
    title, sections = values(soul.text)
    return SoulReading(soul, origin, tuple(looked), title, sections)


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^\s{0,3}(?:[-*+]|\d+[.)])\s+(.*)$")


def values(text: str) -> tuple[str, tuple[SoulSection, ...]]:
    """(title, sections) of a SOUL.md: its first ``#`` heading, then each section's bullet points and other
    lines (a line indented under a bullet continues it). Headings deeper than ``##`` stay inside their
    section as prose. Sections with nothing in them are left out."""
    title = ""
    blocks: list[tuple[str, list[str], list[str]]] = [("", [], [])]  # (title, items, prose)
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading and len(heading.group(1)) == 1 and not title and len(blocks) == 1 and not any(blocks[0][1:]):
            title = heading.group(2)
            continue
        if heading and len(heading.group(1)) <= 2:
            blocks.append((heading.group(2), [], []))
            continue
        _, items, prose = blocks[-1]
        item = _ITEM.match(line)
        if item:
            items.append(item.group(1).strip())
        elif line.strip() and line.startswith((" ", "\t")) and items:
            items[-1] = f"{items[-1]} {line.strip()}"
        elif line.strip():
            prose.append(line.strip())
    return title, tuple(SoulSection(t, tuple(items), tuple(prose)) for t, items, prose in blocks if items or prose)
