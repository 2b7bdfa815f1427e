"""A local OpenAI-compatible model server for tests.

It speaks the real wire protocol of ``POST /v1/chat/completions`` so the engine is
exercised through litellm and the OpenAI SDK exactly as in production. Replies are
scripted per *kind* of request: the ``response_format.json_schema.name`` the engine
asked for (``Directive``, ``Deliberation``, ``Plan``, ``Evaluation`` …) or
``"execute"`` for free-form calls. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """One scripted answer. ``status`` other than 200 produces an OpenAI-style error."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_code: str | None = None
    error_message: str = "scripted error"


def json_reply(payload: Any, **kwargs: Any) -> Reply:
    return Reply(content=json.dumps(payload, ensure_ascii=False), **kwargs)


def estimate_tokens(text: str) -> int:
    """Rough token count (4 chars per token) used for the usage block."""
    return max(1, len(text) // 4)


def request_kind(body: dict[str, Any]) -> str:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return str(fmt.get("json_schema", {}).get("name", "json_schema"))
    return "execute"


def prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


Handler = Callable[[dict[str, Any]], "Reply | Awaitable[Reply]"]


class ScriptedModel:
    """Replies by request kind: queued replies first, then a default per kind."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Reply | Handler]] = defaultdict(deque)
        self.defaults: dict[str, Reply | Handler] = {}

    def queue(self, kind: str, *replies: Reply | Handler) -> None:
        self.queues[kind].extend(replies)

    def default(self, kind: str, reply: Reply | Handler) -> None:
        self.defaults[kind] = reply

    async def __call__(self, body: dict[str, Any]) -> Reply:
        kind = request_kind(body)
        item: Reply | Handler | None = self.queues[kind].popleft() if self.queues[kind] else self.defaults.get(kind)
        if item is None:
            return Reply(status=500, error_message=f"fake model has no reply scripted for {kind!r}")
        if isinstance(item, Reply):
            return item
        result = item(body)
        if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
            result = await result
        assert isinstance(result, Reply)
        return result


class FakeModelServer:
    """Serves ``/v1/chat/completions`` on 127.0.0.1 with a free port."""

    def __init__(self, handler: Handler | None = None, latency: float = 0.0) -> None:
        self.script = ScriptedModel()
        self.handler: Handler = handler or self.script
        self.latency = latency
        self.requests: list[dict[str, Any]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def kinds(self) -> list[str]:
        return [request_kind(r) for r in self.requests]

    def requests_of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if request_kind(r) == kind]

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        reply = self.handler(body)
        if not isinstance(reply, Reply):
            reply = await reply
        if self.latency or reply.delay:
            await asyncio.sleep(self.latency + reply.delay)
        if reply.status != 200:
            error = {
                "error": {
                    "message": reply.error_message,
                    "type": "server_error" if reply.status >= 500 else "invalid_request_error",
                    "code": reply.error_code,
                }
            }
            return web.json_response(error, status=reply.status, headers=reply.headers)
        content = reply.content
        prompt_tokens = reply.prompt_tokens or estimate_tokens(prompt_text(body))
        completion_tokens = reply.completion_tokens or estimate_tokens(content or "")
        finish = "stop"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and completion_tokens > limit:
            # A real model stops at max_tokens: it is never billed for more.
            completion_tokens, finish = limit, "length"
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
            finish = "tool_calls"
        payload = {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return web.json_response(payload, headers=reply.headers)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        return app

    async def start(self) -> FakeModelServer:
        self._runner = web.AppRunner(self._app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeModelServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # A server on its own thread, for tests that run the CLI in a subprocess.
    def start_in_thread(self) -> FakeModelServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            loop.run_until_complete(self.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-model", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
