"""Crontab expressions as APScheduler triggers, and the fire times around a moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from core import cron
from core.errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

# Fire times looked at per window at most: a safety net; the growing windows below keep it small.
MAX_STEPS = 10_000


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
    """The most recent fire time ``t`` with ``now - within <= t <= now``, or None.

    Looks back over windows growing fourfold from one minute, so a frequent job over hours of grace
    costs a handful of steps, not one per fire time."""
    span = min(within, timedelta(minutes=1))
    while True:
        latest = _latest_in(trigger, now - span, now)
        if latest is not None or span >= within:
            return latest
        span = min(span * 4, within)


def _latest_in(trigger: CronTrigger, start: datetime, now: datetime) -> datetime | None:
    latest: datetime | None = None
    fire: datetime | None = trigger.get_next_fire_time(None, start)
    for _ in range(MAX_STEPS):
        if fire is None or fire > now:
            break
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest
