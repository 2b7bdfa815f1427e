"""``openkoi schedule``: list the scheduled jobs, or run one now.

``run`` hands the job to the ``openkoi serve`` that holds the schedule's lease (a ``job_requests``
row it takes within a second) and waits for the outcome; with no live owner it runs the job here,
holding the lease meanwhile, except the digests, which post into chat and so need the service.
APScheduler and the engine load only inside these commands.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click

from bots.terminal.command import EXIT_DONE, EXIT_FAILED, close_command, opened_store
from scheduler.jobs import JOB_NAMES, NEEDS_SERVICE, standard_jobs

if TYPE_CHECKING:
    from core.store import Store

POLL_SECONDS = 0.2


def check_job(name: str) -> str:
    """``name`` if it is a job; otherwise a usage error with the nearest job name."""
    if name in JOB_NAMES:
        return name
    near = close_command(name, list(JOB_NAMES), cutoff=0.6)
    hint = f" Did you mean {near!r}?" if near else ""
    raise click.UsageError(f"No such job {name!r}.{hint} Jobs: {', '.join(JOB_NAMES)}")


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "—"


async def schedule_list() -> int:
    from core.models import utcnow
    from scheduler.cron import make_trigger, next_fire

    async with opened_store() as (settings, store):
        config = settings.schedule
        zone = ZoneInfo(config.timezone)
        now = utcnow()
        holder = await store.schedule.holder(now)
        if not config.enabled:
            click.echo("schedule: disabled ([schedule] enabled = false); openkoi serve runs no jobs")
        elif holder is not None:
            click.echo(f"schedule: owned by {holder.owner} (lease renewed {_local(holder.heartbeat_at, zone)})")
        else:
            click.echo("schedule: no live owner (openkoi serve is not running on this database)")
        click.echo(f"timezone: {config.timezone}")
        for name in JOB_NAMES:
            expr = getattr(config, name)
            click.echo(f"{name}  ({expr})")
            if name in NEEDS_SERVICE:
                click.echo("  posted by openkoi serve to the [digest] channels")
            click.echo(f"  next: {_local(next_fire(make_trigger(name, expr, config.timezone), now), zone)}")
            last = await store.schedule.last_run(name)
            if last is None:
                click.echo("  last: never")
            else:
                detail = f" — {last.detail}" if last.detail else ""
                click.echo(f"  last: {_local(last.fire_time, zone)} {last.trigger} {last.status}{detail}")
        return EXIT_DONE


async def schedule_run(name: str, wait_seconds: float) -> int:
    from core.models import utcnow
    from scheduler.schedule import Schedule, new_owner

    async with opened_store() as (settings, store):
        if await store.schedule.holder(utcnow()) is None:
            if name in NEEDS_SERVICE:
                click.echo(
                    f"error: {name} posts into chat, so only openkoi serve can run it, and no openkoi serve"
                    " holds the schedule on this database. Start openkoi serve, then run this again.",
                    err=True,
                )
                return EXIT_FAILED
            jobs = standard_jobs(settings, store)
            if name not in jobs:
                click.echo(f"error: {name} is not available: its job body is not part of this build", err=True)
                return EXIT_FAILED
            here = Schedule(settings.schedule, store, jobs, owner=new_owner() + ":cli", timer=False)
            async with here.holding_lease() as held:
                if held:
                    click.echo(f"running {name} here (no openkoi serve holds the schedule)…", err=True)
                    outcome = await here.run_job(name, "manual")
                    return _report(name, outcome.status, outcome.detail)
            # A service took the lease between the two looks: hand the job to it.
        return await _request(store, name, wait_seconds)


async def _request(store: Store, name: str, wait_seconds: float) -> int:
    from core.models import utcnow

    holder = await store.schedule.holder(utcnow())
    owner = holder.owner if holder else "the service"
    request_id = await store.schedule.request(name, f"openkoi schedule run (pid {_pid()})", utcnow())
    click.echo(f"asked {owner} to run {name}; waiting up to {wait_seconds:g}s…", err=True)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while loop.time() < deadline:
        request = await store.schedule.get_request(request_id)
        if request.status in ("ok", "failed"):
            return _report(name, request.status, request.detail)
        await asyncio.sleep(POLL_SECONDS)
    if await store.schedule.cancel_request(request_id):
        click.echo(f"error: {owner} did not take the request within {wait_seconds:g}s; it is withdrawn", err=True)
    else:
        click.echo(
            f"error: {name} is still running in {owner} after {wait_seconds:g}s; see openkoi schedule list", err=True
        )
    return EXIT_FAILED


def _report(name: str, status: str, detail: str) -> int:
    if status == "ok":
        click.echo(f"✓ {name}: {detail}")
        return EXIT_DONE
    click.echo(f"✗ {name} failed: {detail}", err=True)
    return EXIT_FAILED


def _pid() -> int:
    import os

    return os.getpid()
