"""`openkoi serve`: one process hosting every configured chat platform.

An aiohttp server (Slack's `/slack/events`, Telegram's `/telegram/webhook`, `/healthz`, `/readyz`),
the Slack Socket Mode, Discord gateway and Telegram polling clients, a pool of workers taking saved
tasks from SQLite, the thread publisher and the confirmation desk. On start it recovers what a
previous process left unfinished; on SIGTERM it stops taking commands, lets running tasks finish for
`drain_seconds`, fails the rest honestly in their threads (queued ones wait for the next start),
and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import signal
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from aiohttp import web

from bots.chat import http_guard
from bots.chat.access import AccessPolicy
from bots.chat.desk import ConfirmationDesk
from bots.chat.ingress import ACTIVE, Ingress
from bots.chat.intake import IntakeWriter
from bots.chat.platform import ChatPlatform
from bots.chat.publisher import ThreadPublisher
from bots.chat.queue import TaskQueue, job_name, task_of
from bots.chat.workers import WorkerPool
from bots.config import ServiceSettings
from core.config import Settings
from core.engine import Engine
from core.events import EventBus
from core.llm.gateway import warm_up
from core.models import TaskStatus
from core.store import Store
from core.store.intake import QueueLimits

log = logging.getLogger(__name__)

PLATFORMS = ("slack", "discord", "telegram")


class Adapter(ChatPlatform, Protocol):
    """A chat platform the service runs: it may add HTTP routes before the server starts."""

    def add_routes(self, app: web.Application) -> None: ...


@dataclass
class Service:
    settings: Settings
    service: ServiceSettings
    engine: Engine = field(init=False)
    store: Store = field(init=False)
    pool: WorkerPool = field(init=False)
    publisher: ThreadPublisher = field(init=False)
    desk: ConfirmationDesk = field(init=False)
    ingress: Ingress = field(init=False)
    adapters: dict[str, Adapter] = field(default_factory=dict)
    off: dict[str, str] = field(default_factory=dict)
    runner: web.AppRunner | None = None
    port: int = 0
    _background: list[asyncio.Task[Any]] = field(default_factory=list)
    startup_report: str = ""  # what start-up said: which platforms are on, and why others are off

    async def start(self) -> None:
        """Open storage, start the platforms that have credentials, recover, then listen.

        If any step fails, everything started so far is stopped again before the error propagates."""
        self.store = await Store(self.settings.db_path).open()
        try:
            await self._start()
        except BaseException:
            await self._abort_start()
            raise

    async def _abort_start(self) -> None:
        for job in self._background:
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.stop()
        if self.runner is not None:
            await self.runner.cleanup()
        with contextlib.suppress(Exception):
            await self.pool.drain(within=0)
        await self.store.close()

    async def _start(self) -> None:
        bus = EventBus()
        self.engine = Engine(self.settings, self.store, bus)
        s = self.service
        self.publisher = ThreadPublisher(self.store, {}, self.settings.parliament.confirmation_ttl_minutes)
        self.publisher.attach(bus)
        # The queue is the tasks table: workers take saved tasks of the platforms that are on.
        self.pool = WorkerPool(s.serve.workers, TaskQueue(self.engine, self.publisher, self.adapters.keys()))
        policies = {name: AccessPolicy(getattr(s, name).access) for name in PLATFORMS}
        self.desk = ConfirmationDesk(self.engine, self.pool, policies)
        limits = QueueLimits(s.serve.queue_limit_per_user, s.serve.queue_limit_per_channel)
        intake = IntakeWriter(self.store.intake, limits)
        self.ingress = Ingress(self.engine, self.pool, self.desk, policies, intake, queue_limit=s.serve.queue_limit)
        self._build_adapters()
        # litellm's import holds the event loop for 2–3 s; done lazily by the first task it would
        # make every platform miss its 3-second acknowledgement. Import it off the loop first.
        await asyncio.to_thread(warm_up)
        # litellm and the SDKs leave ~10^6 long-lived objects; a full collection scanning them all
        # held the loop for 0.2–0.3 s under load (measured by tests/benchmarks/ack_latency).
        # Freezing moves what exists now out of the collector's sight; new garbage is still collected.
        gc.collect()
        gc.freeze()
        app = http_guard.application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        for adapter in self.adapters.values():
            adapter.add_routes(app)
        for name, adapter in list(self.adapters.items()):
            try:
                await adapter.start()
            except Exception as exc:  # one platform's outage must not keep the others down
                log.exception("%s did not start", name)
                self.off[name] = f"failed to start: {exc}"
        # Workers start after recovery has failed the tasks a previous process left running, so
        # that nothing this process starts can be mistaken for one of them.
        await self.recover()
        self.pool.start()
        self._background.append(asyncio.create_task(self.desk.run_sweeps(s.serve.expiry_check_seconds)))
        self._background.append(asyncio.create_task(self._purge_deliveries()))
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, s.serve.host, s.serve.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else s.serve.port
        self._announce()

    def _build_adapters(self) -> None:
        s = self.service
        for name in PLATFORMS:
            reason = getattr(s, name).off_reason()
            if reason is not None:
                self.off[name] = reason
                continue
            adapter = self._make(name)
            self.adapters[name] = adapter
            self.publisher.platforms[name] = adapter

    def _make(self, name: str) -> Adapter:
        # Imported here: each SDK is heavy, and a platform that is off should cost nothing.
        module = importlib.import_module(f"bots.{name}.adapter")
        factory = getattr(module, f"{name.capitalize()}Adapter")
        adapter: Adapter = factory(getattr(self.service, name), self.ingress, self.desk)
        return adapter

    def _announce(self) -> None:
        s = self.service.serve
        lines = [f"openkoi serve listening on http://{s.host}:{self.port}"]
        for name in PLATFORMS:
            if name in self.adapters and name not in self.off:
                lines.append(f"  {name}: on")
            else:
                lines.append(f"  {name}: off — {self.off.get(name, 'not configured')}")
        if not self.adapters:
            lines.append(
                "  No chat platform is configured. Set SLACK_BOT_TOKEN + SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN),"
                " DISCORD_BOT_TOKEN, or TELEGRAM_BOT_TOKEN — see the README's 'Chat' section."
            )
        for line in lines:
            log.warning("%s", line)  # WARNING so it shows at the default log level
        self.startup_report = "\n".join(lines)

    async def recover(self) -> None:
        """Finish what a previous process left: interrupted tasks fail honestly; queued tasks and
        approved-but-not-continued ones are in the database, where the workers take them.
        Pending confirmations simply stay pending."""
        for name in list(self.adapters):
            for conversation in await self.store.conversations.for_platform(name, ACTIVE):
                task = await self.store.tasks.get(conversation.task_id)
                # A task this process's workers run is not a leftover (recover may be called again later).
                if task.status is TaskStatus.RUNNING and not self.pool.owns(job_name(task.id)):
                    await self.engine.abandon(
                        task.id, "interrupted: openkoi restarted while this task was running. Ask again to retry."
                    )
        self.pool.wake()

    async def _purge_deliveries(self) -> None:
        keep = timedelta(hours=self.service.serve.dedupe_hours)
        while True:
            with contextlib.suppress(Exception):
                await self.store.inbound.purge(keep)
            await asyncio.sleep(600)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        platforms = {name: bool(a.connected) for name, a in self.adapters.items()}
        try:
            await self.store.db.execute("CREATE TEMP TABLE IF NOT EXISTS readyz_probe (x)")
            await self.store.db.execute("INSERT INTO readyz_probe VALUES (1)")
            await self.store.db.execute("DELETE FROM readyz_probe")
            database = True
        except Exception:
            database = False
        ready = database and all(platforms.values()) and not self.ingress.closing
        body = {"ready": ready, "database": database, "platforms": platforms, "draining": self.ingress.closing}
        return web.json_response(body, status=200 if ready else 503)

    async def stop(self) -> None:
        """Drain: refuse new commands, let running tasks finish, fail the rest honestly, then close."""
        self.ingress.closing = True
        drain = self.service.serve.drain_seconds
        left = await self.pool.drain(within=drain)
        for name in left:
            await self.engine.abandon(task_of(name), "interrupted: openkoi was shut down while this task was running")
        await self.pool.cancel_all()
        await self.publisher.flush(within=min(10.0, drain + 1))
        for job in self._background:
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for adapter in self.adapters.values():
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping %s failed", adapter.name)
        await self.publisher.close()
        await self.ingress.intake.close()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.store.close()


async def serve(settings: Settings, service: ServiceSettings) -> None:
    """Run until SIGTERM or SIGINT, then drain and exit."""
    svc = Service(settings, service)
    await svc.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.warning("shutting down: draining running tasks (up to %ss)", service.serve.drain_seconds)
    await svc.stop()
