"""Tasks through the API against the real service: submitted, run by the workers, followed over SSE to the
end, read back whole; listed a page at a time; cancelled; retried with an Idempotency-Key."""

from __future__ import annotations

import asyncio

from core.config import Settings
from core.models import TaskStatus
from tests.api.conftest import ApiService
from tests.api.harness import CI, FULL, OTHER_WRITER, READER, api_section, open_client
from tests.chat_service import running_service, service_settings, wait_until
from tests.support import wait_status


async def test_a_task_submitted_through_the_api_runs_and_is_followed_to_its_end(api: ApiService) -> None:
    ci = api.client.as_(CI)
    accepted = await ci.call(
        "POST", "/api/v1/tasks", json_body={"task": "Summarise the release notes", "iterations": 2}
    )
    assert accepted.status == 202, accepted.body
    body = accepted.json()
    assert body["status"] == "queued"
    task_id = body["id"]
    assert body["links"]["events"] == f"/api/v1/tasks/{task_id}/events"
    assert accepted.headers["Location"] == f"/api/v1/tasks/{task_id}"

    events, _ = await ci.events(task_id)
    types = [e.type for e in events]
    assert types[0] == "task_started"
    assert "deliberation_ready" in types and "evaluated" in types
    assert types[-1] == "task_finished"
    assert [e.id for e in events] == sorted(e.id for e in events)
    finished = events[-1].data
    assert finished["status"] == "done" and finished["task_id"] == task_id

    detail = (await ci.call("GET", f"/api/v1/tasks/{task_id}")).json()
    assert detail["status"] == "done"
    assert detail["source"] == "api" and detail["requester"] == "ci (api:ci)"
    assert detail["result"] == "The answer."
    assert [v["agency"] for v in detail["verdict"]["votes"]] == [
        "guardian",
        "economist",
        "empath",
        "scholar",
        "strategist",
    ]
    assert detail["verdict"]["outcome"] == "approved"
    assert detail["iterations"] and detail["iterations"][0]["score"] == 0.9
    assert detail["cost"]["calls"] > 0 and detail["cost"]["tokens"] > 0
    assert detail["options"]["max_iterations"] == 2


async def test_the_seeds_field_names_work_too(api: ApiService) -> None:
    ci = api.client.as_(CI)
    answer = await ci.call("POST", "/api/v1/tasks", json_body={"description": "Say hello", "max_iterations": 1})
    assert answer.status == 202
    task_id = answer.json()["id"]
    await wait_status(api.svc, task_id, TaskStatus.DONE)
    task = await api.svc.store.tasks.get(task_id)
    assert task.description == "Say hello" and task.options.max_iterations == 1


async def test_the_event_stream_resumes_after_last_event_id(api: ApiService) -> None:
    ci = api.client.as_(CI)
    task_id = (await ci.call("POST", "/api/v1/tasks", json_body={"task": "Write a haiku"})).json()["id"]
    everything, _ = await ci.events(task_id)
    middle = everything[len(everything) // 2]
    rest, _ = await ci.events(task_id, last_event_id=middle.id)
    assert rest == everything[len(everything) // 2 + 1 :]
    by_query = await ci.call("GET", f"/api/v1/tasks/{task_id}/events", params={"after": str(everything[-2].id)})
    assert by_query.body.decode().count("\nevent: ") == 1 and b"event: task_finished" in by_query.body


async def test_an_idempotency_key_makes_a_retry_return_the_same_task(api: ApiService) -> None:
    ci = api.client.as_(CI)
    headers = {"Idempotency-Key": "deploy-42"}
    first = await ci.call("POST", "/api/v1/tasks", json_body={"task": "Check the cert"}, headers=headers)
    again = await ci.call("POST", "/api/v1/tasks", json_body={"description": "Check the cert"}, headers=headers)
    assert first.status == again.status == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true" and "Idempotent-Replayed" not in first.headers

    other = await ci.call("POST", "/api/v1/tasks", json_body={"task": "Check another cert"}, headers=headers)
    assert other.status == 422 and other.content_type == "application/problem+json"
    assert "different request" in other.json()["detail"]

    # Another token's key is its own.
    mine = await api.client.as_(OTHER_WRITER).call(
        "POST", "/api/v1/tasks", json_body={"task": "Check the cert"}, headers=headers
    )
    assert mine.status == 202 and mine.json()["id"] != first.json()["id"]
    sources = await api.svc.store.tasks.counts()
    assert sum(sources.values()) == 2


async def test_tasks_are_listed_a_page_at_a_time_newest_first(api: ApiService) -> None:
    ci = api.client.as_(CI)
    ids = [
        (await ci.call("POST", "/api/v1/tasks", json_body={"task": f"Task {n}", "simulate": True})).json()["id"]
        for n in range(5)
    ]
    await api.svc.pool.settled()
    reader = api.client.as_(READER)
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await reader.call("GET", "/api/v1/tasks", params=params)).json()
        seen += [t["id"] for t in page["tasks"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids)) and pages == 3
    done = (await reader.call("GET", "/api/v1/tasks", params={"status": "done"})).json()["tasks"]
    assert {t["id"] for t in done} == set(ids)
    assert (await reader.call("GET", "/api/v1/tasks", params={"status": "queued"})).json()["tasks"] == []
    bad = await reader.call("GET", "/api/v1/tasks", params={"cursor": "not-a-cursor"})
    assert bad.status == 422


async def test_cancel_is_for_the_token_that_asked_or_an_approver(api: ApiService) -> None:
    await api.svc.pool.drain(within=0)  # nothing runs: the task stays queued while the test cancels it
    ci = api.client.as_(CI)
    task_id = (await ci.call("POST", "/api/v1/tasks", json_body={"task": "Rotate the keys"})).json()["id"]
    refused = await api.client.as_(OTHER_WRITER).call("POST", f"/api/v1/tasks/{task_id}/cancel")
    assert refused.status == 403
    answer = await ci.call("POST", f"/api/v1/tasks/{task_id}/cancel")
    assert answer.status == 200 and answer.json() == {"id": task_id, "cancelled": True, "status": "cancelled"}
    again = await api.client.as_(FULL).call("POST", f"/api/v1/tasks/{task_id}/cancel")
    assert again.json()["cancelled"] is False
    task = await api.svc.store.tasks.get(task_id)
    assert task.error == "cancelled by ci (api:ci)"
    missing = await ci.call("POST", "/api/v1/tasks/0000000000000000/cancel")
    assert missing.status == 404


async def test_a_queued_api_task_waits_for_workers_and_an_event_stream_follows_it_live(api: ApiService) -> None:
    """The stream is opened before the task runs: it sends the events as they are stored, not only a replay."""
    ci = api.client.as_(CI)
    await api.svc.pool.drain(within=0)  # stop the workers
    task_id = (await ci.call("POST", "/api/v1/tasks", json_body={"task": "Tell me a fact"})).json()["id"]
    following = asyncio.create_task(ci.events(task_id))
    await asyncio.sleep(0.5)
    assert not following.done()
    assert (await api.svc.store.tasks.get(task_id)).status is TaskStatus.QUEUED
    api.svc.pool.start()
    events, comments = await following
    assert events[-1].type == "task_finished"
    assert comments, "heartbeats while waiting"
    await wait_until(lambda: not api.svc.pool.busy)


async def test_a_queued_api_task_survives_a_restart_and_runs_in_the_next_process(settings: Settings) -> None:
    service = service_settings(api=api_section())
    async with running_service(settings, service) as first:
        await first.pool.drain(within=0)  # no worker takes it: it is still queued when the service stops
        client = await open_client(first.port)
        try:
            task_id = (
                await client.as_(CI).call("POST", "/api/v1/tasks", json_body={"task": "Count the tests"})
            ).json()["id"]
        finally:
            await client.http.close()
        assert (await first.store.tasks.get(task_id)).status is TaskStatus.QUEUED
    async with running_service(settings, service) as second:
        await wait_status(second, task_id, TaskStatus.DONE)
