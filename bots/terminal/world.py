"""``openkoi world``: what the agent knows of its world, from the rows that already exist.

    world tools [NAME]    the tool atlas: per tool that acts (MCP tools, runbooks), how often it ran and worked,
                          how long it took, its last failures, how often it was refused, the workarounds learnt
    world domains         per trust domain: its trust level, its tasks and scores, what was learnt, its actions
    world human [WHO]     per person: what they asked, how they rated it, the preferences learnt from them
    world map             all of it on one screen

(``core.store.tool_calls``, ``core.store.world``)."""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import click

from core.store.memories import StoredMemory
from core.store.tool_calls import ToolStats
from core.store.world import DomainFacts, PersonFacts
from core.text import one_line

if TYPE_CHECKING:
    from core.config import Settings
    from core.store import Store

MEMORY_CHARS = 120


def command_group(group_cls: type[click.Group]) -> click.Group:
    """The ``world`` group, built with the CLI's group class."""

    @click.group("world", cls=group_cls)
    def world() -> None:
        """What the agent knows of its world: tools, domains, people, and a map of it all."""

    @world.command("tools")
    @click.argument("name", required=False)
    @click.option("--since", help="Only calls from then: a duration back (7d, 12h) or a date (2026-01-31).")
    def tools(name: str | None, since: str | None) -> None:
        """Each tool's calls, success rate, median and p95 duration, refusals and last failures."""
        sys.exit(_run(show_tools(name, since)))

    @world.command("domains")
    def domains() -> None:
        """Per trust domain: its level, its tasks and their scores, what was learnt, the actions asked in it."""
        sys.exit(_run(show_domains()))

    @world.command("human")
    @click.argument("who", required=False)
    def human(who: str | None) -> None:
        """Per person (or only WHO: a name or platform:id, in part): tasks, ratings, preferences learnt."""
        sys.exit(_run(show_people(who)))

    @world.command("map")
    def world_map() -> None:
        """Tools, domains and people on one screen."""
        sys.exit(_run(show_map()))

    return world


def _run(work: Coroutine[Any, Any, None]) -> int:
    from bots.terminal.command import run

    return run(work)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def _memory(memory: StoredMemory) -> str:
    return f"{memory.kind}: {one_line(memory.text, MEMORY_CHARS)} ({memory.confidence:.2f})"


def lines(stats: ToolStats, detail: bool, workarounds: list[StoredMemory] | None = None) -> list[str]:
    """One tool as the atlas shows it; with ``detail``, its last failures and the workarounds learnt too."""
    rate = "-" if stats.success_rate is None else f"{stats.success_rate:.0%}"
    refused = f"denied {stats.denied}, expired {stats.expired}"
    head = (
        f"{stats.tool}: {stats.calls} calls, {rate} ok, median {_ms(stats.median_ms)}, p95 {_ms(stats.p95_ms)}, "
        f"{refused}; last {stats.last_call:%Y-%m-%d %H:%M} UTC"
    )
    if not detail:
        return [head]
    shown = [f"  {f.at:%Y-%m-%d %H:%M} {f.outcome}: {f.error or '(no reason recorded)'}" for f in stats.failures]
    learnt = [f"  workaround {_memory(memory)}" for memory in workarounds or []]
    return [head, *(shown or ["  no failures"]), *learnt]


async def show_tools(name: str | None, since: str | None) -> None:
    from bots.terminal.command import opened_store
    from core.gate.trust import parse_since
    from core.models import utcnow

    async with opened_store() as (_, store):
        atlas = await store.tool_calls.atlas(name, parse_since(since, utcnow()) if since else None)
        detail = name is not None or len(atlas) == 1
        learnt = await store.world.workarounds([stats.tool for stats in atlas]) if detail else {}
    if not atlas:
        click.echo(f"no calls of {name} recorded" if name else "no tool calls recorded yet")
        return
    for stats in atlas:
        click.echo("\n".join(lines(stats, detail, learnt.get(stats.tool))))


def domain_lines(facts: DomainFacts, level: str, detail: bool) -> list[str]:
    """One domain: its trust level, tasks, memories and actions; with ``detail``, its most confident memories."""
    mean = "-" if facts.mean_score is None else f"{facts.mean_score:.2f}"
    learnt = ", ".join(f"{n} {kind}" for kind, n in sorted(facts.memories.items())) or "nothing learnt yet"
    asked = sum(facts.approvals.values())
    actions = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(facts.approvals.items()))
    head = f"{facts.domain}: trust {level}; {facts.tasks} tasks ({facts.done} done, mean score {mean}); {learnt}" + (
        f"; {asked} actions asked ({actions})" if asked else ""
    )
    return [head, *(f"  {_memory(memory)}" for memory in facts.top)] if detail else [head]


def person_lines(facts: PersonFacts, detail: bool) -> list[str]:
    """One person: tasks asked and ratings given; with ``detail``, their notes and the preferences learnt."""
    who = f"{facts.name} ({facts.person})" if facts.name else facts.person
    head = (
        f"{who}: {facts.tasks} tasks asked, rated 👍 {facts.up} / 👎 {facts.down}, {len(facts.preferences)} preferences"
    )
    if not detail:
        return [head]
    notes = [f'  said: "{one_line(note, MEMORY_CHARS)}"' for note in facts.notes]
    return [head, *notes, *(f"  {_memory(memory)}" for memory in facts.preferences)]


async def _domains(settings: Settings, store: Store) -> list[tuple[DomainFacts, str]]:
    from core.gate.gatekeeper import Gatekeeper

    ledger = Gatekeeper(settings.gate, store).ledger
    found = await store.world.domains(ledger.domains.categories, ledger.domains.names)
    levels = await ledger.levels([facts.domain for facts in found])
    return [(facts, levels[facts.domain].level.value) for facts in found]


async def show_domains() -> None:
    from bots.terminal.command import opened_store

    async with opened_store() as (settings, store):
        for facts, level in await _domains(settings, store):
            click.echo("\n".join(domain_lines(facts, level, detail=True)))


def _matches(facts: PersonFacts, who: str) -> bool:
    wanted = who.lower()
    return wanted in facts.person.lower() or (facts.name is not None and wanted in facts.name.lower())


async def show_people(who: str | None) -> None:
    from bots.terminal.command import opened_store

    async with opened_store() as (_, store):
        people = await store.world.people()
    shown = [facts for facts in people if who is None or _matches(facts, who)]
    if not shown:
        click.echo(f"nobody matching {who!r} asked or rated anything" if who else "nobody asked or rated anything yet")
        return
    for facts in shown:
        click.echo("\n".join(person_lines(facts, detail=True)))


async def show_map() -> None:
    from bots.terminal.command import opened_store

    async with opened_store() as (settings, store):
        atlas = await store.tool_calls.atlas()
        domains = await _domains(settings, store)
        people = await store.world.people()
        memories = await store.memories.counts()
    ran = sum(stats.calls for stats in atlas)
    ok = sum(stats.ok for stats in atlas)
    refused = sum(stats.denied + stats.expired for stats in atlas)
    rate = f", {ok / ran:.0%} ok" if ran else ""
    click.echo(f"Tools: {len(atlas)} used, {ran} calls{rate}, {refused} refused (openkoi world tools)")
    for stats in sorted(atlas, key=lambda s: -s.calls)[:5]:
        click.echo("  " + lines(stats, detail=False)[0])
    click.echo("Domains (openkoi world domains):")
    for facts, level in domains:
        if facts.tasks or facts.memories or facts.approvals or level != "ask":
            click.echo("  " + domain_lines(facts, level, detail=False)[0])
    quiet = [facts.domain for facts, level in domains if not (facts.tasks or facts.memories or facts.approvals)]
    if quiet:
        click.echo(f"  nothing yet in: {', '.join(quiet)}")
    click.echo(f"People: {len(people)} (openkoi world human)")
    for person in people[:5]:
        click.echo("  " + person_lines(person, detail=False)[0])
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(memories.items())) or "none yet"
    click.echo(f"Memories: {kinds} (openkoi memory list)")
