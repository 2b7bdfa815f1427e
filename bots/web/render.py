"""The page's HTML: Jinja templates (``bots/web/templates``) with autoescaping on, so any text a task, a model or
a person wrote is shown as text and never read as markup; and the few formats the templates share."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import jinja2

from bots.api.event_json import type_name
from core.events import Event


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bots.web", "templates"),
        autoescape=True,  # every template, whatever its name: nothing is rendered unescaped
        undefined=jinja2.StrictUndefined,  # a misspelt name is an error in the tests, not an empty cell
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["score"] = score
    env.filters["usd"] = usd
    return env


def render(template: str, **context: Any) -> str:
    """The template ``template`` filled with ``context``."""
    return environment().get_template(template).render(**context)


def when(value: datetime | str | None) -> str:
    """A time as the page shows it: month-day and time of day, UTC."""
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%m-%d %H:%M:%S")


def score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def usd(value: float | None) -> str:
    return "—" if value is None else f"${value:.4f}"


@functools.cache
def event_types() -> tuple[str, ...]:
    """Every event type a task's stream may send (``EventSource`` listens by name), from the engine's events."""
    found: list[str] = []
    todo: list[type[Event]] = [Event]
    while todo:
        kind = todo.pop()
        todo.extend(kind.__subclasses__())
        if kind is not Event:
            found.append(type_name(kind))
    return tuple(sorted(set(found)))
