"""The one error the MCP client raises on purpose."""

from __future__ import annotations

from core.errors import OpenKoiError


class McpError(OpenKoiError):
    """An MCP server could not start, or a call to it failed. ``reason`` is one line fit to show a person
    (in a thread, in ``openkoi doctor``), naming the server; never a traceback, never a secret."""

    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.detail = reason
        self.reason = f"mcp server '{server}': {reason}"
        super().__init__(self.reason)
