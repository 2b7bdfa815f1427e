"""The terminal's loose ends, end to end through the ``openkoi`` console script: "did you mean"
for a misspelt command, an empty task, deciding a blocked task later, and Ctrl-C."""

from __future__ import annotations

import asyncio
import getpass
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.model_server import FakeModelServer, Reply
from tests.support import guardian_blocks_next
from tests.terminal import test_e2e as e2e

server = e2e.server
env = e2e.env
openkoi = e2e.openkoi


def db_path(env: dict[str, str]) -> Path:
    return Path(env["OPENKOI_HOME"]) / "data" / "openkoi.db"


def task_row(env: dict[str, str], task_prefix: str) -> tuple[str, str | None]:
    with sqlite3.connect(db_path(env)) as db:
        row = db.execute("SELECT status, error FROM tasks WHERE id LIKE ?", (task_prefix + "%",)).fetchone()
    assert row is not None
    return str(row[0]), row[1]


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [
        (["stauts"], "Did you mean 'status'? To run it as a task: openkoi think stauts"),
        (["thnk", "x"], "Did you mean 'think'? To run it as a task: openkoi think thnk x"),
        (["docter", "--live"], "Did you mean 'doctor'?"),
        (["task", "aprove", "abc123"], "No such command 'aprove'. Did you mean 'approve'?"),
    ],
    ids=["stauts", "thnk-x", "docter", "task-aprove"],
)
def test_a_misspelt_command_gets_did_you_mean_and_runs_nothing(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path, args: list[str], suggestion: str
) -> None:
    done = openkoi(env, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert suggestion in done.stderr, done.stderr
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert not db_path(env).exists(), "no task was stored"
    assert server.requests == []


@pytest.mark.parametrize("args", [["think", ""], ["think", "  ", "\t"], [""]], ids=["empty", "blank", "bare"])
def test_an_empty_task_is_a_usage_error(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path, args: list[str]
) -> None:
    done = openkoi(env, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert "Error: the task is empty: say what you want done" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db_path(env).exists() and server.requests == []


def test_without_a_model_think_says_what_to_set(env: dict[str, str], tmp_path: Path) -> None:
    for name in ("OPENKOI_MODEL", "OPENAI_BASE_URL", "OPENAI_API_KEY"):
        del env[name]
    with socket.socket() as probe:  # Ollama's address: a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        env["OPENKOI_OLLAMA_URL"] = f"http://127.0.0.1:{probe.getsockname()[1]}"
    done = openkoi(env, "think", "summarise the README", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error: no model available: set OPENKOI_MODEL (e.g. anthropic/claude-sonnet-4-5)")
    assert "Traceback" not in done.stderr


def blocked_task(env: dict[str, str], server: FakeModelServer, cwd: Path, text: str) -> str:
    guardian_blocks_next(server, reversibility="NONE")
    blocked = openkoi(env, "think", text, cwd=cwd)
    assert blocked.returncode == 3, blocked.stderr
    found = re.search(r"re-run with --override, or run: openkoi task approve ([0-9a-f]{8})$", blocked.stderr, re.M)
    assert found is not None, blocked.stderr
    return found.group(1)


def test_a_blocked_task_is_approved_later_and_only_once(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    task_id = blocked_task(env, server, tmp_path, "delete the staging database")
    executed_before = len(server.requests_of("execute"))
    assert executed_before == 0
    approved = openkoi(env, "task", "approve", task_id, cwd=tmp_path)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout == "Résultat: 完成 ✓\n"
    assert f"Override approved by {getpass.getuser()}; task {task_id} continues." in approved.stderr
    assert "[PARLIAMENT]" not in approved.stderr, "the block was overridden, not deliberated again"
    assert "✓ Done." in approved.stderr
    assert task_row(env, task_id)[0] == "done"

    again = openkoi(env, "task", "approve", task_id, cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr == (
        f"error: task {task_id} was already decided (approved by {getpass.getuser()}); a decision counts once\n"
    )
    assert len(server.requests_of("execute")) == 1, "the second approval ran nothing"


def test_a_blocked_task_is_denied_or_cancelled_later(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    denied_id = blocked_task(env, server, tmp_path, "drop the users table")
    denied = openkoi(env, "task", "deny", denied_id, cwd=tmp_path)
    assert denied.returncode == 0, denied.stderr
    assert f"override denied by {getpass.getuser()}" in denied.stderr
    assert task_row(env, denied_id) == ("cancelled", f"override denied by {getpass.getuser()}")
    late = openkoi(env, "task", "approve", denied_id, cwd=tmp_path)
    assert late.returncode == 2 and "already decided (denied by" in late.stderr

    cancelled_id = blocked_task(env, server, tmp_path, "rotate every production key")
    cancelled = openkoi(env, "task", "cancel", cancelled_id, cwd=tmp_path)
    assert cancelled.returncode == 0, cancelled.stderr
    assert task_row(env, cancelled_id) == ("cancelled", f"cancelled by {getpass.getuser()}")
    twice = openkoi(env, "task", "cancel", cancelled_id, cwd=tmp_path)
    assert twice.returncode == 2
    assert twice.stderr == f"error: task {cancelled_id} had already finished (cancelled)\n"
    assert not server.requests_of("execute"), "nothing was executed"

    with sqlite3.connect(db_path(env)) as db:  # as if it had come from Slack
        db.execute("UPDATE tasks SET source = 'slack' WHERE id LIKE ?", (denied_id + "%",))
    chat = openkoi(env, "task", "cancel", denied_id, cwd=tmp_path)
    assert chat.returncode == 2 and f"task {denied_id} came from slack; decide it there" in chat.stderr


def test_an_unanswered_block_expires(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    env["OPENKOI_PARLIAMENT__CONFIRMATION_TTL_MINUTES"] = "0.0001"  # 6 ms
    task_id = blocked_task(env, server, tmp_path, "delete the staging database")
    late = openkoi(env, "task", "approve", task_id, cwd=tmp_path)
    assert late.returncode == 2
    assert late.stderr == f"error: the override request for task {task_id} had expired; the task was cancelled\n"
    assert task_row(env, task_id) == ("cancelled", "the override request expired")
    assert not server.requests_of("execute")


def test_ctrl_c_cancels_the_task_quietly(env: dict[str, str], server: FakeModelServer, tmp_path: Path) -> None:
    release = threading.Event()

    async def slow_execution(body: dict[str, Any]) -> Reply:
        await asyncio.to_thread(release.wait, 60)  # a model that takes its time, until the test ends
        return Reply(content="too late")

    server.script.default("execute", slow_execution)
    process = subprocess.Popen(
        [e2e.OPENKOI, "think", "write the quarterly report"],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        deadline = time.monotonic() + 60
        while not server.requests_of("execute") and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert server.requests_of("execute"), "the task never reached execution"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        release.set()
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 6, stderr
    assert stdout == ""
    assert f"✗ Cancelled by {getpass.getuser()} (Ctrl-C)." in stderr
    noise = [
        w for w in ("Traceback", "Warning", "Exception", "Unclosed", "destroyed", "KeyboardInterrupt") if w in stderr
    ]
    assert noise == [], stderr
    with sqlite3.connect(db_path(env)) as db:
        assert db.execute("SELECT status, error FROM tasks").fetchall() == [
            ("cancelled", f"cancelled by {getpass.getuser()} (Ctrl-C)")
        ]
