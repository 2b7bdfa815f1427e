"""Runbooks for the tests: real commands (``sys.executable -c …``), built through the real settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from core.acting.settings import RunbookSettings
from integrations.runbooks import Runbook

PYTHON = sys.executable


def runbook(command: list[str], name: str = "rb", *, grace: float = 0.5, **settings: Any) -> Runbook:
    """A runbook with ``command`` (and any other ``[runbooks.<name>]`` keys), read as the settings read it."""
    fields: dict[str, Any] = {"description": "a test runbook", "domain": "ops", "effect": "write", **settings}
    return Runbook(name, RunbookSettings(command=command, **fields), kill_grace_sec=grace)


def python(script: str, *args: str, **settings: Any) -> Runbook:
    """A runbook running ``script`` with this interpreter; ``args`` may hold ``{param}`` placeholders."""
    return runbook([PYTHON, "-c", script, *args], **settings)


class Sink:
    """Collects streamed output; ``on_text`` may react to a chunk (create a file the command waits for)."""

    def __init__(self, on_text: dict[str, Path] | None = None) -> None:
        self.chunks: list[str] = []
        self._on_text = dict(on_text or {})

    async def __call__(self, text: str) -> None:
        self.chunks.append(text)
        for needle, flag in list(self._on_text.items()):
            if needle in "".join(self.chunks):
                flag.touch()
                del self._on_text[needle]

    @property
    def text(self) -> str:
        return "".join(self.chunks)


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting for a parent that will not reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"
