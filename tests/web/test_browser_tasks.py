"""In Chromium: a task submitted through the API appears in the open task list without a reload, and its page shows
each iteration's score and the final status as they stream; a hostile task text never runs."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from bots.service import Service
from core.models import TaskStatus
from tests.api.harness import CI, READER
from tests.fakes.model_server import FakeModelServer, Reply
from tests.fakes.scripts import evaluation
from tests.support import wait_status
from tests.web.conftest import base_url, open_page, submit

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.browser]


def held_second_evaluation(model: FakeModelServer) -> asyncio.Event:
    """The first evaluation scores 5 of 10 (below the bar: the loop goes on); every later one waits for the event
    and scores 9, so a test can look at the page between the iterations."""
    release = asyncio.Event()
    low, high = evaluation(5), evaluation(9)
    calls = 0

    async def handler(body: dict[str, Any]) -> Reply:
        nonlocal calls
        calls += 1
        if calls == 1:
            reply: Reply = low(body)
            return reply
        await release.wait()
        reply = high(body)
        return reply

    model.script.default("Evaluation", handler)
    return release


async def test_a_task_from_the_api_appears_live_and_its_page_follows_it_to_the_end(
    page_service: Service, browser: Any, model_env: FakeModelServer
) -> None:
    release = held_second_evaluation(model_env)
    page = await open_page(browser, page_service, READER)
    try:
        assert await page.locator("#tasks .empty").count() == 1, "no task yet"
        task_id = await submit(page_service, "Summarise the release notes", CI)
        row = page.locator(f'#tasks tr[data-task-id="{task_id}"]')
        await row.wait_for()  # the open list refreshed itself: no reload
        assert "Summarise the release notes" in await row.inner_text()

        await row.locator("a").click()
        await page.wait_for_url(re.compile(f"/tasks/{task_id}$"))
        # The row may be drawn before its score is (after "executed"): wait for the score itself.
        await page.locator('#detail tr[data-iteration="1"] .score', has_text="0.50").wait_for()
        await page.locator('#progress li[data-type="evaluated"]', has_text="score 0.50").wait_for()
        assert await page.locator("#status").inner_text() == "running"
        assert (await page_service.store.tasks.get(task_id)).status is TaskStatus.RUNNING

        release.set()
        await page.locator("#status", has_text="done").wait_for()
        await page.locator('#detail tr[data-iteration="2"] .score', has_text="0.90").wait_for()
        await page.locator('#progress li[data-type="task_finished"]', has_text="done").wait_for()
        assert await page.locator("#stream-state").text_content() == "finished"
        assert await page.locator("#result").inner_text()
        votes = page.locator("#detail table.votes tbody tr")
        assert await votes.count() >= 3, "the verdict shows every vote"

        await page.goto(base_url(page_service) + "/")
        done = page.locator(f'#tasks tr[data-task-id="{task_id}"][data-status="done"]')
        await done.wait_for()
    finally:
        release.set()
        await page.context.close()


async def test_a_hostile_task_text_is_shown_and_never_run(page_service: Service, browser: Any) -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    task_id = await submit(page_service, hostile, CI)
    await wait_status(page_service, task_id, TaskStatus.DONE, within=20)
    page = await open_page(browser, page_service, READER)
    try:
        link = page.locator(f'#tasks tr[data-task-id="{task_id}"] a')
        assert await link.inner_text() == hostile
        await link.click()
        await page.locator("h1.task-title").wait_for()
        assert await page.locator("h1.task-title").inner_text() == hostile
        await page.wait_for_timeout(300)  # an onerror handler would have fired by now
        assert page.dialogs == [], "a task's text ran as script"
    finally:
        await page.context.close()


async def test_a_task_started_from_the_page_is_an_api_task_of_the_signed_in_token(
    page_service: Service, browser: Any
) -> None:
    reader = await open_page(browser, page_service, READER)
    writer = await open_page(browser, page_service, CI)
    try:
        assert await reader.locator("#start").count() == 0, "no form without tasks:write"
        await writer.fill("#start textarea[name=task]", "Say hello from the page")
        await writer.fill("#start input[name=iterations]", "2")
        await writer.click("#start button[type=submit]")
        await writer.locator("#flash", has_text="started task").wait_for()
        row = writer.locator("#tasks tr", has_text="Say hello from the page")
        await row.wait_for()
        task_id = await row.get_attribute("data-task-id")
        assert task_id is not None
        task = await page_service.store.tasks.get(task_id)
        assert task.source == "api" and task.requester == "ci (api:ci)" and task.options.max_iterations == 2
        await reader.locator(f'#tasks tr[data-task-id="{task_id}"]').wait_for()  # another viewer's list follows
        await wait_status(page_service, task_id, TaskStatus.DONE, within=20)
    finally:
        await reader.context.close()
        await writer.context.close()
