"""The gate's decisions through the API: Override / Cancel of a blocked task and Allow / Deny of an action, by
the same desks and rules as chat (approvers are the tokens with the approve scope; four eyes: the token that
asked may not approve), with a real MCP server (``mcp-server-git``) for the action."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from core.config import Settings, load_settings
from core.models import TaskStatus
from core.store.conversations import Conversation
from core.store.intake import Intake, NewTask
from tests.api.conftest import ApiService
from tests.api.harness import APPROVER, CI, FULL, READER, api_section, open_client
from tests.chat_service import running_service, service_settings, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import tool_calls as calls
from tests.platforms.slack.test_acting import repo, stage_a_change, staged
from tests.support import guardian_blocks_next, wait_status

__all__ = ["repo"]  # the fixture, imported for its name


async def _blocked(api: ApiService, model: FakeModelServer, text: str) -> str:
    guardian_blocks_next(model, reason="this could delete production data")
    answer = await api.client.as_(FULL).call("POST", "/api/v1/tasks", json_body={"task": text})
    task_id: str = answer.json()["id"]
    await wait_status(api.svc, task_id, TaskStatus.AWAITING_CONFIRMATION)
    return task_id


async def test_a_block_is_overridden_by_an_approver_never_by_the_token_that_asked(
    api: ApiService, model_env: FakeModelServer
) -> None:
    task_id = await _blocked(api, model_env, "Drop the old tables")
    detail = (await api.client.as_(READER).call("GET", f"/api/v1/tasks/{task_id}")).json()
    assert detail["status"] == "awaiting_confirmation"
    assert detail["verdict"]["outcome"] == "guardian_block"
    assert detail["confirmation"]["reason"]

    own = await api.client.as_(FULL).call("POST", f"/api/v1/tasks/{task_id}/approve")
    assert own.status == 403 and "Four eyes" in own.json()["detail"]
    no_scope = await api.client.as_(CI).call("POST", f"/api/v1/tasks/{task_id}/approve")
    assert no_scope.status == 403 and "approve scope" in no_scope.json()["detail"]
    assert no_scope.headers["WWW-Authenticate"].startswith('Bearer realm="openkoi", error="insufficient_scope"')
    assert (await api.svc.store.tasks.get(task_id)).status is TaskStatus.AWAITING_CONFIRMATION

    decided = await api.client.as_(APPROVER).call("POST", f"/api/v1/tasks/{task_id}/approve")
    assert decided.status == 200, decided.body
    body = decided.json()
    assert body["status"] == "approved" and body["decided_by"] == "approver (api:approver)"
    await wait_status(api.svc, task_id, TaskStatus.DONE)
    again = await api.client.as_(APPROVER).call("POST", f"/api/v1/tasks/{task_id}/approve")
    assert again.status == 409
    audit = await api.svc.engine.gatekeeper.ledger.entries(None, None, 50)
    assert any(e.task_id == task_id and e.decided_by == "approver (api:approver)" for e in audit)
    events, _ = await api.client.as_(READER).events(task_id)
    types = [e.type for e in events]
    assert "confirmation_needed" in types and "confirmation_resolved" in types and types[-1] == "task_finished"


async def test_a_denied_block_cancels_the_task(api: ApiService, model_env: FakeModelServer) -> None:
    task_id = await _blocked(api, model_env, "Wipe the staging bucket")
    denied = await api.client.as_(APPROVER).call("POST", f"/api/v1/tasks/{task_id}/deny")
    assert denied.status == 200 and denied.json()["status"] == "denied"
    task = await api.svc.store.tasks.get(task_id)
    assert task.status is TaskStatus.CANCELLED and task.error == "override denied by approver (api:approver)"
    assert (await api.client.as_(APPROVER).call("POST", f"/api/v1/tasks/{task_id}/deny")).status == 409
    not_blocked = (await api.client.as_(CI).call("POST", "/api/v1/tasks", json_body={"task": "Say hi"})).json()["id"]
    assert (await api.client.as_(APPROVER).call("POST", f"/api/v1/tasks/{not_blocked}/approve")).status == 409


async def test_self_approval_lets_a_single_token_override_its_own_block(
    settings: Settings, model_env: FakeModelServer
) -> None:
    service = service_settings(api=api_section(self_approval=True))
    async with running_service(load_settings(), service) as svc:
        client = await open_client(svc.port)
        try:
            guardian_blocks_next(model_env)
            task_id = (await client.as_(FULL).call("POST", "/api/v1/tasks", json_body={"task": "Drop it"})).json()["id"]
            await wait_status(svc, task_id, TaskStatus.AWAITING_CONFIRMATION)
            assert (await client.as_(FULL).call("POST", f"/api/v1/tasks/{task_id}/approve")).status == 200
            await wait_status(svc, task_id, TaskStatus.DONE)
        finally:
            await client.http.close()


@pytest.mark.slow
async def test_an_action_waits_for_an_approver_token_and_then_runs(model_env: FakeModelServer, repo: Path) -> None:
    settings = load_settings()  # the git MCP server of config.toml
    stage_a_change(repo)
    model_env.script.queue("execute", calls(("mcp__git__git_reset", {"repo_path": str(repo)})))
    async with running_service(settings, service_settings(api=api_section())) as svc:
        client = await open_client(svc.port)
        try:
            task_id = (
                await client.as_(FULL).call(
                    "POST", "/api/v1/tasks", json_body={"task": "unstage everything in the repository"}
                )
            ).json()["id"]

            async def asked() -> bool:
                return bool(await svc.store.actions.pending(task_id))

            await wait_until(asked, within=20)
            listed = (await client.as_(READER).call("GET", "/api/v1/actions", params={"pending": ""})).json()["actions"]
            [action] = [a for a in listed if a["task_id"] == task_id]
            assert action["tool"] == "mcp__git__git_reset" and action["effect"] == "destructive"
            assert str(repo) in action["preview"]

            own = await client.as_(FULL).call("POST", f"/api/v1/actions/{action['id']}/allow-once")
            assert own.status == 403 and "Four eyes" in own.json()["detail"]
            assert staged(repo) == ["file1.txt"], "nothing ran"
            allowed = await client.as_(APPROVER).call("POST", f"/api/v1/actions/{action['id']}/allow-once")
            assert allowed.status == 200 and allowed.json()["status"] == "allowed_once"
            await wait_status(svc, task_id, TaskStatus.DONE, within=20)
            assert staged(repo) == [], "git_reset ran"
            again = await client.as_(APPROVER).call("POST", f"/api/v1/actions/{action['id']}/deny")
            assert again.status == 409
            assert (await client.as_(APPROVER).call("POST", "/api/v1/actions/nope/deny")).status == 404
            events, _ = await client.as_(READER).events(task_id)
            kinds = [e.type for e in events]
            assert "action_approval_needed" in kinds and "action_decided" in kinds and "action_ended" in kinds
            needed = next(e for e in events if e.type == "action_approval_needed")
            assert needed.data["approval_id"] == action["id"]
            assert json.dumps(needed.data)  # plain JSON all the way down
        finally:
            await client.http.close()


async def test_a_stream_of_a_waiting_task_stays_open_and_ends_when_the_service_stops(
    settings: Settings, model_env: FakeModelServer
) -> None:
    svc_settings = service_settings(api=api_section())
    async with running_service(settings, svc_settings) as svc:
        client = await open_client(svc.port)
        try:
            guardian_blocks_next(model_env)
            task_id = (await client.as_(FULL).call("POST", "/api/v1/tasks", json_body={"task": "Drop it"})).json()["id"]
            following = asyncio.create_task(client.as_(READER).events(task_id, within=30))
            await wait_status(svc, task_id, TaskStatus.AWAITING_CONFIRMATION)
            await asyncio.sleep(0.5)
            assert not following.done(), "a task waiting for a person has not ended"
            stopping = time.monotonic()
            await svc.stop()
            events, _ = await following
            assert time.monotonic() - stopping < 10
            assert events[-1].type == "confirmation_needed"
        finally:
            await client.http.close()
        svc.stop = _already_stopped  # type: ignore[method-assign]


async def _already_stopped() -> None:
    return None


async def test_a_chat_tasks_block_is_not_the_apis_to_decide(api: ApiService) -> None:
    """A task asked in a chat is decided by that platform's approvers, there; the API says so and changes nothing."""
    store, engine = api.svc.store, api.svc.engine
    session, task = engine.prepare("Drop the prod database", source="slack", requester="alice (slack:U1)")
    assert session is not None
    conversation = Conversation(task.id, "slack", "C1", "U1", "alice")
    await store.intake.record([Intake("slack", "Ev-1", NewTask(session, task, conversation))])
    await store.tasks.set_status(task.id, TaskStatus.AWAITING_CONFIRMATION)
    confirmation = await store.confirmations.create(task.id, "guardian_block", "risky", "U1", None)
    answer = await api.client.as_(APPROVER).call("POST", f"/api/v1/tasks/{task.id}/approve")
    assert answer.status == 403 and "asked on slack" in answer.json()["detail"]
    stored = await store.confirmations.get(confirmation)
    assert stored is not None and stored.pending
    cancel = await api.client.as_(CI).call("POST", f"/api/v1/tasks/{task.id}/cancel")
    assert cancel.status == 403 and "only an admin token" in cancel.json()["detail"]
