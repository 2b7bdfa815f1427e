"""``openkoi trust show|grant|revoke|audit``: trust levels per domain and the gate's audit ledger, and the gate's
part of ``openkoi mind parliament``.

The person at the terminal grants directly, recorded as their OS user (source ``terminal``); in chat a grant
needs a second approver when four eyes are on (``bots.chat.trust_desk``). Both go through the one ledger
(``core.gate.ledger``).
"""

from __future__ import annotations

import getpass

import click

from bots.terminal.command import opened_store
from core.config import Settings
from core.gate.describe import describe_entry, describe_grant, describe_level
from core.gate.gatekeeper import Gatekeeper
from core.gate.trust import parse_duration, parse_level, parse_since
from core.models import utcnow
from core.store import Store

SOURCE = "terminal"


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
