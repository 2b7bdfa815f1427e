"""One server's life against our real test server: lazy start, startup timeout, ``${NAME}`` expansion and
redaction, a hang that blocks nothing else, a crash that fails one call and is restarted with backoff,
and a tool list refreshed when (and only when) the server announces a change."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from mcp import types

from core.acting.settings import McpServerSettings
from core.secrets import SECRETS
from integrations.mcp import McpError, McpServer
from integrations.mcp.connection import Connection
from integrations.mcp.results import render
from integrations.mcp.server import BACKOFF, State
from tests.integrations.mcp.conftest import TOKEN, TOKEN_VARIABLE, alive, ours, started


def state(server: McpServer) -> State:
    """The server's state now (a call, so that mypy does not keep an earlier comparison's narrowing)."""
    return server.state


async def test_nothing_starts_before_first_use(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    server = McpServer("test", ours(marker))
    try:
        await asyncio.sleep(0.5)
        assert state(server) is State.IDLE and started(marker) == []
        assert render(await server.call("noop", {})) == "ok"
        assert state(server) is State.RUNNING and len(started(marker)) == 1
        await server.list_tools()
        assert len(started(marker)) == 1, "a running server is not started again"
    finally:
        await server.aclose()
    assert state(server) is State.CLOSED
    assert not alive(started(marker)[0]), "aclose ends the server's process"
    with pytest.raises(McpError, match="shut down"):
        await server.call("noop", {})


async def test_a_server_that_never_answers_fails_its_startup_timeout_and_is_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    silent = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(120)"
    settings = McpServerSettings(command=sys.executable, args=["-c", silent, str(pid_file)], startup_timeout_sec=0.5)
    server = McpServer("silent", settings)
    began = time.monotonic()
    with pytest.raises(McpError) as caught:
        await server.list_tools()
    assert caught.value.reason == "mcp server 'silent': did not start within 0.5 s"
    assert time.monotonic() - began < 6, "the timeout bounds the start (and the SDK's kill grace period)"
    assert state(server) is State.FAILED and server.reason == "did not start within 0.5 s"
    assert not alive(int(pid_file.read_text())), "the process that did not answer is stopped"
    await server.aclose()


async def test_env_references_are_expanded_at_start_and_their_values_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_VARIABLE, TOKEN)
    server = McpServer("test", ours(env={"PROBE_TOKEN": f"${{{TOKEN_VARIABLE}}}", "PROBE_PLAIN": "x"}))
    try:
        assert SECRETS.redact(TOKEN) == TOKEN, "nothing is read before the server starts"
        output = render(await server.call("show_env", {"name": "PROBE_TOKEN"}))
        assert TOKEN not in output and "PROBE_TOKEN=[redacted]" in output
        # The server did receive the value: its hash (which redaction leaves alone) is the token's.
        assert f"sha256={hashlib.sha256(TOKEN.encode()).hexdigest()}" in output
        assert render(await server.call("show_env", {"name": "PROBE_PLAIN"})).startswith("PROBE_PLAIN=x ")
        # The server's environment is what it was given, not the service's: the token variable itself is not there.
        assert render(await server.call("show_env", {"name": TOKEN_VARIABLE})).startswith(f"{TOKEN_VARIABLE}= ")
    finally:
        await server.aclose()
    assert SECRETS.redact(TOKEN) == TOKEN, "a closed server's secrets are released"


async def test_a_missing_variable_is_a_clear_failure_and_nothing_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENKOI_TEST_MCP_MISSING", raising=False)
    marker = tmp_path / "starts"
    server = McpServer("test", ours(marker, env={"API_TOKEN": "${OPENKOI_TEST_MCP_MISSING}"}))
    with pytest.raises(McpError) as caught:
        await server.list_tools()
    assert caught.value.reason == (
        "mcp server 'test': environment variable OPENKOI_TEST_MCP_MISSING is not set (referenced in env.API_TOKEN)"
    )
    assert started(marker) == [] and state(server) is State.FAILED
    await server.aclose()


async def test_a_hanging_call_times_out_alone_and_blocks_neither_the_loop_nor_other_calls() -> None:
    slow = McpServer("slow", ours(tool_timeout_sec=2.0))
    other = McpServer("other", ours())
    try:
        await asyncio.gather(slow.list_tools(), other.list_tools())
        before = render(await slow.call("pid", {}))
        lags: list[float] = []

        async def ticker() -> None:
            while True:
                tick = time.monotonic()
                await asyncio.sleep(0.01)
                lags.append(time.monotonic() - tick - 0.01)

        ticking = asyncio.create_task(ticker())
        began = time.monotonic()
        hanging = asyncio.create_task(slow.call("hang", {}))
        await asyncio.sleep(0.2)
        timings = []
        for server in (other, slow, other, slow):  # the other server, and the hanging server's other calls
            start = time.monotonic()
            assert render(await server.call("noop", {})) == "ok"
            timings.append(time.monotonic() - start)
        assert not hanging.done()
        with pytest.raises(McpError) as caught:
            await hanging
        elapsed = time.monotonic() - began
        ticking.cancel()
        assert caught.value.reason == "mcp server 'slow': hang did not answer within 2 s"
        assert 1.9 <= elapsed < 4.0
        assert max(timings) < 1.0, f"calls waited on the hanging one: {timings}"
        assert max(lags) < 0.5, f"the event loop stalled for {max(lags):.3f} s"
        # A timeout cancels the call, not the server.
        assert render(await slow.call("pid", {})) == before and state(slow) is State.RUNNING
    finally:
        await asyncio.gather(slow.aclose(), other.aclose())


async def test_a_crash_fails_that_call_in_one_line_then_the_server_restarts_with_backoff(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    server = McpServer("test", ours(marker), backoff=(0.6, 1.2, 2.4))
    try:
        first = render(await server.call("pid", {}))
        with pytest.raises(McpError) as caught:
            await server.call("crash", {})
        reason = caught.value.reason
        assert reason == "mcp server 'test': the server stopped during crash; it will be restarted on the next call"
        assert "\n" not in reason and "Traceback" not in reason
        assert state(server) is State.CRASHED and server.failures == 1

        # Listing tools never waits out the backoff (the hub keeps the reason instead).
        start = time.monotonic()
        with pytest.raises(McpError, match=r"the server stopped during crash; next start in 0\.\d s"):
            await server.list_tools()
        assert time.monotonic() - start < 0.3

        # The next call waits out the backoff, then restarts the server.
        crashed_at = time.monotonic()
        second = render(await server.call("pid", {}))
        assert time.monotonic() - crashed_at >= 0.4 and second != first
        assert state(server) is State.RUNNING and len(started(marker)) == 2

        # Crashing again soon doubles the wait.
        with pytest.raises(McpError):
            await server.call("crash", {})
        crashed_at = time.monotonic()
        third = render(await server.call("pid", {}))
        assert time.monotonic() - crashed_at >= 1.1 and third not in {first, second}
        assert server.failures == 2 and len(started(marker)) == 3
    finally:
        await server.aclose()
    assert BACKOFF[:3] == (1.0, 2.0, 4.0) and BACKOFF[-1] == 30.0


async def test_a_server_that_died_while_idle_is_restarted_on_the_next_call(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    server = McpServer("test", ours(marker), backoff=(0.2,))
    try:
        first = int(render(await server.call("pid", {})))
        os.kill(first, signal.SIGKILL)
        await asyncio.sleep(0.5)
        assert int(render(await server.call("pid", {}))) != first
        assert state(server) is State.RUNNING and server.failures == 1
    finally:
        await server.aclose()


async def test_the_tool_list_is_cached_and_refreshed_when_the_server_announces_a_change() -> None:
    server = McpServer("test", ours())
    try:
        names = {tool.name for tool in await server.list_tools()}
        assert {"read_note", "write_note", "hang", "crash"} <= names

        await server.call("add_tool_silently", {"name": "quiet"})
        assert "quiet" not in {tool.name for tool in await server.list_tools()}, "unannounced: the cache holds"

        await server.call("add_tool", {"name": "loud"})
        deadline = time.monotonic() + 5
        while "loud" not in (names := {tool.name for tool in await server.list_tools()}):
            assert time.monotonic() < deadline, "the change notification never refreshed the list"
            await asyncio.sleep(0.05)
        assert "quiet" in names, "the refresh asked the server again"
        assert render(await server.call("loud", {})) == "loud"
    finally:
        await server.aclose()


async def test_a_failing_tool_or_an_unknown_one_is_an_error_result_not_a_crash() -> None:
    server = McpServer("test", ours())
    try:
        assert render(await server.call("fail", {})) == "error: Error executing tool fail: the disk is full"
        assert render(await server.call("no_such_tool", {})) == "error: Unknown tool: no_such_tool"
        assert state(server) is State.RUNNING and server.failures == 0 and server.starts == 1
    finally:
        await server.aclose()


async def test_a_handshake_era_change_notification_marks_the_list_stale() -> None:
    # 2026-07-28 servers announce changes on a listen stream (the test above); older ones send
    # notifications/tools/list_changed on the connection, which reaches the session's message handler.
    changes: list[bool] = []
    connection = Connection("old", lambda: changes.append(True))
    await connection._on_message(types.ToolListChangedNotification())
    await connection._on_message(types.ResourceListChangedNotification())
    await connection._on_message(RuntimeError("a transport hiccup"))
    assert changes == [True]
