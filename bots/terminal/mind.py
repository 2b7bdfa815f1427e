"""``openkoi mind parliament|agencies|dissent|calibrate``: the last deliberation, and each agency's record
against outcomes (``core.reflection.mind``), in the words ``bots.views`` shares with chat. With no
subcommand, ``openkoi mind`` shows the agencies' record.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from bots.views import View
    from core.store.db import Database


def command_group(group_cls: type[click.Group]) -> click.Group:
    """The ``mind`` group, built with the CLI's group class (unknown subcommands get "did you mean")."""

    @click.group("mind", cls=group_cls, invoke_without_command=True)
    @click.pass_context
    def mind(ctx: click.Context) -> None:
        """Look inside the agent's deliberation: parliament, agencies, dissent, calibrate."""
        if ctx.invoked_subcommand is None:
            sys.exit(_run(show(None, "agencies", 0)))

    @mind.command("parliament")
    @click.argument("task_id", required=False)
    def parliament(task_id: str | None) -> None:
        """The last deliberation (or a task's), every agency's vote and reason."""
        from bots.terminal import inspect as views

        sys.exit(_run(views.mind_parliament(task_id)))

    days = click.option("--days", type=click.IntRange(1), help="Only the deliberations of the last N days.")
    limit = click.option("-n", "--limit", default=10, show_default=True, type=click.IntRange(1), help="Tasks listed.")

    @mind.command("agencies")
    @days
    def agencies(days: int | None) -> None:
        """Per agency: how often it approved, caveated, abstained, blocked; how those tasks ended."""
        sys.exit(_run(show(days, "agencies", 0)))

    @mind.command("dissent")
    @days
    @limit
    def dissent(days: int | None, limit: int) -> None:
        """The tasks where a vote went against the verdict: who dissented, how it ended, borne out or not."""
        sys.exit(_run(show(days, "dissent", limit)))

    @mind.command("calibrate")
    @days
    @limit
    def calibrate(days: int | None, limit: int) -> None:
        """Guardian blocks overridden and how they went, cost estimates against costs, caveats against findings."""
        sys.exit(_run(show(days, "calibrate", limit)))

    return mind


def _run(work: Coroutine[Any, Any, None]) -> int:
    from bots.terminal.command import run

    return run(work)


async def show(days: int | None, what: str, limit: int) -> None:
    from bots.terminal.command import opened_store
    from core.models import utcnow

    since = (utcnow() - timedelta(days=days)).isoformat() if days else ""
    async with opened_store() as (_, store):
        view = await VIEWS[what](store.db, since, limit)
    click.echo(view.plain())


async def _agencies(db: Database, since: str, limit: int) -> View:
    from bots.views import agencies_view
    from core.reflection.mind import mind_agencies

    return agencies_view(await mind_agencies(db, since))


async def _dissent(db: Database, since: str, limit: int) -> View:
    from bots.views import dissent_view
    from core.reflection.mind import mind_dissent

    return dissent_view(await mind_dissent(db, since), limit)


async def _calibrate(db: Database, since: str, limit: int) -> View:
    from bots.views import calibration_view
    from core.reflection.mind import mind_calibration

    return calibration_view(await mind_calibration(db, since), limit)


VIEWS: dict[str, Callable[[Database, str, int], Coroutine[Any, Any, View]]] = {
    "agencies": _agencies,
    "dissent": _dissent,
    "calibrate": _calibrate,
}
