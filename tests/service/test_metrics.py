"""`GET /metrics`: a service that ran tasks through a chat platform is scraped over HTTP, the Prometheus text is
parsed with prometheus-client's own parser, and the figures that the work should have moved did."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bots.chat.platform import Actor, InboundCommand
from bots.config import ServeSettings
from bots.metrics import MetricsAccess, ServiceMetrics
from bots.metrics.events import EventMeter
from bots.service import Service
from core.config import load_settings
from core.events import ActionDecided, ActionEnded, ActionReviewed, ConfirmationResolved
from core.models import TaskStatus, utcnow
from core.secrets import SECRETS
from core.store import Store
from scheduler.runs import JobRun
from tests.chat_service import running_service, service_settings, wait_until
from tests.fakes.model_server import FakeModelServer, Reply
from tests.support import registered_platforms, status_of

Figures = dict[tuple[str, frozenset[tuple[str, str]]], float]

ALICE = Actor("recording", "UALICE", "alice")
BOB = Actor("recording", "UBOB", "bob")
RUNBOOK = "team-roster"


async def scrape(svc: Service, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{svc.port}/metrics", headers=headers) as r:
        return r.status, await r.text()


async def figures(svc: Service) -> Figures:
    status, text = await scrape(svc)
    assert status == 200, text
    found: Figures = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(figs: Figures, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels``; 0 when it is not there (a counter never moved)."""
    return figs.get((name, frozenset(labels.items())), 0.0)


def labelled(figs: Figures, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return {key: v for (sample, key), v in figs.items() if sample == name and wanted <= key}


def command(text: str, key: str, actor: Actor = ALICE) -> InboundCommand:
    return InboundCommand("recording", key, actor, "C1", text)


@pytest.fixture
def roster_runbook(home: Path) -> str:
    """config.toml with one runbook that only reads; its name."""
    home.mkdir(parents=True, exist_ok=True)
    python = json.dumps(sys.executable)
    (home / "config.toml").write_text(
        f'[runbooks.{RUNBOOK}]\ndescription = "Print the team roster"\n'
        f'command = [{python}, "-c", "print(\'alice, bob\')"]\n'
        'domain = "team"\neffect = "read"\n',
        encoding="utf-8",
    )
    return RUNBOOK


@pytest.fixture
async def svc(model_env: FakeModelServer, roster_runbook: str, tmp_path: Path) -> AsyncIterator[Service]:
    """The service with the recording platform (Bob approves) and the roster runbook."""
    with registered_platforms(tmp_path / "site", recording="tests.fakes.chat_platform:RECORDING"):
        service = service_settings(recording={"bot_token": "t", "access": {"approvers": ["UBOB"]}})
        async with running_service(load_settings(), service) as running:
            yield running


async def test_tasks_through_chat_move_the_scraped_figures(svc: Service, model_env: FakeModelServer) -> None:
    assert "  metrics: /metrics (no token: bound to 127.0.0.1, this machine only)" in svc.startup_report
    before = await figures(svc)
    assert value(before, "openkoi_tasks_finished_total", platform="recording", outcome="done") == 0
    assert value(before, "openkoi_platform_connected", platform="recording") == 1

    # A task that runs the runbook and is done.
    call = {"id": "c1", "type": "function", "function": {"name": RUNBOOK, "arguments": "{}"}}
    model_env.script.queue("execute", Reply(content="Reading the roster first.", tool_calls=[call]))
    reply = await svc.ingress.handle(command("who is on the team this week", "k1"))
    assert reply is not None and reply.task_id is not None
    done = reply.task_id
    await wait_until(lambda: _status_is(svc, done, TaskStatus.DONE), within=30)

    # A task the rule floor blocks, which Bob then cancels with the button.
    blocked = await svc.ingress.handle(command("drop the production database", "k2"))
    assert blocked is not None and blocked.task_id is not None
    await wait_until(lambda: _status_is(svc, blocked.task_id or "", TaskStatus.AWAITING_CONFIRMATION), within=30)
    pending = await svc.store.confirmations.pending_for_task(blocked.task_id)
    assert pending is not None
    assert "cancel" in (await svc.desk.press(BOB, "deny", pending.id)).text.lower()
    await wait_until(lambda: _status_is(svc, blocked.task_id or "", TaskStatus.CANCELLED))

    # A scheduled job, and a task left waiting in the queue (no worker takes it any more).
    assert svc.schedule is not None
    assert (await svc.schedule.run_job("audit_pruning")).status == "ok"
    await svc.pool.drain(within=0)
    waiting = await svc.ingress.handle(command("summarise the standup", "k3"))
    assert waiting is not None and waiting.task_id is not None

    after = await figures(svc)
    rec = {"platform": "recording"}
    assert value(after, "openkoi_tasks_started_total", **rec) == 2
    assert value(after, "openkoi_tasks_finished_total", **rec, outcome="done") == 1
    assert value(after, "openkoi_tasks_finished_total", **rec, outcome="cancelled") == 1
    assert value(after, "openkoi_task_duration_seconds_count", **rec, outcome="done") == 1
    assert value(after, "openkoi_task_duration_seconds_sum", **rec, outcome="done") > 0
    for phase in ("recall", "directive", "parliament", "plan", "execute", "evaluate"):
        assert value(after, "openkoi_task_phase_duration_seconds_count", phase=phase) >= 1, phase

    calls = labelled(after, "openkoi_model_calls_total")
    assert len(calls) == 1 and next(iter(calls.values())) >= 6, calls  # every call of both tasks, one model
    (model,) = (dict(key)["model"] for key in calls)
    assert value(after, "openkoi_model_tokens_total", model=model, kind="prompt") > 0
    assert value(after, "openkoi_model_tokens_total", model=model, kind="completion") > 0
    assert value(after, "openkoi_model_call_duration_seconds_count", model=model) == next(iter(calls.values()))
    assert ("openkoi_model_cost_usd_total", frozenset({("model", model)})) in after

    assert value(after, "openkoi_gate_decisions_total", kind="task", outcome="proceeded") == 1
    assert value(after, "openkoi_gate_decisions_total", kind="task", outcome="blocked") == 1
    assert value(after, "openkoi_gate_decisions_total", kind="task", outcome="denied") == 1
    rules = labelled(after, "openkoi_gate_rule_matches_total", kind="task", outcome="blocked")
    assert frozenset({("kind", "task"), ("rule", "database.destroy"), ("outcome", "blocked")}) in rules, rules
    assert set(rules.values()) == {1.0}, "one match of each rule, on the one blocked task"
    assert value(after, "openkoi_gate_decisions_total", kind="action", outcome="run") == 1
    assert value(after, "openkoi_action_reviews_total", tool=RUNBOOK, decision="run") == 1
    assert value(after, "openkoi_actions_total", tool=RUNBOOK, outcome="ok") == 1
    assert value(after, "openkoi_action_duration_seconds_count", tool=RUNBOOK) == 1

    assert value(after, "openkoi_queue_depth", **rec) == 1
    assert value(after, "openkoi_queue_oldest_age_seconds", **rec) > 0
    assert value(after, "openkoi_ack_latency_seconds_count", **rec, kind="command") == 3
    assert value(after, "openkoi_ack_latency_seconds_count", **rec, kind="press") == 1
    assert value(after, "openkoi_ack_latency_seconds_bucket", **rec, kind="command", le="+Inf") == 3
    assert value(after, "openkoi_scheduler_job_runs_total", job="audit_pruning", outcome="ok") == 1
    assert value(after, "openkoi_scheduler_job_duration_seconds_count", job="audit_pruning") == 1


async def _status_is(svc: Service, task_id: str, status: TaskStatus) -> bool:
    return await status_of(svc, task_id) is status


async def test_a_metrics_token_is_required_once_set_and_never_logged(
    model_env: FakeModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = "metrics-Token_7f3a"
    async with running_service(load_settings(), service_settings(serve={"metrics_token": token})) as svc:
        assert "  metrics: /metrics (bearer token: [serve] metrics_token)" in svc.startup_report
        assert SECRETS.redact(f"token {token}") == "token [redacted]", "registered like every other secret"
        assert (await scrape(svc))[0] == 401
        assert (await scrape(svc, "not-the-token"))[0] == 401
        status, text = await scrape(svc, token)
        assert status == 200 and "openkoi_tasks_finished_total" in text
    refusals = [r.getMessage() for r in caplog.records if "refused GET /metrics" in r.getMessage()]
    assert len(refusals) == 2 and not [r for r in caplog.records if r.exc_info]


async def test_metrics_can_be_turned_off(model_env: FakeModelServer) -> None:
    async with running_service(load_settings(), service_settings(serve={"metrics": False})) as svc:
        assert "  metrics: off — [serve] metrics = false" in svc.startup_report
        assert (await scrape(svc))[0] == 404


# ------------------------------------------------------------------------------------------ the parts, alone


async def test_the_event_meter_counts_approvals_person_decisions_and_failed_calls(store: Store) -> None:
    metrics = ServiceMetrics()
    meter = EventMeter(metrics, store)
    for event in (
        ActionReviewed("t1", "deploy", "write", "ask", ("asks",), "app=api", "c1", ("code.force-push",)),
        ActionDecided("t1", "a1", "deploy", "allowed_once", "bob", "c1"),
        ActionEnded("t1", "deploy", "error", 1500.0, "exit 2", "c1"),
        ActionReviewed("t1", "deploy", "write", "ask", ("asks",), "app=db", "c2", ()),
        ActionDecided("t1", "a2", "deploy", "expired", None, "c2"),
        ConfirmationResolved("t2", "k1", True, "bob"),
        ConfirmationResolved("t3", "k2", False, None, expired=True),
    ):
        await meter(event)
    sample = metrics.registry.get_sample_value
    assert sample("openkoi_action_reviews_total", {"tool": "deploy", "decision": "ask"}) == 2
    assert sample("openkoi_action_approvals_total", {"tool": "deploy", "status": "allowed_once"}) == 1
    assert sample("openkoi_action_approvals_total", {"tool": "deploy", "status": "expired"}) == 1
    assert sample("openkoi_actions_total", {"tool": "deploy", "outcome": "error"}) == 1
    assert sample("openkoi_action_duration_seconds_sum", {"tool": "deploy"}) == 1.5
    assert (
        sample("openkoi_gate_rule_matches_total", {"kind": "action", "rule": "code.force-push", "outcome": "ask"}) == 1
    )
    assert sample("openkoi_gate_decisions_total", {"kind": "action", "outcome": "ask"}) == 2
    assert sample("openkoi_gate_decisions_total", {"kind": "task", "outcome": "overridden"}) == 1
    assert sample("openkoi_gate_decisions_total", {"kind": "task", "outcome": "expired"}) == 1
    assert sample("openkoi_gate_decisions_total", {"kind": "task", "outcome": "denied"}) is None


async def test_job_runs_are_counted_ok_failed_or_interrupted() -> None:
    metrics = ServiceMetrics()

    async def fine(run: JobRun) -> str:
        return "fine"

    async def broken(run: JobRun) -> str:
        raise RuntimeError("no disk")

    async def slow(run: JobRun) -> str:
        await asyncio.sleep(30)
        return "late"

    jobs = metrics.count_jobs({"fine": fine, "broken": broken, "slow": slow})
    run = JobRun("any", utcnow(), "manual")
    assert await jobs["fine"](run) == "fine"
    with pytest.raises(RuntimeError, match="no disk"):
        await jobs["broken"](run)
    stopped = asyncio.ensure_future(jobs["slow"](run))
    await asyncio.sleep(0.01)
    stopped.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopped
    runs = {
        (job, outcome): metrics.registry.get_sample_value(
            "openkoi_scheduler_job_runs_total", {"job": job, "outcome": outcome}
        )
        for job, outcome in (("fine", "ok"), ("broken", "failed"), ("slow", "interrupted"))
    }
    assert runs == {("fine", "ok"): 1, ("broken", "failed"): 1, ("slow", "interrupted"): 1}


def test_webhook_deliveries_are_counted_through_a_plain_callable() -> None:
    metrics = ServiceMetrics()
    deliver = metrics.webhook_delivered  # what the outgoing webhooks are handed
    deliver("delivered")
    deliver("delivered")
    deliver("failed")
    sample = metrics.registry.get_sample_value
    assert sample("openkoi_webhook_deliveries_total", {"outcome": "delivered"}) == 2
    assert sample("openkoi_webhook_deliveries_total", {"outcome": "failed"}) == 1
    assert sample("openkoi_webhook_deliveries_total", {"outcome": "delivered"}) is not None
    assert (
        ServiceMetrics().registry.get_sample_value("openkoi_webhook_deliveries_total", {"outcome": "delivered"}) is None
    ), "each service has a registry of its own"


@pytest.mark.parametrize(
    ("serve", "mode"),
    [
        ({}, "open"),
        ({"host": "::1"}, "open"),
        ({"host": "localhost"}, "open"),
        ({"host": "127.0.0.2"}, "open"),
        ({"host": "0.0.0.0"}, "off"),
        ({"host": "192.168.1.5"}, "off"),
        ({"host": "bot.example.com"}, "off"),
        ({"host": "0.0.0.0", "metrics_token": "  "}, "off"),
        ({"host": "0.0.0.0", "metrics_token": "scrape-token-1"}, "token"),
        ({"metrics_token": "scrape-token-1"}, "token"),
        ({"metrics": False, "metrics_token": "scrape-token-1"}, "off"),
    ],
)
def test_who_may_scrape(serve: dict[str, object], mode: str) -> None:
    access = MetricsAccess.of(ServeSettings.model_validate(serve))
    assert access.mode == mode
    if mode == "off" and serve.get("metrics", True):
        assert "without [serve] metrics_token" in access.why and "OPENKOI_SERVE__METRICS_TOKEN" in access.why
