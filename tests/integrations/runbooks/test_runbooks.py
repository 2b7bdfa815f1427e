"""The team's runbooks from the settings, each an action tool with the effect and domain the team declared,
and one line each for ``openkoi doctor``."""

from __future__ import annotations

from typing import Any

from core.acting.action import ActionTool, Effect, Hints
from core.config import Settings
from core.loop.tools import Tool, schema
from integrations.runbooks import Runbooks

RUNBOOKS: dict[str, Any] = {
    "restart-worker": {
        "description": "Restart a background worker",
        "command": ["systemctl", "restart", "worker@{name}"],
        "params": {"name": {"pattern": "^[a-z0-9-]{1,32}$", "description": "the worker's name"}},
        "domain": "deploy",
        "effect": "write",
    },
    "tail-log": {
        "description": "The last lines of a service's log",
        "command": ["journalctl", "-u", "{unit}", "-n", "{lines}", "--output", "short iso"],
        "params": {"unit": {"pattern": "[a-z]+"}, "lines": {"pattern": "[0-9]{1,4}"}},
        "domain": "ops",
        "effect": "read",
    },
    "drop-cache": {
        "description": "Empty the cache",
        "command": ["redis-cli", "FLUSHALL"],
        "domain": "data",
        "effect": "destructive",
    },
}


def runbooks() -> Runbooks:
    return Runbooks(Settings(runbooks=RUNBOOKS).runbooks)


def test_each_runbook_is_an_action_tool_named_by_its_runbook_with_the_declared_effect_and_domain() -> None:
    tools: list[ActionTool] = list(runbooks().tools())
    by_name = {tool.name: tool for tool in tools}
    assert list(by_name) == ["drop-cache", "restart-worker", "tail-log"]
    restart = by_name["restart-worker"]
    assert (restart.effect, restart.domain, restart.hints) == (Effect.WRITE, "deploy", Hints())
    assert restart.description == "Restart a background worker"
    assert (by_name["tail-log"].effect, by_name["drop-cache"].effect) == (Effect.READ, Effect.DESTRUCTIVE)
    plain: Tool = restart  # the executor's Tool too
    assert schema(plain)["function"]["name"] == "restart-worker"


def test_the_parameters_are_a_json_schema_of_required_strings_with_their_patterns() -> None:
    tools = runbooks()
    assert tools["restart-worker"].parameters == {
        "type": "object",
        "properties": {"name": {"type": "string", "pattern": "^[a-z0-9-]{1,32}$", "description": "the worker's name"}},
        "required": ["name"],
        "additionalProperties": False,
    }
    assert tools["tail-log"].parameters["required"] == ["unit", "lines"]
    assert tools["drop-cache"].parameters == {
        "type": "object",
        "properties": {},
        "required": [],
        "additionalProperties": False,
    }


def test_describe_gives_one_line_per_runbook_for_doctor() -> None:
    assert runbooks().describe() == [
        "drop-cache: destructive in data: redis-cli FLUSHALL",
        "restart-worker: write in deploy: systemctl restart worker@{name}",
        "tail-log: read in ops: journalctl -u {unit} -n {lines} --output 'short iso'",
    ]


def test_an_inline_script_is_described_on_one_line() -> None:
    script = {
        "description": "d",
        "command": ["python3", "-c", "import sys\nprint(1)\tx"],
        "domain": "d",
        "effect": "read",
    }
    [line] = Runbooks(Settings(runbooks={"s": script}).runbooks).describe()
    assert line == "s: read in d: python3 -c 'import sys\\nprint(1)\\tx'"


def test_no_runbooks_is_an_empty_collection() -> None:
    empty = Runbooks(Settings().runbooks)
    assert (empty.tools(), empty.describe(), len(empty)) == ([], [], 0)
