"""A client of the API for tests: real HTTP to the running service, every answer checked against the
OpenAPI document the service serves (openapi-core), and Server-Sent Events read frame by frame."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from bots.api.tokens import token_hash

# The tokens every API test service has: the full-scope one ([api] token) and three named ones.
FULL = "okoi_test-full-scope-token-0123456789"
CI = "okoi_test-ci-token-abcdefghijklmnop"
APPROVER = "okoi_test-approver-token-qrstuvwxyz"
READER = "okoi_test-reader-token-ABCDEFGHIJKL"
OTHER_WRITER = "okoi_test-other-writer-MNOPQRSTUVW"


def api_section(**overrides: Any) -> dict[str, Any]:
    """``[api]`` for a test service: the tokens above (as hashes, as config.toml keeps them), no tight rate."""
    section: dict[str, Any] = {
        "token": FULL,
        "tokens": {
            "ci": {"hash": token_hash(CI), "scopes": ["tasks:write", "tasks:read"]},
            "approver": {"hash": token_hash(APPROVER), "scopes": ["approve", "tasks:read"]},
            "reader": {"hash": token_hash(READER), "scopes": ["tasks:read"]},
            "other": {"hash": token_hash(OTHER_WRITER), "scopes": ["tasks:write"]},
        },
        "rate_per_second": 1000.0,
        "burst": 1000,
        "heartbeat_seconds": 0.2,
    }
    section.update(overrides)
    return section


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    content_type: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class SseEvent:
    id: int
    type: str
    data: dict[str, Any]


@dataclass
class ApiClient:
    """Calls as one token (None: no Authorization header). Every answer is validated against the spec."""

    http: aiohttp.ClientSession
    base: str
    spec: OpenAPI | None
    token: str | None = None
    answers: list[Answer] = field(default_factory=list)

    def as_(self, token: str | None) -> ApiClient:
        return ApiClient(self.http, self.base, self.spec, token, self.answers)

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}
        headers.update(extra or {})
        return headers

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Answer:
        async with self.http.request(
            method, self.base + path, json=json_body, data=data, headers=self._headers(headers), params=params
        ) as response:
            body = await response.read()
            answer = Answer(response.status, dict(response.headers), body, response.content_type)
        self.check(method, path, answer, params)
        return answer

    def check(self, method: str, path: str, answer: Answer, params: dict[str, str] | None = None) -> None:
        """The answer validates against the OpenAPI document (its status is listed, its body fits)."""
        self.answers.append(answer)
        if self.spec is None:
            return
        request = MockRequest(self.base, method.lower(), path.split("?")[0], args=params or {})
        response = MockResponse(answer.body, answer.status, answer.headers, content_type=answer.content_type)
        self.spec.validate_response(request, response)

    async def events(
        self, task_id: str, *, last_event_id: int | None = None, within: float = 20.0
    ) -> tuple[list[SseEvent], list[str]]:
        """Read a task's event stream to its end: the events, and the comment lines (heartbeats)."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        path = f"/api/v1/tasks/{task_id}/events"
        events: list[SseEvent] = []
        comments: list[str] = []
        async with asyncio.timeout(within):
            async with self.http.get(self.base + path, headers=self._headers(headers)) as response:
                assert response.status == 200, await response.text()
                assert response.content_type == "text/event-stream"
                frame: dict[str, str] = {}
                raw = b""
                async for line in response.content:
                    raw += line
                    text = line.decode().rstrip("\n")
                    if text.startswith(":"):
                        comments.append(text)
                    elif text == "":
                        if "data" in frame:
                            events.append(SseEvent(int(frame["id"]), frame["event"], json.loads(frame["data"])))
                        frame = {}
                    else:
                        name, _, value = text.partition(": ")
                        frame[name] = value
        self.check("GET", path, Answer(200, dict(response.headers), raw, "text/event-stream"))
        return events, comments


async def open_client(port: int) -> ApiClient:
    """A client of the service on ``port`` with the OpenAPI document it serves."""
    http = aiohttp.ClientSession()
    base = f"http://127.0.0.1:{port}"
    async with http.get(base + "/api/v1/openapi.json") as response:
        document = await response.json()
    # openapi-core reads application/json itself; a problem document is JSON too (RFC 9457).
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return ApiClient(http, base, OpenAPI.from_dict(document, config=config))
