"""Delivery from the outbox to a receiver on 127.0.0.1: written before any attempt, signed on every attempt (the
reference implementation verifies each), retried on the schedule with every attempt kept, a 410 disabling the
endpoint, a redirect not followed, a receiver that was down getting the delivery once it is up, a slow one timing
out, and a delivery that failed for good sent again on request with the same webhook-id."""

from __future__ import annotations

import asyncio

import pytest

from core.events import ConfirmationNeeded, TaskStarted
from core.store import Store
from core.store.webhooks import Delivery
from tests.chat_service import wait_until
from tests.integrations.webhooks.receiver import ELSEWHERE_PATH, Receiver
from tests.integrations.webhooks.support import SECRET, endpoint, finished, running_hooks


async def only_delivery(store: Store) -> Delivery:
    [delivery] = await store.webhooks.recent()
    return delivery


async def settled_as(store: Store, status: str, count: int = 1) -> list[Delivery]:
    async def reached() -> bool:
        return sum(d.status == status for d in await store.webhooks.recent(limit=100)) >= count

    await wait_until(reached)
    return [d for d in await store.webhooks.recent(limit=100) if d.status == status]


async def test_an_event_is_in_the_outbox_before_any_attempt_then_delivered_signed(store: Store) -> None:
    async with Receiver() as receiver, running_hooks(store, [endpoint(receiver.url)], start=False) as (hooks, bus):
        await bus.publish(finished())
        waiting = await only_delivery(store)
        assert (waiting.status, waiting.attempts, waiting.event_type) == ("pending", 0, "task.done")
        assert receiver.received == []

        hooks.start()
        [request] = await receiver.wait_for(1)
        payload = request.verify(SECRET)
        assert payload["type"] == "task.done" and payload["data"]["task_id"] == "t1"
        assert request.headers["webhook-id"] == waiting.message_id
        assert request.body.decode() == waiting.body, "the stored body is what was sent and signed"
        [delivered] = await settled_as(store, "delivered")
        [attempt] = (await store.webhooks.attempts([delivered.id]))[delivered.id]
        assert (attempt.attempt, attempt.status_code, attempt.outcome, attempt.error) == (1, 204, "delivered", None)
        assert attempt.duration_ms > 0


async def test_a_failing_receiver_is_retried_and_every_attempt_is_kept(store: Store) -> None:
    outcomes: list[str] = []
    async with Receiver(answers=[500, 503]) as receiver, running_hooks(store, [endpoint(receiver.url)]) as (hooks, bus):
        hooks.worker.on_attempt = outcomes.append  # what the service's metrics count
        await bus.publish(finished())
        requests = await receiver.wait_for(3)
        [delivered] = await settled_as(store, "delivered")
    assert len({r.headers["webhook-id"] for r in requests}) == 1, "the same webhook-id on every attempt"
    assert all(r.verify(SECRET) for r in requests), "each attempt is signed afresh"
    attempts = (await store.webhooks.attempts([delivered.id]))[delivered.id]
    assert [(a.attempt, a.status_code, a.outcome) for a in attempts] == [
        (1, 500, "failed"),
        (2, 503, "failed"),
        (3, 204, "delivered"),
    ]
    assert attempts[0].error is not None and "HTTP 500" in attempts[0].error and "answer 500" in attempts[0].error
    assert delivered.attempts == 3 and delivered.last_status == 204
    assert outcomes == ["failed", "failed", "delivered"], "each attempt told to whoever counts them"


async def test_when_the_schedule_runs_out_the_delivery_has_failed_and_is_left_alone(store: Store) -> None:
    async with Receiver(default=500) as receiver, running_hooks(store, [endpoint(receiver.url)]) as (_, bus):
        await bus.publish(finished())
        [failed] = await settled_as(store, "failed")
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 4, "one attempt per entry of the schedule, then no more"
    assert failed.attempts == 4 and failed.last_status == 500 and failed.finished_at is not None


async def test_a_410_disables_the_endpoint_and_it_gets_nothing_more(store: Store) -> None:
    async with (
        Receiver(default=410) as gone,
        Receiver() as other,
        running_hooks(store, [endpoint(gone.url, "gone"), endpoint(other.url, "other")]) as (_, bus),
    ):
        await bus.publish(finished("t1"))
        await gone.wait_for(1)
        await settled_as(store, "gone")
        state = await store.webhooks.endpoint("gone")
        assert state is not None and not state.enabled and state.disabled_reason == "HTTP 410 Gone"

        await bus.publish(finished("t2"))
        await other.wait_for(2)
        await asyncio.sleep(0.3)
        assert len(gone.received) == 1, "a disabled endpoint is sent nothing"
        assert {d.endpoint for d in await store.webhooks.recent(limit=10) if d.task_id == "t2"} == {"other"}
    enabled = await store.webhooks.endpoint("other")
    assert enabled is not None and enabled.enabled


async def test_a_redirect_is_not_followed_and_counts_as_a_failure(store: Store) -> None:
    async with Receiver(default=302) as receiver, running_hooks(store, [endpoint(receiver.url)]) as (_, bus):
        await bus.publish(finished())
        [failed] = await settled_as(store, "failed")
    assert receiver.at(ELSEWHERE_PATH) == [], "the Location was never requested"
    attempts = (await store.webhooks.attempts([failed.id]))[failed.id]
    assert {a.status_code for a in attempts} == {302}
    assert (
        attempts[0].error is not None
        and f"redirect to http://127.0.0.1:{receiver.port}{ELSEWHERE_PATH}" in attempts[0].error
    )


async def test_a_receiver_that_is_down_then_up_gets_the_delivery(store: Store) -> None:
    receiver = await Receiver().start()
    await receiver.stop()  # its port is known, nothing listens on it
    slow = {"retry_schedule": [0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]}
    async with running_hooks(store, [endpoint(receiver.url)], slow) as (_, bus):
        await bus.publish(finished())

        async def refused() -> bool:
            delivery = await only_delivery(store)
            return delivery.attempts >= 1 and delivery.status == "pending"

        await wait_until(refused)
        first = await store.webhooks.attempts([(await only_delivery(store)).id])
        [attempt, *_] = next(iter(first.values()))
        assert attempt.outcome == "failed" and attempt.status_code is None and attempt.error

        await receiver.start()
        try:
            [request] = await receiver.wait_for(1)
            assert request.verify(SECRET)["type"] == "task.done"
            await settled_as(store, "delivered")
        finally:
            await receiver.stop()


async def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(store: Store) -> None:
    fast_timeout = {"timeout_seconds": 0.3, "retry_schedule": [0]}
    async with (
        Receiver(delay=2.0) as receiver,
        running_hooks(store, [endpoint(receiver.url)], fast_timeout) as (_, bus),
    ):
        await bus.publish(finished())
        [failed] = await settled_as(store, "failed")
        [attempt] = (await store.webhooks.attempts([failed.id]))[failed.id]
    assert attempt.error == "no answer within 0.3s" and attempt.duration_ms < 1500


async def test_a_delivery_that_failed_is_sent_again_on_request_with_the_same_id(store: Store) -> None:
    async with Receiver(default=500) as receiver, running_hooks(store, [endpoint(receiver.url)]) as (hooks, bus):
        await bus.publish(finished())
        [failed] = await settled_as(store, "failed")
        receiver.default = 200
        again = await store.webhooks.redeliver(failed.message_id[:12])
        assert again.status == "pending" and again.step == 0
        hooks.worker.wake()  # what the poll would notice by itself (a redelivery is usually another process's)
        await settled_as(store, "delivered")
    assert receiver.received[-1].headers["webhook-id"] == failed.message_id
    attempts = (await store.webhooks.attempts([failed.id]))[failed.id]
    assert [a.attempt for a in attempts] == [1, 2, 3, 4, 5] and attempts[-1].outcome == "delivered"


async def test_the_worker_finds_work_another_process_wrote(store: Store) -> None:
    """A redelivery made by `openkoi webhooks redeliver` reaches the running worker by its poll alone."""
    async with Receiver(default=500) as receiver, running_hooks(store, [endpoint(receiver.url)]) as (_, bus):
        await bus.publish(finished())
        [failed] = await settled_as(store, "failed")
        receiver.default = 200
        await store.webhooks.redeliver(failed.id)  # no wake: the worker polls every 0.1 s
        await settled_as(store, "delivered")


async def test_only_the_events_an_endpoint_subscribed_to_are_written(store: Store) -> None:
    blocked_only = endpoint("http://127.0.0.1:9/never", events=["task.blocked"])
    async with running_hooks(store, [blocked_only], start=False) as (_, bus):
        await bus.publish(TaskStarted("t1", "write a haiku"))
        await bus.publish(finished())
        assert await store.webhooks.recent() == []
        await bus.publish(ConfirmationNeeded("t1", "c1", "floor", "drop the database", None, None, None, floor=True))
        [delivery] = await store.webhooks.recent()
        assert delivery.event_type == "task.blocked"


async def test_what_is_pending_when_the_webhooks_stop_is_sent_by_the_next_start(store: Store) -> None:
    after_a_second = {"retry_schedule": [0, 1.0]}  # after one failure, the next attempt is a second away
    async with Receiver(default=500) as receiver:
        async with running_hooks(store, [endpoint(receiver.url)], after_a_second) as (_, bus):
            await bus.publish(finished())
            await wait_until(lambda: _attempted(store))
        assert (await only_delivery(store)).status == "pending" and len(receiver.received) == 1
        receiver.default = 200
        async with running_hooks(store, [endpoint(receiver.url)], after_a_second):
            await wait_until(lambda: _delivered(store))
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and second.verify(SECRET)


async def _attempted(store: Store) -> bool:
    return (await only_delivery(store)).attempts == 1


async def _delivered(store: Store) -> bool:
    return (await only_delivery(store)).status == "delivered"


async def test_a_retry_after_lengthens_the_wait_before_the_next_attempt(store: Store) -> None:
    schedule = {"retry_schedule": [0, 0.05, 5]}  # a Retry-After may lengthen a wait up to the longest, 5 s
    async with (
        Receiver(answers=[503]) as receiver,
        running_hooks(store, [endpoint(receiver.url)], schedule) as (_, bus),
    ):
        receiver.retry_after = "1"  # the schedule says 0.05 s
        await bus.publish(finished())
        [delivered] = await settled_as(store, "delivered")
    first, second = (await store.webhooks.attempts([delivered.id]))[delivered.id]
    assert (second.started_at - first.started_at).total_seconds() >= 1.0


async def test_at_most_concurrency_attempts_are_in_flight(store: Store) -> None:
    two = {"concurrency": 2}
    async with Receiver(delay=0.3) as receiver, running_hooks(store, [endpoint(receiver.url)], two) as (_, bus):
        for n in range(5):
            await bus.publish(finished(f"t{n}"))
        await settled_as(store, "delivered", count=5)
    assert receiver.most_at_once == 2


async def test_no_proxy_from_the_environment_stands_between_openkoi_and_the_receiver(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    async with Receiver() as receiver, running_hooks(store, [endpoint(receiver.url)]) as (_, bus):
        await bus.publish(finished())
        await receiver.wait_for(1)


async def test_a_410_is_said_in_the_log(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    async with Receiver(default=410) as receiver, running_hooks(store, [endpoint(receiver.url)]) as (_, bus):
        await bus.publish(finished())
        await settled_as(store, "gone")
    assert "webhooks: endpoint ci answered 410 Gone: it is disabled and gets no more webhooks" in caplog.text
    assert "`openkoi webhooks enable ci`" in caplog.text
