"""The Tool interface the executor calls, loop detection, and output truncation.

Loop detection counts *identical* calls (same tool, same arguments): the 10th logs a warning,
the 20th asks a person whether to go on, the 30th aborts the task.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from core.config import ToolSettings


class Tool(Protocol):
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments

    async def run(self, arguments: dict[str, Any]) -> str: ...


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
        spill_dir.mkdir(parents=True, exist_ok=True)
        path = spill_dir / (hashlib.sha256(encoded).hexdigest()[:16] + ".txt")
        path.write_text(output, encoding="utf-8")
        note += f"; full output saved to {path}"
    return kept + note + "]"


def _inside(root: Path, relative: str) -> Path:
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise ValueError(f"'{relative}' is outside the workspace")
    return target


@dataclass
class ReadFile:
    """Read a text file inside the workspace (read-only)."""

    root: Path
    name: str = "read_file"
    description: str = "Read a UTF-8 text file from the workspace. Path is relative to the workspace root."
    parameters: dict[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        }
    )

    async def run(self, arguments: dict[str, Any]) -> str:
        path = _inside(self.root.resolve(), str(arguments.get("path", "")))
        if not path.is_file():
            return f"error: no file at {arguments.get('path')!r}"
        return path.read_text(encoding="utf-8", errors="replace")


@dataclass
class ListFiles:
    """List files under a directory inside the workspace (read-only)."""

    root: Path
    name: str = "list_files"
    description: str = "List files (recursively, up to 500) under a directory of the workspace."
    parameters: dict[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {"path": {"type": "string", "default": "."}},
        }
    )

    async def run(self, arguments: dict[str, Any]) -> str:
        root = self.root.resolve()
        base = _inside(root, str(arguments.get("path") or "."))
        if not base.is_dir():
            return f"error: no directory at {arguments.get('path')!r}"
        names = []
        for path in sorted(base.rglob("*")):
            if any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            if path.is_file():
                names.append(str(path.relative_to(root)))
            if len(names) >= 500:
                names.append("… (more files not listed)")
                break
        return "\n".join(names) or "(empty)"


def workspace_tools(root: Path) -> list[Tool]:
    return [ReadFile(root), ListFiles(root)]


def schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters},
    }
