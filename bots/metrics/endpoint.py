"""``GET /metrics``: who may scrape it, and the scrape itself.

Off the public API's tokens, with its own rule (``[serve] metrics`` and ``metrics_token``):

- ``metrics = false``: no route at all (404);
- a ``metrics_token`` set: every scrape must send ``Authorization: Bearer <token>`` (401 otherwise);
- no token and the service bound to a loopback address (the default, 127.0.0.1): open, since only this machine
  can reach it;
- no token and bound anywhere else (``0.0.0.0`` in a container): off, and start-up says why: counts of tasks,
  models and tools are not for everyone who can reach the chat webhooks.

A scrape reads the queue from the store (one indexed query) and the platforms' connection state, then renders the
registry in the Prometheus text format.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bots.chat.http_guard import refuse
from bots.config import ServeSettings
from bots.metrics.meter import ServiceMetrics
from core.store import Store

PATH = "/metrics"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback(host: str) -> bool:
    """True when ``host`` (``[serve] host``) is reachable from this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name other than localhost: it may resolve to anything
        return False


@dataclass(frozen=True)
class MetricsAccess:
    """How ``/metrics`` is served: ``open``, ``token`` (bearer) or ``off``, and the start-up line saying so."""

    mode: Literal["open", "token", "off"]
    why: str
    token: bytes = b""

    @classmethod
    def of(cls, serve: ServeSettings) -> MetricsAccess:
        if not serve.metrics:
            return cls("off", "off — [serve] metrics = false")
        if serve.metrics_token is not None:
            return cls(
                "token",
                f"{PATH} (bearer token: [serve] metrics_token)",
                serve.metrics_token.get_secret_value().encode(),
            )
        if is_loopback(serve.host):
            return cls("open", f"{PATH} (no token: bound to {serve.host}, this machine only)")
        return cls(
            "off",
            f"off — bound to {serve.host} without [serve] metrics_token (OPENKOI_SERVE__METRICS_TOKEN); set one to scrape",
        )

    def refusal(self, request: web.Request) -> web.Response | None:
        """None when the request may scrape; else the 401 to answer (one warning line, no traceback)."""
        if self.mode != "token":
            return None
        given = request.headers.get("Authorization", "")
        scheme, _, credential = given.partition(" ")
        # isascii first: aiohttp keeps undecodable header bytes as surrogates, which cannot be encoded.
        if scheme.lower() == "bearer" and credential.isascii() and hmac.compare_digest(credential.encode(), self.token):
            return None
        answer = refuse(request, 401, "a metrics token is required")
        answer.headers["WWW-Authenticate"] = 'Bearer realm="openkoi metrics"'
        return answer


@dataclass
class MetricsEndpoint:
    metrics: ServiceMetrics
    access: MetricsAccess
    store: Store
    # The platforms whose queues are shown, and whether each is connected (the service's adapters, read per scrape).
    platforms: Callable[[], Mapping[str, bool]]

    def add_route(self, app: web.Application) -> None:
        """``GET /metrics``, unless metrics are off."""
        if self.access.mode != "off":
            app.router.add_get(PATH, self.scrape)

    async def scrape(self, request: web.Request) -> web.Response:
        refused = self.access.refusal(request)
        if refused is not None:
            return refused
        connected = self.platforms()
        self.metrics.show_platforms(connected)
        self.metrics.show_backlog(connected, await self.store.queue.backlog())
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
