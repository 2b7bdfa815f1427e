"""`openkoi skills list|show`: every skill with its source, what it overrides, whether it can run here,
and its measured effectiveness. Reads the same five sources as the engine, with the workspace that
`openkoi think` would use (``--workspace``, else ``[tools] workspace``, else the current directory).

Effectiveness is the version's (its source and SKILL.md content hash), as the ranking weighs it;
`show` also gives the name's other versions and the uses recorded before versions were kept."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING

import click

from core.errors import NotFound
from core.skills.catalog import described

if TYPE_CHECKING:
    from core.skills import Skill, SkillCatalog
    from core.store.skill_uses import SkillOutcomes, SkillVersion

    Outcomes = dict[SkillVersion, SkillOutcomes]


async def _catalog(workspace: Path | None) -> tuple[SkillCatalog, Outcomes]:
    from bots.terminal.run import think_workspace
    from core.config import load_settings
    from core.skills import load_catalog, skills_home
    from core.store import Store

    settings = load_settings()
    root = think_workspace(workspace, settings.tools.workspace)
    catalog = load_catalog(skills_home(settings.home, settings.config_dir), settings.config_dir, root)
    async with Store(settings.db_path) as store:
        outcomes = await store.skill_uses.version_outcomes()
    return catalog, outcomes


def _notes(skill: Skill, catalog: SkillCatalog) -> list[str]:
    notes = []
    replaced = catalog.overridden.get((skill.kind, skill.name), [])
    if replaced:
        notes.append("overrides " + ", ".join(s.source.value for s in replaced))
    missing = skill.requirements.missing()
    if missing:
        notes.append("ineligible here: needs " + ", ".join(missing))
    if skill.kind == "task":
        if not skill.user_invocable:
            notes.append("not by name")
        if not skill.model_invocable:
            notes.append("only by name")
    return notes


def _effectiveness(skill: Skill, outcomes: Outcomes) -> str:
    from core.skills.effectiveness import of_version

    return of_version(skill, outcomes).describe() if skill.kind == "task" else "-"


def _history(skill: Skill, outcomes: Outcomes) -> list[str]:
    """The name's record apart from this version: its other versions together, then the uses recorded
    before versions were kept."""
    from core.skills.effectiveness import Effectiveness, combined, version_of

    mine = version_of(skill)
    others = [o for v, o in outcomes.items() if v.skill == skill.name and v != mine and not v.before_versions]
    lines = []
    if others:
        total = combined(skill.name, others)
        n = len(others)
        lines.append(f"other versions {Effectiveness(total).describe()} over {n} other version{'s' if n != 1 else ''}")
    before = next((o for v, o in outcomes.items() if v.skill == skill.name and v.before_versions), None)
    if before is not None:
        lines.append(f"before versions {Effectiveness(before).describe()} (recorded before versions were kept)")
    return lines


async def skills_list(workspace: Path | None) -> None:
    catalog, outcomes = await _catalog(workspace)
    rows = sorted(catalog.skills.values(), key=lambda s: (s.kind != "task", s.name))
    click.echo(f"{'KIND':<10} {'NAME':<22} {'SOURCE':<10} EFFECTIVENESS")
    for skill in rows:
        notes = _notes(skill, catalog)
        line = f"{skill.kind:<10} {skill.name:<22} {skill.source.value:<10} {_effectiveness(skill, outcomes)}"
        click.echo(line + (f"  [{'; '.join(notes)}]" if notes else ""))
    for problem in catalog.problems:
        click.echo(f"skipped {problem.label}: {problem.reason}")


async def skills_show(name: str, workspace: Path | None) -> None:
    catalog, outcomes = await _catalog(workspace)
    found = catalog.named(name)
    if not found:
        close = difflib.get_close_matches(name, sorted({n for _, n in catalog.skills}), n=1)
        raise NotFound(f"no skill named '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""))
    for n, skill in enumerate(found):
        if n:
            click.echo("")
        _show(skill, catalog, outcomes)


def _show(skill: Skill, catalog: SkillCatalog, outcomes: Outcomes) -> None:
    label = "task skill" if skill.kind == "task" else "evaluator rubric"
    click.echo(f"{skill.name} ({label})")
    click.echo(f"source         {described(skill)}")
    replaced = catalog.overridden.get((skill.kind, skill.name), [])
    click.echo("overrides      " + ("; ".join(described(s) for s in replaced) or "nothing"))
    if skill.description:
        click.echo(f"description    {skill.description}")
    if skill.categories:
        click.echo(f"categories     {', '.join(skill.categories)}")
    missing = skill.requirements.missing()
    r = skill.requirements
    needs = [*(f"program {b}" for b in r.bins), *(f"environment variable {e}" for e in r.env)]
    needs += [f"one of the programs {', '.join(r.any_bins)}"] if r.any_bins else []
    needs += [f"OS {' or '.join(r.os)}"] if r.os else []
    click.echo("requires       " + (", ".join(needs) or "nothing"))
    click.echo("eligible here  " + ("no: missing " + ", ".join(missing) if missing else "yes"))
    if skill.kind == "task":
        by_name = f"yes (openkoi think --skill {skill.name} …, /think --skill {skill.name} …)"
        click.echo("by name        " + (by_name if skill.user_invocable else "no (user-invocable: false)"))
        click.echo("automatically  " + ("yes" if skill.model_invocable else "no (disable-model-invocation: true)"))
        click.echo(f"version        {skill.digest} (content hash of its SKILL.md, in source {skill.source.value})")
        click.echo(f"effectiveness  {_effectiveness(skill, outcomes)} (this version)")
        for line in _history(skill, outcomes):
            click.echo(line)
    elif skill.rubric is not None:
        dims = ", ".join(f"{d.name} {d.weight:.2f}" for d in skill.rubric.dimensions)
        click.echo(f"dimensions     {dims}")
    if skill.body:
        click.echo("")
        click.echo(skill.body)
