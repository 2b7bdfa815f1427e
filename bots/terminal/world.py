"""``openkoi world tools [NAME]``: the tool atlas — per tool that acts (MCP tools, runbooks), how often it
ran and worked, how long it took, its last failures and how often it was refused (``core.store.tool_calls``).
The seeds' ``world domains``, ``world human`` and ``world map`` do not exist yet (``bots.command_names``)."""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from typing import Any

import click

from core.store.tool_calls import ToolStats


def command_group(group_cls: type[click.Group]) -> click.Group:
    """The ``world`` group, built with the CLI's group class."""

    @click.group("world", cls=group_cls)
    def world() -> None:
        """What the agent knows of its world: tools."""

    @world.command("tools")
    @click.argument("name", required=False)
    @click.option("--since", help="Only calls from then: a duration back (7d, 12h) or a date (2026-01-31).")
    def tools(name: str | None, since: str | None) -> None:
        """Each tool's calls, success rate, median and p95 duration, refusals and last failures."""
        sys.exit(_run(show_tools(name, since)))

    return world


def _run(work: Coroutine[Any, Any, None]) -> int:
    from bots.terminal.command import run

    return run(work)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ms"


def lines(stats: ToolStats, detail: bool) -> list[str]:
    """One tool as the atlas shows it; with ``detail``, its last failures too."""
    rate = "-" if stats.success_rate is None else f"{stats.success_rate:.0%}"
    refused = f"denied {stats.denied}, expired {stats.expired}"
    head = (
        f"{stats.tool}: {stats.calls} calls, {rate} ok, median {_ms(stats.median_ms)}, p95 {_ms(stats.p95_ms)}, "
        f"{refused}; last {stats.last_call:%Y-%m-%d %H:%M} UTC"
    )
    if not detail:
        return [head]
    shown = [f"  {f.at:%Y-%m-%d %H:%M} {f.outcome}: {f.error or '(no reason recorded)'}" for f in stats.failures]
    return [head, *(shown or ["  no failures"])]


async def show_tools(name: str | None, since: str | None) -> None:
    from bots.terminal.command import opened_store
    from core.gate.trust import parse_since
    from core.models import utcnow

    async with opened_store() as (_, store):
        atlas = await store.tool_calls.atlas(name, parse_since(since, utcnow()) if since else None)
    if not atlas:
        click.echo(f"no calls of {name} recorded" if name else "no tool calls recorded yet")
        return
    for stats in atlas:
        click.echo("\n".join(lines(stats, detail=name is not None or len(atlas) == 1)))
