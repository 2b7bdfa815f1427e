"""Trust levels per domain (``core.gate.trust``), their append-only rows (``core.store.trust``), the domains a
team may grant (``core.gate.domains``) and the ledger over them (``core.gate.ledger``)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from core.config import Settings
from core.errors import ConfigError
from core.gate.domains import Domains, UnknownDomain
from core.gate.gatekeeper import Gatekeeper
from core.gate.settings import GateSettings
from core.gate.trust import (
    BadTrustInput,
    Grant,
    TrustLevel,
    level_in_force,
    most_restrictive,
    parse_duration,
    parse_level,
    parse_since,
)
from core.secrets import SECRETS
from core.store import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(level: TrustLevel, at: datetime, expires: datetime | None = None, kind: str = "grant") -> Grant:
    return Grant(f"g{at.timestamp()}", "database", level, kind, "alice", None, at, expires, "terminal")  # type: ignore[arg-type]


def test_a_domain_nobody_granted_is_ask() -> None:
    found = level_in_force("database", [], T0)
    assert found.level is TrustLevel.ASK and found.grant is None


def test_the_latest_unexpired_row_is_in_force_and_a_temporary_grant_lapses_by_itself() -> None:
    lasting = row(TrustLevel.SUGGEST, T0)
    temporary = row(TrustLevel.AUTONOMOUS, T0 + timedelta(hours=1), expires=T0 + timedelta(days=7, hours=1))
    history = [lasting, temporary]
    assert level_in_force("database", history, T0 + timedelta(days=1)).level is TrustLevel.AUTONOMOUS
    after = level_in_force("database", history, T0 + timedelta(days=8))
    assert after.level is TrustLevel.SUGGEST and after.grant == lasting
    assert level_in_force("database", [temporary], T0 + timedelta(days=8)).level is TrustLevel.ASK


def test_a_revoke_brings_the_domain_back_to_ask_until_a_later_grant() -> None:
    history = [row(TrustLevel.AUTONOMOUS, T0), row(TrustLevel.ASK, T0 + timedelta(hours=1), kind="revoke")]
    assert level_in_force("database", history, T0 + timedelta(hours=2)).level is TrustLevel.ASK
    history.append(row(TrustLevel.ACT, T0 + timedelta(hours=3)))
    assert level_in_force("database", history, T0 + timedelta(hours=4)).level is TrustLevel.ACT


def test_the_most_restrictive_level_is_the_least_trust() -> None:
    assert most_restrictive([TrustLevel.AUTONOMOUS, TrustLevel.SUGGEST, TrustLevel.ACT]) is TrustLevel.SUGGEST
    assert most_restrictive([]) is TrustLevel.ASK


@pytest.mark.parametrize(("text", "expected"), [("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)),
                                                ("7d", timedelta(days=7)), ("2W", timedelta(weeks=2))])  # fmt: skip
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "0d", "-1d", "7 days and more", "forever"])
def test_a_bad_duration_says_what_would_be_read(text: str) -> None:
    with pytest.raises(BadTrustInput, match=r"e\.g\. 30m, 12h, 7d or 2w"):
        parse_duration(text)


def test_levels_and_since() -> None:
    assert parse_level(" Autonomous ") is TrustLevel.AUTONOMOUS
    with pytest.raises(BadTrustInput, match="use one of ask, suggest, act, autonomous"):
        parse_level("yolo")
    assert parse_since("7d", T0) == T0 - timedelta(days=7)
    assert parse_since("2026-01-31", T0) == datetime(2026, 1, 31, tzinfo=UTC)
    with pytest.raises(BadTrustInput, match="give a duration"):
        parse_since("last tuesday", T0)


def test_the_domains_are_the_floors_the_shipped_ones_and_the_teams() -> None:
    domains = Domains.of(GateSettings(domains=["payments-eu"]), ["infrastructure", "database"])
    for name in ("database", "deploy", "messaging", "code", "files", "infrastructure", "payments-eu"):
        assert domains.check(name) == name
    with pytest.raises(UnknownDomain, match="Did you mean 'database'"):
        domains.check("databse")
    assert domains.of_category("sql-safety") == "database" and domains.of_category("code-review") == "code"
    assert domains.of_category("general") is None


def test_a_category_mapped_to_an_unknown_domain_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match=r"\[gate\] categories: unknown domain 'ledgers'"):
        Domains.of(GateSettings(categories={"ledger-review": "ledgers"}), [])


async def test_grants_are_append_only_rows(store: Store) -> None:
    await store.trust.add(domain="database", level=TrustLevel.ACT, kind="grant", granted_by="alice", source="terminal")
    for statement in ("UPDATE trust_grants SET level = 'autonomous'", "DELETE FROM trust_grants"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await store.db.execute(statement)
    [kept] = await store.trust.history()
    assert kept.level is TrustLevel.ACT


async def test_the_ledger_grants_revokes_and_audits_each_change(settings: Settings, store: Store) -> None:
    ledger = Gatekeeper(settings.gate, store).ledger
    secret = "sk-live-0123456789abcdef"
    added = SECRETS.add([secret])
    try:
        grant = await ledger.grant(
            "Database", TrustLevel.AUTONOMOUS, by="alice", source="terminal", duration=timedelta(days=7),
            reason=f"migration week, key {secret}",
        )  # fmt: skip
    finally:
        SECRETS.remove(added)
    assert grant.domain == "database" and grant.expires_at == grant.created_at + timedelta(days=7)
    assert (await ledger.levels(["database"]))["database"].level is TrustLevel.AUTONOMOUS
    later = grant.created_at + timedelta(days=8)
    assert (await ledger.levels(["database"], now=later))["database"].level is TrustLevel.ASK, "the grant expired"
    await ledger.revoke("database", by="bob", source="slack:C1", reason="incident")
    assert (await ledger.levels(["database"]))["database"].level is TrustLevel.ASK
    with pytest.raises(UnknownDomain):
        await ledger.grant("databse", TrustLevel.ACT, by="alice", source="terminal")
    entries = await ledger.entries("database")
    assert [(e.kind, e.outcome, e.level, e.decided_by) for e in entries] == [
        ("grant", "granted", "autonomous", "alice"),
        ("revoke", "revoked", "ask", "bob"),
    ]
    assert entries[0].note is not None and "migration week" in entries[0].note and secret not in entries[0].note
    [stored] = [g for g in await store.trust.history() if g.kind == "grant"]
    assert stored.reason is not None and secret not in stored.reason


async def test_audit_rows_older_than_the_retention_are_pruned(settings: Settings, store: Store) -> None:
    ledger = Gatekeeper(settings.gate, store).ledger
    now = datetime.now(UTC)
    await ledger.grant("code", TrustLevel.ACT, by="alice", source="terminal", now=now - timedelta(days=91))
    await ledger.grant("deploy", TrustLevel.ACT, by="alice", source="terminal", now=now - timedelta(days=89))
    assert await ledger.prune(now) == 1
    assert [e.domains for e in await ledger.entries()] == [("deploy",)]
    # The grants themselves stay: they decide the level in force, whatever the audit keeps.
    assert len(await store.trust.history()) == 2


async def test_the_scheduled_job_prunes_to_the_configured_retention(settings: Settings, store: Store) -> None:
    from scheduler.jobs import standard_jobs
    from scheduler.runs import JobRun

    short = settings.model_copy(update={"gate": GateSettings(audit_retention_days=10)})
    ledger = Gatekeeper(short.gate, store).ledger
    fire = datetime.now(UTC)
    await ledger.grant("code", TrustLevel.ACT, by="alice", source="terminal", now=fire - timedelta(days=11))
    await ledger.grant("code", TrustLevel.ASK, by="alice", source="terminal", now=fire - timedelta(days=9))
    job = standard_jobs(short, store)["audit_pruning"]
    assert await job(JobRun("audit_pruning", fire, "schedule")) == "pruned 1 audit row older than 10 days"
    assert [e.level for e in await ledger.entries()] == ["ask"]
