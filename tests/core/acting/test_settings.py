"""The configuration of acting: servers shaped as Codex CLI's, runbooks whose placeholders are parameters."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from core.acting.action import Effect, ProposedAction
from core.config import Settings

RUNBOOK: dict[str, Any] = {
    "description": "Restart a background worker",
    "command": ["systemctl", "restart", "worker@{name}"],
    "params": {"name": {"pattern": "^[a-z0-9-]{1,32}$"}},
    "domain": "deploy",
    "effect": "write",
}


def test_servers_and_runbooks_read_as_people_paste_them() -> None:
    settings = Settings(
        mcp_servers={
            "git": {"command": "mcp-server-git", "args": ["--repository", "/srv/app"]},
            "tracker": {"url": "https://mcp.example.internal/mcp", "headers": {"Authorization": "Bearer ${T}"}},
        },
        runbooks={"restart-worker": RUNBOOK},
        tools={"deny": ["mcp__git__git_reset"], "allow": ["mcp__git__*"]},
    )
    assert settings.mcp_servers["git"].args == ["--repository", "/srv/app"]
    assert settings.mcp_servers["tracker"].headers["Authorization"] == "Bearer ${T}", "expanded at start, not here"
    assert settings.runbooks["restart-worker"].effect is Effect.WRITE
    assert settings.tools.deny == ["mcp__git__git_reset"]


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({}, "either command"),
        ({"command": "x", "url": "http://127.0.0.1/mcp"}, "either command"),
        ({"url": "http://127.0.0.1/mcp", "args": ["-v"]}, "stdio server"),
        ({"url": "ftp://host/mcp"}, "http:// or https://"),
        ({"command": "x", "timeout": 3}, "Extra inputs are not permitted"),
    ],
)
def test_a_server_is_stdio_or_http_and_misspelt_keys_are_errors(server: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(mcp_servers={"s": server})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"command": ["rm", "{path}"]}, "command names path but params does not define it"),
        ({"params": {"name": {"pattern": "["}}}, "not a regular expression"),
        ({"effect": "harmless"}, "'read', 'write' or 'destructive'"),
        ({"command": []}, "at least 1 item"),
    ],
)
def test_a_runbook_that_cannot_be_run_safely_is_refused_at_load(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(runbooks={"r": {**RUNBOOK, **change}})


def test_a_name_that_cannot_be_part_of_a_tool_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="String should match pattern"):
        Settings(runbooks={"restart worker; rm": RUNBOOK})


def test_an_approval_is_bound_to_the_exact_tool_and_arguments() -> None:
    reset = ProposedAction("mcp__git__git_reset", {"repo_path": "/srv/app", "mode": "hard"})
    assert (
        reset.fingerprint
        == ProposedAction("mcp__git__git_reset", {"mode": "hard", "repo_path": "/srv/app"}).fingerprint
    )
    assert (
        reset.fingerprint
        != ProposedAction("mcp__git__git_reset", {"repo_path": "/srv/app", "mode": "soft"}).fingerprint
    )
    assert reset.fingerprint != ProposedAction("mcp__git__git_log", reset.arguments).fingerprint
