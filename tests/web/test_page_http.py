"""The web page over HTTP: nothing without a signed-in token of tasks:read, decisions only for the approve scope
(and refused by the API without it), the page's header required for a change made with its cookie (CSRF), the
security headers, and a hostile task text shown as text."""

from __future__ import annotations

import re

import aiohttp
import pytest

from bots.api.session import COOKIE
from bots.service import Service
from bots.web.security import CSP
from core.config import Settings
from core.models import TaskStatus
from tests.api.harness import APPROVER, CI, FULL, OTHER_WRITER, READER
from tests.chat_service import running_service, service_settings
from tests.fakes.model_server import FakeModelServer
from tests.support import guardian_blocks_next, wait_status
from tests.web.conftest import base_url, signed_in

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


async def get(
    http: aiohttp.ClientSession, svc: Service, path: str, token: str | None = None
) -> tuple[int, str, aiohttp.ClientResponse]:
    headers = signed_in(token) if token is not None else {}
    async with http.get(base_url(svc) + path, headers=headers, allow_redirects=False) as response:
        return response.status, await response.text(), response


async def start_task(http: aiohttp.ClientSession, svc: Service, text: str, token: str = CI) -> str:
    async with http.post(
        base_url(svc) + "/api/v1/tasks", json={"task": text}, headers={"Authorization": f"Bearer {token}"}
    ) as r:
        assert r.status == 202, await r.text()
        task_id: str = (await r.json())["id"]
    return task_id


async def test_nothing_is_shown_without_a_signed_in_token(page_service: Service, http: aiohttp.ClientSession) -> None:
    task_id = await start_task(http, page_service, "Secret plans for the launch")
    for path in ("/", f"/tasks/{task_id}"):
        status, text, response = await get(http, page_service, path)
        assert status == 303 and response.headers["Location"] == "/sign-in"
        assert "Secret plans" not in text
    for path in ("/page/tasks", f"/page/tasks/{task_id}", "/page/approvals", "/page/proposals", "/page/digests/today"):
        status, text, _ = await get(http, page_service, path)
        assert status == 401 and "Secret plans" not in text
    status, _, _ = await get(http, page_service, "/", token="okoi_not-a-token-this-service-knows")
    assert status == 303, "an unknown token is no sign-in"
    status, _, _ = await get(http, page_service, "/", token=OTHER_WRITER)
    assert status == 303, "a token without tasks:read sees nothing"
    status, text, _ = await get(http, page_service, "/sign-in")
    assert status == 200 and 'type="password"' in text and "Secret plans" not in text
    status, text, _ = await get(http, page_service, "/", token=READER)
    assert status == 200 and "Secret plans for the launch" in text


async def test_sign_in_sets_an_http_only_strict_cookie_and_sign_out_clears_it(
    page_service: Service, http: aiohttp.ClientSession
) -> None:
    url = base_url(page_service)
    origin = {"Origin": url}
    async with http.post(url + "/sign-in", data={"token": READER}, headers=origin, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/"
        cookie = r.cookies[COOKIE]
        assert cookie.value == READER
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
        assert not cookie["secure"], "plain http on 127.0.0.1"
        assert int(cookie["max-age"]) == 12 * 3600
    async with http.post(
        url + "/sign-in",
        data={"token": READER},
        headers={"Origin": url, "X-Forwarded-Proto": "https"},
        allow_redirects=False,
    ) as r:
        assert r.cookies[COOKIE]["secure"], "over https the cookie is Secure"
    async with http.post(url + "/sign-in", data={"token": "okoi_wrong"}, headers=origin) as r:
        text = await r.text()
        assert r.status == 401 and "not a token this service knows" in text and COOKIE not in r.cookies
        assert "okoi_wrong" not in text, "a presented token is never echoed"
    async with http.post(url + "/sign-in", data={"token": OTHER_WRITER}, headers=origin) as r:
        assert r.status == 403 and "lacks the tasks:read scope" in await r.text()
    async with http.post(
        url + "/sign-in", data={"token": READER}, headers={"Origin": "https://evil.example"}, allow_redirects=False
    ) as r:
        assert r.status == 403 and COOKIE not in r.cookies, "another site cannot sign anyone in"
    cross_site = {"Sec-Fetch-Site": "cross-site", "Origin": "null"}
    async with http.post(url + "/sign-in", data={"token": READER}, headers=cross_site, allow_redirects=False) as r:
        assert r.status == 403 and COOKIE not in r.cookies
    same_site = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}  # Chromium's form POST under no-referrer
    async with http.post(url + "/sign-in", data={"token": READER}, headers=same_site, allow_redirects=False) as r:
        assert r.status == 303 and r.cookies[COOKIE].value == READER
    async with http.post(url + "/sign-out", headers={**origin, **signed_in(READER)}, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/sign-in"
        assert r.cookies[COOKIE].value == "" and r.cookies[COOKIE]["max-age"] == "0"


async def test_every_answer_carries_a_strict_content_security_policy(
    page_service: Service, http: aiohttp.ClientSession
) -> None:
    for path, token in (("/", READER), ("/sign-in", None), ("/static/page.js", None), ("/page/tasks", READER)):
        status, _, response = await get(http, page_service, path, token)
        assert status == 200, path
        assert response.headers["Content-Security-Policy"] == CSP
        assert "default-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe-inline" not in CSP
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert re.fullmatch(r"page;dur=\d+\.\d", response.headers["Server-Timing"])
    _, html, response = await get(http, page_service, "/", READER)
    assert response.headers["Cache-Control"] == "no-store"
    assert "<script>" not in html.replace('<script src="/static/page.js" defer></script>', ""), "no inline script"
    assert "http://" not in html and "https://" not in html, "nothing is fetched from elsewhere"
    status, js, response = await get(http, page_service, "/static/page.js")
    assert response.content_type == "text/javascript" and "EventSource" in js
    assert (await get(http, page_service, "/static/nope.js"))[0] == 404


async def test_a_hostile_task_text_is_shown_as_text(page_service: Service, http: aiohttp.ClientSession) -> None:
    task_id = await start_task(http, page_service, HOSTILE)
    await wait_status(page_service, task_id, TaskStatus.DONE, within=20)
    for path in ("/", f"/tasks/{task_id}", "/page/tasks", f"/page/tasks/{task_id}"):
        _, html, _ = await get(http, page_service, path, READER)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html, path
        assert "<script>alert" not in html and "<img src=x" not in html, path


async def test_decisions_are_drawn_for_the_approve_scope_and_refused_without_it(
    page_service: Service, http: aiohttp.ClientSession, model_env: FakeModelServer
) -> None:
    guardian_blocks_next(model_env, reason="this could delete production data")
    task_id = await start_task(http, page_service, "Drop the old tables", token=FULL)
    await wait_status(page_service, task_id, TaskStatus.AWAITING_CONFIRMATION)
    approve = f'data-post="/api/v1/tasks/{task_id}/approve"'
    _, as_reader, _ = await get(http, page_service, f"/tasks/{task_id}", READER)
    assert "this could delete production data" in as_reader
    assert approve not in as_reader and "lacks the <code>approve</code> scope" in as_reader
    _, as_approver, _ = await get(http, page_service, f"/tasks/{task_id}", APPROVER)
    assert approve in as_approver
    _, listed, _ = await get(http, page_service, "/page/approvals", APPROVER)
    assert approve in listed and "Drop the old tables" in listed

    url = f"{base_url(page_service)}/api/v1/tasks/{task_id}/approve"
    async with http.post(url, headers=signed_in(READER, page=True)) as r:
        assert r.status == 403 and "approve scope" in (await r.json())["detail"]
    async with http.post(url, headers=signed_in(APPROVER)) as r:
        assert r.status == 403 and "X-OpenKoi-Page" in (await r.json())["detail"], "a forged POST: no page header"
    assert (await page_service.store.tasks.get(task_id)).status is TaskStatus.AWAITING_CONFIRMATION
    async with http.post(url, headers=signed_in(APPROVER, page=True)) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["decided_by"] == "approver (api:approver)"
    await wait_status(page_service, task_id, TaskStatus.DONE, within=20)


async def test_the_cookie_reads_the_api_and_the_event_stream(
    page_service: Service, http: aiohttp.ClientSession
) -> None:
    task_id = await start_task(http, page_service, "Say hi")
    url = base_url(page_service)
    async with http.get(f"{url}/api/v1/tasks/{task_id}", headers=signed_in(READER)) as r:
        assert r.status == 200 and (await r.json())["id"] == task_id
    async with http.get(f"{url}/api/v1/tasks/{task_id}/events", headers=signed_in(READER)) as r:
        assert r.status == 200 and r.content_type == "text/event-stream"
        body = (await r.read()).decode()
    assert "event: task_finished" in body
    async with http.get(f"{url}/api/v1/tasks", headers=signed_in("okoi_wrong")) as r:
        assert r.status == 401


async def test_the_page_is_off_while_the_api_has_no_token_and_start_up_says_why(settings: Settings) -> None:
    async with running_service(settings, service_settings()) as svc:
        assert "web" not in svc.adapters
        assert "  web: off — the API has no token to sign in with; set OPENKOI_API_TOKEN" in svc.startup_report
    async with running_service(settings, service_settings(api={"token": FULL}, web={"enabled": False})) as svc:
        assert "  web: off — [web] enabled = false" in svc.startup_report
        assert "web" not in svc.live_platforms()


async def test_malformed_requests_are_refused_never_a_500(page_service: Service, http: aiohttp.ClientSession) -> None:
    status, html, _ = await get(http, page_service, "/tasks/%3Cscript%3Ealert(1)%3C%2Fscript%3E", READER)
    assert status == 404 and "&lt;script&gt;" in html and "<script>alert" not in html
    assert (await get(http, page_service, "/page/tasks/nope", READER))[0] == 404
    assert (await get(http, page_service, "/?older=%25%25not-a-cursor", READER))[0] == 200, "the first page"
    assert (await get(http, page_service, "/page/digests/year", READER))[0] == 404
    url = base_url(page_service) + "/sign-in"
    async with http.post(url, data=b"", headers={"Content-Type": "application/x-www-form-urlencoded"}) as r:
        assert r.status == 401
    async with http.post(url, json={"token": READER}) as r:
        assert r.status == 401, "a sign-in is a form, not JSON"
    async with http.post(url, data={"token": "x" * 2_000_000}) as r:
        assert r.status == 413


async def test_the_services_secrets_are_redacted_from_the_page(
    page_service: Service, http: aiohttp.ClientSession
) -> None:
    # [api] token is one of the service's secrets; a task that quotes it must not show it to every reader.
    task_id = await start_task(http, page_service, f"Rotate the token {FULL} before Friday")
    assert FULL in (await page_service.store.tasks.get(task_id)).description, "stored as asked: the page redacts"
    for path in ("/", f"/tasks/{task_id}", "/page/tasks"):
        _, html, _ = await get(http, page_service, path, READER)
        assert FULL not in html and "Rotate the token [redacted] before Friday" in html, path
