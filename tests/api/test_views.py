"""The API's views: health, status, cost, skill proposals (approve / dismiss), digests, the gate's audit."""

from __future__ import annotations

from core.config import load_settings
from core.models import TaskStatus
from core.skills import skills_home
from tests.api.conftest import ApiService
from tests.api.harness import APPROVER, CI, FULL, READER
from tests.proposals import propose
from tests.support import wait_status


async def test_health_needs_no_token_and_status_says_how_the_service_is(api: ApiService) -> None:
    health = await api.client.call("GET", "/api/v1/health")
    assert health.status == 200 and health.json() == {"status": "ok"}
    task_id = (await api.client.as_(CI).call("POST", "/api/v1/tasks", json_body={"task": "Say hi"})).json()["id"]
    await wait_status(api.svc, task_id, TaskStatus.DONE)
    status = (await api.client.as_(READER).call("GET", "/api/v1/status")).json()
    assert status["ready"] is True and status["model"] == "openai/fake"
    assert status["tasks"] == {"done": 1} and status["queued"] == 0
    # No chat platform is configured; the web page (bots.web) is on whenever the API is, and always connected.
    assert status["workers"] == 4 and status["platforms"] == {"web": True}
    cost = (await api.client.as_(READER).call("GET", "/api/v1/cost")).json()
    assert cost["today"]["calls"] > 0 and cost["today"]["calls"] == cost["total"]["calls"]
    assert [group["key"] for group in cost["by_model"]] == ["openai/fake"]
    assert {group["key"] for group in cost["by_phase"]} >= {"parliament", "execute"}


async def test_skill_proposals_are_listed_and_decided_by_approvers(api: ApiService) -> None:
    store = api.svc.store
    first = await propose(store)
    second = await propose(store, name="tidy-the-changelog")
    listed = (await api.client.as_(READER).call("GET", "/api/v1/proposals")).json()["proposals"]
    assert {p["id"] for p in listed} == {first.id, second.id}
    assert (await api.client.as_(CI).call("POST", f"/api/v1/proposals/{first.id}/approve")).status == 403

    approved = await api.client.as_(APPROVER).call("POST", f"/api/v1/proposals/{first.id}/approve")
    assert approved.status == 200, approved.body
    assert approved.json()["status"] == "approved" and approved.json()["decided_by"] == "approver (api:approver)"
    settings = load_settings()
    installed = (
        skills_home(settings.home, settings.config_dir) / "skills" / "proposed" / "rotate-staging-certs" / "SKILL.md"
    )
    assert installed.is_file()
    dismissed = await api.client.as_(APPROVER).call("POST", f"/api/v1/proposals/{second.id}/dismiss")
    assert dismissed.json()["status"] == "dismissed"
    assert (await api.client.as_(APPROVER).call("POST", f"/api/v1/proposals/{second.id}/approve")).status == 409
    assert (await api.client.as_(APPROVER).call("POST", "/api/v1/proposals/nope/approve")).status == 404
    pending = (await api.client.as_(READER).call("GET", "/api/v1/proposals")).json()["proposals"]
    assert pending == []
    done = (await api.client.as_(READER).call("GET", "/api/v1/proposals", params={"status": "approved"})).json()
    assert [p["id"] for p in done["proposals"]] == [first.id]


async def test_digests_and_the_audit(api: ApiService) -> None:
    task_id = (await api.client.as_(CI).call("POST", "/api/v1/tasks", json_body={"task": "Say hi"})).json()["id"]
    await api.client.as_(CI).events(task_id)  # to its end: the task and its usage event are recorded
    today = (await api.client.as_(READER).call("GET", "/api/v1/digests/today")).json()
    assert today["kind"] == "daily" and today["empty"] is False and today["headline"]
    week = (await api.client.as_(READER).call("GET", "/api/v1/digests/week")).json()
    assert week["kind"] == "weekly" and week["sections"]
    audit = (await api.client.as_(FULL).call("GET", "/api/v1/audit", params={"limit": "10"})).json()["entries"]
    assert [e["task_id"] for e in audit if e["kind"] == "task"] == [task_id]
    assert audit[-1]["outcome"]
