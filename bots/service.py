"""`openkoi serve`: one process hosting every configured chat platform (``bots.chat.registry``).

An aiohttp server (`/healthz`, `/readyz`, and the routes the platforms add: Slack's `/slack/events`,
Telegram's `/telegram/webhook`), the platforms' own clients (gateways, sockets, polling), a pool of workers taking saved
tasks from SQLite, the thread publisher, the confirmation desk, and (once the platforms are up) the
scheduled jobs (``bots/schedule.py``; one process per database runs them). On start it recovers what a
previous process left unfinished; on SIGTERM it stops taking commands, lets running tasks finish for
`drain_seconds`, fails the rest honestly in their threads (queued ones wait for the next start), posts
every thread's last messages before any platform's session closes, and exits.

Before anything else it registers the service's secrets (platform tokens, signing and webhook
secrets, model keys) for redaction from every log record and chat message. A platform that fails
to start is retried with backoff while `/readyz` answers 503 (its tasks wait). The agent's file
tools read only `[tools] workspace`; without one it has none. The team's runbooks and MCP servers
(``bots.chat.acting``) are every chat task's tools that act, each call through the gate, its approval card
posted in the task's thread; the MCP servers start with the service and stop with it. Outgoing webhooks
(``integrations.webhooks``) write the events their endpoints want to an outbox in the database and send them
from a background worker, stopped after the drain (what is pending is sent by the next start).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import stat
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from aiohttp import web

from bots.api.app import OFF as API_OFF
from bots.api.app import Api
from bots.api.app import mount as mount_api
from bots.api.tokens import PLATFORM as API_PLATFORM
from bots.chat import http_guard, registry
from bots.chat.access import AccessPolicy
from bots.chat.acting import ChatActions, ask_in_thread
from bots.chat.desk import ConfirmationDesk
from bots.chat.digest_post import DigestBuilder, DigestPoster, stored_digest_builder
from bots.chat.ingress import ACTIVE, Ingress
from bots.chat.intake import IntakeWriter
from bots.chat.platform import Adapter
from bots.chat.proposal_desk import ProposalDesk
from bots.chat.publisher import ThreadPublisher
from bots.chat.queue import TaskQueue, job_name, task_of
from bots.chat.tasklog import TaskLog
from bots.chat.trust_desk import TrustDesk
from bots.chat.views import ViewPoster
from bots.chat.workers import WorkerPool
from bots.config import ServiceSettings
from bots.metrics import MetricsAccess, ServiceMetrics
from bots.metrics import attach as attach_metrics
from core.config import Settings
from core.deliberation.soul import read_soul
from core.engine import Engine
from core.events import EventBus
from core.llm.gateway import warm_up
from core.llm.providers import model_summary
from core.loop.workspace import workspace_root
from core.memory.embedder import LocalEmbedder
from core.models import TaskStatus
from core.secrets import SECRETS, environment_secrets, install_log_redaction, secret_fields
from core.skills import skills_home
from core.store import Store
from core.store.intake import QueueLimits
from integrations.webhooks.outgoing import OutgoingWebhooks

if TYPE_CHECKING:
    from scheduler.runs import JobRun
    from scheduler.schedule import Schedule

log = logging.getLogger(__name__)

# At stop, how long the threads' last messages may take to go out at their chats' pace (at least; or
# ``drain_seconds`` when longer). A platform that takes none for 10 s ends the wait sooner.
POST_DRAIN_SECONDS = 30.0


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
    model_ready: bool = False
    model_line: str = "not resolved yet"
    _secrets: list[str] = field(default_factory=list)
    _retrying: set[str] = field(default_factory=set)  # platforms whose start failed, being retried
    # Digests in chat: computes a digest (default: core.reflection.digest.build_digest, once it exists).
    digest_builder: DigestBuilder | None = None
    # What the scheduler calls (``post_scheduled``); None when no digest builder exists.
    digests: DigestPoster | None = None
    # `/think soul` and `/think mind …`, posted where they were asked.
    views: ViewPoster | None = None
    schedule: Schedule | None = None  # the scheduled jobs (bots/schedule.py); started once the platforms are up
    acting: ChatActions | None = None  # the runbooks and MCP servers, once listed
    webhooks: OutgoingWebhooks | None = None  # outgoing webhooks: the outbox writer and the delivery worker
    api: Api | None = None  # the HTTP API under /api/v1 (bots/api); None while no token is configured
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)  # GET /metrics (bots.metrics)
    metrics_access: MetricsAccess | None = None  # how /metrics is served, once started

    async def start(self) -> None:
        """Open storage, start the platforms that have credentials, recover, then listen.

        If any step fails, everything started so far is stopped again before the error propagates."""
        # First of all: the SDKs log token-bearing URLs while they are being built (python-telegram-bot's
        # "Set Bot API URL"), and a model may quote a key it saw. From here on both are redacted.
        install_log_redaction()
        self._secrets = SECRETS.add(
            [*secret_fields(self.service), *secret_fields(self.settings), *environment_secrets()]
        )
        try:
            self.store = await Store(self.settings.db_path).open()
        except BaseException:
            SECRETS.remove(self._secrets)
            raise
        try:
            await self._start()
        except BaseException:
            await self._abort_start()
            raise

    async def _abort_start(self) -> None:
        if self.schedule is not None:
            with contextlib.suppress(Exception):
                await self.schedule.stop()
        for job in self._background:
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.stop()
        if self.api is not None:
            with contextlib.suppress(Exception):
                await self.api.close()
        if self.runner is not None:
            await self.runner.cleanup()
        with contextlib.suppress(Exception):
            await self.pool.drain(within=0)
        if self.acting is not None:
            with contextlib.suppress(Exception):
                await self.acting.close()
        if self.webhooks is not None:
            with contextlib.suppress(Exception):
                await self.webhooks.stop(within=0)
        await self.store.close()
        SECRETS.remove(self._secrets)

    def workspace(self) -> Path | None:
        """``[tools] workspace``, checked; None (no file tools) when it is not configured."""
        configured = self.settings.tools.workspace
        return workspace_root(configured, "[tools] workspace") if configured is not None else None

    async def _start(self) -> None:
        bus = EventBus()
        # Never the process's working directory: for a service that is often / or where its .env lives.
        self.engine = Engine(self.settings, self.store, bus, workspace=self.workspace())
        # A broken [gate] stops the start here, naming the key, rather than failing every task; and the
        # gate's audit is pruned to its retention now, as the scheduled audit_pruning job does each day.
        await asyncio.to_thread(self.engine.gatekeeper.check)
        pruned = await self.engine.gatekeeper.ledger.prune()
        if pruned:
            log.info("gate audit: pruned %d rows older than %d days", pruned, self.settings.gate.audit_retention_days)
        TaskLog(self.store).attach(bus)
        s = self.service
        # A task whose chat stops taking its messages mid-task is cancelled: nobody would see it go on.
        self.publisher = ThreadPublisher(
            self.store, {}, self.settings.parliament.confirmation_ttl_minutes, cancel=self.engine.cancel
        )
        self.publisher.attach(bus)
        # Outgoing webhooks (integrations/webhooks): events go to the outbox from here on, before any attempt.
        self.webhooks = await OutgoingWebhooks.open(self.store, s.webhooks, s.api.webhooks, s.webhook_delivery)
        self.webhooks.worker.on_attempt = self.metrics.webhook_delivered  # counted in /metrics
        self.webhooks.attach(bus)
        # The queue is the tasks table: workers take saved tasks of the platforms that are on.
        self.pool = WorkerPool(s.serve.workers, TaskQueue(self.engine, self.publisher, self.live_platforms))
        policies = {name: AccessPolicy(s.platform(name).access) for name in registry.names()}
        self.desk = ConfirmationDesk(self.engine, self.pool, policies)
        limits = QueueLimits(s.serve.queue_limit_per_user, s.serve.queue_limit_per_channel)
        intake = IntakeWriter(self.store.intake, limits)
        self.ingress = Ingress(
            self.engine,
            self.pool,
            self.desk,
            policies,
            intake,
            queue_limit=s.serve.queue_limit,
            pacer=self.publisher.pacer,
        )
        self._build_adapters()
        self._wire_digests()
        # Which model the tasks will use, or why there is none: said at start-up and in /readyz.
        self.model_ready, self.model_line = await asyncio.to_thread(model_summary, self.settings)
        # litellm's import holds the event loop for 2–3 s; done lazily by the first task it would
        # make every platform miss its 3-second acknowledgement. Import it off the loop first, while the
        # MCP servers start and list their tools.
        self.acting = ChatActions(self.settings)
        await asyncio.gather(asyncio.to_thread(warm_up), self.acting.open(), self._load_models())
        if self.acting.tools:
            self.engine.actions = self.acting.tools
            self.engine.approver = ask_in_thread
        # litellm and the SDKs leave ~10^6 long-lived objects; a full collection scanning them all
        # held the loop for 0.2–0.3 s under load (measured by tests/benchmarks/ack_latency).
        # Freezing moves what exists now out of the collector's sight; new garbage is still collected.
        gc.collect()
        gc.freeze()
        app = http_guard.application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._mount_api(app)
        self.metrics_access = attach_metrics(
            self.metrics, s.serve, app=app, bus=bus, store=self.store, ingress=self.ingress, desk=self.desk,
            platforms=lambda: {name: bool(a.connected) for name, a in self.adapters.items()},
        )  # fmt: skip
        for adapter in self.adapters.values():
            adapter.add_routes(app)
        for name, adapter in list(self.adapters.items()):
            try:
                await adapter.start()
            except Exception as exc:  # one platform's outage must not keep the others down
                log.exception("%s did not start", name)
                self.off[name] = f"failed to start: {exc} (retrying)"
                self._retrying.add(name)
                await _stop_quietly(adapter)
                self._background.append(asyncio.create_task(self._retry_start(name, adapter)))
        if self.digests is not None:
            await self.digests.check_channels(self.off)  # logs a WARNING per channel it cannot post in
        # Workers start after recovery has failed the tasks a previous process left running, so
        # that nothing this process starts can be mistaken for one of them.
        await self.recover()
        self.pool.start()
        self.webhooks.start()  # sends what is due: first what a previous process left pending
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
        from bots.schedule import service_schedule

        post_digest = None
        if (poster := self.digests) is not None:

            async def post_digest(kind: Literal["daily", "weekly"], run: JobRun) -> str:
                # The run's fire time, not now: a run caught up after downtime reports the period it was for.
                return await poster.post_scheduled(kind, run.fire_time)

        metered = self.metrics.count_jobs if self.metrics_access.mode != "off" else None
        self.schedule = service_schedule(self.settings, self.store, post_digest, metered=metered)
        await self.schedule.start()

    async def _load_models(self) -> None:
        """Load what the first task would otherwise load while a burst of requests waits on the event loop (the
        loading threads hold the GIL; measured by tests/benchmarks/api_post --cold): the local embedder's model
        (~0.6 s of CPU, 90 MB) and the rule floor's examples, embedded once (~0.3 s); both once per process.
        Before the service listens. One that cannot load does not stop the start: recall and the floor say why."""
        embedder = self.engine.memory.embedder
        if isinstance(embedder, LocalEmbedder):  # a provider's: nothing to load, and no call before a task
            try:
                await embedder.embed(["warm-up"])
            except Exception as exc:
                log.warning("memory: the local embedder did not load at start (%s)", exc)
        try:
            await self.engine.gatekeeper.screen("warm-up")  # the floor's embedder part loads on its first screen
        except Exception as exc:
            log.warning("rule floor: did not load at start (%s)", exc)

    def live_platforms(self) -> list[str]:
        """The platforms whose tasks may run now: started, and not waiting for a start retry (a task
        of a platform that cannot post would run unseen); and the API's, while it is mounted (its tasks
        are followed over the API, not posted anywhere)."""
        live = [name for name in self.adapters if name not in self._retrying]
        return [*live, API_PLATFORM] if self.api is not None else live

    def _mount_api(self, app: web.Application) -> None:
        """The HTTP API (bots/api), when a token is configured; its tasks go through the same workers and desks."""
        home = skills_home(self.settings.home, self.settings.config_dir)
        self.api = mount_api(app, self.service.api, self.engine, self.pool, self.desk, home)
        if self.api is not None:
            self.api.context.service_status = self._api_status

    async def _retry_start(self, name: str, adapter: Adapter) -> None:
        """Start a platform that failed to, after ``start_retry_seconds``, doubling each time up to
        ``start_retry_max_seconds``, until it starts. Meanwhile it is not connected: /readyz says 503."""
        serve = self.service.serve
        wait, attempt = serve.start_retry_seconds, 1
        while True:
            await asyncio.sleep(wait)
            attempt += 1
            try:
                await adapter.start()
            except Exception as exc:
                wait = min(wait * 2, serve.start_retry_max_seconds)
                log.warning("%s: start attempt %d failed (%s); next attempt in %.0fs", name, attempt, exc, wait)
                await _stop_quietly(adapter)
                continue
            self.off.pop(name, None)
            self._retrying.discard(name)
            log.warning("%s: on (started at attempt %d)", name, attempt)
            await self.recover(only=name)  # its tasks were left alone while it could not post
            return

    def _build_adapters(self) -> None:
        s = self.service
        for name in registry.names():
            reason = s.platform(name).off_reason()
            if reason is not None:
                self.off[name] = reason
                continue
            adapter = self._make(name)
            self.adapters[name] = adapter
            self.publisher.platforms[name] = adapter

    def _wire_digests(self) -> None:
        """Digests in chat (``bots.chat.digest_post``): the poster the scheduler calls, `/think digest`,
        and the desk for the skill proposals' Approve / Dismiss buttons; and the views `/think soul` and
        `/think mind …` post the same way (``bots.chat.views``)."""
        tz = ZoneInfo(self.settings.schedule.timezone)
        home = skills_home(self.settings.home, self.settings.config_dir)
        pacer = self.publisher.pacer
        self.desk.proposals = ProposalDesk(
            self.store, home, self.desk.policies, self.adapters, pacer, workspace=self.engine.workspace
        )
        self.desk.trust = TrustDesk(self.engine, self.desk.policies, self.adapters, pacer)
        build = self.digest_builder or stored_digest_builder(self.store)
        self.digests = DigestPoster(self.store, self.adapters, self.service.digest, build, tz, pacer)
        self.ingress.digests = self.digests.request
        config_dir, workspace = self.settings.config_dir, self.engine.workspace
        self.views = ViewPoster(self.store, self.adapters, lambda: read_soul(config_dir, workspace), pacer)
        self.ingress.views = self.views.request

    def _make(self, name: str) -> Adapter:
        # The spec's factory imports the SDK: each is heavy, and a platform that is off should cost nothing.
        return registry.spec(name).adapter(self.service.platform(name), self.ingress, self.desk)

    def _announce(self) -> None:
        s = self.service.serve
        lines = [f"openkoi serve listening on http://{s.host}:{self.port}"]
        if self.model_ready:
            lines.append(f"  model: {self.model_line}")
        else:
            lines.append(f"  model: missing — {self.model_line}; every task will fail until one is set")
        for name in registry.names():
            if name in self.adapters and name not in self.off:
                lines.append(f"  {name}: on")
            else:
                lines.append(f"  {name}: off — {self.off.get(name, 'not configured')}")
        lines.append(f"  api: {self.api.line if self.api is not None else API_OFF}")
        if not self.adapters:
            setups = [spec.setup for spec in registry.platforms().values()]
            lines.append(f"  No chat platform is configured. Set {_either(setups)} — see the README's 'Chat' section.")
        if self.metrics_access is not None:
            lines.append(f"  metrics: {self.metrics_access.why}")
        lines += self._warnings()
        for line in lines:
            log.warning("%s", line)  # WARNING so it shows at the default log level
        self.startup_report = "\n".join(lines)

    def _warnings(self) -> list[str]:
        """What an operator should know before a team uses the service: who may ask, who may override,
        what the agent may read, and a config file others can read."""
        lines = []
        for name in self.adapters:
            if not self.service.platform(name).has_access_rules:  # no /think there: [name.access] means nothing
                continue
            access = self.service.platform(name).access
            if access.open_to_everyone:
                lines.append(
                    f"  warning: /think on {name} is open to everyone; restrict it with [{name}.access]"
                    " allowed_users, allowed_channels or allowed_roles"
                )
            if not (access.approvers or access.approver_roles or access.self_approval):
                lines.append(
                    f"  note: nobody may override a block on {name} until [{name}.access] approvers"
                    " (or self_approval = true, for a solo set-up) is set"
                )
        workspace = self.engine.workspace
        if workspace is None:
            lines.append("  tools: no [tools] workspace configured, so the agent has no file tools")
        else:
            lines.append(
                f"  tools: the agent may read files under {workspace} (dotfiles, keys and credentials excepted)"
            )
        path = self.settings.config_path
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            text = path.read_text(encoding="utf-8", errors="replace")
            if any(secret in text for secret in self._secrets):
                lines.append(f"  warning: {path} holds secrets and other users can read it; chmod 600 it")
        return lines

    async def recover(self, only: str | None = None) -> None:
        """Finish what a previous process left: interrupted tasks fail honestly; queued tasks and
        approved-but-not-continued ones are in the database, where the workers take them. Pending
        confirmations simply stay pending. A platform that is down is skipped (its tasks wait, and
        the workers do not take them); ``only`` recovers one platform, once it has started late."""
        names = self.live_platforms() if only is None else [only]
        for name in names:
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
        ready, body = await self._readiness()
        return web.json_response(body, status=200 if ready else 503)

    async def _api_status(self) -> dict[str, Any]:
        """What GET /api/v1/status shows: readiness, as /readyz says it, and the work in hand."""
        ready, body = await self._readiness()
        return {
            "ready": ready,
            "model": self.model_line,
            "platforms": body["platforms"],
            "draining": body["draining"],
            "schedule": body["schedule"],
            "tasks": await self.store.tasks.counts(),
            "queued": await self.store.queue.waiting(self.live_platforms()),
            "workers": self.service.serve.workers,
            "workers_busy": self.pool.busy,
        }

    async def _readiness(self) -> tuple[bool, dict[str, Any]]:
        platforms = {name: bool(a.connected) for name, a in self.adapters.items()}
        try:
            await self.store.db.execute("CREATE TEMP TABLE IF NOT EXISTS readyz_probe (x)")
            await self.store.db.execute("INSERT INTO readyz_probe VALUES (1)")
            await self.store.db.execute("DELETE FROM readyz_probe")
            database = True
        except Exception:
            database = False
        ready = database and self.model_ready and all(platforms.values()) and not self.ingress.closing
        body: dict[str, Any] = {
            "ready": ready,
            "database": database,
            "model": "configured" if self.model_ready else "missing",
            "platforms": platforms,
            "draining": self.ingress.closing,
            # Who runs the scheduled jobs: "this instance", "another instance" (one per database), "disabled".
            "schedule": self.schedule.state if self.schedule is not None else "disabled",
        }
        # An unreachable digest channel is reported, but does not make us unready.
        if self.digests is not None and self.digests.targets():
            unreachable = [u.as_json() for u in self.digests.unreachable]
            body["digest_channels"] = {"configured": len(self.digests.targets()), "unreachable": unreachable}
        return ready, body

    async def stop(self) -> None:
        """Drain: refuse new commands, let running tasks finish, fail the rest honestly, then close."""
        self.ingress.closing = True
        if self.schedule is not None:  # first: no job starts while draining; the lease is released
            await self.schedule.stop()
        # The sweeps next: a stopping process must not decide for the tasks it interrupts (deny their approvals,
        # expire their overrides) while its messages drain; the next process's sweeps do, in its name.
        for job in self._background:
            job.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        drain = self.service.serve.drain_seconds
        left = await self.pool.drain(within=drain)
        for name in left:
            await self.engine.abandon(task_of(name), "interrupted: openkoi was shut down while this task was running")
        await self.pool.cancel_all()
        # Every thread's last messages (a result, "done", "shut down") go out before any platform closes its
        # HTTP session, paced as usual; then the outboxes stop, so nothing can post into a closed session.
        unsent = await self.publisher.drain(within=max(POST_DRAIN_SECONDS, drain))
        if unsent:
            log.warning("shutting down: %d task thread(s) still had messages to post; they were not posted", unsent)
        await self.publisher.close()
        if self.webhooks is not None:  # after the drain: what it wrote is pending, sent by the next start
            await self.webhooks.stop(within=min(5.0, drain))
        if self.digests is not None:
            await self.digests.close()
        if self.views is not None:
            await self.views.close()
        for adapter in self.adapters.values():
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping %s failed", adapter.name)
        if self.acting is not None:
            await self.acting.close()
        await self.ingress.intake.close()
        if self.api is not None:  # its event streams end, so that the server's shutdown does not wait on them
            await self.api.close()
        if self.runner is not None:
            await self.runner.cleanup()
        await self.store.close()
        SECRETS.remove(self._secrets)


def _either(choices: list[str]) -> str:
    """ "A", "A or B", "A, B, or C"."""
    if len(choices) <= 2:
        return " or ".join(choices)
    return ", ".join(choices[:-1]) + ", or " + choices[-1]


async def _stop_quietly(adapter: Adapter) -> None:
    """Release what a failed start opened (sessions, clients) so the next attempt starts clean."""
    try:
        await adapter.stop()
    except Exception:
        log.debug("stopping %s after a failed start failed", adapter.name, exc_info=True)


async def serve(settings: Settings, service: ServiceSettings) -> None:
    """Run until SIGTERM or SIGINT, then drain and exit."""
    svc = Service(settings, service)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before start: a SIGTERM while starting (the banner is already out) must drain, not kill.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await svc.start()
    await stop.wait()
    log.warning("shutting down: draining running tasks (up to %ss)", service.serve.drain_seconds)
    await svc.stop()
