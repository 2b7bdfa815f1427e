"""Crontab expressions as APScheduler triggers, and the fire times around a moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from core import cron
from core.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

# A window holding more fire times than this (a per-second cron over hours of grace) is cut: only the
# latest fire time matters, and the cut keeps a start-up from spending seconds counting them.
MAX_STEPS = 20_000


def make_trigger(name: str, expr: str, timezone: str) -> CronTrigger:
    """The trigger for ``expr`` (crontab syntax, weekdays as crontab numbers them) in ``timezone``."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger(**cron.to_apscheduler(expr), timezone=ZoneInfo(timezone))
    except (ValueError, KeyError) as exc:  # settings validate both; this guards settings built without it
        raise ConfigError(f"[schedule] {name} = {expr!r} ({timezone}): {exc}") from None


def next_fire(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The first fire time strictly after ``now``."""
    fire: datetime | None = trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
    return fire


def latest_fire(trigger: CronTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The most recent fire time ``t`` with ``now - within <= t <= now``, or None."""
    latest: datetime | None = None
    fire: datetime | None = trigger.get_next_fire_time(None, now - within)
    for _ in range(MAX_STEPS):
        if fire is None or fire > now:
            return latest
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    # Cut short: jump to the last stretch of the window and look there.
    return latest_fire(trigger, now, min(within / 2, now - latest)) if latest is not None else None
