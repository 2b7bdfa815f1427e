"""Run `openkoi serve`'s Service in-process for tests: real aiohttp server on 127.0.0.1, real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bots.config import ServiceSettings, service_settings_model
from bots.service import Service
from core.config import Settings
from core.store import Store

# Outbound pacing at production rates would make every thread take seconds; tests that check pacing set their own.
UNPACED = {"messages": 10_000, "seconds": 1.0}
PACES = {"slack": ("channel_pace",), "discord": ("channel_pace",), "telegram": ("chat_pace", "group_pace")}


def service_settings(**sections: Any) -> ServiceSettings:
    """ServiceSettings for tests: port 0 (any free port), fast sweeps and retries, platforms unpaced
    unless a test says otherwise, no file or env involved."""
    serve = {"host": "127.0.0.1", "port": 0, "workers": 4, "drain_seconds": 5, "expiry_check_seconds": 0.2}
    serve.update(start_retry_seconds=0.2, start_retry_max_seconds=1.0)
    serve.update(sections.pop("serve", {}))
    for platform, keys in PACES.items():
        if platform in sections:
            sections[platform] = {**dict.fromkeys(keys, UNPACED), **sections[platform]}
    return service_settings_model().model_validate({"serve": serve, **sections})


@asynccontextmanager
async def running_service(settings: Settings, service: ServiceSettings) -> AsyncIterator[Service]:
    svc = Service(settings, service)
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


async def wait_until(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], within: float = 10.0, every: float = 0.02
) -> None:
    """Poll ``check`` until it is true; fail the test with a clear message after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(every)


@dataclass(frozen=True)
class FeedbackFigures:
    """What a task's 👍/👎 votes are stored as: the votes, its usage event's counts, the approval
    share its skill's effectiveness reads, and the confidence of the learnings it produced."""

    votes: dict[str, int]
    event: tuple[int, int]
    approval: float
    confidences: list[float]


async def feedback_figures(store: Store, task_id: str, skill: str) -> FeedbackFigures:
    votes = {r.voter: r.vote for r in await store.feedback.for_task(task_id)}
    event = await store.usage_events.get(task_id)
    assert event is not None, "a finished task has a usage event"
    outcomes = (await store.skill_uses.outcomes([skill])).get(skill)
    confidences = [round(c, 4) for c in await store.feedback.learning_confidences(task_id)]
    return FeedbackFigures(
        votes, (event.feedback_up, event.feedback_down), outcomes.approval_sum if outcomes else 0.0, confidences
    )
