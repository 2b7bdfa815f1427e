"""`openkoi learn`: the skill proposals mined from usage patterns: list, show, approve, dismiss, mine now.

Decisions go through ``decide_proposal``, as the digest's buttons do, so a proposal is decided once
wherever the decision comes from. Ids may be given as a unique prefix. A proposal named like an
existing skill is installed under a free name (``core.reflection.proposals``): `learn show` says
which before, `learn approve` after.
"""

from __future__ import annotations

import getpass
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from bots.terminal.command import opened_store
from core.errors import AmbiguousId, ConfigError, NotFound

if TYPE_CHECKING:
    from core.config import Settings
    from core.reflection.proposals import Installation
    from core.store import Store
    from core.store.proposals import Proposal


def _age(created_at: str) -> str:
    from core.models import utcnow

    seconds = (utcnow() - datetime.fromisoformat(created_at)).total_seconds()
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return "now"


async def _one(store: Store, prefix: str) -> Proposal:
    found = await store.proposals.find(prefix.strip())
    exact = [p for p in found if p.id == prefix.strip()]
    if exact:
        return exact[0]
    if not found or not prefix.strip():
        raise NotFound(f"no skill proposal with id '{prefix}' (see: openkoi learn list --all)")
    if len(found) > 1:
        raise AmbiguousId(prefix, [p.id[:12] for p in found])
    return found[0]


async def learn_list(show_all: bool) -> None:
    async with opened_store() as (_, store):
        proposals = await store.proposals.listed(None if show_all else "pending")
    if not proposals:
        click.echo("no pending skill proposals" if not show_all else "no skill proposals yet")
        click.echo("(openkoi learn mine looks for patterns now)")
        return
    status = f" {'STATUS':<10}" if show_all else ""
    click.echo(f"{'ID':<10} {'NAME':<40} {'KIND':<10} {'SUPPORT':>7} {'CONF':>5} {'AGE':>5}{status}")
    for p in proposals:
        shown = f" {p.status:<10}" if show_all else ""
        click.echo(
            f"{p.id[:8]:<10} {p.name[:40]:<40} {p.kind:<10} {p.support:>7} {p.confidence:>5.2f} {_age(p.created_at):>5}"
            + shown
        )


async def learn_show(prefix: str) -> None:
    from core.store.patterns import PatternRepository

    async with opened_store() as (settings, store):
        p = await _one(store, prefix)
        evidence = await PatternRepository(store.db).briefs(p.evidence)
    placed = _installation(settings, p.name) if p.status == "pending" else None
    click.echo(f"{p.name} (proposal {p.id})")
    click.echo(f"pattern     {p.kind}: {p.pattern_key}")
    click.echo(f"support     {p.support} tasks, confidence {p.confidence:.2f}")
    click.echo(f"drafted by  {p.drafted_by}, {p.created_at[:16].replace('T', ' ')} UTC")
    decided = f" by {p.decided_by} at {(p.decided_at or '')[:16].replace('T', ' ')} UTC" if p.decided_by else ""
    click.echo(f"status      {p.status}{decided}")
    if placed is not None:
        click.echo(f"installs as {placed.describe()}")
    click.echo(f"\nevidence ({len(evidence)} tasks):")
    for brief in evidence[:20]:
        click.echo(f"  {brief.task_id[:8]}  {brief.created_at[:16].replace('T', ' ')}  {brief.text[:100]}")
    if len(evidence) > 20:
        click.echo(f"  … and {len(evidence) - 20} more")
    click.echo("\nSKILL.md:\n")
    click.echo(p.skill_md.rstrip())


async def learn_decide(prefix: str, decision: Literal["approved", "dismissed"]) -> None:
    from core.reflection.proposals import decide_proposal
    from core.skills import skills_home

    async with opened_store() as (settings, store):
        proposal = await _one(store, prefix)
        home = skills_home(settings.home, settings.config_dir)
        by = f"terminal:{getpass.getuser()}"
        result = await decide_proposal(store.db, home, proposal.id, decision, by, workspace=_workspace(settings))
    p = result.proposal
    if not result.won:
        when = (p.decided_at or "")[:16].replace("T", " ")
        click.echo(
            f"error: proposal {p.id[:8]} ({p.name}) was already {p.status} by {p.decided_by} at {when} UTC", err=True
        )
        sys.exit(1)
    if decision == "approved":
        placed = result.installation
        renamed = f"\n  {placed.describe()}" if placed is not None and placed.renamed else ""
        click.echo(f"✓ approved {p.name}: installed as a proposed skill at {result.path}{renamed}")
    else:
        click.echo(f"✓ dismissed {p.name}; it is proposed again only if its support reaches {2 * p.support}")


def _workspace(settings: Settings) -> Path | None:
    """The project whose skills a proposal must not take the name of: as for `openkoi skills` (the
    configured workspace, else the current directory); None when the configured one is gone."""
    from bots.terminal.run import think_workspace

    try:
        return think_workspace(None, settings.tools.workspace)
    except ConfigError:
        return None


def _installation(settings: Settings, name: str) -> Installation:
    from core.reflection.proposals import installation, taken_names
    from core.skills import load_catalog, skills_home

    home = skills_home(settings.home, settings.config_dir)
    catalog = load_catalog(home, settings.config_dir, _workspace(settings))
    return installation(name, taken_names(catalog), home)


async def learn_mine() -> None:
    from core.llm.gateway import ModelGateway
    from core.memory.embedder import make_embedder
    from core.reflection.proposer import run_pattern_mining

    async with opened_store() as (settings, store):
        gateway = ModelGateway(settings, usage=store.usage)
        report = await run_pattern_mining(store, settings, make_embedder(settings), gateway)
    click.echo(report.summary)
    for pattern in report.patterns:
        click.echo(
            f"  {pattern.kind:<10} support {pattern.support:>4}  conf {pattern.confidence:.2f}  "
            f"{pattern.title[:60]} — {pattern.when}"
        )
    for proposal in report.proposals:
        click.echo(f"proposed {proposal.id[:8]} {proposal.name} (drafted by {proposal.drafted_by})")
    for key, why in report.skipped:
        click.echo(f"skipped  {key}: {why}")
