"""Acting: what the agent does in the world beyond reading its workspace.

An *action* is one call of a tool that may change something: an MCP server's tool (``mcp__<server>__<tool>``)
or a team's runbook. This package owns the vocabulary every part shares (``action``: the effect classes, a
server's untrusted hints, a proposed action and its fingerprint, the ``ActionTool`` contract) and the
configuration of servers, runbooks and tool rules (``settings``). Whether an action may run is decided by
the gate (``core.gate``); the servers and runbooks themselves are run by ``integrations/``, which core never
imports.
"""
