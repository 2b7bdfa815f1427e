"""Acting in chat: the team's runbooks and MCP servers as every chat task's tools for the service's life, and
the thread as the place a person is asked.

Asking is the publisher's part: on ``ActionApprovalNeeded`` it posts the approval card with Allow once /
Allow always / Deny, and a press reaches ``ActionDesk``. So the approver given to the engine only returns;
the task then waits on the stored approval (``core.loop.acting``), which a press, the expiry sweep or a
restart all see alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.acting.action import ActionTool
from core.config import Settings
from core.gate.action_gate import ActionReview
from integrations.runbooks.runbook import Runbooks

if TYPE_CHECKING:
    from integrations.mcp.hub import McpHub

log = logging.getLogger(__name__)


async def ask_in_thread(review: ActionReview) -> None:
    """The engine's approver in chat: the card is already on its way to the thread (see the module)."""


@dataclass
class ChatActions:
    """The tools of every chat task, and the MCP servers behind them (started once, stopped at shutdown)."""

    settings: Settings
    tools: list[ActionTool] = field(default_factory=list)
    hub: McpHub | None = None

    async def open(self) -> list[ActionTool]:
        """List the runbooks and start the MCP servers to list theirs. A server that cannot start is logged in
        one line and contributes no tools; the service runs without it."""
        self.tools = list(Runbooks(self.settings.runbooks).tools())
        if self.settings.mcp_servers:
            from integrations.mcp.hub import McpHub  # the MCP SDK only when a server is configured

            self.hub = McpHub.from_settings(self.settings)
            self.tools += await self.hub.tools()
            for name, failure in self.hub.failures.items():
                log.warning("MCP server %s is not available: %s", name, failure.detail)
        if self.tools:
            log.info("acting: %d tools (%s)", len(self.tools), ", ".join(tool.name for tool in self.tools))
        return self.tools

    async def close(self) -> None:
        if self.hub is not None:
            await self.hub.aclose()
            self.hub = None
