"""Standard 5-field crontab expressions, checked without loading APScheduler.

``[schedule]`` takes ordinary crontab syntax (minute hour day-of-month month day-of-week, with
``*``, ``a-b``, ``/step``, lists, and month or weekday names). Two reasons this exists apart from
APScheduler: settings are validated on every ``openkoi`` command, and importing APScheduler's cron
trigger costs ~150 ms; and APScheduler 3 numbers weekdays from Monday = 0 while crontab has
Sunday = 0 (and 7), so ``0 9 * * 1`` would run on Tuesdays if handed over as written.
``to_apscheduler`` returns the fields with the weekday spelt as names, which mean the same to both.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab numbering: 0 (and 7) = Sunday
_ITEM = re.compile(r"^(?:(\*)|([a-z0-9]+)(?:-([a-z0-9]+))?)(?:/(\d+))?$")


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: tuple[str, ...]
    first_name: int  # the number of names[0]


_FIELDS = (
    _Field("minute", 0, 59, (), 0),
    _Field("hour", 0, 23, (), 0),
    _Field("day of month", 1, 31, (), 0),
    _Field("month", 1, 12, MONTHS, 1),
    _Field("day of week", 0, 7, WEEKDAYS, 0),
)


def _value(token: str, field: _Field) -> int:
    if token.isdigit():
        number = int(token)
    elif token in field.names:
        number = field.names.index(token) + field.first_name
    else:
        raise ValueError(f"{field.name}: {token!r} is not a number" + (" or a name" if field.names else ""))
    if not field.low <= number <= field.high:
        raise ValueError(f"{field.name}: {number} is outside {field.low}-{field.high}")
    return number


def _expand(text: str, field: _Field) -> set[int]:
    found: set[int] = set()
    for item in text.lower().split(","):
        match = _ITEM.match(item)
        if match is None:
            raise ValueError(f"{field.name}: {item!r} is not crontab syntax (*, N, A-B, */S, A-B/S, lists)")
        star, first, last, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"{field.name}: the step must be at least 1")
        if star:
            low, high = field.low, field.high
        else:
            low = _value(first, field)
            high = _value(last, field) if last else (field.high if step_text else low)
            if high < low:
                raise ValueError(f"{field.name}: the range {first}-{last} runs backwards")
        found.update(range(low, high + 1, step))
    return found


def check(expr: str) -> list[str]:
    """The five fields of ``expr``; raises ValueError saying which field is wrong and why."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expr!r} has {len(fields)} fields; a crontab expression has 5: minute hour day-of-month month day-of-week"
        )
    for text, field in zip(fields, _FIELDS, strict=True):
        _expand(text, field)
    if fields[2] != "*" and fields[4] != "*":
        # crontab runs when EITHER matches; APScheduler when both do. Refuse rather than guess.
        raise ValueError(f"{expr!r} restricts both day-of-month and day-of-week; restrict only one of them")
    return fields


def to_apscheduler(expr: str) -> dict[str, str]:
    """Keyword arguments for APScheduler 3's ``CronTrigger`` meaning what ``expr`` means in crontab."""
    minute, hour, day, month, weekday = check(expr)
    days = {d % 7 for d in _expand(weekday, _FIELDS[4])}
    day_of_week = "*" if len(days) == 7 else ",".join(WEEKDAYS[d] for d in sorted(days))
    return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": day_of_week}
