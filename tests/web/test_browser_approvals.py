"""In Chromium: a decision made in the page reaches the task, by the same desks and rules as the API. A block
the Guardian raised is approved by a second token (four eyes: the token that asked is refused in the page too)
and the task runs to the end; a denied block cancels its task; an action waiting for Allow is allowed once from
the page and runs (the real ``mcp-server-git``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bots.service import Service
from core.config import load_settings
from core.models import TaskStatus
from tests.api.harness import APPROVER, FULL, READER
from tests.chat_service import running_service, wait_until
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import tool_calls
from tests.platforms.slack.test_acting import repo, stage_a_change, staged
from tests.support import guardian_blocks_next, wait_status
from tests.web.conftest import open_page, page_settings, submit

__all__ = ["repo"]  # the fixture, imported for its name

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]


async def blocked(svc: Service, model: FakeModelServer, text: str) -> str:
    guardian_blocks_next(model, reason="this could delete production data")
    task_id = await submit(svc, text, FULL)
    await wait_status(svc, task_id, TaskStatus.AWAITING_CONFIRMATION)
    return task_id


async def test_a_block_approved_in_the_page_by_a_second_token_runs_to_the_end(
    page_service: Service, browser: Any, model_env: FakeModelServer
) -> None:
    task_id = await blocked(page_service, model_env, "Drop the old tables")
    own = await open_page(browser, page_service, FULL)  # the token that asked
    approver = await open_page(browser, page_service, APPROVER)
    try:
        card = own.locator(f'#approvals article[data-task-id="{task_id}"]')
        await card.wait_for()
        await card.get_by_role("button", name="Approve").click()
        await own.locator("#flash.error", has_text="Four eyes").wait_for()
        assert (await page_service.store.tasks.get(task_id)).status is TaskStatus.AWAITING_CONFIRMATION

        card = approver.locator(f'#approvals article[data-task-id="{task_id}"]')
        assert "this could delete production data" in await card.inner_text()
        await card.get_by_role("button", name="Approve").click()
        await approver.locator("#flash.shown:not(.error)").wait_for()
        await wait_status(page_service, task_id, TaskStatus.DONE, within=20)
        await approver.locator(f'#approvals article[data-task-id="{task_id}"]').wait_for(state="detached")
        await approver.locator(f'#tasks tr[data-task-id="{task_id}"][data-status="done"]').wait_for()
        audit = await page_service.engine.gatekeeper.ledger.entries(None, None, 50)
        assert any(e.task_id == task_id and e.decided_by == "approver (api:approver)" for e in audit)
    finally:
        await own.context.close()
        await approver.context.close()


async def test_a_block_denied_on_its_task_page_cancels_the_task(
    page_service: Service, browser: Any, model_env: FakeModelServer
) -> None:
    task_id = await blocked(page_service, model_env, "Wipe the staging bucket")
    reader = await open_page(browser, page_service, READER, f"/tasks/{task_id}")
    approver = await open_page(browser, page_service, APPROVER, f"/tasks/{task_id}")
    try:
        await reader.locator("#detail .readonly").wait_for()
        assert await reader.locator("#detail button[data-post]").count() == 0, "no buttons without approve"
        await approver.locator("#detail").get_by_role("button", name="Deny").click()
        await approver.locator("#status", has_text="cancelled").wait_for()
        await approver.locator('#progress li[data-type="confirmation_resolved"]', has_text="denied").wait_for()
        task = await page_service.store.tasks.get(task_id)
        assert task.status is TaskStatus.CANCELLED and task.error == "override denied by approver (api:approver)"
        await reader.locator("#status", has_text="cancelled").wait_for()  # the reader's page follows too
    finally:
        await reader.context.close()
        await approver.context.close()


@pytest.mark.slow
async def test_an_action_allowed_once_in_the_page_runs(model_env: FakeModelServer, repo: Path, browser: Any) -> None:
    settings = load_settings()  # the git MCP server of config.toml
    stage_a_change(repo)
    model_env.script.queue("execute", tool_calls(("mcp__git__git_reset", {"repo_path": str(repo)})))
    async with running_service(settings, page_settings()) as svc:
        task_id = await submit(svc, "unstage everything in the repository", FULL)

        async def asked() -> bool:
            return bool(await svc.store.actions.pending(task_id))

        await wait_until(asked, within=20)
        page = await open_page(browser, svc, APPROVER, f"/tasks/{task_id}")
        try:
            card = page.locator("#detail article.action")
            assert "mcp__git__git_reset" in await card.inner_text() and str(repo) in await card.inner_text()
            assert staged(repo) == ["file1.txt"], "nothing ran yet"
            await card.get_by_role("button", name="Allow once").click()
            await page.locator("#status", has_text="done").wait_for(timeout=25_000)
            assert staged(repo) == [], "git_reset ran"
            await page.locator(
                '#progress li[data-type="action_decided"]', has_text=re.compile("allowed_once")
            ).wait_for()
        finally:
            await page.context.close()
