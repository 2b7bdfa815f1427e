"""Trust levels per domain: how much a team lets the agent do, on its own, where the floor matched.

A level is granted per domain (``database``, ``deploy`` …) by a person, in rows that are only ever
added: a grant, or a revoke (a row whose level is ``ask``). The level in force for a domain is the one
of its latest unexpired row, else ``ask``. So a grant ``--for 7d`` on top of a lasting one is a
temporary change that ends by itself, and a revoke always brings the domain back to ``ask``.

    ask         a floor match blocks until a person decides (the default for every domain)
    suggest     the task runs read-only; its result is a proposal a person acts on
    act         what the floor lets through runs; a floor match still asks a person
    autonomous  a floor match runs without asking, and the gate's decision is audited

Pure: no store, no clock of its own (``now`` is always given).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from core.errors import OpenKoiError


class TrustLevel(StrEnum):
    ASK = "ask"
    SUGGEST = "suggest"
    ACT = "act"
    AUTONOMOUS = "autonomous"


# From the least trust to the most: the most restrictive of several levels is the earliest here.
LADDER: tuple[TrustLevel, ...] = (TrustLevel.ASK, TrustLevel.SUGGEST, TrustLevel.ACT, TrustLevel.AUTONOMOUS)
DEFAULT_LEVEL = TrustLevel.ASK

GrantKind = Literal["grant", "revoke"]


class BadTrustInput(OpenKoiError):
    """A level, a duration or a time a person typed cannot be read; the message says what would be."""


@dataclass(frozen=True)
class Grant:
    """One row of a domain's trust history. ``granted_by`` is who asked for it; ``approved_by`` the second
    approver who confirmed it in chat (four eyes), if any; ``source`` where it was made (``terminal``, or a
    chat platform and channel)."""

    id: str
    domain: str
    level: TrustLevel
    kind: GrantKind
    granted_by: str
    reason: str | None
    created_at: datetime
    expires_at: datetime | None
    source: str
    approved_by: str | None = None

    def in_force_at(self, now: datetime) -> bool:
        return self.created_at <= now and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class LevelInForce:
    """A domain's level now, and the row that set it (None: nobody granted anything, so ``ask``)."""

    domain: str
    level: TrustLevel
    grant: Grant | None


def parse_level(text: str) -> TrustLevel:
    """A level from what a person typed (any case); ``BadTrustInput`` names the four."""
    cleaned = text.strip().lower()
    try:
        return TrustLevel(cleaned)
    except ValueError:
        names = ", ".join(level.value for level in LADDER)
        raise BadTrustInput(f"unknown trust level {text!r}: use one of {names}") from None


def most_restrictive(levels: Iterable[TrustLevel]) -> TrustLevel:
    """The level of least trust among ``levels`` (``ask`` when there are none)."""
    return min(levels, key=LADDER.index, default=DEFAULT_LEVEL)


def level_in_force(domain: str, history: Iterable[Grant], now: datetime) -> LevelInForce:
    """The level of ``domain`` at ``now``: its latest row still in force, else ``ask``. A revoke is a row
    whose level is ``ask``, so it is in force until a later grant."""
    rows = [row for row in history if row.domain == domain and row.in_force_at(now)]
    if not rows:
        return LevelInForce(domain, DEFAULT_LEVEL, None)
    latest = max(rows, key=lambda row: row.created_at)
    return LevelInForce(domain, latest.level, latest)


def levels_in_force(domains: Iterable[str], history: Iterable[Grant], now: datetime) -> dict[str, LevelInForce]:
    """``level_in_force`` for each of ``domains``, by domain."""
    rows = list(history)
    return {domain: level_in_force(domain, rows, now) for domain in domains}


def plain_levels(levels: Mapping[str, LevelInForce]) -> dict[str, TrustLevel]:
    return {domain: found.level for domain, found in levels.items()}


_DURATION = re.compile(r"(?P<count>\d{1,5})\s*(?P<unit>m|min|h|d|w)", re.IGNORECASE)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` (one number and a unit) as a positive duration."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match["count"]) == 0:
        raise BadTrustInput(f"cannot read the duration {text!r}: write a number and a unit, e.g. 30m, 12h, 7d or 2w")
    return timedelta(**{_UNITS[match["unit"].lower()]: int(match["count"])})


def parse_since(text: str, now: datetime) -> datetime:
    """A moment from ``--since``: a duration back from ``now`` (``7d``) or an ISO date or time (UTC when
    it names no zone)."""
    try:
        return now - parse_duration(text)
    except BadTrustInput:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadTrustInput(f"cannot read --since {text!r}: give a duration (7d, 12h) or a date (2026-01-31)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=now.tzinfo)


def describe_duration(delta: timedelta) -> str:
    """A short human form of a remaining time: ``6d 23h``, ``5h 10m``, ``4m``."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"
