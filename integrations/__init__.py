"""What the agent acts through: MCP servers (``integrations.mcp``), runbooks, outgoing webhooks.

Each exposes its tools as ``core.acting.ActionTool``; whether a call may run is decided by the gate in
``core``, which never imports this package (``core`` ← ``integrations`` ← ``scheduler`` ← ``bots``).
"""
