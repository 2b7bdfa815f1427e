"""One live connection to an MCP server, its session running in a task of its own.

The SDK's ``Client`` holds anyio task groups that must be entered and left by the same task, and a server
that hangs must never hold up its caller beyond the call's own time limit. So each connection is one
asyncio task (``Connection.open`` starts it) that enters the client, reports it ready, keeps a
``subscriptions/listen`` stream open for tool-list changes where the server offers one, and leaves when
asked to (``close``) or when the server goes away. Callers use the client from their own tasks.

``lost`` is set when the server's stream ends (a stdio server's process exited, its stdout closed): the
server is then restarted on its next use. A stdio server's stderr is kept (its last lines) so a failure
can say what the server said; each line is also logged at debug level (redacted like every log record).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Self

import anyio
import httpx2
from mcp import Client, StdioServerParameters, types
from mcp.client._transport import Transport, TransportStreams
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from core.acting.settings import McpServerSettings
from core.secrets import SECRETS
from integrations.mcp.closing import ClosedOnExit
from integrations.mcp.errors import McpError

log = logging.getLogger(__name__)

CLIENT_INFO = types.Implementation(name="openkoi", version="0.1.0")
STDERR_LINES = 20
# How long shutting a connection down may take: the SDK gives a stdio server a grace period to exit
# before it kills the process tree, so this is a bound, not a wait.
CLOSE_TIMEOUT = 10.0


class Connection:
    """A connected client and the task that owns its session."""

    def __init__(self, server: str, on_tools_changed: Callable[[], None]) -> None:
        self.server = server
        self.client: Client | None = None
        self.lost = asyncio.Event()
        self.stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self.stderr_lines = 0  # how many lines the server has written to stderr so far
        self._on_tools_changed = on_tools_changed
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stderr_done: asyncio.Event | None = None

    async def open(self, settings: McpServerSettings, env: dict[str, str], headers: dict[str, str]) -> Client:
        """Start the session task and wait until the server has answered the handshake; raises what
        stopped it (the caller bounds the wait with the server's startup timeout)."""
        ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(settings, env, headers, ready), name=f"mcp server {self.server}")
        try:
            self.client = await asyncio.shield(ready)
        except BaseException:
            await self.close()
            raise
        return self.client

    async def close(self) -> None:
        """End the session and the server's process; idempotent, bounded by ``CLOSE_TIMEOUT``."""
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        if self.client is None:
            task.cancel()  # still starting: nothing to hand over cleanly, and the stop is not being watched yet
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        except BaseException:  # the task's own failure was reported when it happened
            pass

    @property
    def running(self) -> bool:
        return self.client is not None and not self.lost.is_set() and self._task is not None and not self._task.done()

    def last_stderr(self, since: int = 0) -> str:
        """The server's last non-empty line on stderr after its first ``since`` lines, if it said anything."""
        recent = list(self.stderr)[max(0, len(self.stderr) - (self.stderr_lines - since)) :]
        return next((line for line in reversed(recent) if line.strip()), "")

    async def stderr_settled(self) -> None:
        """Wait (briefly) until a stopped server's stderr has been read to its end."""
        if self._stderr_done is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._stderr_done.wait()

    async def _run(
        self, settings: McpServerSettings, env: dict[str, str], headers: dict[str, str], ready: asyncio.Future[Client]
    ) -> None:
        try:
            async with AsyncExitStack() as stack:
                transport = await self._transport(stack, settings, env, headers)
                client = Client(
                    _Watched(transport, self.lost.set),
                    mode="auto",
                    cache=None,  # the server object keeps the tool list, refreshed on change notifications
                    message_handler=self._on_message,
                    client_info=CLIENT_INFO,
                )
                await stack.enter_async_context(client)
                if not ready.done():
                    ready.set_result(client)
                async with anyio.create_task_group() as group:
                    if _offers_listen(client):
                        group.start_soon(self._listen, client)
                    stopped = asyncio.ensure_future(self._stop.wait())
                    lost = asyncio.ensure_future(self.lost.wait())
                    try:
                        await asyncio.wait({stopped, lost}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        stopped.cancel()
                        lost.cancel()
                    group.cancel_scope.cancel()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.debug("mcp server %s: session ended: %r", self.server, exc)
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        finally:
            self.lost.set()

    async def _transport(
        self, stack: AsyncExitStack, settings: McpServerSettings, env: dict[str, str], headers: dict[str, str]
    ) -> Transport:
        if settings.url is not None:
            http = await stack.enter_async_context(
                httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
            )
            return streamable_http_client(settings.url, http_client=http)
        assert settings.command is not None  # the settings hold exactly one of command and url
        params = StdioServerParameters(command=settings.command, args=settings.args, env=env or None, cwd=settings.cwd)
        return stdio_client(params, errlog=await self._stderr_pipe(stack))

    async def _stderr_pipe(self, stack: AsyncExitStack) -> Any:
        """A pipe for the server's stderr, read line by line into ``stderr`` (and the debug log)."""
        read_fd, write_fd = os.pipe()
        writer = os.fdopen(write_fd, "w")
        # Our copy of the write end closes once the session ends; the server's copy when it exits.
        stack.callback(writer.close)
        done = self._stderr_done = asyncio.Event()
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb"))

        async def pump() -> None:
            try:
                while line := await reader.readline():
                    text = line.decode("utf-8", "replace").rstrip()
                    self.stderr.append(text)
                    self.stderr_lines += 1
                    log.debug("mcp server %s: %s", self.server, text)
            finally:
                done.set()

        task = asyncio.create_task(pump(), name=f"mcp server {self.server} stderr")
        _background.add(task)
        task.add_done_callback(_background.discard)
        return writer

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._on_tools_changed()

    async def _listen(self, client: Client) -> None:
        """Keep a ``subscriptions/listen`` stream open (2026-07-28 servers send list changes only there);
        its notifications also reach ``_on_message``, so the events themselves only mark the change too."""
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _event in subscription:
                    self._on_tools_changed()
        except Exception as exc:  # a server without it, or the connection ending: nothing to watch
            log.debug("mcp server %s: no tool-change stream: %r", self.server, exc)


_background: set[asyncio.Task[None]] = set()


def _offers_listen(client: Client) -> bool:
    tools = client.server_capabilities.tools
    return client.protocol_version in MODERN_PROTOCOL_VERSIONS and tools is not None and bool(tools.list_changed)


class _Watched:
    """The transport's read stream, noticing when it ends (the server went away)."""

    def __init__(self, transport: Transport, on_end: Callable[[], None]) -> None:
        self._transport = transport
        self._on_end = on_end

    @asynccontextmanager
    async def _open(self) -> Any:
        async with self._transport as (read, write):
            yield _WatchedStream(read, self._on_end), write

    async def __aenter__(self) -> TransportStreams:
        self._context = self._open()
        streams: TransportStreams = await self._context.__aenter__()
        return streams

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return bool(await self._context.__aexit__(exc_type, exc, tb))


class _WatchedStream(ClosedOnExit):
    def __init__(self, inner: Any, on_end: Callable[[], None]) -> None:
        self._inner = inner
        self._on_end = on_end

    async def receive(self) -> SessionMessage | Exception:
        try:
            item: SessionMessage | Exception = await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._on_end()
            raise
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None


def one_line(exc: BaseException) -> str:
    """An exception as one redacted line: the first real error inside exception groups, without traceback."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, McpError):
        return exc.detail
    if isinstance(exc, MCPError):
        text = exc.error.message
    elif isinstance(exc, FileNotFoundError) and exc.filename:
        text = f"command not found: {exc.filename}"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        message = str(exc)
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return clean(text)


def clean(text: str, limit: int = 300) -> str:
    """One line, at most ``limit`` characters, with every registered secret redacted."""
    text = SECRETS.redact(re.sub(r"\s+", " ", text).strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"
