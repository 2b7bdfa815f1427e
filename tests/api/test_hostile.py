"""Hostile and broken requests to the API: unauthenticated 401 (with WWW-Authenticate), wrong scope 403,
malformed 400, too large 413, invalid fields 422, too fast 429 — each a problem document, never a 500, no
traceback in the log, nothing saved. Requests are raw bytes on a socket (as in ``tests/chat/test_hostile.py``),
so that they can carry what a client library would refuse to send."""

from __future__ import annotations

import json
import logging

import pytest

from bots.chat.http_guard import MAX_BODY_BYTES
from core.config import Settings
from tests.api.conftest import ApiService
from tests.api.harness import CI, FULL, READER, api_section, open_client
from tests.chat_service import running_service, service_settings
from tests.support import send_raw_http, until_idle

TASKS = "/api/v1/tasks"
DEEP = 10_000


async def raw(
    port: int, method: str, path: str, headers: list[tuple[str, bytes]], body: bytes = b"", *, chunked: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """Send exactly these bytes; the status, headers and body of the answer."""
    reader, writer = await send_raw_http(port, method, path, headers, body, chunked=chunked)
    answer = await reader.read()
    writer.close()
    head, _, content = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), found, content


def bearer(token: str) -> tuple[str, bytes]:
    return ("Authorization", b"Bearer " + token.encode())


JSON = ("Content-Type", b"application/json")
_deep = b'{"task": ' + b"[" * DEEP + b"]" * DEEP + b"}"

# (name, method, path, headers, body, expected status)
CASES: list[tuple[str, str, str, list[tuple[str, bytes]], bytes, int]] = [
    ("no token", "POST", TASKS, [JSON], b'{"task": "x"}', 401),
    ("unknown token", "POST", TASKS, [JSON, bearer("okoi_nope")], b'{"task": "x"}', 401),
    ("basic auth", "POST", TASKS, [JSON, ("Authorization", b"Basic dXNlcjpwYXNz")], b'{"task": "x"}', 401),
    ("empty bearer", "POST", TASKS, [JSON, ("Authorization", b"Bearer ")], b'{"task": "x"}', 401),
    ("non-ASCII token", "POST", TASKS, [JSON, ("Authorization", b"Bearer \xff\xfe" + CI.encode())], b'{"task": "x"}', 401),
    ("no token on a read", "GET", TASKS, [], b"", 401),
    ("wrong scope", "POST", TASKS, [JSON, bearer(READER)], b'{"task": "x"}', 403),
    ("audit without admin", "GET", "/api/v1/audit", [bearer(CI)], b"", 403),
    ("invalid JSON", "POST", TASKS, [JSON, bearer(CI)], b'{"task": ', 400),
    ("10,000-deep JSON", "POST", TASKS, [JSON, bearer(CI)], _deep, 400),
    ("JSON array", "POST", TASKS, [JSON, bearer(CI)], b'["task"]', 400),
    ("JSON string", "POST", TASKS, [JSON, bearer(CI)], b'"task"', 400),
    ("not UTF-8", "POST", TASKS, [JSON, bearer(CI)], b'{"task": "\xff\xfe"}', 400),
    ("empty body", "POST", TASKS, [JSON, bearer(CI)], b"", 400),
    ("a form", "POST", TASKS, [("Content-Type", b"application/x-www-form-urlencoded"), bearer(CI)], b"task=x", 415),
    ("no task", "POST", TASKS, [JSON, bearer(CI)], b'{"simulate": true}', 422),
    ("both task and description", "POST", TASKS, [JSON, bearer(CI)], b'{"task": "a", "description": "b"}', 422),
    ("blank task", "POST", TASKS, [JSON, bearer(CI)], b'{"task": "   "}', 422),
    ("unknown field", "POST", TASKS, [JSON, bearer(CI)], b'{"task": "x", "iterashuns": 3}', 422),
    ("iterations 0", "POST", TASKS, [JSON, bearer(CI)], b'{"task": "x", "iterations": 0}', 422),
    ("iterations a word", "POST", TASKS, [JSON, bearer(CI)], b'{"task": "x", "iterations": "three"}', 422),
    ("quality 2", "POST", TASKS, [JSON, bearer(CI)], b'{"task": "x", "quality": 2}', 422),
    ("task a number", "POST", TASKS, [JSON, bearer(CI)], b'{"task": 5}', 422),
    ("task too long", "POST", TASKS, [JSON, bearer(CI)], json.dumps({"task": "x" * 20_001}).encode(), 422),
    ("unknown skill", "POST", TASKS, [JSON, bearer(CI)], b'{"task": "x", "skill": "no-such-skill"}', 422),
    ("non-ASCII idempotency key", "POST", TASKS, [JSON, bearer(CI), ("Idempotency-Key", b"k\xffey")], b'{"task": "x"}', 400),
    ("limit 0", "GET", TASKS + "?limit=0", [bearer(CI)], b"", 422),
    ("limit twice", "GET", TASKS + "?limit=1&limit=2", [bearer(CI)], b"", 422),
    ("unknown status", "GET", TASKS + "?status=sleeping", [bearer(CI)], b"", 422),
    ("unknown parameter", "GET", TASKS + "?colour=red", [bearer(CI)], b"", 422),
    ("no such task", "GET", TASKS + "/0123456789abcdef", [bearer(CI)], b"", 404),
    ("no such task's events", "GET", TASKS + "/0123456789abcdef/events", [bearer(CI)], b"", 404),
    ("no such route", "GET", "/api/v1/nothing-here", [bearer(CI)], b"", 404),
    ("wrong method", "DELETE", TASKS, [bearer(CI)], b"", 405),
    ("no such digest", "GET", "/api/v1/digests/yesterday", [bearer(CI)], b"", 404),
    ("audit since not a time", "GET", "/api/v1/audit?since=soon", [bearer(FULL)], b"", 422),
]  # fmt: skip


async def test_hostile_requests_get_problem_documents_never_a_500(
    api: ApiService, caplog: pytest.LogCaptureFixture
) -> None:
    for name, method, path, headers, body, expected in CASES:
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            status, found, content = await raw(api.svc.port, method, path, headers, body)
            await until_idle(api.svc)
        assert status == expected, f"{name}: {status} {content[:300]!r}"
        assert found["content-type"].startswith("application/problem+json"), name
        problem = json.loads(content)
        assert problem["status"] == expected and problem["title"], name
        if expected == 401:
            assert found["www-authenticate"].startswith('Bearer realm="openkoi"'), name
        if expected == 405:
            assert "allow" in found, name
        assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()], f"{name}: a traceback"
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], name
    assert sum((await api.svc.store.tasks.counts()).values()) == 0, "nothing was saved"


async def test_invalid_fields_are_named_in_the_problem(api: ApiService) -> None:
    answer = await api.client.as_(CI).call("POST", TASKS, json_body={"task": "x", "iterations": 0, "colour": "red"})
    assert answer.status == 422
    pointers = {e["pointer"] for e in answer.json()["errors"]}
    assert pointers == {"/iterations", "/colour"}


async def test_oversize_bodies_get_413_declared_or_chunked(api: ApiService) -> None:
    body = json.dumps({"task": "x" * (MAX_BODY_BYTES + 10)}).encode()
    for chunked in (False, True):
        status, found, content = await raw(api.svc.port, "POST", TASKS, [JSON, bearer(CI)], body, chunked=chunked)
        assert status == 413, (chunked, content[:200])
        assert found["content-type"].startswith("application/problem+json")
        assert json.loads(content)["status"] == 413


async def test_a_token_over_its_rate_gets_429_with_retry_after(settings: Settings) -> None:
    service = service_settings(api=api_section(rate_per_second=0.5, burst=3))
    async with running_service(settings, service) as svc:
        client = await open_client(svc.port)
        try:
            reader = client.as_(READER)
            statuses = [(await reader.call("GET", TASKS)).status for _ in range(4)]
            assert statuses == [200, 200, 200, 429]
            limited = await reader.call("GET", TASKS)
            assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
            assert limited.content_type == "application/problem+json"
            assert (await client.as_(CI).call("GET", TASKS)).status == 200, "another token has its own bucket"
        finally:
            await client.http.close()


async def test_the_api_is_off_without_a_token_and_start_up_says_so(settings: Settings) -> None:
    async with running_service(settings, service_settings()) as svc:
        assert svc.api is None
        assert "  api: off — no token configured; set OPENKOI_API_TOKEN" in svc.startup_report
        status, _, _ = await raw(svc.port, "GET", TASKS, [bearer(CI)])
        assert status == 404, "not mounted"
        assert "api" not in svc.live_platforms()
