"""One configured MCP server: started on first use, restarted after a crash with backoff, its calls
bounded in time, its tool list cached until the server says it changed.

States: ``not started`` → ``starting`` → ``running``; a server that went away is ``crashed`` and one
that could not start is ``failed`` — either is started again on its next use, no sooner than the
backoff allows (1 s, 2 s, 4 s … 30 s after consecutive failures; the count resets once a connection has
stayed up for a minute). A call waits out what is left of the backoff when that fits in its time limit;
listing tools never waits (the hub keeps the reason instead). ``closed`` is final.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import anyio
import httpx2
from mcp import types
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

from core.acting.settings import McpServerSettings
from core.secrets import SECRETS
from integrations.mcp.connection import Connection, clean, one_line
from integrations.mcp.errors import McpError
from integrations.mcp.expand import MissingVariable, expand

log = logging.getLogger(__name__)

BACKOFF = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
STABLE_AFTER = 60.0  # seconds up after which earlier failures no longer lengthen the backoff
LIST_PAGES = 100  # a server whose tool list never ends cannot hold the listing forever
# Failures that mean the connection itself is gone (rather than an answer the server gave).
CONNECTION_ERRORS = (
    OSError,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    httpx2.TransportError,
)


class State(StrEnum):
    IDLE = "not started"
    STARTING = "starting"
    RUNNING = "running"
    CRASHED = "crashed"
    FAILED = "failed"
    CLOSED = "closed"


class McpServer:
    """One server of ``[mcp_servers.<name>]``. Nothing starts until ``list_tools`` or ``call``."""

    def __init__(
        self,
        name: str,
        settings: McpServerSettings,
        *,
        backoff: Sequence[float] = BACKOFF,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.name = name
        self.settings = settings
        self.backoff = tuple(backoff)
        self.stable_after = stable_after
        self.state = State.IDLE
        self.reason: str | None = None  # the last failure, one line
        self.failures = 0  # consecutive failures, for the backoff
        self.starts = 0
        self._connection: Connection | None = None
        self._lock = asyncio.Lock()
        self._failed_at: float | None = None
        self._up_since: float | None = None
        self._tools: list[types.Tool] | None = None
        self._stale = True
        self._secrets: set[str] = set()
        self._closing: set[asyncio.Task[None]] = set()  # crashed connections being torn down

    @property
    def transport(self) -> str:
        """How the server is reached, for people: ``stdio: <command> <args>`` or ``http: <url>``."""
        if self.settings.url is not None:
            return clean(f"http: {self.settings.url}")
        return clean(" ".join(["stdio:", str(self.settings.command), *self.settings.args]))

    def tools_changed(self) -> None:
        """The server said its tool list changed: the next listing asks it again."""
        self._stale = True

    # ------------------------------------------------------------------ tools

    async def list_tools(self) -> list[types.Tool]:
        """The server's tools (all of them, unfiltered), from the cache unless the server said they changed.
        Starts the server if needed, without waiting out a backoff. Raises ``McpError``."""
        connection = await self._connected(wait=False)
        if self._tools is None or self._stale:
            self._stale = False  # a change announced while we list marks it stale again
            try:
                self._tools = await self._list(connection)
            except McpError:
                self._stale = True
                raise
        return self._tools

    async def _list(self, connection: Connection) -> list[types.Tool]:
        assert connection.client is not None
        tools: list[types.Tool] = []
        cursor: str | None = None
        try:
            async with asyncio.timeout(self.settings.startup_timeout_sec):
                for _ in range(LIST_PAGES):
                    page = await connection.client.list_tools(cursor=cursor)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
        except TimeoutError:
            raise McpError(self.name, f"listing tools took more than {self.settings.startup_timeout_sec:g} s") from None
        except Exception as exc:
            raise await self._failure(connection, exc, "listing tools", connection.stderr_lines) from None
        return tools

    # ------------------------------------------------------------------ calls

    async def call(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call ``tool`` (the server's own name for it) within ``tool_timeout_sec``. A timeout cancels this
        call only; a crash fails this call and the server is restarted on the next. Raises ``McpError``."""
        connection = await self._connected(wait=True)
        assert connection.client is not None
        limit = self.settings.tool_timeout_sec
        said_before = connection.stderr_lines
        try:
            # The SDK's own limit cancels the request on the server; ours is the backstop.
            async with asyncio.timeout(limit + 1.0):
                return await connection.client.call_tool(tool, arguments, read_timeout_seconds=limit)
        except TimeoutError:
            raise McpError(self.name, f"{tool} did not answer within {limit:g} s") from None
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                raise McpError(self.name, f"{tool} did not answer within {limit:g} s") from None
            raise await self._failure(connection, exc, tool, said_before) from None
        except Exception as exc:
            raise await self._failure(connection, exc, tool, said_before) from None

    async def _failure(self, connection: Connection, exc: Exception, doing: str, said_before: int = 0) -> McpError:
        """The error for a failed request; if the connection is gone, the server counts as crashed."""
        gone = (
            connection.lost.is_set()
            or (isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED)
            or isinstance(exc, CONNECTION_ERRORS)
        )
        if not gone:  # the server answered with an error (an unknown tool, invalid arguments, a malformed result …)
            return McpError(self.name, clean(f"{doing} failed: {one_line(exc)}"))
        if self.state is State.CLOSED:
            return McpError(self.name, f"{doing} was interrupted: the server was shut down")
        await connection.stderr_settled()
        said = connection.last_stderr(since=said_before)
        reason = f"the server stopped during {doing}" + (f" (it said: {clean(said, 200)})" if said else "")
        self._crashed(connection, reason)
        return McpError(self.name, f"{reason}; it will be restarted on the next call")

    # ------------------------------------------------------------------ life

    async def _connected(self, *, wait: bool) -> Connection:
        connection = self._connection
        if connection is not None and connection.running:
            return connection
        async with self._lock:
            connection = self._connection
            if connection is not None and connection.running:
                return connection
            if self.state is State.CLOSED:
                raise McpError(self.name, "the server was shut down")
            if connection is not None:  # it went away while nobody was calling
                self._crashed(connection, "the server stopped")
            await self._backoff(wait=wait)
            return await self._start()

    async def _backoff(self, *, wait: bool) -> None:
        if not self.failures or self._failed_at is None:
            return
        delay = self.backoff[min(self.failures, len(self.backoff)) - 1]
        left = self._failed_at + delay - asyncio.get_running_loop().time()
        if left <= 0:
            return
        if not wait or left > self.settings.tool_timeout_sec:
            raise McpError(self.name, f"{self.reason or 'failed'}; next start in {left:.1f} s")
        await asyncio.sleep(left)

    async def _start(self) -> Connection:
        self.state = State.STARTING
        self.starts += 1
        connection = Connection(self.name, self.tools_changed)
        try:
            env = expand(self.settings.env, "env")
            headers = expand(self.settings.headers, "headers")
            self._register(env.secrets + headers.secrets)
            async with asyncio.timeout(self.settings.startup_timeout_sec):
                await connection.open(self.settings, env.values, headers.values)
        except MissingVariable as exc:
            raise self._failed(str(exc)) from None
        except TimeoutError:
            await connection.close()
            raise self._failed(f"did not start within {self.settings.startup_timeout_sec:g} s") from None
        except Exception as exc:
            await connection.close()
            await connection.stderr_settled()
            said = connection.last_stderr()
            detail = one_line(exc)
            if said and said not in detail:
                detail += f" (it said: {clean(said, 200)})"
            raise self._failed(f"could not start: {detail}") from None
        self._connection = connection
        self._stale = True
        self.state = State.RUNNING
        self._up_since = asyncio.get_running_loop().time()
        return connection

    def _register(self, values: list[str]) -> None:
        new = [v for v in values if v not in self._secrets]
        self._secrets.update(SECRETS.add(new))

    def _failed(self, reason: str) -> McpError:
        self._count_failure(reason)
        self.state = State.FAILED
        log.warning("mcp server %s: %s", self.name, reason)
        return McpError(self.name, reason)

    def _crashed(self, connection: Connection, reason: str) -> None:
        if connection is not self._connection:
            return  # already counted
        self._connection = None
        self._count_failure(reason)
        self.state = State.CRASHED
        log.warning("mcp server %s: %s", self.name, reason)
        task = asyncio.get_running_loop().create_task(connection.close())  # its process is gone or going
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _count_failure(self, reason: str) -> None:
        now = asyncio.get_running_loop().time()
        if self._up_since is not None and now - self._up_since >= self.stable_after:
            self.failures = 0
        self._up_since = None
        self.failures += 1
        self._failed_at = now
        self.reason = reason

    async def aclose(self) -> None:
        """Shut the server down (from any state); later calls fail with a clear reason."""
        self.state = State.CLOSED
        connection, self._connection = self._connection, None
        with anyio.CancelScope(shield=True):
            if connection is not None:
                await connection.close()
            await asyncio.gather(*self._closing, return_exceptions=True)
        SECRETS.remove(self._secrets)
        self._secrets.clear()
