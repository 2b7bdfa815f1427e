"""Runbooks: named actions a team defines in ``[runbooks.<name>]`` without writing a server.

Each runbook is an ``ActionTool`` named by its runbook name, with the effect and domain the team declared.
A call's arguments are refused unless they are exactly the declared parameters, each matched whole by its
pattern and free of what could smuggle in a second argument or an option (``arguments``); the command is
then run as argv, never through a shell, within a time and an output limit, its output streamed as it
arrives and redacted (``process``). ``Runbooks`` builds them all from the settings (``runbook``).
"""

from integrations.runbooks.arguments import RunbookError, RunbookRefused, check_arguments, render_command
from integrations.runbooks.process import Outcome, run_command
from integrations.runbooks.runbook import Runbook, RunbookResult, Runbooks

__all__ = [
    "Outcome",
    "Runbook",
    "RunbookError",
    "RunbookRefused",
    "RunbookResult",
    "Runbooks",
    "check_arguments",
    "render_command",
    "run_command",
]
