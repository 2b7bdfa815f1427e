"""The parts of the service the API's handlers use, in one place (the service builds it; see ``bots.api.app``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bots.api.event_log import EventLog
from bots.api.ratelimit import RateLimiter
from bots.api.settings import ApiSettings
from bots.api.tokens import TokenSet
from bots.chat.desk import ConfirmationDesk
from bots.chat.intake import IntakeWriter
from bots.chat.workers import WorkerPool
from core.engine import Engine
from core.store import Store


@dataclass
class ApiContext:
    engine: Engine
    pool: WorkerPool
    desk: ConfirmationDesk  # Override / Cancel and, through it, the actions' Allow / Deny
    settings: ApiSettings
    tokens: TokenSet
    intake: IntakeWriter  # the API's own writer: no per-person limits, the rate limit is per token
    events: EventLog
    limiter: RateLimiter
    # The service's own account of itself (model, platforms, queue) for GET /status.
    service_status: Callable[[], Awaitable[dict[str, Any]]] | None = None
    # Where an approved skill proposal is installed (the same home `openkoi learn approve` uses).
    skills_home: Path | None = None
    openapi: str = ""  # the OpenAPI document, as served

    @property
    def store(self) -> Store:
        return self.engine.store
