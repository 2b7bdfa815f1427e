"""Stand-in tools for the action gate's tests: tiny implementations of the ``ActionTool`` protocol (the real
contract the gate classifies by), not mocks of openkoi's code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.acting.action import ActionTool, Effect, Hints, OutputSink


@dataclass
class StandInTool:
    name: str
    effect: Effect | None = None
    domain: str | None = None
    hints: Hints = field(default_factory=Hints)
    description: str = "a stand-in tool"
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def run(self, arguments: dict[str, Any], on_output: OutputSink | None = None) -> str:
        self.calls.append(arguments)
        return "done"


def tool(name: str, **kwargs: Any) -> ActionTool:
    """A stand-in typed as the protocol, so mypy checks that it satisfies it."""
    made: ActionTool = StandInTool(name, **kwargs)
    return made
