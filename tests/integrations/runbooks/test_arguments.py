"""A runbook's arguments are refused before anything runs unless they are exactly its parameters, each matched
whole by its pattern and unable to smuggle in an option or a second line; the message names the parameter
and the reason, one line, never the whole of a long value."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.acting.settings import RunbookSettings
from integrations.runbooks import RunbookRefused, render_command
from tests.integrations.runbooks.support import python, runbook
from tests.support import registered_secret

RESTART = {"name": {"pattern": "^[a-z0-9-]{1,32}$"}}


def refusal(arguments: Any, params: dict[str, Any] | None = None) -> str:
    tool = runbook(["/bin/echo", "worker@{name}"], "restart-worker", params=params or RESTART)
    with pytest.raises(RunbookRefused) as caught:
        tool.check(arguments)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, "one line, fit for a thread"
    return message


@pytest.mark.parametrize(
    "value",
    [
        "; rm -rf /",
        "w1; rm -rf /",
        "$(reboot)",
        "w1$(reboot)",
        "`reboot`",
        "w1 | sh",
        "w1|sh",
        "w1 && reboot",
        "w1&&reboot",
        "w1\nreboot",
        "w1\rreboot",
        "w1\x00reboot",
        "--output=/etc/passwd",
        "../../etc/passwd",
        "w1 reboot",
        "",
    ],
)
def test_injection_attempts_are_refused_naming_the_parameter(value: str) -> None:
    message = refusal({"name": value})
    assert message.startswith("restart-worker: parameter name refused: ")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("--force", "starts with '-' and could be read as an option"),  # the pattern allows it; the rule does not
        ("-rf", "starts with '-'"),
        ("worker\n", "contains a line break"),  # Python's $ matches before a final newline
    ],
)
def test_an_option_or_a_line_break_the_pattern_lets_through_is_refused(value: str, reason: str) -> None:
    assert reason in refusal({"name": value})


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("a\x00b", "contains a NUL character"),
        ("a\nb", "contains a line break: 'a\\nb'"),
        ("a\rb", "contains a line break: 'a\\rb'"),
        ("--output=/etc/passwd", "starts with '-' and could be read as an option: '--output=/etc/passwd'"),
    ],
)
def test_nul_line_breaks_and_a_leading_dash_are_refused_whatever_the_pattern(value: str, reason: str) -> None:
    anything = {"name": {"pattern": "(?s).*"}}
    assert refusal({"name": value}, anything) == f"restart-worker: parameter name refused: it {reason}"


def test_the_pattern_must_match_the_whole_value_whatever_anchors_the_team_wrote() -> None:
    for pattern in ("[a-z]+", "^[a-z]+", "[a-z]+$"):
        assert "does not match the pattern" in refusal({"name": "abc;rm"}, {"name": {"pattern": pattern}})
        assert runbook(["/bin/echo", "{name}"], params={"name": {"pattern": pattern}}).check({"name": "abc"}) == {
            "name": "abc"
        }


def test_exactly_the_declared_parameters_each_a_string() -> None:
    assert refusal({}) == "restart-worker: missing parameter name"
    assert refusal({"name": "w1", "force": "yes"}) == "restart-worker: unknown parameter 'force' (it takes name)"
    assert refusal({"name": 3}) == "restart-worker: parameter name refused: must be a string, got int"
    assert refusal({"name": ["w1"]}) == "restart-worker: parameter name refused: must be a string, got list"
    assert refusal(["w1"]) == "restart-worker: arguments must be an object of parameters, got list"


def test_a_long_value_is_never_echoed_whole() -> None:
    value = "w1;" + "x" * 500
    message = refusal({"name": value})
    assert value not in message and len(message) < 200
    assert "'w1;xxxxx" in message and "…" in message


def test_a_long_unknown_name_is_cut_too() -> None:
    message = refusal({"name": "w1", "n" * 300: "x"})
    assert "n" * 300 not in message and "…" in message


@pytest.fixture
def secret() -> Iterator[str]:
    with registered_secret("tok-0123456789-abcdef") as value:
        yield value


def test_a_secret_in_a_refused_value_is_redacted(secret: str) -> None:
    message = refusal({"name": f"{secret};"})
    assert secret not in message and "[redacted]" in message


def test_a_good_call_passes_and_becomes_argv() -> None:
    tool = runbook(["systemctl", "restart", "worker@{name}"], "restart-worker", params=RESTART)
    assert tool.check({"name": "billing-2"}) == {"name": "billing-2"}
    assert tool.argv({"name": "billing-2"}) == ["systemctl", "restart", "worker@billing-2"]


def test_placeholders_are_replaced_in_one_pass_and_other_braces_stay() -> None:
    # A value holding another placeholder stays as it is: substitution never runs twice.
    command = ["jq", "{}", "{'a': 1}", "{a}-{b}", "{{a}}"]
    assert render_command(command, {"a": "{b}", "b": "x"}) == ["jq", "{}", "{'a': 1}", "{b}-x", "{{b}}"]


def test_literal_braces_in_a_command_are_accepted_at_load_and_a_misspelt_placeholder_is_not() -> None:
    settings = RunbookSettings(
        description="d", command=["jq", "-n", "{}", "{'k': 1}"], domain="ops", effect="read", params={}
    )
    assert settings.command[2] == "{}"
    with pytest.raises(ValueError, match="command names nmae but params does not define it"):
        RunbookSettings(description="d", command=["x", "{nmae}"], domain="ops", effect="read", params=RESTART)


async def test_nothing_runs_when_the_arguments_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    tool = python(f"open({str(marker)!r}, 'w').close()", "{name}", params=RESTART)
    with pytest.raises(RunbookRefused):
        await tool.run({"name": "; rm -rf /"})
    assert not marker.exists()
    assert (await tool.run({"name": "ok"})).startswith("exit 0")
    assert marker.exists(), "the same runbook runs with a good argument: the refusal was the arguments'"
