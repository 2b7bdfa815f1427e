"""The hub over real servers: tools named and filtered, hints from annotations, a failing server kept
apart, streamable HTTP with expanded headers, doctor's description, shutdown from any state."""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import pytest

from core.acting.action import Hints
from core.acting.settings import McpServerSettings
from core.config import Settings
from core.secrets import SECRETS
from integrations.mcp import McpError, McpHub
from integrations.mcp.server import State
from tests.integrations.mcp.conftest import TOKEN, TOKEN_VARIABLE, alive, ours, started


async def test_tools_are_named_for_the_model_with_the_servers_hints(tmp_path: Path) -> None:
    async with McpHub({"notes": ours()}) as hub:
        tools = {tool.name: tool for tool in await hub.tools()}
        assert {"mcp__notes__read_note", "mcp__notes__write_note", "mcp__notes__erase_notes"} <= set(tools)
        assert "mcp__notes__weird_name" in tools and tools["mcp__notes__weird_name"].tool == "weird.name"
        assert not any("so_long" in name for name in tools), "a name that cannot fit is left out"
        assert any("is longer than 64 characters" in notice for notice in hub.notices["notes"])

        read, write, erase = (tools[f"mcp__notes__{n}"] for n in ("read_note", "write_note", "erase_notes"))
        assert read.hints == Hints(read_only=True, destructive=False, idempotent=True, open_world=False)
        assert (write.hints.read_only, write.hints.destructive) == (False, False)
        assert (erase.hints.read_only, erase.hints.destructive) == (False, True)
        assert tools["mcp__notes__hang"].hints == Hints(), "no annotations: unknown, not false"
        assert all(tool.effect is None and tool.domain is None for tool in tools.values()), "nobody trusted declared"
        assert read.description == "Read a note by its key."
        assert read.parameters["properties"]["key"]["type"] == "string" and read.parameters["required"] == ["key"]

        assert await write.run({"key": "deploy", "text": "friday"}) == "saved deploy"
        assert await tools["mcp__notes__weird_name"].run({}) == "weird"
        assert await read.run({"key": "deploy"}) == "friday"
        assert await tools["mcp__notes__measures"].run({}) == '[image: image/png, 8 bytes]\n{"height": 4, "width": 3}'


async def test_enabled_and_disabled_tools_filter_what_the_model_sees() -> None:
    settings = ours(enabled_tools=["read_note", "write_note", "nope"], disabled_tools=["write_note"])
    async with McpHub({"notes": settings}) as hub:
        assert [tool.name for tool in await hub.tools()] == ["mcp__notes__read_note"]
        assert hub.notices["notes"] == ["enabled_tools names 'nope', which the server does not have"]
    async with McpHub({"notes": ours(disabled_tools=["crash", "hang"])}) as hub:
        names = {tool.name for tool in await hub.tools()}
        assert "mcp__notes__read_note" in names and not {"mcp__notes__crash", "mcp__notes__hang"} & names


async def test_a_server_that_cannot_start_contributes_no_tools_and_keeps_its_reason(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    servers = {
        "notes": ours(marker),
        "broken": McpServerSettings(command=str(tmp_path / "no-such-server")),
        "off": ours(marker, enabled=False),
    }
    async with McpHub(servers, backoff=(30.0,)) as hub:
        assert set(hub.servers) == {"notes", "broken"}, "a disabled server is not even set up"
        tools = await hub.tools()
        assert tools and all(tool.name.startswith("mcp__notes__") for tool in tools)
        assert hub.failures["broken"].reason == (
            f"mcp server 'broken': could not start: command not found: {tmp_path}/no-such-server"
        )
        assert len(started(marker)) == 1
        # Asked again at once, the broken server is not retried before its backoff (and does not wait for it).
        start = time.monotonic()
        await hub.tools()
        assert time.monotonic() - start < 1.0
        assert "next start in 2" in hub.failures["broken"].reason and hub.servers["broken"].starts == 1
    assert not alive(started(marker)[0]), "leaving the hub shuts the servers down"
    assert {server.state for server in hub.servers.values()} == {State.CLOSED}


async def test_describe_tells_doctor_each_servers_transport_state_and_tools_or_failure(tmp_path: Path) -> None:
    servers = {"notes": ours(enabled_tools=["read_note", "noop"]), "broken": McpServerSettings(command="no-such-mcp")}
    async with McpHub(servers) as hub:
        notes, broken = await hub.describe()
    assert (notes.name, notes.state, notes.ok) == ("notes", "running", True)
    assert notes.transport == f"stdio: {sys.executable} -m tests.integrations.mcp.server"
    assert notes.tools == ("mcp__notes__read_note", "mcp__notes__noop")
    assert notes.lines() == [
        f"notes (stdio: {sys.executable} -m tests.integrations.mcp.server): running",
        "  2 tools: mcp__notes__read_note, mcp__notes__noop",
    ]
    assert (broken.state, broken.ok, broken.tools) == ("failed", False, ())
    assert broken.lines() == [
        "broken (stdio: no-such-mcp): failed",
        "  could not start: command not found: no-such-mcp",
    ]


async def test_the_hub_is_built_from_settings_and_closes_from_a_failed_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENKOI_TEST_MCP_MISSING", raising=False)
    settings = Settings.model_validate(
        {"mcp_servers": {"git": {"command": "mcp-server-git", "env": {"T": "${OPENKOI_TEST_MCP_MISSING}"}}}}
    )
    hub = McpHub.from_settings(settings)
    assert await hub.tools() == []
    assert "OPENKOI_TEST_MCP_MISSING is not set" in hub.failures["git"].reason
    await hub.aclose()
    with pytest.raises(McpError, match="shut down"):
        await hub.servers["git"].call("git_status", {})


async def test_streamable_http_with_expanded_headers_redacts_the_secret(
    http_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    settings = McpServerSettings(url=http_server, headers={"Authorization": f"Bearer ${{{TOKEN_VARIABLE}}}"})
    async with McpHub({"remote": settings}) as hub:
        tools = {tool.name: tool for tool in await hub.tools()}
        assert "mcp__remote__read_note" in tools
        output = await tools["mcp__remote__show_header"].run({"name": "Authorization"})
        assert TOKEN not in output and output.startswith("Authorization=Bearer [redacted] ")
        assert f"sha256={hashlib.sha256(f'Bearer {TOKEN}'.encode()).hexdigest()}" in output
        (report,) = await hub.describe()
        assert report.transport == f"http: {http_server}" and report.state == "running"
    assert SECRETS.redact(TOKEN) == TOKEN


async def test_an_unreachable_http_server_is_a_one_line_failure() -> None:
    from tests.integrations.mcp.conftest import free_port

    settings = McpServerSettings(url=f"http://127.0.0.1:{free_port()}/mcp", startup_timeout_sec=5)
    async with McpHub({"remote": settings}) as hub:
        assert await hub.tools() == []
        reason = hub.failures["remote"].reason
    assert reason.startswith("mcp server 'remote': could not start: ") and "\n" not in reason


async def test_an_http_server_that_dies_fails_the_call_then_says_why_it_cannot_restart(http_server: str) -> None:
    async with McpHub({"remote": McpServerSettings(url=http_server)}, backoff=(0.2,)) as hub:
        server = hub.servers["remote"]
        with pytest.raises(McpError) as crashed:
            await server.call("crash", {})
        assert crashed.value.reason == (
            "mcp server 'remote': the server stopped during crash; it will be restarted on the next call"
        )
        with pytest.raises(McpError) as restarting:
            await server.call("pid", {})
        assert restarting.value.reason.startswith("mcp server 'remote': could not start: ")
        assert "\n" not in restarting.value.reason and server.starts == 2
