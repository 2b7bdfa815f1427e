"""``openkoi trust show|grant|revoke|audit``: trust levels per domain and the gate's audit ledger, and the gate's
part of ``openkoi mind parliament``.

The person at the terminal grants directly, recorded as their OS user (source ``terminal``); in chat a grant
needs a second approver when four eyes are on (``bots.chat.trust_desk``). Both go through the one ledger
(``core.gate.ledger``).
"""

from __future__ import annotations

import getpass
from datetime import datetime

import click

from bots.terminal.command import opened_store
from core.config import Settings
from core.gate.gatekeeper import Gatekeeper
from core.gate.trust import Grant, LevelInForce, describe_duration, parse_duration, parse_level, parse_since
from core.models import utcnow
from core.store import Store
from core.store.gate_audit import AuditEntry

SOURCE = "terminal"


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def describe_level(found: LevelInForce, now: datetime) -> str:
    """One domain's level and where it came from, on one line."""
    line = f"{found.domain:<16}{found.level.value:<12}"
    grant = found.grant
    if grant is None:
        return line + "(default)"
    return line + describe_grant(grant, now)


def describe_grant(grant: Grant, now: datetime) -> str:
    verb = "granted" if grant.kind == "grant" else "revoked"
    text = f"{verb} by {grant.granted_by} via {grant.source} on {_at(grant.created_at)}"
    if grant.approved_by:
        text += f", confirmed by {grant.approved_by}"
    if grant.expires_at is not None:
        text += f", until {_at(grant.expires_at)} ({describe_duration(grant.expires_at - now)} left)"
    if grant.reason:
        text += f': "{grant.reason}"'
    return text


def describe_entry(entry: AuditEntry) -> list[str]:
    """An audit row as a person reads it: a headline, then its rules, votes and category."""
    when = entry.at.strftime("%Y-%m-%d %H:%M:%S")
    domains = ", ".join(entry.domains)
    if entry.kind in ("grant", "revoke"):
        head = f"{when}  {entry.kind:<6} {domains} → {entry.level} by {entry.decided_by}"
        return [head + (f" ({entry.note})" if entry.note else "")]
    task = f"{entry.kind} {entry.task_id[:8] if entry.task_id else '-'}"
    outcome = entry.outcome + (f" ({entry.block})" if entry.block else "")
    outcome += f" by {entry.decided_by}" if entry.decided_by else ""
    parts = [outcome]
    if entry.level:
        parts.append(f"trust {entry.level}")
    if domains:
        parts.append(domains)
    if entry.simulated:
        parts.append("simulated: nothing ran")
    lines = [f"{when}  {task}  " + " · ".join(parts)]
    if entry.rules:
        lines.append("    rules: " + ", ".join(r.rule for r in entry.rules))
    if entry.votes:
        invalid = {b.agency: b.why for b in entry.invalid}
        votes = [f"{v.agency} {v.vote}" + (" (did not count)" if v.agency in invalid else "") for v in entry.votes]
        lines.append("    votes: " + ", ".join(votes))
    lines += [f"    {b.agency}'s ballot did not count: {b.why}" for b in entry.invalid]
    if entry.category:
        lines.append(
            f"    category: {entry.category}" + (f" ({entry.category_domain})" if entry.category_domain else "")
        )
    return lines


def _keeper(settings: Settings, store: Store) -> Gatekeeper:
    return Gatekeeper(settings.gate, store)


async def trust_show() -> None:
    async with opened_store() as (settings, store):
        now = utcnow()
        for found in await _keeper(settings, store).ledger.show(now):
            click.echo(describe_level(found, now))


async def trust_grant(domain: str, level: str, duration: str | None, reason: str | None) -> None:
    chosen = parse_level(level)
    span = parse_duration(duration) if duration else None
    async with opened_store() as (settings, store):
        grant = await _keeper(settings, store).ledger.grant(
            domain, chosen, by=getpass.getuser(), source=SOURCE, duration=span, reason=reason
        )
        click.echo(f"{grant.domain}: {grant.level.value} — {describe_grant(grant, grant.created_at)}")


async def trust_revoke(domain: str, reason: str | None) -> None:
    async with opened_store() as (settings, store):
        grant = await _keeper(settings, store).ledger.revoke(domain, by=getpass.getuser(), source=SOURCE, reason=reason)
        click.echo(f"{grant.domain}: back to ask — {describe_grant(grant, grant.created_at)}")


async def trust_audit(domain: str | None, since: str | None, limit: int) -> None:
    async with opened_store() as (settings, store):
        start = parse_since(since, utcnow()) if since else None
        entries = await _keeper(settings, store).ledger.entries(domain, start, limit)
        if not entries:
            click.echo(
                "nothing in the audit" + (f" about {domain}" if domain else "") + (" since then" if since else "")
            )
            return
        for entry in entries:
            for line in describe_entry(entry):
                click.echo(line)


async def gate_lines(settings: Settings, store: Store, task_id: str, description: str) -> list[str]:
    """The gate's part of ``openkoi mind parliament``: its decisions on the task and each floor rule that
    matched with its evidence (the task screened again: the floor is deterministic)."""
    entries = await store.gate_audit.for_task(task_id)
    if not entries:
        return []
    lines = []
    for entry in entries:
        lines += describe_entry(entry)
    if any(entry.rules for entry in entries):
        screened = await _keeper(settings, store).screen(description)
        lines += [f'  floor: {m.rule} ({m.domain}): {m.description} — "{m.evidence}"' for m in screened.matches]
    return lines
