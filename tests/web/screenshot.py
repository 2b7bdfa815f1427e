"""The README's picture of the web page: ``docs/page.png``, taken from a real service in Chromium.

A service with the API and the page on, a fake model, a few finished tasks, one running (its model call held
open for as long as the picture takes) and one a Guardian stopped, waiting for an approver; the page as a
token with every scope sees it, in a 1360×820 window. Not part of the test run:

    python -m tests.web.screenshot [--out docs/page.png] [--dark]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

from tests.benchmarks._common import forbid_network, use_fake_model

ROOT = Path(__file__).resolve().parents[2]
FINISHED = (
    "Summarise yesterday's deploys for the standup",
    "Draft the release notes for v1.4 from the merged PRs",
    "Why did the nightly backup job take 3 hours?",
    "List the open incidents older than a week",
    "Explain the flaky checkout test in CI and suggest a fix",
    "Which services still pin Python 3.9?",
    "Write a postmortem outline for Tuesday's DNS outage",
)
RUNNING = "Review the payment service's retry policy and propose safer defaults"
BLOCKED = "Drop the unused tables in the analytics database"


async def take(out: Path, dark: bool) -> None:
    import aiohttp
    from playwright.async_api import async_playwright

    from core.config import load_settings
    from core.models import TaskStatus
    from tests.api.harness import CI, FULL, api_section
    from tests.chat_service import running_service, service_settings, wait_until
    from tests.fakes.model_server import FakeModelServer, Reply, prompt_text
    from tests.fakes.scripts import evaluation, install_defaults, parliament
    from tests.web.conftest import CHROMIUM_ARGS, chromium_path, open_page

    hold = asyncio.Event()
    answered = Reply(content="Done: the summary is in the thread.")

    async def execute(body: dict[str, Any]) -> Reply:
        if RUNNING in prompt_text(body):
            await hold.wait()
        return answered

    async with FakeModelServer(latency=0.05) as model:
        install_defaults(model)
        model.script.default("execute", execute)
        model.script.default("Evaluation", evaluation(8))
        with tempfile.TemporaryDirectory(prefix="openkoi-screenshot-") as tmp:
            use_fake_model(Path(tmp) / "home", model.url)
            service = service_settings(api=api_section(), web={"refresh_seconds": 2})
            async with running_service(load_settings(), service) as svc:
                base = f"http://127.0.0.1:{svc.port}"

                async def submit(text: str, token: str) -> str:
                    async with aiohttp.ClientSession() as http:
                        headers = {"Authorization": f"Bearer {token}"}
                        async with http.post(f"{base}/api/v1/tasks", json={"task": text}, headers=headers) as r:
                            task_id: str = (await r.json())["id"]
                    return task_id

                async def status_is(task_id: str, *wanted: TaskStatus) -> bool:
                    return (await svc.store.tasks.get(task_id)).status in wanted

                for text in FINISHED:
                    task_id = await submit(text, CI)
                    await wait_until(lambda t=task_id: status_is(t, *TaskStatus.FINISHED), within=30)
                await submit(RUNNING, CI)

                def held() -> bool:  # past its verdict: the model is writing its answer
                    return any(RUNNING in prompt_text(body) for body in model.requests_of("execute"))

                await wait_until(held, within=30)
                model.script.queue(
                    "ParliamentReply",
                    parliament(
                        votes={"guardian": "BLOCK"},
                        reasons={"guardian": "dropping tables cannot be undone and the last backup is 3 days old"},
                        reversibility="NONE",
                        blast_radius="HIGH",
                    ),
                )
                blocked = await submit(BLOCKED, CI)
                await wait_until(lambda: status_is(blocked, TaskStatus.AWAITING_CONFIRMATION), within=30)

                path = chromium_path()
                assert path is not None, "Chromium is not installed"
                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
                    try:
                        page = await open_page(browser, svc, FULL)  # every scope, and not who asked
                        await page.emulate_media(color_scheme="dark" if dark else "light")
                        await page.set_viewport_size({"width": 1360, "height": 820})
                        await page.locator("#digest .headline").wait_for()
                        await page.locator(f'#approvals article[data-task-id="{blocked}"]').wait_for()
                        await page.screenshot(path=str(out))
                    finally:
                        await browser.close()
                hold.set()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Take the README's screenshot of the web page.")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "page.png")
    parser.add_argument("--dark", action="store_true", help="the dark colour scheme")
    args = parser.parse_args(argv)
    forbid_network()
    asyncio.run(take(args.out, args.dark))
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
