"""What the agent acts through: MCP servers (``integrations.mcp``) and a team's runbooks (``integrations.runbooks``),
each offered as an ``core.acting.ActionTool`` whose every call goes through the gate."""
