"""What the webhook tests share: fast delivery settings, an endpoint's settings, the outgoing webhooks running
over a real store with a bus to publish on, and engine events to publish."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from core.events import EventBus, TaskFinished
from core.models import LoopDecision, TaskStatus
from core.store import Store
from integrations.webhooks.outgoing import OutgoingWebhooks
from integrations.webhooks.settings import ApiWebhooks, WebhookDelivery, WebhookEndpointSettings
from integrations.webhooks.signing import generate_secret

SECRET = generate_secret()
# The schedule shrunk from hours to a blink, without jitter so a test knows when the next attempt comes.
FAST: dict[str, Any] = {"retry_schedule": [0, 0.05, 0.05, 0.05], "jitter": 0, "timeout_seconds": 2, "poll_seconds": 0.1}


def endpoint(
    url: str, name: str = "ci", events: Sequence[str] = ("*",), secret: str = SECRET
) -> WebhookEndpointSettings:
    return WebhookEndpointSettings(name=name, url=url, secret=secret, events=list(events))


def finished(
    task_id: str = "t1",
    status: TaskStatus = TaskStatus.DONE,
    output: str | None = "The answer.",
    decision: LoopDecision | None = LoopDecision.ACCEPT,
) -> TaskFinished:
    return TaskFinished(task_id, status, decision, output, 0.9, 2, 1200, 0.0123, 1, "accepted", 0.8)


@asynccontextmanager
async def running_hooks(
    store: Store,
    endpoints: Sequence[WebhookEndpointSettings],
    delivery: dict[str, Any] | None = None,
    api: ApiWebhooks | None = None,
    start: bool = True,
) -> AsyncIterator[tuple[OutgoingWebhooks, EventBus]]:
    """The outgoing webhooks, attached to a bus and (``start``) sending; stopped afterwards."""
    settings = WebhookDelivery(**{**FAST, **(delivery or {})})
    hooks = await OutgoingWebhooks.open(store, list(endpoints), api or ApiWebhooks(), settings)
    bus = EventBus()
    hooks.attach(bus)
    if start:
        hooks.start()
    try:
        yield hooks, bus
    finally:
        await hooks.stop(within=1.0)


def write_task_done_config(home: Path, url: str, retry_seconds: float, attempts: int) -> None:
    """config.toml in ``home`` for `openkoi serve` as a subprocess: one endpoint ("ci", ``SECRET``) for task.done,
    tried at once, then every ``retry_seconds`` (no jitter: a test knows when the attempts come) ``attempts`` times."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f"""[[webhooks]]
name = "ci"
url = "{url}"
secret = "{SECRET}"
events = ["task.done"]

[webhook_delivery]
retry_schedule = {[0] + [retry_seconds] * attempts}
jitter = 0
timeout_seconds = 2
poll_seconds = 0.1
""",
        encoding="utf-8",
    )
