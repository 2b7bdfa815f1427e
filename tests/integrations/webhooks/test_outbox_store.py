"""The outbox's rows (``core.store.webhooks``): an endpoint a 410 disabled stays disabled across starts until a
person enables it or its URL changes; finished deliveries are pruned after the retention, pending ones never; a
claim taken by a process that died is given back at start; an id prefix finds one delivery or says why not."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import AmbiguousId, NotFound
from core.models import utcnow
from core.store import Store
from core.store.webhooks import DeliveryAttempt, NewDelivery
from tests.integrations.webhooks.support import endpoint, running_hooks

URL = "https://a.example.com/hook"


async def test_a_disabled_endpoint_stays_disabled_until_enabled_or_its_url_changes(store: Store) -> None:
    await store.webhooks.sync_endpoints([("ci", URL)])
    assert await store.webhooks.disable("ci", "HTTP 410 Gone")
    assert not await store.webhooks.disable("ci", "again"), "disabled once"
    await store.webhooks.sync_endpoints([("ci", URL)])  # the next start, same URL
    state = await store.webhooks.endpoint("ci")
    assert state is not None and not state.enabled and state.disabled_reason == "HTTP 410 Gone"
    assert await store.webhooks.enable("ci") and not await store.webhooks.enable("ci")
    await store.webhooks.disable("ci", "HTTP 410 Gone")
    await store.webhooks.sync_endpoints([("ci", "https://b.example.com/hook")])  # a person fixed the URL
    state = await store.webhooks.endpoint("ci")
    assert state is not None and state.enabled and state.url == "https://b.example.com/hook"


async def test_finished_deliveries_are_pruned_after_the_retention_and_pending_ones_never(store: Store) -> None:
    await store.webhooks.sync_endpoints([("ci", URL)])
    long_ago = utcnow() - timedelta(days=100)
    old, recent, waiting = await store.webhooks.enqueue([NewDelivery("ci", "task.done", "{}", "t1")] * 3, now=long_ago)
    for delivery_id, when in ((old, long_ago), (recent, utcnow())):
        attempt = DeliveryAttempt(delivery_id, 1, when, 5.0, 204, "delivered", None)
        await store.webhooks.settle(attempt, status="delivered", step=1)
    async with running_hooks(store, [endpoint(URL)], {"retention_days": 90}, start=False):
        kept = {d.id for d in await store.webhooks.recent()}
    assert kept == {recent, waiting}
    assert await store.webhooks.attempts([old]) == {old: []}, "its attempts went with it"


async def test_a_claim_left_by_a_dead_process_is_given_back_at_start(store: Store) -> None:
    await store.webhooks.sync_endpoints([("ci", URL)])
    [delivery_id] = await store.webhooks.enqueue([NewDelivery("ci", "task.done", "{}", "t1")])
    [claimed] = await store.webhooks.claim_due(["ci"], 5, timedelta(hours=1))
    assert claimed.status == "sending" and await store.webhooks.claim_due(["ci"], 5, timedelta(hours=1)) == []
    async with running_hooks(store, [endpoint(URL)], start=False):
        pass
    [again] = await store.webhooks.claim_due(["ci"], 5, timedelta(hours=1))
    assert again.id == delivery_id


async def test_a_delivery_is_found_by_its_id_a_prefix_or_its_webhook_id(store: Store) -> None:
    ids = await store.webhooks.enqueue([NewDelivery("ci", "task.done", "{}", f"t{n}") for n in range(40)])
    first = ids[0]
    assert (await store.webhooks.find(first)).id == first
    assert (await store.webhooks.find(f"msg_{first}")).id == first
    assert (await store.webhooks.find(first[:10])).id == first
    with pytest.raises(NotFound):
        await store.webhooks.find("not-an-id")
    by_first_digit: dict[str, int] = {}
    for delivery_id in ids:
        by_first_digit[delivery_id[0]] = by_first_digit.get(delivery_id[0], 0) + 1
    shared = next(digit for digit, count in by_first_digit.items() if count > 1)
    with pytest.raises(AmbiguousId):
        await store.webhooks.find(shared)
