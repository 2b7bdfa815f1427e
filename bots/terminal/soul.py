"""``openkoi soul [show]``: the SOUL.md in force for a task run here, where it came from, and its values as
the Sovereign reads them (``core.deliberation.soul``). ``--raw`` prints the file itself, for a pipe."""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import click


def command_group(group_cls: type[click.Group]) -> click.Group:
    """The ``soul`` group, built with the CLI's group class; with no subcommand it shows the soul."""

    @click.group("soul", cls=group_cls, invoke_without_command=True)
    @click.pass_context
    def soul(ctx: click.Context) -> None:
        """The team's values (SOUL.md) as the Sovereign reads them: show."""
        if ctx.invoked_subcommand is None:
            sys.exit(_run(show_soul(None, raw=False)))

    @soul.command("show")
    @click.option(
        "--workspace",
        type=click.Path(file_okay=False, path_type=Path),
        help="The project whose ./.openkoi/SOUL.md counts (default: as for think).",
    )
    @click.option("--raw", is_flag=True, help="Print the SOUL.md in force as it is, and nothing else.")
    def show(workspace: Path | None, raw: bool) -> None:
        """The SOUL.md in force, where it came from, and its values."""
        sys.exit(_run(show_soul(workspace, raw=raw)))

    return soul


def _run(work: Coroutine[Any, Any, None]) -> int:
    from bots.terminal.command import run

    return run(work)


async def show_soul(workspace: Path | None, *, raw: bool) -> None:
    from bots.terminal.run import think_workspace
    from bots.views import soul_view
    from core.config import load_settings
    from core.deliberation.soul import read_soul

    settings = load_settings()
    reading = read_soul(settings.config_dir, think_workspace(workspace, settings.tools.workspace))
    if raw:
        click.echo(reading.soul.text, nl=not reading.soul.text.endswith("\n"))
        return
    click.echo(soul_view(reading).plain())
