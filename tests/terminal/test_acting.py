"""Acting from the terminal, end to end: ``openkoi think`` with the team's runbooks and a real MCP server
(``mcp-server-git`` on a temporary repository), the fake model proposing the calls. Every call goes through
the gate; ``--yes`` answers for a write, never for a destructive call; a refused call is told to the model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.fakes.model_server import FakeModelServer
from tests.fakes.scripts import tool_calls as calls
from tests.fakes.scripts import tool_results
from tests.support import git, make_git_repo
from tests.terminal import test_e2e as e2e

server = e2e.server
env = e2e.env
openkoi = e2e.openkoi

GIT_SERVER = str(Path(sys.executable).parent / "mcp-server-git")


def _config(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text, encoding="utf-8")


def _runbooks(home: Path, target: Path) -> None:
    python = json.dumps(sys.executable)
    _config(
        home,
        f"""
[runbooks.restart-worker]
description = "Restart a background worker"
command = [{python}, "-c", "print('restarted worker@{{name}}')"]
params = {{ name = {{ pattern = "^[a-z0-9-]{{1,32}}$" }} }}
domain = "deploy"
effect = "write"

[runbooks.purge-cache]
description = "Delete the cache directory"
command = [{python}, "-c", "import shutil; shutil.rmtree({str(target)!r})"]
domain = "files"
effect = "destructive"
""",
    )


def test_yes_allows_a_write_but_never_a_destructive_call(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    _runbooks(Path(env["OPENKOI_HOME"]), cache)
    server.script.queue("execute", calls(("restart-worker", {"name": "api"}), ("purge-cache", {})))
    done = openkoi(env, "think", "restart the api worker and clean up", "--yes", "-v", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    restarted, purged = tool_results(server)
    assert restarted.startswith("exit 0") and "restarted worker@api" in restarted, restarted
    assert purged.startswith("denied: purge-cache did not run"), purged
    assert cache.is_dir(), "the destructive runbook did not run"
    assert "Action needs a person: restart-worker" in done.stderr
    assert "  | restarted worker@api" in done.stderr, "its output is shown as it arrives (-v)"
    assert "denied: a destructive action is allowed only by a person at a terminal" in done.stderr
    assert "the agent says: I need to run this to finish the task." in done.stderr

    audit = openkoi(env, "trust", "audit", cwd=tmp_path).stdout
    assert "restart-worker" in audit and "purge-cache" in audit, audit

    atlas = openkoi(env, "world", "tools", cwd=tmp_path).stdout.splitlines()
    [restart] = [line for line in atlas if line.startswith("restart-worker:")]
    assert "1 calls, 100% ok" in restart and "denied 0, expired 0" in restart, atlas
    [purge] = [line for line in atlas if line.startswith("purge-cache:")]
    assert "0 calls, - ok" in purge and "denied 1" in purge, atlas
    one = openkoi(env, "world", "tools", "purge-cache", cwd=tmp_path).stdout.splitlines()
    assert one[0].startswith("purge-cache: 0 calls") and one[1:] == ["  no failures"], one


def test_arguments_that_smuggle_a_command_are_refused_before_anyone_is_asked(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    _runbooks(Path(env["OPENKOI_HOME"]), tmp_path / "cache")
    server.script.queue("execute", calls(("restart-worker", {"name": "api; rm -rf /"})))
    done = openkoi(env, "think", "restart the api worker", "--yes", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [refused] = tool_results(server)
    assert refused.startswith("error: restart-worker did not run:") and "name" in refused, refused
    assert "Action needs a person" not in done.stderr


def test_a_real_mcp_server_reads_freely_and_its_destructive_tool_waits_for_a_person(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    repo = make_git_repo(tmp_path / "repo")
    head = git(repo, "rev-parse", "HEAD")
    _config(
        Path(env["OPENKOI_HOME"]),
        f'[mcp_servers.git]\ncommand = {json.dumps(GIT_SERVER)}\nargs = ["--repository", {json.dumps(str(repo))}]\n',
    )
    server.script.queue("execute", calls(("mcp__git__git_log", {"repo_path": str(repo), "max_count": 3})))
    done = openkoi(env, "think", "show me the last 3 commits", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [log] = tool_results(server)
    assert "third: the fix" in log and "first: the readme" in log, log
    assert "[ACT] mcp__git__git_log" in done.stderr and ": ok in" in done.stderr, done.stderr

    git(repo, "add", "file1.txt")  # something for git_reset to undo
    (repo / "file1.txt").write_text("changed\n")
    git(repo, "add", "file1.txt")
    server.script.queue("execute", calls(("mcp__git__git_reset", {"repo_path": str(repo)})))
    denied = openkoi(env, "think", "unstage everything", "--yes", cwd=tmp_path)
    assert denied.returncode == 0, denied.stderr
    [refused] = tool_results(server)
    assert refused.startswith("denied: mcp__git__git_reset did not run"), refused
    assert "file1.txt" in git(repo, "diff", "--cached", "--name-only"), "the index is untouched"
    assert git(repo, "rev-parse", "HEAD") == head


def test_a_task_approved_later_keeps_its_tools_behind_the_gate(
    env: dict[str, str], server: FakeModelServer, tmp_path: Path
) -> None:
    _runbooks(Path(env["OPENKOI_HOME"]), tmp_path / "cache")
    blocked = openkoi(env, "think", "Drop the production database and restart the api worker", cwd=tmp_path)
    assert blocked.returncode == 3, blocked.stderr
    task_id = blocked.stderr.rsplit("openkoi task approve ", 1)[1].split()[0]
    server.script.queue("execute", calls(("restart-worker", {"name": "api"})))
    approved = openkoi(env, "task", "approve", task_id, cwd=tmp_path)
    assert approved.returncode == 0, approved.stderr
    [answer] = tool_results(server)
    # The runbook is there, and its call still meets the gate: no person at this terminal, so it is denied.
    assert answer.startswith("denied: restart-worker did not run"), answer
