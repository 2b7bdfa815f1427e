"""Read-only views for the terminal: status, sessions, tasks, the last deliberation.

Nothing here imports litellm or the engine. Config and storage load inside each view, so merely
importing this module (as ``openkoi --help`` does) stays cheap.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from bots.terminal.command import opened_store
from core.errors import OpenKoiError
from core.text import clip

PREVIEW_CHARS = 600  # of a task's output in `openkoi task show`; `openkoi task replay` prints it whole


def _money(value: float | None) -> str:
    return f"${(value or 0):.4f}"


async def status(costs: bool) -> None:
    from core.llm import providers
    from core.models import Role

    async with opened_store() as (settings, store):
        click.echo(
            f"config:   {settings.config_path}{'' if settings.config_path.exists() else ' (not present; defaults)'}"
        )
        click.echo(f"data:     {settings.data_dir}")
        found = providers.discover()
        click.echo(
            "providers: " + (", ".join(f"{c.provider} ({c.source})" for c in found) or "none found in the environment")
        )
        for role in Role:
            try:
                name = providers.role_model_name(role, settings, probe=False)
            except OpenKoiError as exc:
                name = f"unavailable — {exc}"
            click.echo(f"  {role.value:<10} {name}")
        counts = await store.tasks.counts()
        click.echo("tasks:    " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none yet"))
        from bots.terminal.memory import status_lines

        for line in await status_lines(settings, store):
            click.echo(line)
        for label, since in (("24h", timedelta(days=1)), ("all", None)):
            t = await store.usage.totals(since)
            unpriced = f" ({t.unpriced} calls without a known price)" if t.unpriced else ""
            click.echo(f"spent {label:>3}: {t.calls} calls, {t.tokens:,} tokens, {_money(t.cost_usd)}{unpriced}")
        if costs:
            for by in ("phase", "model"):
                click.echo(f"by {by}:")
                for row in await store.usage.breakdown(by):
                    click.echo(f"  {row.key:<28} {row.calls:>5} calls {row.tokens:>10,} tokens {_money(row.cost_usd)}")


async def session_list(limit: int) -> None:
    async with opened_store() as (_, store):
        rows = await store.sessions.recent(limit)
        if not rows:
            click.echo("no sessions yet")
        for r in rows:
            s = r.session
            click.echo(
                f"{s.id}  {s.created_at.isoformat()[:19]}  {s.status:<7} {r.tasks:>3} tasks  {_money(r.cost_usd)}  {s.title}"
            )


async def session_show(prefix: str) -> None:
    async with opened_store() as (_, store):
        session_id = await store.db.resolve_id("sessions", prefix)
        s = await store.sessions.get(session_id)
        click.echo(f"session {s.id} ({s.kind}, {s.status}) started {s.created_at:%Y-%m-%d %H:%M}")
        for t in await store.tasks.recent(session_id, 100):
            click.echo(_task_line(t))


async def session_delete(prefix: str, yes: bool) -> None:
    async with opened_store() as (settings, store):
        session_id = await store.db.resolve_id("sessions", prefix)
        if not yes and not click.confirm(f"Delete session {session_id} and all its tasks?", default=False):
            click.echo("kept")
            return
        await store.sessions.delete(session_id)
        directory = settings.data_dir / "sessions" / session_id
        if directory.is_dir():
            for path in directory.glob("*.md"):
                path.unlink()
            directory.rmdir()
        click.echo(f"deleted session {session_id}")


def _task_line(t: Any) -> str:
    score = f"{t.score:.2f}" if t.score is not None else "  - "
    return f"{t.id}  {t.created_at:%Y-%m-%d %H:%M}  {t.status.value:<21} {score}  {t.description[:70]}"


async def task_list(session_prefix: str | None, limit: int) -> None:
    async with opened_store() as (_, store):
        session_id = await store.db.resolve_id("sessions", session_prefix) if session_prefix else None
        tasks = await store.tasks.recent(session_id, limit)
        if not tasks:
            click.echo("no tasks yet")
        for t in tasks:
            click.echo(_task_line(t))


async def task_show(prefix: str) -> None:
    async with opened_store() as (_, store):
        task_id = await store.db.resolve_id("tasks", prefix)
        t = await store.tasks.get(task_id)
        click.echo(f"task     {t.id} (session {t.session_id})")
        click.echo(f"asked    {t.description}")
        click.echo(f"status   {t.status.value}" + (f" — {t.error}" if t.error else ""))
        if t.category:
            click.echo(f"rubric   {t.category}")
        if t.decision:
            click.echo(f"decision {t.decision.value}")
        trace = await store.tasks.trace(task_id)
        if trace.recall_ms is not None:
            click.echo(
                f"recall   {trace.recall_memories} memories, {trace.recall_tokens} tokens, {trace.recall_ms:.1f} ms"
            )
        uses = await store.skill_uses.for_task(task_id)
        if uses:
            click.echo("skills   " + ", ".join(u.skill + (" (asked for)" if u.forced else "") for u in uses))
        tally = await store.feedback.tally(task_id)
        if tally.up or tally.down:
            click.echo(f"feedback 👍 {tally.up} · 👎 {tally.down}")
        for c in await store.cycles.for_task(task_id):
            score = f"{c.score:.2f}" if c.score is not None else "-"
            flags = " incremental" if c.incremental else ""
            flags += " (evaluation reused)" if c.skipped else ""
            click.echo(f"  iter {c.iteration}: score {score}{flags} → {c.decision}: {c.decision_reason}")
        for u in await store.usage.for_task(task_id):
            click.echo(f"  {u.phase:<10} {u.model:<30} {u.calls} calls {u.tokens:,} tokens {_money(u.cost_usd)}")
        if t.output:
            click.echo("output:\n" + clip(t.output, PREVIEW_CHARS))


async def task_replay(prefix: str) -> None:
    async with opened_store() as (_, store):
        task_id = await store.db.resolve_id("tasks", prefix)
        t = await store.tasks.get(task_id)
        if t.output is None:
            raise OpenKoiError(f"task {task_id} has no output ({t.status.value})")
        click.echo(t.output)


async def mind_parliament(prefix: str | None) -> None:
    async with opened_store() as (settings, store):
        task_id = await store.db.resolve_id("tasks", prefix) if prefix else None
        d = await store.deliberations.latest(task_id)
        if d is None:
            click.echo("no deliberation yet")
            return
        click.echo(f"task: {d.task_description} ({d.task_id})")
        click.echo(f"outcome: {d.outcome}" + (" (fail-closed: deliberation unavailable)" if d.fail_closed else ""))
        if d.outcome != "approved" and not d.fail_closed:
            click.echo(f"reason: {d.reason}")
        if d.reversibility:
            click.echo(
                f"reversibility {d.reversibility}, blast radius {d.blast_radius}, permission {d.permission_level}"
            )
        for v in d.votes:
            click.echo(
                f"  {v.agency.upper():<11} {v.vote:<20} {v.reason}"
                + (f" (caveat: {v.caveat})" if v.caveat else "")
                + (f"\n  {'':<11} INVALID, not counted: {v.invalid}" if v.invalid else "")
            )
        from bots.terminal.trust import gate_lines  # the floor loads only here

        lines = await gate_lines(settings, store, d.task_id, d.task_description or "")
        if lines:
            click.echo("gate:")
            for line in lines:
                click.echo(f"  {line}")
