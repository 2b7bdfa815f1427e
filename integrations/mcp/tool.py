"""One tool of an MCP server as an ``ActionTool``: what the model sees and what the gate classifies."""

from __future__ import annotations

from typing import Any

from mcp import types

from core.acting.action import Effect, Hints, OutputSink
from integrations.mcp.results import render
from integrations.mcp.server import McpServer


class McpTool:
    """``mcp__<server>__<tool>``. Nobody the team trusts declared its effect or domain (both ``None``: the
    gate decides, an unknown tool counting as destructive); ``hints`` are the server's annotations."""

    effect: Effect | None = None
    domain: str | None = None

    def __init__(self, server: McpServer, tool: types.Tool, name: str) -> None:
        self.server = server
        self.tool = tool.name  # the server's own name, which is what a call sends
        self.name = name
        self.description = tool.description or tool.title or f"{tool.name} (MCP server {server.name})"
        self.parameters: dict[str, Any] = dict(tool.input_schema)
        self.hints = hints(tool.annotations)

    async def run(self, arguments: dict[str, Any], on_output: OutputSink | None = None) -> str:
        """Call the tool; its result as text (``error: …`` for an error result), every secret redacted.
        Raises ``McpError`` when the call itself failed (timeout, crash, refused). An MCP tool's output
        arrives whole, so ``on_output`` is not used."""
        return render(await self.server.call(self.tool, arguments))

    def __repr__(self) -> str:
        return f"McpTool({self.name!r})"


def hints(annotations: types.ToolAnnotations | None) -> Hints:
    """A server's annotations as ``Hints`` (absent ones stay ``None``: unknown, not false)."""
    if annotations is None:
        return Hints()
    return Hints(
        read_only=annotations.read_only_hint,
        destructive=annotations.destructive_hint,
        idempotent=annotations.idempotent_hint,
        open_world=annotations.open_world_hint,
    )
