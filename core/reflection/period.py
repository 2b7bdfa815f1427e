"""Reporting periods: a calendar day or an ISO week (Monday to Monday) in the team's timezone.

A period's ``key`` names it for good ("day:2026-11-30", "week:2026-11-23"): digests and scheduled
runs are recorded under it, so the same period is never reported twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

PeriodKind = Literal["day", "week"]


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in the timezone the period was computed in (both aware datetimes)."""

    kind: PeriodKind
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.start.date().isoformat()}"

    @property
    def start_utc(self) -> str:
        """``start`` as stored timestamps are written (ISO 8601, UTC), for range queries."""
        return self.start.astimezone(UTC).isoformat()

    @property
    def end_utc(self) -> str:
        return self.end.astimezone(UTC).isoformat()

    def previous(self) -> Period:
        return period_containing(self.kind, self.start - timedelta(seconds=1), self.start.tzinfo)

    def days(self) -> list[Period]:
        """The calendar days of this period, in order (one for a day, seven for a week)."""
        result: list[Period] = []
        day = period_containing("day", self.start, self.start.tzinfo)
        while day.start < self.end:
            result.append(day)
            day = period_containing("day", day.end, self.start.tzinfo)
        return result


def _local_midnight(day: datetime, tz: ZoneInfo) -> datetime:
    # Built from the date, not by subtracting hours: a DST change makes some days 23 or 25 hours long.
    return datetime.combine(day.date(), time(0), tzinfo=tz)


def period_containing(kind: PeriodKind, moment: datetime, tz: tzinfo | None) -> Period:
    """The day or week that contains ``moment`` (an aware datetime) in ``tz``."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo("UTC")
    local = moment.astimezone(zone)
    start = _local_midnight(local, zone)
    if kind == "week":
        start = _local_midnight(local - timedelta(days=local.weekday()), zone)
        end = _local_midnight(start + timedelta(days=7, hours=12), zone)
    else:
        end = _local_midnight(start + timedelta(days=1, hours=12), zone)
    return Period(kind, start, end)


def last_complete(kind: PeriodKind, now: datetime, tz: ZoneInfo) -> Period:
    """The most recent period that has ended by ``now``: what a morning digest reports (yesterday, last week)."""
    return period_containing(kind, now, tz).previous()
