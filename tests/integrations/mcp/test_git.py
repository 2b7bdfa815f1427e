"""``mcp-server-git`` from PyPI, used as a team would: configured by command and repository, on a
temporary repository."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.acting.settings import McpServerSettings
from integrations.mcp import McpError, McpHub
from tests.support import git

SERVER = str(Path(sys.executable).parent / "mcp-server-git")  # installed with the dev extras


def settings(repo: Path) -> McpServerSettings:
    return McpServerSettings(command=SERVER, args=["--repository", str(repo)], startup_timeout_sec=30)


async def test_its_tools_carry_the_annotations_it_publishes(git_repo: Path) -> None:
    async with McpHub({"git": settings(git_repo)}) as hub:
        tools = {tool.name: tool for tool in await hub.tools()}
    for read in ("git_status", "git_log", "git_diff", "git_diff_staged", "git_diff_unstaged", "git_show", "git_branch"):
        assert tools[f"mcp__git__{read}"].hints.read_only is True, read
    for write in ("git_add", "git_commit", "git_create_branch", "git_checkout"):
        hints = tools[f"mcp__git__{write}"].hints
        assert (hints.read_only, hints.destructive) == (False, False), write
    reset = tools["mcp__git__git_reset"].hints
    assert (reset.read_only, reset.destructive) == (False, True)
    assert "repo_path" in tools["mcp__git__git_log"].parameters["properties"]


async def test_git_log_and_git_status_on_the_repository(git_repo: Path) -> None:
    async with McpHub({"git": settings(git_repo)}) as hub:
        tools = {tool.name: tool for tool in await hub.tools()}
        log = await tools["mcp__git__git_log"].run({"repo_path": str(git_repo), "max_count": 2})
        assert "third: the fix" in log and "second: the config" in log and "first: the readme" not in log
        head = git(git_repo, "rev-parse", "HEAD").strip()
        assert head in log

        assert "working tree clean" in await tools["mcp__git__git_status"].run({"repo_path": str(git_repo)})
        (git_repo / "file2.txt").write_text("changed\n")
        status = await tools["mcp__git__git_status"].run({"repo_path": str(git_repo)})
        assert "modified:" in status and "file2.txt" in status

        outside = await tools["mcp__git__git_status"].run({"repo_path": "/"})
        assert outside.startswith("error: ") and "outside the allowed repository" in outside


async def test_a_protocol_error_from_the_server_is_a_failed_call(git_repo: Path) -> None:
    async with McpHub({"git": settings(git_repo)}) as hub:
        server = hub.servers["git"]
        with pytest.raises(McpError) as caught:
            await server.call("git_frobnicate", {})
        assert caught.value.reason == "mcp server 'git': git_frobnicate failed: Unknown tool: git_frobnicate"
        assert server.failures == 0 and server.starts == 1, "an error answer is not a crash"


async def test_a_repository_that_does_not_exist_is_a_start_failure_saying_why(tmp_path: Path) -> None:
    async with McpHub({"git": settings(tmp_path / "missing")}) as hub:
        assert await hub.tools() == []
        reason = hub.failures["git"].reason
    assert reason.startswith("mcp server 'git': could not start: ") and "\n" not in reason
    assert f"(it said: ERROR:mcp_server_git.server:{tmp_path / 'missing'} does not exist)" in reason
