"""An action the agent proposes, the effect it may have, and the contract of a tool that acts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol


class Effect(StrEnum):
    """What an action may do, least to most severe. A tool whose effect nobody trustworthy declared
    counts as ``destructive`` (see ``core.gate``): a server's own hints never make a tool safer."""

    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Effect.READ: 0, Effect.WRITE: 1, Effect.DESTRUCTIVE: 2}


@dataclass(frozen=True)
class Hints:
    """An MCP server's annotations of a tool (``readOnlyHint``, ``destructiveHint``, ``idempotentHint``,
    ``openWorldHint``). Untrusted: a server chooses them, so they may add caution, never permission."""

    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None


# Receives a running action's output as it arrives (a runbook's stdout), for the task's thread.
OutputSink = Callable[[str], Awaitable[None]]


class ActionTool(Protocol):
    """A tool that may act: ``core.loop.tools.Tool`` plus what the gate needs to classify its calls.

    ``effect`` and ``domain`` are what the *team* declared (a runbook's ``effect`` and ``domain``); ``None``
    when nobody trustworthy did (an MCP tool). ``hints`` are the server's annotations, empty for a runbook.
    ``run`` returns the output as text, or raises; ``on_output`` receives output as it arrives.
    """

    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments
    effect: Effect | None
    domain: str | None
    hints: Hints

    async def run(self, arguments: dict[str, Any], on_output: OutputSink | None = None) -> str: ...


@dataclass(frozen=True)
class ProposedAction:
    """One tool call the agent wants to make, and why (the model's words, shown to the approver)."""

    tool: str
    arguments: Mapping[str, Any]
    reason: str = ""

    @property
    def fingerprint(self) -> str:
        """A hash of the exact tool and arguments: an approval is bound to it, and the audit stores it in
        place of arguments that may hold secrets."""
        return fingerprint(self.tool, self.arguments)


def fingerprint(tool: str, arguments: Mapping[str, Any]) -> str:
    canonical = json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def is_action_tool(tool: object) -> bool:
    """Whether ``tool`` acts (an ``ActionTool``: it carries a declared effect and a server's hints), so that its
    every call goes through the gate; the workspace's file tools only read and do not."""
    return hasattr(tool, "effect") and hasattr(tool, "hints")
