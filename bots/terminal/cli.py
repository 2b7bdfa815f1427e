"""The ``openkoi`` command line. Heavy modules (the engine, litellm) load only inside ``think``,
so ``openkoi --help`` and ``openkoi status`` stay fast."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from bots.terminal import inspect as views

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_ABORTED = 4
EXIT_ESCALATED = 5
EXIT_CANCELLED = 6


class DefaultToThink(click.Group):
    """``openkoi "task"`` is short for ``openkoi think "task"``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["think", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultToThink, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="openkoi")
def cli() -> None:
    """openkoi — an agent that deliberates before it acts and reviews its own work.

    \b
    openkoi "task"                 same as: openkoi think "task"
    openkoi think "task" -i 5      up to five Plan-Execute-Evaluate-Refine iterations
    openkoi status --costs         models, storage and spending
    """


@cli.command()
@click.argument("task", nargs=-1, required=True)
@click.option("--simulate", is_flag=True, help="Deliberate and simulate futures; execute nothing.")
@click.option("-v", "--verbose", is_flag=True, help="Show the full deliberation and every decision.")
@click.option("--override", is_flag=True, help="If the Guardian blocks, ask to override (a person decides).")
@click.option("-y", "--yes", is_flag=True, help="Answer yes to confirmations (override, tool-loop escalation).")
@click.option("--budget", type=click.FloatRange(min=0, min_open=True), help="Maximum cost in USD for this task.")
@click.option("-i", "--iterate", "iterations", type=click.IntRange(1, 50), help="Maximum iterations.")
@click.option("--quality", type=click.FloatRange(0, 1), help="Quality threshold (0-1) to accept the output.")
@click.option("-m", "--model", help="Model for every role, as provider/model.")
@click.option("-q", "--quiet", is_flag=True, help="Only the result on stdout; no progress on stderr.")
@click.option(
    "--workspace",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory the agent's file tools may read (default: [tools] workspace, else the current directory).",
)
def think(task: tuple[str, ...], **flags: Any) -> None:
    """Run a task through Sovereign → Parliament → PEER loop → learning."""
    from bots.terminal.run import run_think

    sys.exit(asyncio.run(run_think(" ".join(task), **flags)))


@cli.command()
@click.option("--costs", is_flag=True, help="Spending by phase and model.")
def status(costs: bool) -> None:
    """Models, storage, tasks and spending."""
    views.run(views.status(costs))


@cli.group()
def session() -> None:
    """Sessions: list, show, delete."""


@session.command("list")
@click.option("-n", "--limit", default=20, show_default=True)
def session_list(limit: int) -> None:
    views.run(views.session_list(limit))


@session.command("show")
@click.argument("session_id")
def session_show(session_id: str) -> None:
    views.run(views.session_show(session_id))


@session.command("delete")
@click.argument("session_id")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def session_delete(session_id: str, yes: bool) -> None:
    views.run(views.session_delete(session_id, yes))


@cli.group()
def task() -> None:
    """Tasks: list, show, replay."""


@task.command("list")
@click.option("--session", "session_id", help="Only this session's tasks (id or prefix).")
@click.option("-n", "--limit", default=20, show_default=True)
def task_list(session_id: str | None, limit: int) -> None:
    views.run(views.task_list(session_id, limit))


@task.command("show")
@click.argument("task_id")
def task_show(task_id: str) -> None:
    views.run(views.task_show(task_id))


@task.command("replay")
@click.argument("task_id")
def task_replay(task_id: str) -> None:
    """Print a task's full output to stdout (pipeable)."""
    views.run(views.task_replay(task_id))


@cli.group()
def mind() -> None:
    """Look inside the agent's deliberation."""


@mind.command("parliament")
@click.argument("task_id", required=False)
def mind_parliament(task_id: str | None) -> None:
    """The last deliberation (or a task's), every agency's vote and reason."""
    views.run(views.mind_parliament(task_id))


@cli.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1, or [serve] host).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to listen on (default 9742, or [serve] port).")
def serve(host: str | None, port: int | None) -> None:
    """Run the chat service: Slack, Discord and Telegram, whichever are configured."""
    from bots.terminal.run import run_serve

    sys.exit(run_serve(host, port))


def main() -> None:
    cli()
