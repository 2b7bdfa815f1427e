"""``openkoi think`` (and ``serve``): wires the engine to the terminal and turns the outcome into an exit code."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click

from bots import logs
from bots.terminal import command as codes
from bots.terminal.progress import Progress
from core.config import Settings, load_settings
from core.engine import Engine
from core.errors import ConfigError, OpenKoiError
from core.events import ConfirmationNeeded, Event, EventBus
from core.llm.gateway import ModelGateway
from core.loop.workspace import workspace_root
from core.models import Role, Task, TaskOptions, TaskStatus
from core.secrets import SECRETS, environment_secrets, secret_fields
from core.skills.use import invocable
from core.store import Store

EXIT_FOR = {
    TaskStatus.DONE: codes.EXIT_DONE,
    TaskStatus.BELOW_BAR: codes.EXIT_BELOW_BAR,
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
    return workspace_root(flag or configured or Path.cwd(), "--workspace" if flag else "[tools] workspace")


def _ask(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        click.echo(f"{question} — no terminal to ask on; pass --yes to confirm non-interactively.", err=True)
        return False
    return click.confirm(question, default=False, err=True)


def _ask_person(question: str) -> bool:
    """A question only a person at a terminal answers: ``--yes`` does not (a block where the rule floor
    matched is one). Without a terminal the answer is no."""
    if not sys.stdin.isatty():
        click.echo(
            f"{question} — the rule floor matched, so --yes does not answer for a person: answer y at a terminal"
            " (--override), or run openkoi task approve.",
            err=True,
        )
        return False
    return click.confirm(question, default=False, err=True)


@dataclass
class Terminal:
    """The engine wired to this terminal: progress on stderr, confirmations asked on the tty."""

    settings: Settings
    store: Store
    engine: Engine
    progress: Progress
    model: str | None
    # The last block each task met, as the engine announced it: what the block message shows.
    blocks: dict[str, ConfirmationNeeded] = field(default_factory=dict)

    def check_models(self) -> str | None:
        """Resolve every role's model (credentials, name) before anything is stored or decided;
        returns the problem, or None."""
        try:
            probe = ModelGateway(self.settings, overrides={r: self.model for r in Role} if self.model else {})
            for role in Role:
                probe.ref_for(role)
        except OpenKoiError as exc:
            return str(exc)
        return None

    def check_gate(self) -> str | None:
        """Load the rule floor and the trust domains before anything is stored; returns the problem, or None."""
        try:
            self.engine.gatekeeper.check()
        except OpenKoiError as exc:
            return str(exc)
        return None

    def remember_block(self, event: Event) -> None:
        if isinstance(event, ConfirmationNeeded):
            self.blocks[event.task_id] = event


@asynccontextmanager
async def terminal(
    *, verbose: bool, quiet: bool, yes: bool, model: str | None, workspace: Path | None = None, runs: bool = True
) -> AsyncIterator[Terminal]:
    """Open settings, the store and an engine for one command; raises ConfigError.

    ``workspace`` is the --workspace flag (see ``think_workspace``); a command that never runs a
    task (``runs=False``: deny, cancel) needs none, so a missing one does not stop it.
    """
    settings = load_settings()
    root = think_workspace(workspace, settings.tools.workspace) if runs else None
    logs.configure(settings.log_level)
    SECRETS.add([*environment_secrets(), *secret_fields(settings)])  # model keys never reach a log line
    async with Store(settings.db_path) as store:
        bus = EventBus()
        progress = Progress(sys.stderr, verbose=verbose, quiet=quiet)
        bus.subscribe(progress)

        async def escalate(reason: str) -> bool:
            return _ask(f"Escalation: {reason}", yes)

        engine = Engine(settings, store, bus, workspace=root, escalate=escalate, model_override=model)
        here = Terminal(settings, store, engine, progress, model)
        bus.subscribe(here.remember_block)
        yield here


@asynccontextmanager
async def acting(t: Terminal, yes: bool) -> AsyncIterator[None]:
    """The team's runbooks and MCP tools for the tasks driven inside the block, and a person at this terminal
    to approve their calls (``--yes`` answers for a write only). Nothing is opened when none is configured."""
    if not (t.settings.runbooks or t.settings.mcp_servers):
        yield
        return
    from bots.terminal.acting import action_tools, terminal_approver  # the MCP SDK only when configured
    from core.gate.action_gate import ActionGate

    async with action_tools(t.settings) as actions:
        t.engine.actions = actions
        t.engine.approver = terminal_approver(ActionGate(t.engine.gatekeeper, t.settings.tools), yes)
        yield


def blocked_hint(task_id: str) -> str:
    return f"To proceed, a person must confirm: re-run with --override, or run: openkoi task approve {task_id[:8]}"


async def drive(t: Terminal, task_id: str, work: Awaitable[Task], *, override: bool = False, yes: bool = False) -> int:
    """Run a task in the foreground to its end; print its output; return the exit code.

    Ctrl-C cancels the task (recorded as cancelled, exit 6). asyncio.run delivers the first
    Ctrl-C as a cancellation of this coroutine; taking it back (``uncancel``) and returning
    normally lets asyncio.run end quietly instead of raising KeyboardInterrupt.
    """
    try:
        result = await work
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        return await _interrupted(t, task_id)
    if result.status is TaskStatus.AWAITING_CONFIRMATION:
        pending = await t.store.confirmations.pending_for_task(task_id)
        block = t.blocks.get(task_id)
        if override and pending is not None and _override(block, yes):
            return await drive(t, task_id, t.engine.resume(task_id, pending.id, True, getpass.getuser()))
        reason = result.error or (pending.reason if pending else "the Parliament blocked this task")
        lines = "".join(f"\n  {line}" for line in block.gate) if block is not None else ""
        click.echo(f"Blocked: {reason}.{lines}\n{blocked_hint(task_id)}", err=True)
    if result.output is not None:
        click.echo(result.output)
    return EXIT_FOR[result.status]


def _override(block: ConfirmationNeeded | None, yes: bool) -> bool:
    """Whether a person overrides the block: ``--yes`` answers for a Parliament block, never where the rule
    floor matched (then a person answers y at the terminal, or runs ``openkoi task approve``)."""
    if block is not None and block.floor:
        return _ask_person("The rule floor matched this task: a person must decide. Override and proceed?")
    return _ask("The Guardian blocked this task. Override and proceed?", yes)


async def _interrupted(t: Terminal, task_id: str) -> int:
    by = f"{getpass.getuser()} (Ctrl-C)"
    if await t.engine.cancel(task_id, by=by):
        return codes.EXIT_CANCELLED  # announced by the engine, like any cancellation
    # The engine marked the task cancelled itself as it unwound: record who, and say it once here.
    if (await t.store.tasks.get(task_id)).status is TaskStatus.CANCELLED:
        await t.store.tasks.update(task_id, error=f"cancelled by {by}")
    if not t.progress.quiet:
        t.progress.say(f"✗ Cancelled by {by}.")
    return codes.EXIT_CANCELLED


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
    skill: str | None = None,
) -> int:
    options = TaskOptions(
        max_iterations=iterations, quality_threshold=quality, max_cost_usd=budget, simulate=simulate, skill=skill
    )
    try:
        async with terminal(verbose=verbose, quiet=quiet, yes=yes, model=model, workspace=workspace) as t:
            # A typo, a missing key or a broken [gate] is reported before anything is stored.
            problem = t.check_models() or t.check_gate()
            if problem is None and skill is not None:
                problem = _skill_problem(t.engine, skill)
            if problem is not None:
                click.echo(f"error: {problem}", err=True)
                return codes.EXIT_USAGE
            try:
                task = await t.engine.submit(text, options=options, requester=getpass.getuser())
            except OpenKoiError as exc:
                click.echo(f"error: {exc}", err=True)
                return codes.EXIT_USAGE
            async with acting(t, yes):
                return await drive(t, task.id, t.engine.run(task.id), override=override, yes=yes)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return codes.EXIT_USAGE


def _skill_problem(engine: Engine, name: str) -> str | None:
    """Why ``--skill name`` cannot be used, or None; checked before the task is stored."""
    try:
        invocable(engine.skill_catalog(), name)
    except OpenKoiError as exc:
        return str(exc)
    return None


def run_serve(host: str | None, port: int | None) -> int:
    """`openkoi serve`: exit 0 after a clean drain, 2 on a configuration error."""
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
