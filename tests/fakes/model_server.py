"""A local OpenAI-compatible model server for tests.

It speaks the real wire protocol of ``POST /v1/chat/completions`` so the engine is
exercised through litellm and the OpenAI SDK exactly as in production. Replies are
scripted per *kind* of request: the schema name the engine asked for (``Directive``,
``ParliamentReply``, ``Plan``, ``Evaluation`` …, whether sent as ``json_schema``, as
``json_object`` with a schema, or only in the prompt) or ``"execute"`` for free-form calls.
Every request is recorded for assertions, refused ones included.

``Quirks`` switch on what real servers do that a lenient fake would hide: llama-cpp-python's
500 for ``json_schema``, LM Studio's 400 for ``json_object``, vLLM's 400 for ``tools``, no
``usage``, a tokenizer that counts more than the engine's estimate. Like a real model, a reply
longer than ``max_tokens`` is cut there and finishes with ``"length"``.

It does not constrain decoding: a scripted reply comes back as scripted, even one a grammar-constrained
server (llama.cpp) could not produce, such as an integer outside the schema's enum. The "bad model"
scripts in ``tests.fakes.scripts`` say which of them a grammar could produce.
"""

from __future__ import annotations

import asyncio
import json
import re
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
    finish_reason: str | None = None  # e.g. "length" for a reply cut off by the model itself


@dataclass
class Quirks:
    """Behaviours of real servers, off by default."""

    refuse_json_schema: bool = False  # llama-cpp-python: HTTP 500 "Input should be 'text' or 'json_object'"
    refuse_json_object: bool = False  # LM Studio: HTTP 400 "'response_format.type' must be 'json_schema' or 'text'"
    refuse_tools: bool = False  # vLLM without --enable-auto-tool-choice: HTTP 400
    omit_usage: bool = False  # no "usage" block at all
    token_ratio: float = 1.0  # the server's tokenizer counts this many times the base count


LLAMA_CPP_FORMAT_REFUSAL = (
    "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}]"
)
LM_STUDIO_FORMAT_REFUSAL = "'response_format.type' must be 'json_schema' or 'text'"
VLLM_TOOLS_REFUSAL = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'


def json_reply(payload: Any, **kwargs: Any) -> Reply:
    return Reply(content=json.dumps(payload, ensure_ascii=False), **kwargs)


def estimate_tokens(text: str) -> int:
    """Rough token count (4 chars per token) used for the usage block."""
    return max(1, len(text) // 4)


_SCHEMA_IN_PROMPT = re.compile(r"matching this JSON schema \((\w+)\)")


def request_kind(body: dict[str, Any]) -> str:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return str(fmt.get("json_schema", {}).get("name", "json_schema"))
    schema = fmt.get("schema")
    if isinstance(schema, dict) and schema.get("title"):
        return str(schema["title"])
    found = _SCHEMA_IN_PROMPT.search(prompt_text(body))
    return found.group(1) if found else "execute"


def prompt_text(body: dict[str, Any]) -> str:
    parts: list[str] = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return "\n".join(parts)


def _error(
    status: int, message: str, kind: str, code: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "code": code}}
    return web.json_response(body, status=status, headers=headers or {})


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
        self.quirks = Quirks()
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

    def _refusal(self, body: dict[str, Any]) -> web.Response | None:
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema" and self.quirks.refuse_json_schema:
            return _error(500, LLAMA_CPP_FORMAT_REFUSAL, "server_error")
        if kind == "json_object" and self.quirks.refuse_json_object:
            return _error(400, LM_STUDIO_FORMAT_REFUSAL, "invalid_request_error")
        if body.get("tools") and self.quirks.refuse_tools:
            return _error(400, VLLM_TOOLS_REFUSAL, "BadRequestError")
        return None

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        refusal = self._refusal(body)
        if refusal is not None:
            return refusal
        reply = self.handler(body)
        if not isinstance(reply, Reply):
            reply = await reply
        if self.latency or reply.delay:
            await asyncio.sleep(self.latency + reply.delay)
        if reply.status != 200:
            kind = "server_error" if reply.status >= 500 else "invalid_request_error"
            return _error(reply.status, reply.error_message, kind, reply.error_code, reply.headers)
        content = reply.content
        ratio = self.quirks.token_ratio
        prompt_tokens = reply.prompt_tokens or int(estimate_tokens(prompt_text(body)) * ratio)
        completion_tokens = reply.completion_tokens or int(estimate_tokens(content or "") * ratio)
        finish = reply.finish_reason or "stop"
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and completion_tokens > limit:
            # A real model stops at max_tokens: the text is cut there and never billed for more.
            if content is not None and reply.completion_tokens is None:
                content = content[: int(limit * 4 / ratio)]
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
        }
        if not self.quirks.omit_usage:
            payload["usage"] = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
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
