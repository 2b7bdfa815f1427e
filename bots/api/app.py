"""Mounting the API on the service's aiohttp application, when at least one token is configured.

``mount`` adds every route of the table under /api/v1 (each behind ``auth.authenticate`` unless it is open),
the OpenAPI document at /api/v1/openapi.json, the problem-document middleware (outermost, so it also sees the
body guard's answers), the event log on the engine's bus, and the ``api`` platform's access policy on the
desks. With no token it adds nothing and says why, for the start-up announcement.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bots.api import table
from bots.api.auth import authenticate
from bots.api.context import ApiContext
from bots.api.event_log import EventLog
from bots.api.middleware import problems
from bots.api.openapi import document
from bots.api.policy import policy_for
from bots.api.ratelimit import RateLimiter
from bots.api.routes import PREFIX, Call, Route
from bots.api.settings import ENV_TOKEN, ApiSettings
from bots.api.tokens import PLATFORM, TokenSet
from bots.chat.desk import ConfirmationDesk
from bots.chat.intake import IntakeWriter
from bots.chat.workers import WorkerPool
from core.engine import Engine
from core.store.intake import QueueLimits

# The mounted API's parts, for a surface on the same application that shows its data (the web page, bots.web).
CONTEXT = web.AppKey("openkoi_api", ApiContext)

OFF = f"off — no token configured; set {ENV_TOKEN} or run `openkoi api token create NAME --scopes …`"


@dataclass
class Api:
    """The mounted API: what the service keeps to announce it and to stop it."""

    context: ApiContext
    routes: tuple[Route, ...]

    @property
    def line(self) -> str:
        names = sorted(t.name for _, t in self.context.tokens.entries)
        return f"on at {PREFIX} — tokens: {', '.join(names)}"

    async def close(self) -> None:
        """End every event stream and stop saving: the service is stopping."""
        self.context.events.close()
        await self.context.intake.close()


def mount(
    app: web.Application,
    settings: ApiSettings,
    engine: Engine,
    pool: WorkerPool,
    desk: ConfirmationDesk,
    skills_home: Path | None = None,
) -> Api | None:
    """Mount the API on ``app`` (before it starts); None, mounting nothing, when no token is configured."""
    tokens = TokenSet.from_settings(settings)
    if not tokens:
        return None
    events = EventLog(engine.store)
    events.attach(engine.bus)
    desk.policies[PLATFORM] = policy_for(settings, tokens)  # the desks' dict: the action desk shares it
    context = ApiContext(
        engine=engine,
        pool=pool,
        desk=desk,
        settings=settings,
        tokens=tokens,
        intake=IntakeWriter(engine.store.intake, QueueLimits()),
        events=events,
        limiter=RateLimiter(settings.rate_per_second, settings.burst),
        skills_home=skills_home,
    )
    routes = table.routes()
    context.openapi = json.dumps(document(routes))
    app[CONTEXT] = context
    app.middlewares.insert(0, problems)
    for route in routes:
        app.router.add_route(route.method, route.full_path, _endpoint(context, route))
    return Api(context, routes)


def _endpoint(api: ApiContext, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        token = authenticate(api, route, request) if route.scope is not None else None
        return await route.handler(Call(api, request, token))

    return endpoint
