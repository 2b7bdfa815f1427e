"""Real MCP servers for the client's tests: ours (``tests.integrations.mcp.server``) over stdio and over
streamable HTTP on 127.0.0.1, and ``mcp-server-git`` from PyPI on a temporary repository."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.acting.settings import McpServerSettings
from tests.support import make_git_repo

ROOT = Path(__file__).resolve().parents[3]
TOKEN_VARIABLE = "OPENKOI_TEST_MCP_TOKEN"
TOKEN = "tok-3f9a1c77e2b4d5"


def ours(marker: Path | None = None, **fields: Any) -> McpServerSettings:
    """Our test server over stdio; ``marker`` receives its pid each time it starts."""
    args = ["-m", "tests.integrations.mcp.server"] + (["--marker", str(marker)] if marker else [])
    return McpServerSettings(command=sys.executable, args=args, cwd=ROOT, **fields)


def started(marker: Path) -> list[int]:
    """The pids our server wrote to ``marker``, one per start."""
    return [int(line) for line in marker.read_text().split()] if marker.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[str]:
    """Our test server over streamable HTTP on a free loopback port; yields its URL."""
    port = free_port()
    log = (tmp_path / "http-server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integrations.mcp.server", "--http", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, f"the HTTP test server exited: {(tmp_path / 'http-server.log').read_text()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP test server did not listen within 30 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A repository with three commits on ``main``."""
    return make_git_repo(tmp_path / "repo")
