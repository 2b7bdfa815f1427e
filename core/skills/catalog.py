"""The skill catalog: every SKILL.md from the five sources, with precedence applied.

Sources, lowest precedence first (a higher one replaces a lower one's skill of the same kind and name):

| source    | where                                                                  |
|-----------|------------------------------------------------------------------------|
| bundled   | ``skills/tasks/*`` and ``skills/evaluators/*`` shipped with openkoi     |
| managed   | ``$OPENKOI_HOME/skills/managed/*``                                      |
| workspace | ``<workspace>/.agents/skills/*`` and ``<workspace>/.agents/evaluators/*`` |
| user      | ``$OPENKOI_HOME/skills/user/*``, and ``$config_dir/evaluators/*`` (rubrics, as before) |
| proposed  | ``$OPENKOI_HOME/skills/proposed/*``: approved proposals                  |

An approved proposal adds a skill; it never replaces one. A SKILL.md in the proposed source named like a
skill of a lower source is skipped and listed in ``problems`` with the reason (approving a proposal
installs it under a free name, so this happens only to files put there by hand or approved before that
rule), and so is one named like a bundled skill that guards the loop (``core.skills.guarded``).

Each skill is a directory holding a ``SKILL.md``; directories whose names start with a dot are
skipped (a proposal awaiting review can wait in ``proposed/.pending/``). Task skills and evaluator
rubrics are separate kinds, so a task skill named ``general`` does not replace the ``general`` rubric.
A file that cannot be read or parsed is listed in ``problems`` with its path and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from core.errors import ConfigError
from core.skills.document import Kind, Skill, Source, parse_document
from core.skills.guarded import guard_reason
from core.skills.rubric import RubricSet


@dataclass(frozen=True)
class Location:
    source: Source
    directory: Path
    default_kind: Kind


@dataclass(frozen=True)
class SkillProblem:
    path: str
    reason: str  # "<path>: <what is wrong>", as shown
    kind: Kind  # what the file was meant to be, as far as its directory or contents say

    @property
    def label(self) -> str:
        return _label(self.kind)


@dataclass
class SkillCatalog:
    skills: dict[tuple[Kind, str], Skill]
    # For each winning skill, the lower-precedence copies it replaced (lowest first).
    overridden: dict[tuple[Kind, str], list[Skill]] = field(default_factory=dict)
    problems: list[SkillProblem] = field(default_factory=list)

    def tasks(self) -> list[Skill]:
        return sorted((s for (kind, _), s in self.skills.items() if kind == "task"), key=lambda s: s.name)

    def task(self, name: str) -> Skill | None:
        return self.skills.get(("task", name))

    def named(self, name: str) -> list[Skill]:
        """Every winning skill called ``name`` (a task skill and a rubric may share a name)."""
        return [s for (_, n), s in sorted(self.skills.items()) if n == name]

    @property
    def rubrics(self) -> RubricSet:
        """The evaluator rubrics; raises ConfigError when the bundled ``general`` one is missing."""
        found = {name: s.rubric for (kind, name), s in sorted(self.skills.items()) if kind == "evaluator" and s.rubric}
        if "general" not in found:
            raise ConfigError("the bundled 'general' evaluator is missing; the installation is incomplete")
        return RubricSet(found, [p.reason for p in self.problems if p.kind == "evaluator"])


def skills_home(home: Path | None, config_dir: Path) -> Path:
    """``$OPENKOI_HOME`` when set, else the config directory (``~/.openkoi``)."""
    return home.expanduser() if home is not None else config_dir


def locations(home: Path, config_dir: Path, workspace: Path | None) -> list[Location]:
    """The directories scanned, lowest precedence first (bundled skills are read as package data)."""
    found = [Location(Source.MANAGED, home / "skills" / "managed", "task")]
    if workspace is not None:
        found += [
            Location(Source.WORKSPACE, workspace / ".agents" / "skills", "task"),
            Location(Source.WORKSPACE, workspace / ".agents" / "evaluators", "evaluator"),
        ]
    found += [
        Location(Source.USER, home / "skills" / "user", "task"),
        # Where user rubrics lived before the five sources; still read, as a user-global source.
        Location(Source.USER, config_dir / "evaluators", "evaluator"),
        Location(Source.PROPOSED, home / "skills" / "proposed", "task"),
    ]
    return found


def _bundled() -> list[tuple[Location, str, str]]:
    found = []
    root = resources.files("skills")
    folders: tuple[tuple[str, Kind], ...] = (("tasks", "task"), ("evaluators", "evaluator"))
    for folder, kind in folders:
        directory = root.joinpath(folder)
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir(), key=lambda e: e.name):
            skill = entry.joinpath("SKILL.md")
            if skill.is_file():
                where = Location(Source.BUNDLED, Path(folder), kind)
                found.append((where, f"bundled:{entry.name}", skill.read_text(encoding="utf-8")))
    return found


def _files(where: Location, problems: list[SkillProblem]) -> list[tuple[Location, str, str]]:
    if not where.directory.is_dir():
        return []
    found = []
    for path in sorted(where.directory.glob("*/SKILL.md")):
        if path.parent.name.startswith("."):
            continue
        try:
            found.append((where, str(path), path.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            problems.append(SkillProblem(str(path), f"{path}: cannot be read: not UTF-8 text", where.default_kind))
        except OSError as exc:
            reason = f"{path}: cannot be read: {exc.strerror or exc}"
            problems.append(SkillProblem(str(path), reason, where.default_kind))
    return found


def load_catalog(home: Path, config_dir: Path, workspace: Path | None) -> SkillCatalog:
    """Every skill from the five sources, precedence applied. Never raises for a bad file: it is
    skipped and listed in ``problems`` (sorted by path)."""
    problems: list[SkillProblem] = []
    texts = _bundled()
    for where in locations(home, config_dir, workspace):
        texts += _files(where, problems)
    catalog = SkillCatalog({})
    for where, path, text in texts:  # lowest precedence first: later ones replace earlier ones
        try:
            skill = parse_document(text, path, where.source, where.default_kind)
        except ConfigError as exc:
            kind: Kind = "evaluator" if where.default_kind == "evaluator" or "dimensions" in text else "task"
            problems.append(SkillProblem(path, str(exc), kind))
            continue
        key = (skill.kind, skill.name)
        replaced = catalog.skills.get(key)
        refusal = _proposal_refusal(skill, replaced) if skill.source is Source.PROPOSED else None
        if refusal is not None:
            problems.append(SkillProblem(path, f"{path}: not used: {refusal}", skill.kind))
            continue
        if replaced is not None:
            catalog.overridden.setdefault(key, []).append(replaced)
        catalog.skills[key] = skill
    catalog.problems = sorted(problems, key=lambda p: p.path)
    return catalog


def described(skill: Skill) -> str:
    """Where a skill comes from, as shown: "bundled", or "user (/home/…/SKILL.md)"."""
    return skill.source.value if skill.path.startswith("bundled:") else f"{skill.source.value} ({skill.path})"


def _proposal_refusal(skill: Skill, replaced: Skill | None) -> str | None:
    """Why an approved proposal's skill may not take its place in the catalog, or None."""
    guarded = guard_reason(skill.name) if skill.kind == "task" else None
    if guarded is not None:
        return guarded
    if replaced is None:
        return None
    return (
        f"a {_label(replaced.kind)} named '{skill.name}' already comes from {described(replaced)}, and an approved"
        " proposal never replaces a skill; rename it (its directory and its name:)"
    )


def _label(kind: Kind) -> str:
    return "evaluator rubric" if kind == "evaluator" else "task skill"
