"""``openkoi task approve|deny|cancel ID``: decide a task blocked in the terminal, later.

The same engine calls as the chat buttons: ``Engine.decide_confirmation`` (single-use: a second decision is
refused), then ``continue_approved`` for an approval, which runs the task here in the foreground
like ``openkoi think``; ``Engine.cancel`` for a cancellation. The decision is recorded as made by
the OS user.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Literal

import click

from bots.terminal import command as codes
from bots.terminal.run import Terminal, acting, drive, terminal
from core.errors import ConfigError, OpenKoiError
from core.models import Task, TaskStatus

Action = Literal["approve", "deny", "cancel"]


class Refused(OpenKoiError):
    """The decision cannot be made (already decided, not blocked, not a terminal task)."""


async def run_decision(
    action: Action,
    prefix: str,
    *,
    verbose: bool,
    quiet: bool,
    yes: bool,
    model: str | None,
    workspace: Path | None,
) -> int:
    try:
        runs = action == "approve"
        async with terminal(verbose=verbose, quiet=quiet, yes=yes, model=model, workspace=workspace, runs=runs) as t:
            # Until an approval lets the task run, this command's own line says what happened
            # (e.g. "cancelled"), not the progress renderer's end-of-task summary.
            t.progress.quiet = True
            try:
                task = await _terminal_task(t, prefix)
                if action == "cancel":
                    return await _cancel(t, task)
                return await _decide(t, task, approve=action == "approve", quiet=quiet)
            except OpenKoiError as exc:
                click.echo(f"error: {exc}", err=True)
                return codes.EXIT_USAGE
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        return codes.EXIT_USAGE


async def _terminal_task(t: Terminal, prefix: str) -> Task:
    task = await t.store.tasks.get(await t.store.db.resolve_id("tasks", prefix))
    if task.source != "terminal":
        # Its thread (and its approvers) are on that platform; a decision made here would not reach them.
        raise Refused(
            f"task {task.id[:8]} came from {task.source}; decide it there (or with /think approve|deny|cancel)"
        )
    return task


async def _cancel(t: Terminal, task: Task) -> int:
    if task.status is TaskStatus.RUNNING:
        # Another process runs it; marking it cancelled here would not stop that process.
        raise Refused(f"task {task.id[:8]} is running in another terminal; stop it there with Ctrl-C")
    by = getpass.getuser()
    if not await t.engine.cancel(task.id, by=by):
        raise Refused(f"task {task.id[:8]} had already finished ({task.status.value})")
    click.echo(f"Task {task.id[:8]} cancelled by {by}.", err=True)
    return codes.EXIT_DONE


async def _decide(t: Terminal, task: Task, *, approve: bool, quiet: bool) -> int:
    pending = await t.store.confirmations.pending_for_task(task.id)
    if pending is None:
        raise Refused(await _why_not_pending(t, task))
    if pending.has_expired():
        await t.engine.expire(task.id, pending.id)
        raise Refused(f"the override request for task {task.id[:8]} had expired; the task was cancelled")
    if approve:
        problem = t.check_models()  # before the decision is recorded, so it can be made again once fixed
        if problem is not None:
            raise Refused(problem)
    by = getpass.getuser()
    if not await t.engine.decide_confirmation(task.id, pending.id, approve, by):
        raise Refused(f"task {task.id[:8]} was already decided; a decision counts once")
    if not approve:
        click.echo(f"Task {task.id[:8]} cancelled: override denied by {by}.", err=True)
        return codes.EXIT_DONE
    t.progress.quiet = quiet
    if not quiet:
        t.progress.say(f"Override approved by {by}; task {task.id[:8]} continues.")
    async with acting(t, yes=False):  # the tools the task would have had under think
        return await drive(t, task.id, t.engine.continue_approved(task.id))


async def _why_not_pending(t: Terminal, task: Task) -> str:
    latest = await t.store.confirmations.latest_for_task(task.id)
    if latest is None:
        return f"task {task.id[:8]} is not waiting for a decision ({task.status.value})"
    by = f" by {latest.decided_by}" if latest.decided_by else ""
    return f"task {task.id[:8]} was already decided ({latest.status}{by}); a decision counts once"
