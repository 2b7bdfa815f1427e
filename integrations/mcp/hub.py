"""Every configured MCP server, their tools for the agent, and their state for ``openkoi doctor``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from core.acting.settings import McpServerSettings
from core.config import Settings
from integrations.mcp.closing import ClosedOnExit
from integrations.mcp.errors import McpError
from integrations.mcp.naming import name_tools
from integrations.mcp.server import BACKOFF, McpServer
from integrations.mcp.tool import McpTool

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerReport:
    """One server as ``openkoi doctor`` shows it."""

    name: str
    transport: str
    state: str
    tools: tuple[str, ...] = ()  # the names the model sees
    reason: str | None = None  # why it is not running, one line
    notices: tuple[str, ...] = field(default=())  # tools left out, filters naming unknown tools

    @property
    def ok(self) -> bool:
        return self.reason is None

    def lines(self) -> list[str]:
        """The report as text: a head line, then the tools or the failure, then the notices."""
        head = f"{self.name} ({self.transport}): {self.state}"
        if self.reason is not None:
            body = [f"  {self.reason}"]
        else:
            body = [f"  {len(self.tools)} tools: {', '.join(self.tools) or '(none)'}"]
        return [head, *body, *(f"  note: {notice}" for notice in self.notices)]


class McpHub(ClosedOnExit):
    """The enabled servers of ``[mcp_servers]``; none starts before it is used. An async context manager
    that shuts every server down on exit."""

    def __init__(self, servers: Mapping[str, McpServerSettings], *, backoff: Sequence[float] = BACKOFF) -> None:
        self.servers = {
            name: McpServer(name, settings, backoff=backoff) for name, settings in servers.items() if settings.enabled
        }
        self.failures: dict[str, McpError] = {}  # server → why it contributes no tools, from the last ``tools()``
        self.notices: dict[str, list[str]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> McpHub:
        return cls(settings.mcp_servers)

    async def tools(self) -> list[McpTool]:
        """Every server's tools, filtered by ``enabled_tools``/``disabled_tools``, named for the model. Servers
        start side by side; one that fails contributes none and its reason is kept in ``failures``."""
        found = await asyncio.gather(*(self._server_tools(server) for server in self.servers.values()))
        return [tool for tools in found for tool in tools]

    async def _server_tools(self, server: McpServer) -> list[McpTool]:
        try:
            listed = await server.list_tools()
        except McpError as exc:
            self.failures[server.name] = exc
            return []
        self.failures.pop(server.name, None)
        settings = server.settings
        available = {tool.name for tool in listed}
        notices = [
            f"enabled_tools names '{name}', which the server does not have"
            for name in settings.enabled_tools or ()
            if name not in available
        ]
        kept = [
            tool
            for tool in listed
            if (settings.enabled_tools is None or tool.name in settings.enabled_tools)
            and tool.name not in settings.disabled_tools
        ]
        naming = name_tools(server.name, [tool.name for tool in kept])
        notices += naming.notices
        if notices != self.notices.get(server.name):
            for notice in notices:
                log.warning("mcp server %s: %s", server.name, notice)
        self.notices[server.name] = notices
        return [McpTool(server, tool, naming.names[tool.name]) for tool in kept if tool.name in naming.names]

    async def describe(self) -> list[ServerReport]:
        """Each server for ``openkoi doctor``: its transport and state, and its tools or why it has none.
        Starts the servers that have not started yet (doctor's job is to find out)."""
        tools = await self.tools()
        reports = []
        for name, server in self.servers.items():
            reports.append(
                ServerReport(
                    name=name,
                    transport=server.transport,
                    state=str(server.state),
                    tools=tuple(tool.name for tool in tools if tool.server is server),
                    reason=failure.detail if (failure := self.failures.get(name)) else None,
                    notices=tuple(self.notices.get(name, ())),
                )
            )
        return reports

    async def aclose(self) -> None:
        """Shut every server down, whatever its state."""
        await asyncio.gather(*(server.aclose() for server in self.servers.values()))
