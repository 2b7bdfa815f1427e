"""A webhook receiver on 127.0.0.1 for the tests: it records every request and answers as told (a status per
request from ``answers``, then ``default``), can be slow, and can go down and come back on the same port.
Verification is the reference implementation's (the ``standardwebhooks`` package), never ours."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook

HOOK_PATH = "/hooks/openkoi"
ELSEWHERE_PATH = "/elsewhere"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def verify(self, secret: str) -> Any:
        """The payload, parsed, when the reference implementation accepts the signature (it raises otherwise)."""
        return Webhook(secret).verify(self.body, self.headers)

    @property
    def payload(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class Receiver:
    default: int = 204
    answers: list[int] = field(default_factory=list)  # one status per request, before ``default``
    delay: float = 0.0  # seconds before answering
    retry_after: str = "0"  # sent with a 429 or 503
    received: list[Received] = field(default_factory=list)
    most_at_once: int = 0  # the most requests it was answering at the same time
    _answering: int = 0
    port: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}"

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def start(self) -> Receiver:
        """Listen (again, on the same port once it had one)."""
        app = web.Application()
        app.router.add_post(HOOK_PATH, self._hook)
        app.router.add_route("*", ELSEWHERE_PATH, self._elsewhere)
        # A request left hanging (``delay``) is cut off when the receiver stops, not waited for.
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening: connections are refused until ``start``."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_for(self, count: int, within: float = 10.0, path: str = HOOK_PATH) -> list[Received]:
        """Wait until ``count`` requests arrived at ``path``; fail the test after ``within`` seconds."""
        async with asyncio.timeout(within):
            while len(self.at(path)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.at(path)

    async def _record(self, request: web.Request) -> None:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body))
        self._arrived.set()

    async def _hook(self, request: web.Request) -> web.Response:
        self._answering += 1
        self.most_at_once = max(self.most_at_once, self._answering)
        try:
            await self._record(request)
            if self.delay:
                await asyncio.sleep(self.delay)
        finally:
            self._answering -= 1
        status = self.answers.pop(0) if self.answers else self.default
        if 300 <= status < 400:
            return web.Response(status=status, headers={"Location": f"http://127.0.0.1:{self.port}{ELSEWHERE_PATH}"})
        headers = {"Retry-After": self.retry_after} if status in (429, 503) else {}
        return web.Response(status=status, text="" if status < 300 else f"answer {status}", headers=headers)

    async def _elsewhere(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(status=200)
