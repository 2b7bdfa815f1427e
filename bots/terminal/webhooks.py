"""``openkoi webhooks``: the outgoing webhooks' endpoints and deliveries, from config.toml and the outbox.

    webhooks list                     each endpoint: URL, events, enabled or disabled (a 410 Gone), deliveries
    webhooks deliveries [--endpoint NAME] [-n N]
                                      the latest deliveries, newest first, each with every attempt
    webhooks redeliver ID             send a delivery again (same webhook-id and body); openkoi serve sends it
    webhooks enable NAME              turn an endpoint a 410 disabled back on
    webhooks secret                   the secret the [api.webhooks] shorthand signs with, when openkoi made it

These read and write the database only; the running ``openkoi serve`` notices a redelivery within
``[webhook_delivery] poll_seconds`` (``integrations.webhooks``).
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import click

if TYPE_CHECKING:
    from core.store.webhooks import Delivery, DeliveryAttempt
    from integrations.webhooks.settings import Endpoint


def command_group(group_cls: type[click.Group]) -> click.Group:
    """The ``webhooks`` group, built with the CLI's group class."""

    @click.group("webhooks", cls=group_cls)
    def webhooks() -> None:
        """Outgoing webhooks: list endpoints, deliveries and their attempts; redeliver; enable; secret."""

    @webhooks.command("list")
    def list_command() -> None:
        """Each endpoint: its URL, events, whether a 410 disabled it, and its deliveries by status."""
        sys.exit(_run(show_endpoints()))

    @webhooks.command("deliveries")
    @click.option("--endpoint", metavar="NAME", help="Only this endpoint's deliveries.")
    @click.option("-n", "--limit", default=20, show_default=True, help="At most this many (the latest).")
    def deliveries(endpoint: str | None, limit: int) -> None:
        """The latest deliveries, newest first, each with every attempt (time, status, duration, error)."""
        sys.exit(_run(show_deliveries(endpoint, limit)))

    @webhooks.command("redeliver")
    @click.argument("delivery_id")
    def redeliver(delivery_id: str) -> None:
        """Send DELIVERY_ID (an id, a prefix, or msg_…) again, from the start of the retry schedule."""
        sys.exit(_run(redeliver_one(delivery_id)))

    @webhooks.command("enable")
    @click.argument("name")
    def enable(name: str) -> None:
        """Send to endpoint NAME again after a 410 Gone disabled it."""
        sys.exit(_run(enable_endpoint(name)))

    @webhooks.command("secret")
    def secret() -> None:
        """Print the secret the [api.webhooks] shorthand signs with (made and kept by openkoi when none is set)."""
        sys.exit(_run(show_secret()))

    return webhooks


def _run(work: Coroutine[Any, Any, int | None]) -> int | None:
    from bots.terminal.command import run

    return run(work)


def _configured() -> list[Endpoint]:
    """The configured endpoints, as listed (without the shorthand's generated secret: listing needs none)."""
    from bots.config import load_service_settings
    from integrations.webhooks.settings import configured_endpoints

    service = load_service_settings()
    return configured_endpoints(service.webhooks, service.api.webhooks)


def shown_url(url: str) -> str:
    """A URL as listed: without a user, password or query (they may hold credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def _when(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "—"


async def show_endpoints() -> int | None:
    from bots.terminal.command import opened_store

    endpoints = _configured()
    async with opened_store() as (settings, store):
        zone = ZoneInfo(settings.schedule.timezone)
        states = {state.name: state for state in await store.webhooks.endpoints()}
        counts = await store.webhooks.counts()
        last = await store.webhooks.last_attempts()
    if not endpoints and not states:
        click.echo("No webhooks configured: add [[webhooks]] url, secret and events to config.toml.")
        return None
    configured = {e.name for e in endpoints}
    for endpoint in endpoints:
        state = states.get(endpoint.name)
        if state is not None and not state.enabled:
            status = (
                f"DISABLED since {_when(state.disabled_at, zone)} ({state.disabled_reason});"
                f" `openkoi webhooks enable {endpoint.name}` turns it back on"
            )
        else:
            status = "enabled"
        click.echo(f"{endpoint.name}  {shown_url(endpoint.url)}  {status}")
        click.echo(f"  events: {', '.join(endpoint.events)}")
        click.echo(f"  deliveries: {_counts(counts.get(endpoint.name, {}))}")
        if endpoint.name in last:
            click.echo(f"  last attempt: {_attempt(last[endpoint.name], zone)}")
    for name in sorted(set(states) - configured):
        click.echo(f"{name}  {shown_url(states[name].url)}  no longer configured ({_counts(counts.get(name, {}))})")
    return None


def _counts(by_status: dict[str, int]) -> str:
    order = ("delivered", "pending", "sending", "failed", "gone")
    shown = [f"{by_status[s]} {s}" for s in order if by_status.get(s)]
    return ", ".join(shown) or "none yet"


def _attempt(attempt: DeliveryAttempt, zone: ZoneInfo) -> str:
    status = f"HTTP {attempt.status_code}" if attempt.status_code is not None else "no answer"
    error = f": {attempt.error}" if attempt.error and attempt.outcome != "delivered" else ""
    return f"{_when(attempt.started_at, zone)}  {status}  {attempt.duration_ms:,.0f} ms  {attempt.outcome}{error}"


def _delivery(delivery: Delivery, zone: ZoneInfo) -> str:
    task = f"  task {delivery.task_id[:8]}" if delivery.task_id else ""
    state: str = delivery.status
    if delivery.status == "pending":
        due = delivery.next_attempt_at <= datetime.now(UTC)
        state = "pending (due now)" if due else f"pending (next attempt {_when(delivery.next_attempt_at, zone)})"
    plural = "" if delivery.attempts == 1 else "s"
    return (
        f"{delivery.id[:12]}  {delivery.event_type} → {delivery.endpoint}  {state}, {delivery.attempts} attempt{plural}"
        f"  {_when(delivery.created_at, zone)}{task}"
    )


async def show_deliveries(endpoint: str | None, limit: int) -> int | None:
    from bots.terminal.command import opened_store

    async with opened_store() as (settings, store):
        zone = ZoneInfo(settings.schedule.timezone)
        found = await store.webhooks.recent(endpoint, limit)
        attempts = await store.webhooks.attempts([d.id for d in found])
    if not found:
        where = f" to {endpoint}" if endpoint else ""
        click.echo(f"No webhook deliveries{where} yet.")
        return None
    for delivery in found:
        click.echo(_delivery(delivery, zone))
        for attempt in attempts[delivery.id]:
            click.echo(f"    #{attempt.attempt}  {_attempt(attempt, zone)}")
    return None


async def redeliver_one(delivery_id: str) -> int | None:
    from bots.terminal.command import EXIT_USAGE, opened_store

    configured = {e.name for e in _configured()}
    async with opened_store() as (settings, store):
        zone = ZoneInfo(settings.schedule.timezone)
        found = await store.webhooks.find(delivery_id)
        state = await store.webhooks.endpoint(found.endpoint)
        if found.endpoint not in configured:
            click.echo(f"error: endpoint {found.endpoint} is no longer in config.toml; nothing would send it", err=True)
            return EXIT_USAGE
        if state is not None and not state.enabled:
            click.echo(
                f"error: endpoint {found.endpoint} is disabled ({state.disabled_reason});"
                f" `openkoi webhooks enable {found.endpoint}` first",
                err=True,
            )
            return EXIT_USAGE
        again = await store.webhooks.redeliver(found.id)
    click.echo(_delivery(again, zone))
    click.echo(f"  {again.message_id} will be sent again by openkoi serve (within [webhook_delivery] poll_seconds)")
    return None


async def enable_endpoint(name: str) -> int | None:
    from bots.terminal.command import EXIT_USAGE, opened_store

    async with opened_store() as (_, store):
        state = await store.webhooks.endpoint(name)
        if state is None:
            click.echo(f"error: no webhook endpoint {name!r} (see: openkoi webhooks list)", err=True)
            return EXIT_USAGE
        if state.enabled:
            click.echo(f"{name} is enabled already.")
            return None
        await store.webhooks.enable(name)
    click.echo(f"{name}: enabled; openkoi serve sends it what is pending and every new event it wants.")
    return None


async def show_secret() -> int | None:
    from bots.config import load_service_settings
    from bots.terminal.command import EXIT_USAGE, opened_store
    from integrations.webhooks.outgoing import shorthand_secret

    api = load_service_settings().api.webhooks
    if not api.urls():
        click.echo(
            "error: no [api.webhooks] shorthand is configured; [[webhooks]] entries name their own secret", err=True
        )
        return EXIT_USAGE
    if api.secret:
        click.echo("[api.webhooks] signs with the secret set in config.toml ([api.webhooks] secret).")
        return None
    async with opened_store() as (_, store):
        secret = await shorthand_secret(store, api)
    click.echo(secret)
    return None
