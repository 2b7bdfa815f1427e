"""The web page's tests: a running service with the API on (the tokens of ``tests.api.harness``) and the page,
clients signed in with a token's cookie, and one Chromium per test module driven by Playwright.

Every test here runs in its module's event loop (``pytestmark = pytest.mark.asyncio(loop_scope="module")`` in each
module), so that one browser serves the whole module; the fake model is started in that loop too.

Without Chromium the browser tests are skipped, saying why, unless ``OPENKOI_REQUIRE_BROWSER=1`` (CI sets it):
then they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bots.api.session import COOKIE, PAGE_HEADER
from bots.service import Service
from core.config import Settings
from tests.api.harness import api_section
from tests.chat_service import running_service, service_settings
from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import install_defaults

CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """Debian's Chromium (Playwright cannot download its own here): $OPENKOI_CHROMIUM, or chromium on the PATH."""
    configured = os.environ.get("OPENKOI_CHROMIUM")
    if configured:
        return configured if os.path.exists(configured) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def no_browser(reason: str) -> None:
    """Skip the module's browser tests, or fail them when a browser is required (CI)."""
    if os.environ.get("OPENKOI_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and OPENKOI_REQUIRE_BROWSER=1 requires the browser tests to run")
    pytest.skip(f"{reason}: the browser tests need Chromium (apt-get install chromium) and playwright")


@pytest_asyncio.fixture(loop_scope="module")
async def fake_model() -> AsyncIterator[FakeModelServer]:
    # The conftest's fake model, started in the module's loop where these tests run.
    async with FakeModelServer() as server:
        install_defaults(server)
        yield server


def page_settings(**api: Any) -> Any:
    return service_settings(api=api_section(**api), web={"refresh_seconds": 0.5})


@pytest_asyncio.fixture(loop_scope="module")
async def page_service(settings: Settings) -> AsyncIterator[Service]:
    """The service with the API and the page on, on 127.0.0.1."""
    async with running_service(settings, page_settings()) as svc:
        yield svc


def base_url(svc: Service) -> str:
    return f"http://127.0.0.1:{svc.port}"


async def submit(svc: Service, text: str, token: str) -> str:
    """Start a task through the API as ``token``; its id."""
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(base_url(svc) + "/api/v1/tasks", json={"task": text}, headers=headers) as response:
            assert response.status == 202, await response.text()
            task_id: str = (await response.json())["id"]
    return task_id


def signed_in(token: str, *, page: bool = False) -> dict[str, str]:
    """The headers of a browser signed in with ``token`` (and, with ``page``, of the page's own script)."""
    headers = {"Cookie": f"{COOKIE}={token}"}
    if page:
        headers[PAGE_HEADER] = "1"
    return headers


@pytest_asyncio.fixture(loop_scope="module")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # No cookie jar: each request says which cookie it carries; redirects are looked at, not followed.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium for the module."""
    path = chromium_path()
    if path is None:
        no_browser("Chromium is not installed")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        no_browser("playwright is not installed")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def open_page(browser: Any, svc: Service, token: str, path: str = "/") -> Any:
    """A fresh browser context signed in through the sign-in form with ``token``, showing ``path``."""
    context = await browser.new_context()
    page = await context.new_page()
    page.set_default_timeout(15_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    page.dialogs = dialogs  # an alert() a hostile text might raise, for a test to look at
    await page.goto(base_url(svc) + "/sign-in")
    await page.fill("#token", token)
    await page.click("form[action='/sign-in'] button[type=submit]")
    await page.wait_for_url(base_url(svc) + "/")
    if path != "/":
        await page.goto(base_url(svc) + path)
    return page
