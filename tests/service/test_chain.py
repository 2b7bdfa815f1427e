"""Issue 18's chain, end to end against the real `openkoi serve` (a subprocess, the fake model): a task submitted
through the API is followed over Server-Sent Events to its end, its signed ``task.done`` webhook arrives and
verifies with the reference ``standardwebhooks`` package, and ``/metrics`` counted the task, its model calls and the
delivery. Then a receiver that answers 500 while the service is killed with SIGKILL: the next process sends the
pending delivery (the same webhook-id), and it verifies."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.api.harness import FULL, ApiClient, open_client
from tests.chat_service import wait_until
from tests.fakes.model_server import FakeModelServer
from tests.integrations.webhooks.receiver import Received, Receiver
from tests.integrations.webhooks.support import SECRET, write_task_done_config
from tests.service.test_metrics import Figures, labelled, value
from tests.service_process import ServeProcess, serve_environment, serve_process
from tests.support import no_proxy

__all__ = ["no_proxy"]  # autouse: no proxy between the service and its fakes

RETRY_SECONDS = 0.5  # between the attempts of a failing delivery (no jitter: the test knows when they come)


async def _scrape(served: ServeProcess) -> Figures:
    """GET /metrics, parsed with prometheus-client's own parser."""
    async with aiohttp.ClientSession() as http, http.get(served.base + "/metrics") as response:
        assert response.status == 200, await response.text()
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _model_calls(figures: Figures) -> float:
    return sum(labelled(figures, "openkoi_model_calls_total").values())


async def _deliveries(served: ServeProcess, outcome: str, at_least: float) -> None:
    """Wait until /metrics counted ``at_least`` delivery attempts with ``outcome`` (the worker counts an attempt
    once its answer is in, a moment after the receiver saw it)."""

    async def counted() -> bool:
        return value(await _scrape(served), "openkoi_webhook_deliveries_total", outcome=outcome) >= at_least

    await wait_until(counted, within=10)


async def _run_task(api: ApiClient, text: str) -> str:
    """POST the task, follow its event stream to the end; its id, once it is done."""
    accepted = await api.call("POST", "/api/v1/tasks", json_body={"task": text, "iterations": 1})
    assert accepted.status == 202, accepted.body
    task_id = str(accepted.json()["id"])
    events, _ = await api.events(task_id, within=60)
    assert events[0].type == "task_started" and events[-1].type == "task_finished", [e.type for e in events]
    assert events[-1].data["task_id"] == task_id and events[-1].data["status"] == "done", events[-1].data
    return task_id


def _task_done(received: Received, task_id: str, text: str) -> None:
    """The delivery verifies with the reference implementation and is this task's task.done."""
    payload = received.verify(SECRET)
    assert payload["type"] == "task.done", payload
    data = payload["data"]
    assert data["task_id"] == task_id and data["status"] == "done" and data["source"] == "api", data
    assert data["description"] == text and data["output"] == "The answer.", data


@pytest.mark.slow
async def test_an_api_task_is_followed_signed_and_counted_and_a_killed_service_redelivers(
    home: Path, fake_model: FakeModelServer
) -> None:
    async with Receiver() as receiver:
        # /metrics is on by default: the service listens on 127.0.0.1.
        write_task_done_config(home, receiver.url, RETRY_SECONDS, attempts=100)
        env = serve_environment(home, fake_model, OPENKOI_API_TOKEN=FULL)
        async with serve_process(env, until="metrics:") as first:
            assert "api: on at /api/v1" in first.announced, first.announced
            assert "metrics: /metrics" in first.announced, first.announced
            client = await open_client(first.port)  # every answer validated against the served OpenAPI document
            try:
                api = client.as_(FULL)
                before, calls_before = await _scrape(first), len(fake_model.requests)

                # The chain: submitted, followed to its end, its webhook signed, its figures counted.
                done_id = await _run_task(api, "Summarise the release notes")
                [hook] = await receiver.wait_for(1, within=30)
                _task_done(hook, done_id, "Summarise the release notes")
                await _deliveries(first, "delivered", 1)
                after = await _scrape(first)
                detail = (await api.call("GET", f"/api/v1/tasks/{done_id}")).json()
                for figure, labels in [
                    ("openkoi_tasks_started_total", {"platform": "api"}),
                    ("openkoi_tasks_finished_total", {"platform": "api", "outcome": "done"}),
                    ("openkoi_task_duration_seconds_count", {"platform": "api", "outcome": "done"}),
                    ("openkoi_webhook_deliveries_total", {"outcome": "delivered"}),
                ]:
                    assert value(after, figure, **labels) - value(before, figure, **labels) == 1, (figure, labels)
                assert value(after, "openkoi_webhook_deliveries_total", outcome="failed") == 0
                calls = _model_calls(after) - _model_calls(before)
                assert calls == len(fake_model.requests) - calls_before == detail["cost"]["calls"] > 0

                # The receiver fails: a second task's task.done is pending when the service is killed.
                receiver.default = 500
                pending_id = await _run_task(api, "Draft the incident summary")
                failing = (await receiver.wait_for(3, within=30))[1:]  # two attempts after the first delivery
                await _deliveries(first, "failed", 2)
                await first.kill()
            finally:
                await client.http.close()
        message_id = failing[0].headers["webhook-id"]
        assert {r.headers["webhook-id"] for r in failing} == {message_id} != {hook.headers["webhook-id"]}
        seen = len(receiver.received)

        # The next process, on the same database: the pending delivery is sent, nothing else is.
        receiver.default = 204
        async with serve_process(env, until="metrics:") as second:
            redelivered = (await receiver.wait_for(seen + 1, within=30))[-1]
            await _deliveries(second, "delivered", 1)
            restarted = await _scrape(second)
        assert redelivered.headers["webhook-id"] == message_id, "the same delivery, not a new one"
        _task_done(redelivered, pending_id, "Draft the incident summary")
        assert value(restarted, "openkoi_webhook_deliveries_total", outcome="delivered") == 1
        assert value(restarted, "openkoi_webhook_deliveries_total", outcome="failed") == 0
        assert value(restarted, "openkoi_tasks_started_total", platform="api") == 0, "no task ran again"
        assert _model_calls(restarted) == 0
        resent = [r for r in receiver.received if r.headers["webhook-id"] == hook.headers["webhook-id"]]
        assert len(resent) == 1, "the delivered task.done is not sent again"
