from __future__ import annotations

from integrations.mcp.naming import ALLOWED, name_tools, tool_name


def test_a_tool_is_named_for_the_model_with_its_server() -> None:
    assert tool_name("git", "git_log") == "mcp__git__git_log"


def test_characters_a_provider_refuses_become_underscores() -> None:
    naming = name_tools("tracker", ["issues.create", "search/all", "a b", "ok-name"])
    assert naming.names == {
        "issues.create": "mcp__tracker__issues_create",
        "search/all": "mcp__tracker__search_all",
        "a b": "mcp__tracker__a_b",
        "ok-name": "mcp__tracker__ok-name",
    }
    assert all(ALLOWED.match(name) for name in naming.names.values())
    assert naming.notices == []


def test_a_name_too_long_is_left_out_with_a_notice_not_cut() -> None:
    fits = "x" * (64 - len("mcp__srv__"))
    naming = name_tools("srv", [fits, fits + "y"])
    assert naming.names == {fits: f"mcp__srv__{fits}"}
    assert len(naming.notices) == 1 and f"'{fits}y' left out" in naming.notices[0] and "64" in naming.notices[0]


def test_two_tools_that_would_share_a_name_keep_the_first_only() -> None:
    naming = name_tools("srv", ["a.b", "a_b"])
    assert naming.names == {"a.b": "mcp__srv__a_b"}
    assert naming.notices == ["tool 'a_b' left out: its name 'mcp__srv__a_b' is already 'a.b''s"]
