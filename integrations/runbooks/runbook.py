"""A team's runbook as an action tool, and the collection of them built from ``[runbooks.<name>]``."""

from __future__ import annotations

import shlex
import signal
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.acting.action import Effect, Hints, OutputSink
from core.acting.settings import RunbookSettings
from integrations.runbooks.arguments import RunbookError, check_arguments, render_command
from integrations.runbooks.process import Outcome, run_command


@dataclass(frozen=True)
class RunbookResult:
    """One run of a runbook: its outcome, and the text the model and the thread are given."""

    runbook: str
    outcome: Outcome
    timeout_sec: float

    @property
    def succeeded(self) -> bool:
        return self.outcome.exit_code == 0

    @property
    def status(self) -> str:
        """``exit 0``, ``exit 3``, ``killed by SIGKILL`` or ``timed out after 60 s``."""
        outcome = self.outcome
        if outcome.timed_out:
            return f"timed out after {self.timeout_sec:g} s"
        code = outcome.exit_code
        if code is not None and code < 0:
            return f"killed by {_signal_name(-code)}"
        return f"exit {code}"

    @property
    def text(self) -> str:
        """The status on the first line, then the output (redacted), then how much of it was cut."""
        outcome = self.outcome
        parts = [self.status if outcome.output else f"{self.status} (no output)"]
        if outcome.output:
            parts.append(outcome.output.rstrip("\n"))
        if outcome.cut_bytes:
            parts.append(
                f"[{outcome.cut_bytes:,} more bytes of output were cut after the first {outcome.kept_bytes:,}]"
            )
        return "\n".join(parts)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Runbook:
    """One ``[runbooks.<name>]`` as an ``ActionTool``: its effect and domain are what the team declared, it has
    no server hints, and each call's arguments are checked before anything runs (``check``)."""

    def __init__(self, name: str, settings: RunbookSettings, *, kill_grace_sec: float = 2.0) -> None:
        self.name = name
        self.hints = Hints()  # a runbook has no server to annotate it: the team's declaration is all there is
        self.settings = settings
        self.description = settings.description
        self.effect: Effect | None = settings.effect
        self.domain: str | None = settings.domain
        self.parameters: dict[str, Any] = _schema(settings)
        self.kill_grace_sec = kill_grace_sec

    def check(self, arguments: Any) -> dict[str, str]:
        """The validated arguments, or ``RunbookRefused`` with a one-line reason: call it before asking a
        person to approve a call, so nobody is asked about one that would be refused anyway."""
        return check_arguments(self.name, self.settings.params, arguments)

    def argv(self, arguments: Mapping[str, Any]) -> list[str]:
        """The exact argv a call would run (arguments checked first)."""
        return render_command(self.settings.command, self.check(arguments))

    async def execute(self, arguments: dict[str, Any], on_output: OutputSink | None = None) -> RunbookResult:
        """Run with ``arguments``; a non-zero exit or a timeout is a result. Raises ``RunbookRefused`` when the
        arguments are refused and ``RunbookError`` when the command cannot start, each with one line."""
        argv = self.argv(arguments)
        try:
            outcome = await run_command(
                argv,
                cwd=self.settings.cwd,
                timeout_sec=self.settings.timeout_sec,
                max_output_bytes=self.settings.max_output_bytes,
                on_output=on_output,
                kill_grace_sec=self.kill_grace_sec,
            )
        except RunbookError as exc:
            raise RunbookError(f"{self.name}: {exc}") from None
        return RunbookResult(self.name, outcome, self.settings.timeout_sec)

    async def run(self, arguments: dict[str, Any], on_output: OutputSink | None = None) -> str:
        """``execute``'s text: the exit status first, then the output."""
        return (await self.execute(arguments, on_output)).text

    def describe(self) -> str:
        """One line for ``openkoi doctor``: name, effect, domain and the command with its placeholders."""
        return f"{self.name}: {self.settings.effect} in {self.settings.domain}: {_shown(self.settings.command)}"


def _schema(settings: RunbookSettings) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for name, param in settings.params.items():
        properties[name] = {"type": "string", "pattern": param.pattern}
        if param.description:
            properties[name]["description"] = param.description
    return {
        "type": "object",
        "properties": properties,
        "required": list(settings.params),
        "additionalProperties": False,
    }


def _shown(command: list[str]) -> str:
    # Quote only what would be ambiguous (spaces, quotes, empty), so placeholders read as written; control
    # characters are escaped, so an inline script stays on its one line.
    return " ".join(_escaped(part if part and not _needs_quotes(part) else shlex.quote(part)) for part in command)


def _needs_quotes(part: str) -> bool:
    return any(c.isspace() or c in "'\"" for c in part)


def _escaped(part: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in part)


class Runbooks:
    """The team's runbooks from ``Settings.runbooks``, by name."""

    def __init__(self, runbooks: Mapping[str, RunbookSettings], *, kill_grace_sec: float = 2.0) -> None:
        self._runbooks = {
            name: Runbook(name, settings, kill_grace_sec=kill_grace_sec) for name, settings in runbooks.items()
        }

    def tools(self) -> list[Runbook]:
        """Each runbook as an action tool, in name order."""
        return [self._runbooks[name] for name in sorted(self._runbooks)]

    def describe(self) -> list[str]:
        """One line per runbook for ``openkoi doctor``."""
        return [runbook.describe() for runbook in self.tools()]

    def __getitem__(self, name: str) -> Runbook:
        return self._runbooks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._runbooks))

    def __len__(self) -> int:
        return len(self._runbooks)
