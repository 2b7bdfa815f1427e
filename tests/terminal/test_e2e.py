"""The ``openkoi`` console script end to end, in a subprocess with a temporary OPENKOI_HOME,
against the fake model server through the standard OpenAI variables."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PROVIDER_KEYS
from tests.fakes import scripts
from tests.fakes.model_server import FakeModelServer, Reply

OPENKOI = str(Path(sys.executable).parent / "openkoi")


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    fake = FakeModelServer()
    scripts.install_defaults(fake, output="Résultat: 完成 ✓", score=9)
    fake.start_in_thread()
    yield fake
    fake.stop_thread()


@pytest.fixture
def env(tmp_path: Path, server: FakeModelServer) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in PROVIDER_KEYS and not k.startswith("OPENKOI_")}
    clean.update(
        OPENKOI_HOME=str(tmp_path / "home"),
        OPENKOI_MODEL="openai/fake",
        OPENAI_BASE_URL=server.url,
        OPENAI_API_KEY="sk-test",
        OPENKOI_RETRY__BASE_DELAY="0.01",
        PYTHONIOENCODING="utf-8",
    )
    return clean


def openkoi(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPENKOI, *args],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=90,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_think_prints_progress_on_stderr_and_only_the_result_on_stdout(env: dict[str, str], tmp_path: Path) -> None:
    done = openkoi(env, "think", "Écris un résumé — 日本語でも", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Résultat: 完成 ✓\n"
    for tag in ("[SOVEREIGN]", "[PARLIAMENT] Guardian=APPROVE", "[PLAN]", "[EXEC]", "[EVAL] score=0.90"):
        assert tag in done.stderr, (tag, done.stderr)
    assert re.search(r"✓ Done\. 1 iteration, [\d.]+k? tokens, \$0\.00, score 0\.90", done.stderr), done.stderr


def test_bare_task_is_think_and_quiet_is_silent(env: dict[str, str], tmp_path: Path) -> None:
    done = openkoi(env, "summarise the README", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Résultat: 完成 ✓"
    assert done.stderr == ""


def test_guardian_block_exits_nonzero_and_override_yes_proceeds(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    block = scripts.parliament(
        votes={"guardian": "BLOCK"}, reasons={"guardian": "deletion is permanent"}, reversibility="NONE"
    )
    server.script.queue("ParliamentReply", block, block, block)
    # A task the rule floor lets through: the Guardian's block alone may be overridden with --yes (a task the
    # floor matched may not: tests/terminal/test_gate.py).
    blocked = openkoi(env, "refactor the billing module", cwd=tmp_path)
    assert blocked.returncode == 3
    assert blocked.stdout == ""
    assert "GUARDIAN -- BLOCK" in blocked.stderr and "deletion is permanent" in blocked.stderr
    assert "--override" in blocked.stderr

    refused = openkoi(env, "refactor the billing module", "--override", cwd=tmp_path)
    assert refused.returncode == 3, "without a terminal or --yes nobody confirmed"
    assert "pass --yes" in refused.stderr

    approved = openkoi(env, "refactor the billing module", "--override", "--yes", cwd=tmp_path)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.strip() == "Résultat: 完成 ✓"
    shown = openkoi(env, "mind", "parliament")
    assert "GUARDIAN" in shown.stdout and "BLOCK" in shown.stdout and "deletion is permanent" in shown.stdout


def test_a_guardian_copying_the_example_blocks_and_mind_parliament_says_why(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    server.script.default("ParliamentReply", scripts.the_prompts_example)
    blocked = openkoi(env, "Drop the production database and delete all backups", cwd=tmp_path)
    assert blocked.returncode == 3, blocked.stderr
    assert "Guardian=APPROVE(invalid)" in blocked.stderr
    assert "not a judgement: its reason copies the prompt's example ('A summary changes nothing.')" in blocked.stderr
    assert "Blocked: the Guardian gave no usable judgement" in blocked.stderr
    shown = openkoi(env, "mind", "parliament")
    assert "reason: the Guardian gave no usable judgement" in shown.stdout
    assert shown.stdout.count("INVALID, not counted: its reason copies the prompt's example") == 5, shown.stdout


def test_flags_override_config_only_when_given(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    home = Path(env["OPENKOI_HOME"])
    home.mkdir(parents=True)
    (home / "config.toml").write_text("[iteration]\nmax_iterations = 5\nquality_threshold = 0.95\n", encoding="utf-8")
    server.script.default("Evaluation", scripts.evaluation(9, [scripts.finding("quality")]))
    one = openkoi(env, "think", "draft it", "-i", "1", cwd=tmp_path)
    # One iteration at 0.90 under the file's bar of 0.95: finished below the bar, never "Done" (exit 7).
    assert one.returncode == 7, one.stderr
    assert "⚠ Finished below the bar (0.90 < 0.95) after 1 iteration: reached the iteration limit (1)." in one.stderr
    assert "✓ Done" not in one.stderr and one.stdout.strip() == "Résultat: 完成 ✓"
    # Without flags the file's threshold (0.95) keeps the loop going past a 0.90 score.
    more = openkoi(env, "think", "draft it again", cwd=tmp_path)
    assert "2 iterations" in more.stderr, more.stderr  # then diminishing returns stop it
    quality = openkoi(env, "think", "draft it once more", "--quality", "0.85", cwd=tmp_path)
    assert "1 iteration," in quality.stderr


def test_simulate_prints_futures(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    done = openkoi(env, "think", "send the weekly report email", "--simulate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "SIMULATION ONLY" in done.stdout and "Recommendation: B" in done.stdout
    assert not server.requests_of("execute")


def test_inspection_commands(env: dict[str, str], tmp_path: Path) -> None:
    assert openkoi(env, "think", "first task", cwd=tmp_path).returncode == 0
    listed = openkoi(env, "task", "list")
    assert listed.returncode == 0 and "first task" in listed.stdout
    task_id = listed.stdout.split()[0]
    shown = openkoi(env, "task", "show", task_id[:6])
    assert shown.returncode == 0 and task_id in shown.stdout and "iter 1: score 0.90" in shown.stdout
    replay = openkoi(env, "task", "replay", task_id[:5])
    assert replay.stdout == "Résultat: 完成 ✓\n"
    status = openkoi(env, "status", "--costs")
    assert status.returncode == 0
    assert "openai/fake" in status.stdout and "by phase:" in status.stdout and "parliament" in status.stdout
    assert "calls without a known price" in status.stdout  # a custom endpoint has no price list
    sessions = openkoi(env, "session", "list")
    session_id = sessions.stdout.split()[0]
    assert openkoi(env, "session", "show", session_id[:4]).returncode == 0
    deleted = openkoi(env, "session", "delete", session_id[:4], "--yes")
    assert deleted.returncode == 0
    assert "no tasks yet" in openkoi(env, "task", "list").stdout
    missing = openkoi(env, "task", "show", "ffff")
    assert missing.returncode == 2 and "no task with id 'ffff'" in missing.stderr


def test_bad_config_names_file_key_and_expectation(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["OPENKOI_HOME"])
    home.mkdir(parents=True)
    (home / "config.toml").write_text('[iteration]\nmax_iterations = "many"\n', encoding="utf-8")
    for args in (("think", "anything"), ("status",)):
        done = openkoi(env, *args, cwd=tmp_path)
        assert done.returncode == 2
        assert str(home / "config.toml") in done.stderr
        assert "iteration.max_iterations" in done.stderr and "integer" in done.stderr


def test_unknown_model_suggests_a_close_name(env: dict[str, str], tmp_path: Path) -> None:
    env["ANTHROPIC_API_KEY"] = "sk-ant-test"  # the key is there; the name is wrong
    done = openkoi(env, "think", "anything", "-m", "anthropic/claude-sonet-4-5", cwd=tmp_path)
    assert done.returncode == 2
    assert "unknown model 'anthropic/claude-sonet-4-5'" in done.stderr
    assert "Did you mean: anthropic/claude-sonnet-4-5" in done.stderr


def test_log_level_from_environment(env: dict[str, str], tmp_path: Path) -> None:
    quiet = openkoi(env, "think", "anything", "-q", cwd=tmp_path)
    assert "INFO core." not in quiet.stderr
    env["OPENKOI_LOG_LEVEL"] = "info"
    chatty = openkoi(env, "think", "anything", "-q", cwd=tmp_path)
    assert chatty.returncode == 0
    assert "INFO core." in chatty.stderr


def test_failed_model_exits_nonzero_with_a_message(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    server.script.default("Plan", Reply(status=401, error_message="invalid api key"))
    done = openkoi(env, "think", "anything", cwd=tmp_path)
    assert done.returncode == 1
    failures = [line for line in done.stderr.splitlines() if "invalid api key" in line]
    assert failures == [
        f"✗ Failed: model unavailable: {server.url} rejected the API key in OPENAI_API_KEY (HTTP 401: invalid api key)"
    ], done.stderr  # said once, in one clear line
    assert "Traceback" not in done.stderr and "litellm" not in done.stderr


def test_a_model_server_that_is_down_is_a_failure_not_a_block(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    env["OPENKOI_RETRY__MAX_ATTEMPTS"] = "2"
    done = openkoi(env, "think", "delete the staging database", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"✗ Failed: model unavailable: cannot reach http://127.0.0.1:{port}/v1" in done.stderr
    assert "override" not in done.stderr.lower() and "blocked" not in done.stderr.lower()
    assert "[PARLIAMENT]" not in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_missing_key_exits_2_before_any_request(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    env["OPENKOI_MODEL"] = "anthropic/claude-sonnet-4-5"
    started = time.monotonic()
    done = openkoi(env, "think", "anything", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert done.returncode == 2
    assert done.stderr == "error: anthropic/claude-sonnet-4-5 needs ANTHROPIC_API_KEY, which is not set\n"
    assert server.requests == []
    # What made this slow would be importing litellm (2-3 s) or waiting on the network; a wall-clock
    # bound alone failed on a loaded CI runner, so the import is checked directly (-X importtime
    # lists every module imported) and the bound only catches a network wait.
    env["PYTHONPROFILEIMPORTTIME"] = "1"
    traced = openkoi(env, "think", "anything", cwd=tmp_path)
    assert traced.returncode == 2
    imported = {
        line.rsplit("|", 1)[-1].strip() for line in traced.stderr.splitlines() if line.startswith("import time:")
    }
    assert "core.config" in imported, "the import trace is read"
    assert not {name for name in imported if name.split(".")[0] in ("litellm", "openai", "httpx")}
    assert elapsed < 10, f"took {elapsed:.2f} s: the check must not wait for the network"

    del env["OPENAI_API_KEY"]
    env["OPENKOI_MODEL"] = "openai/fake"
    keyless = openkoi(env, "think", "anything", cwd=tmp_path)
    assert keyless.returncode == 2 and "needs OPENAI_API_KEY" in keyless.stderr and server.requests == []


def test_think_workspace_flag_confines_the_file_tools(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    workspace, elsewhere = tmp_path / "project", tmp_path / "cwd"
    workspace.mkdir()
    elsewhere.mkdir()
    (workspace / "notes.txt").write_text("from the workspace", encoding="utf-8")
    (elsewhere / "notes.txt").write_text("from the working directory", encoding="utf-8")
    (workspace / ".env").write_text("DB_PASSWORD=hunter2-hunter2", encoding="utf-8")
    calls = [
        {"id": f"c{n}", "type": "function", "function": {"name": "read_file", "arguments": f'{{"path": "{p}"}}'}}
        for n, p in enumerate(("notes.txt", ".env"))
    ]
    server.script.queue("execute", Reply(tool_calls=calls))
    done = openkoi(env, "think", "summarise the notes", "--workspace", str(workspace), cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    results = [m["content"] for m in server.requests_of("execute")[-1]["messages"] if m["role"] == "tool"]
    assert results[0] == "from the workspace"
    assert "private" in results[1] and "hunter2" not in results[1]

    missing = openkoi(env, "think", "anything", "--workspace", str(tmp_path / "nowhere"), cwd=elsewhere)
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
