"""The Tool interface the executor calls, loop detection, and output truncation.

Loop detection counts *identical* calls (same tool, same arguments): the 10th logs a warning,
the 20th asks a person whether to go on, the 30th aborts the task.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from core.config import ToolSettings
from core.files import write_private
from core.loop.workspace import Workspace

LIST_LIMIT = 500


class Tool(Protocol):
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments

    async def run(self, arguments: dict[str, Any]) -> str: ...


class ToolMode(StrEnum):
    """What a task's tools may do. ``read_only``: only tools that change nothing (the gate's suggest level,
    where the result is a proposal a person acts on); ``act``: every tool the task was given (each action
    through the gate once tools can act)."""

    ACT = "act"
    READ_ONLY = "read_only"


def changes_nothing(tool: Tool) -> bool:
    """True when ``tool`` says it only reads (``read_only = True``). A tool that does not say so is taken to
    change something: a new tool is kept out of read-only runs until it declares itself."""
    return getattr(tool, "read_only", False) is True


def tools_for(mode: ToolMode, tools: list[Tool]) -> list[Tool]:
    """The tools a task may use in ``mode``."""
    return list(tools) if mode is ToolMode.ACT else [tool for tool in tools if changes_nothing(tool)]


class LoopState(StrEnum):
    OK = "ok"
    WARN = "warn"
    ESCALATE = "escalate"
    ABORT = "abort"


@dataclass
class ToolLoopDetector:
    warning: int = 10
    escalate: int = 20
    abort: int = 30
    counts: Counter[str] = field(default_factory=Counter)

    @staticmethod
    def key(name: str, arguments: dict[str, Any]) -> str:
        return name + ":" + json.dumps(arguments, sort_keys=True, ensure_ascii=False)

    def observe(self, name: str, arguments: dict[str, Any]) -> tuple[LoopState, int]:
        key = self.key(name, arguments)
        self.counts[key] += 1
        n = self.counts[key]
        if n >= self.abort:
            return LoopState.ABORT, n
        if n == self.escalate:
            return LoopState.ESCALATE, n
        if n == self.warning:
            return LoopState.WARN, n
        return LoopState.OK, n


def truncate(output: str, settings: ToolSettings, spill_dir: Path | None) -> str:
    """Cut tool output to the configured lines/bytes; the full text is kept on disk when possible."""
    lines = output.splitlines()
    encoded = output.encode("utf-8")
    if len(lines) <= settings.max_output_lines and len(encoded) <= settings.max_output_bytes:
        return output
    kept = "\n".join(lines[: settings.max_output_lines])
    kept = kept.encode("utf-8")[: settings.max_output_bytes].decode("utf-8", errors="ignore")
    note = f"\n[output truncated: {len(lines)} lines, {len(encoded):,} bytes"
    if spill_dir is not None:
        path = spill_dir / (hashlib.sha256(encoded).hexdigest()[:16] + ".txt")
        write_private(path, output)  # tool output may quote anything the workspace holds: owner-only
        note += f"; full output saved to {path}"
    return kept + note + "]"


def _path_argument(required: bool, default: str | None = None) -> dict[str, Any]:
    """The JSON schema of a workspace tool's one argument: a path relative to the workspace root."""
    path: dict[str, Any] = {"type": "string"} if default is None else {"type": "string", "default": default}
    schema: dict[str, Any] = {"type": "object", "properties": {"path": path}}
    return {**schema, "required": ["path"]} if required else schema


@dataclass
class WorkspaceReader:
    """What every file tool shares: the workspace it reads (never outside it, never its private files) and
    that it changes nothing, so it may run at the gate's suggest level."""

    workspace: Workspace
    read_only: bool = True


@dataclass
class ReadFile(WorkspaceReader):
    """Read a text file inside the workspace (read-only; private files are refused, see ``core.loop.workspace``)."""

    name: str = "read_file"
    description: str = "Read a UTF-8 text file from the workspace. Path is relative to the workspace root."
    parameters: dict[str, Any] = field(default_factory=lambda: _path_argument(required=True))

    async def run(self, arguments: dict[str, Any]) -> str:
        relative = str(arguments.get("path", ""))
        try:
            return self.workspace.open_text(relative)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return f"error: no file at {arguments.get('path')!r}"


@dataclass
class ListFiles(WorkspaceReader):
    """List files under a directory inside the workspace (read-only; private entries are not listed)."""

    name: str = "list_files"
    description: str = "List files (recursively, up to 500) under a directory of the workspace."
    parameters: dict[str, Any] = field(default_factory=lambda: _path_argument(required=False, default="."))

    async def run(self, arguments: dict[str, Any]) -> str:
        root = self.workspace.root
        base = self.workspace.resolve(str(arguments.get("path") or "."))
        if not base.is_dir():
            return f"error: no directory at {arguments.get('path')!r}"
        found = sorted(str(path.relative_to(root)) for path in islice(self.workspace.walk(base), LIST_LIMIT + 1))
        if len(found) > LIST_LIMIT:
            found = [*found[:LIST_LIMIT], "… (more files not listed)"]
        return "\n".join(found) or "(empty)"


def workspace_tools(root: Path, private: Iterable[Path] = ()) -> list[Tool]:
    """The read-only file tools over ``root``; ``private`` are openkoi's config and data directories."""
    workspace = Workspace.at(root, private)
    return [ReadFile(workspace), ListFiles(workspace)]


def schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }
