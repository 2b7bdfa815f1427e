"""The engine never imports an outer package: core ← integrations ← scheduler ← bots."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTER = {"bots", "scheduler", "integrations"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_no_outer_package() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & OUTER) for path in (ROOT / "core").rglob("*.py")
    }
    offenders = {k: v for k, v in offenders.items() if v}
    assert offenders == {}


def test_the_check_sees_an_offending_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from bots.terminal import cli\nimport scheduler.jobs\n", encoding="utf-8")
    assert imported_packages(bad) & OUTER == {"bots", "scheduler"}
