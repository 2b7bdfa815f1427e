"""SOUL.md: the team's values. Looked up in ./.openkoi, then the config dir, then the bundled default."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Soul:
    text: str
    source: str


def load_soul(config_dir: Path, workspace: Path | None) -> Soul:
    candidates = []
    if workspace is not None:
        candidates.append(workspace / ".openkoi" / "SOUL.md")
    candidates.append(config_dir / "SOUL.md")
    for path in candidates:
        if path.is_file():
            return Soul(path.read_text(encoding="utf-8"), str(path))
    text = resources.files("core").joinpath("data", "SOUL.md").read_text(encoding="utf-8")
    return Soul(text, "bundled")
