"""The MCP client: the team's configured MCP servers (``[mcp_servers.<name>]``) and their tools.

* ``McpServer`` (``server``): one server, started lazily, restarted after a crash with backoff, each call
  with a time limit, its tool list cached until the server says it changed.
* ``McpTool`` (``tool``): one of its tools as an ``ActionTool`` named ``mcp__<server>__<tool>`` (``naming``),
  whose output is text with every registered secret redacted (``results``).
* ``McpHub`` (``hub``): every enabled server; their tools, a description for ``openkoi doctor``, shutdown.
* ``${NAME}`` in a server's ``env`` and ``headers`` is read from the environment when it starts (``expand``).

Failures are ``McpError`` with a one-line ``reason``, never a traceback.
"""

from integrations.mcp.errors import McpError
from integrations.mcp.hub import McpHub, ServerReport
from integrations.mcp.server import McpServer
from integrations.mcp.tool import McpTool

__all__ = ["McpError", "McpHub", "McpServer", "McpTool", "ServerReport"]
