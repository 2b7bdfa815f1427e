"""``openkoi think``: wires the engine to the terminal and turns the outcome into an exit code."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

import click

from bots import logs
from bots.terminal import cli as codes
from bots.terminal.progress import Progress
from core.config import load_settings
from core.engine import Engine
from core.errors import ConfigError, OpenKoiError
from core.events import EventBus
from core.llm.gateway import ModelGateway
from core.models import Role, TaskOptions, TaskStatus
from core.secrets import SECRETS, environment_secrets, secret_fields
from core.store import Store

EXIT_FOR = {
    TaskStatus.DONE: codes.EXIT_DONE,
    TaskStatus.FAILED: codes.EXIT_FAILED,
    TaskStatus.AWAITING_CONFIRMATION: codes.EXIT_BLOCKED,
    TaskStatus.ABORTED: codes.EXIT_ABORTED,
    TaskStatus.ESCALATED: codes.EXIT_ESCALATED,
    TaskStatus.CANCELLED: codes.EXIT_CANCELLED,
}


def think_workspace(flag: Path | None, configured: Path | None) -> Path:
    """The directory `openkoi think` lets the file tools read: ``--workspace``, else ``[tools] workspace``,
    else the current directory (a person at a terminal runs it in their project). Raises ConfigError
    when the chosen directory does not exist."""
    chosen = flag or configured or Path.cwd()
    root = chosen.expanduser()
    if not root.is_dir():
        source = "--workspace" if flag else "[tools] workspace"
        raise ConfigError(f"{source}: {root} is not a directory")
    return root.resolve()


def _ask(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        click.echo(f"{question} — no terminal to ask on; pass --yes to confirm non-interactively.", err=True)
        return False
    return click.confirm(question, default=False, err=True)


async def run_think(
    text: str,
    *,
    simulate: bool,
    verbose: bool,
    override: bool,
    yes: bool,
    budget: float | None,
    iterations: int | None,
    quality: float | None,
    model: str | None,
    quiet: bool,
    workspace: Path | None = None,
) -> int:
    try:
        settings = load_settings()
        root = think_workspace(workspace, settings.tools.workspace)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return codes.EXIT_USAGE
    logs.configure(settings.log_level)
    SECRETS.add([*environment_secrets(), *secret_fields(settings)])  # model keys never reach a log line
    options = TaskOptions(max_iterations=iterations, quality_threshold=quality, max_cost_usd=budget, simulate=simulate)
    store = await Store(settings.db_path).open()
    try:
        bus = EventBus()
        bus.subscribe(Progress(sys.stderr, verbose=verbose, quiet=quiet))

        async def escalate(reason: str) -> bool:
            return _ask(f"Escalation: {reason}", yes)

        engine = Engine(settings, store, bus, workspace=root, escalate=escalate, model_override=model)
        try:
            # Resolve every role's model first, so a typo is reported before anything is stored.
            probe = ModelGateway(settings, overrides={r: model for r in Role} if model else {})
            for role in Role:
                probe.ref_for(role)
        except OpenKoiError as exc:
            click.echo(f"error: {exc}", err=True)
            return codes.EXIT_USAGE
        task = await engine.submit(text, options=options, requester=getpass.getuser())
        result = await engine.run(task.id)
        if result.status is TaskStatus.AWAITING_CONFIRMATION:
            pending = await store.confirmations.pending_for_task(task.id)
            if override and pending is not None and _ask("The Guardian blocked this task. Override and proceed?", yes):
                result = await engine.resume(task.id, pending["id"], True, getpass.getuser())
            else:
                click.echo(
                    f"Blocked: {result.error or (pending or {}).get('reason', 'the Parliament blocked this task')}.\n"
                    "To proceed, a person must confirm: re-run with --override.",
                    err=True,
                )
        if result.output is not None:
            click.echo(result.output)
        return EXIT_FOR[result.status]
    finally:
        await store.close()


def run_serve(host: str | None, port: int | None) -> int:
    """`openkoi serve`: exit 0 after a clean drain, 2 on a configuration error."""
    import asyncio

    from bots.config import load_service_settings
    from bots.service import serve

    try:
        settings = load_settings()
        overrides: dict[str, object] = {}
        if host is not None or port is not None:
            overrides["serve"] = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        service = load_service_settings(**overrides)
    except ConfigError as exc:
        click.echo(f"openkoi: {exc}", err=True)
        return codes.EXIT_USAGE
    level = settings.log_level if settings.log_level not in {"error", "warn", "warning"} else "warn"
    logs.configure(level, service.serve.log_format, timestamps=True)
    logs.show_task_events(level)
    try:
        asyncio.run(serve(settings, service))
    except ConfigError as exc:  # e.g. [tools] workspace is not a directory
        click.echo(f"openkoi: {exc}", err=True)
        return codes.EXIT_USAGE
    except OSError as exc:  # e.g. the port is taken
        click.echo(f"openkoi serve: {exc}", err=True)
        return codes.EXIT_FAILED
    return codes.EXIT_DONE
