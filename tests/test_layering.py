"""The project's layers hold: the engine never imports an outer package (core ← integrations ← scheduler ← bots),
no module is part of an import cycle (lazy imports count), and no platform is named outside its own package —
the engine's least of all."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from bots.chat import registry

ROOT = Path(__file__).resolve().parent.parent
OUTER = {"bots", "integrations", "scheduler"}
PACKAGES = ("core", "bots", "integrations", "scheduler", "skills")


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


def test_integrations_import_neither_the_scheduler_nor_the_surfaces() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & {"bots", "scheduler"})
        for path in (ROOT / "integrations").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_sees_an_offending_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from bots.terminal import cli\nimport scheduler.jobs\n", encoding="utf-8")
    assert imported_packages(bad) & OUTER == {"bots", "scheduler"}


# ------------------------------------------------------------------------------------------ import cycles


def modules_under(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports anywhere in its text (inside functions and TYPE_CHECKING too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # "from a import b" needs a (its __init__ runs) and, when b is a module, a.b.
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    edges: set[str] = set()
    for target in targets:
        while target and target not in known:  # a name inside a module counts as the module
            target = target.rpartition(".")[0]
        if target and target != name:
            edges.add(target)
    return edges


def cycles_among(modules: dict[str, Path]) -> list[set[str]]:
    """The groups of modules that import each other, directly or through others (each group once)."""
    known = set(modules)
    graph = {name: imports_of(name, path, known) for name, path in modules.items()}
    reach: dict[str, set[str]] = {}
    for start in graph:
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
        reach[start] = seen
    groups: list[set[str]] = []
    for name in sorted(graph):
        if name in reach[name] and not any(name in group for group in groups):
            groups.append({other for other in reach[name] if name in reach[other]})
    return groups


def test_no_module_is_part_of_an_import_cycle() -> None:
    assert [sorted(cycle) for cycle in cycles_among(modules_under(ROOT))] == []


def test_the_cycle_check_sees_a_cycle_hidden_in_a_lazy_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "a.py").write_text("from pkg.b import helper\n", encoding="utf-8")
    (package / "b.py").write_text("def helper() -> None:\n    from . import c\n", encoding="utf-8")
    (package / "c.py").write_text("import typing\nif typing.TYPE_CHECKING:\n    import pkg.a\n", encoding="utf-8")
    (package / "d.py").write_text("import pkg.a\n", encoding="utf-8")
    assert cycles_among(modules_under(tmp_path, ["pkg"])) == [{"pkg.a", "pkg.b", "pkg.c"}]


# ------------------------------------------------------------------------------------- platform names


def platform_names_in(path: Path, platforms: set[str]) -> list[str]:
    """The registered platforms ``path`` names in its code: string constants that are exactly a platform's name
    (docstrings aside, which may describe what the code serves)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.lower() in platforms
        and id(node) not in docstrings
    ]


def test_no_platform_is_named_outside_its_own_package() -> None:
    """A platform is a plugin: the engine names none, and nothing in openkoi but the platform's own package
    (``bots/<name>/``) names it. The names come from the registry, so a new platform is covered too."""
    platforms = set(registry.names())
    assert {"slack", "discord", "telegram"} <= platforms  # the registry itself is read, not a list kept here
    offenders: dict[str, list[str]] = {}
    for name, path in modules_under(ROOT).items():
        named = platform_names_in(path, platforms)
        own = name.split(".")[1] if name.startswith("bots.") else None
        foreign = [platform for platform in named if platform.lower() != own]
        if foreign:
            offenders[name] = foreign
    assert offenders == {}


def test_the_naming_check_sees_a_platform_named_in_code_but_not_in_a_docstring(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        '"""Serves Slack and slack alike."""\n\ndef f(p: str) -> bool:\n    """slack"""\n    return p == "Slack"\n',
        encoding="utf-8",
    )
    assert platform_names_in(source, {"slack"}) == ["Slack"]
