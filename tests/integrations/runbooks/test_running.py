"""A runbook runs as argv (never a shell) with stdin closed, a minimal environment and its cwd; its exit
status is the result; a command that cannot start is one line."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from integrations.runbooks import RunbookError
from tests.integrations.runbooks.support import PYTHON, python, runbook


async def test_the_exit_status_leads_the_result_and_a_failure_is_a_result_not_an_exception() -> None:
    assert (
        await runbook(["/bin/echo", "hello", "{who}"], params={"who": {"pattern": "[a-z]+"}}).run({"who": "team"})
        == "exit 0\nhello team"
    )
    assert await python("import sys; print('half done'); sys.exit(3)").run({}) == "exit 3\nhalf done"
    assert await python("pass").run({}) == "exit 0 (no output)"


async def test_a_command_ended_by_a_signal_says_so() -> None:
    result = await python("import os, signal; print('bye', flush=True); os.kill(os.getpid(), signal.SIGKILL)").run({})
    assert result == "killed by SIGKILL\nbye"


async def test_a_value_reaches_the_command_as_one_argument_and_no_shell_sees_it(tmp_path: Path) -> None:
    value = f"x; touch {tmp_path}/a $(touch {tmp_path}/b) `touch {tmp_path}/c` | sh && touch {tmp_path}/d"
    tool = python(
        "import json, sys; print(json.dumps(sys.argv[1:]))", "{v}", "pre-{v}", params={"v": {"pattern": ".+"}}
    )
    result = await tool.run({"v": value})
    assert result.splitlines() == ["exit 0", json.dumps([value, f"pre-{value}"])]
    assert entries(tmp_path) == [], "nothing was interpreted"


def entries(path: Path) -> list[Path]:
    return list(path.iterdir())


async def test_the_environment_is_minimal_and_holds_none_of_the_services_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abcdefghijklmnop")
    monkeypatch.setenv("OPENKOI_SLACK__BOT_TOKEN", "xoxb-secret-token-value")
    result = await runbook(["env"]).run({})
    lines = result.splitlines()
    assert lines[0] == "exit 0"
    names = {line.split("=", 1)[0] for line in lines[1:]}
    assert names == {"PATH", "LANG", "HOME"}
    assert "LANG=C.UTF-8" in lines
    assert "sk-live" not in result and "xoxb" not in result


async def test_stdin_is_closed_and_cwd_comes_from_the_settings(tmp_path: Path) -> None:
    tool = python("import os, sys; print(repr(sys.stdin.read())); print(os.getcwd())", cwd=tmp_path)
    assert await tool.run({}) == f"exit 0\n''\n{tmp_path}"


async def test_a_missing_program_is_one_line() -> None:
    with pytest.raises(RunbookError) as caught:
        await runbook(["openkoi-no-such-program-xyz", "arg"], "deploy").run({})
    assert str(caught.value) == "deploy: not found: openkoi-no-such-program-xyz"


async def test_a_program_that_may_not_run_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text("#!/bin/sh\necho deployed\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    if os.geteuid() == 0:  # root may execute nothing without an x bit either, but check rather than assume
        assert not os.access(script, os.X_OK)
    with pytest.raises(RunbookError) as caught:
        await runbook([str(script)], "deploy").run({})
    assert str(caught.value) == f"deploy: permission denied: {script}"
    script.chmod(stat.S_IRWXU)
    assert await runbook([str(script)], "deploy").run({}) == "exit 0\ndeployed"


async def test_a_missing_working_directory_is_named(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    with pytest.raises(RunbookError) as caught:
        await runbook([PYTHON, "-c", "pass"], "deploy", cwd=gone).run({})
    assert str(caught.value).startswith(f"deploy: cannot start {PYTHON}: working directory {gone}: ")
    assert "\n" not in str(caught.value)


async def test_a_nul_in_the_teams_own_command_is_one_line() -> None:
    with pytest.raises(RunbookError) as caught:
        await runbook(["/bin/echo", "a\x00b"], "deploy").run({})
    assert str(caught.value) == "deploy: cannot start '/bin/echo': embedded null byte"
