"""A small MCP server for the client's tests, written with the SDK's own server API (``MCPServer``).

    python -m tests.integrations.mcp.server [--http PORT] [--marker FILE]

Over stdio by default, or streamable HTTP on 127.0.0.1:PORT (path ``/mcp``). ``--marker`` writes the
server's pid to FILE when it starts, so a test can tell whether (and how often) it was started.

Its tools cover what a team's servers do and how they fail: a read, a write and a destructive tool
(annotated so), one that hangs, one that crashes the process, one that fails, tools that add a tool with
and without the change notification, and tools that show what the server was given (an environment
variable, a request header) so that expansion and redaction can be checked.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ImageContent, ToolAnnotations

server: MCPServer[Any] = MCPServer("openkoi-test")
notes: dict[str, str] = {}

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
DESTRUCTIVE = ToolAnnotations(read_only_hint=False, destructive_hint=True)


@server.tool(annotations=READ)
def read_note(key: str) -> str:
    """Read a note by its key."""
    return notes.get(key, f"no note named {key}")


@server.tool(annotations=WRITE)
def write_note(key: str, text: str) -> str:
    """Write a note."""
    notes[key] = text
    return f"saved {key}"


@server.tool(annotations=DESTRUCTIVE)
def erase_notes() -> str:
    """Erase every note."""
    count = len(notes)
    notes.clear()
    return f"erased {count} notes"


@server.tool()
async def hang(seconds: float = 3600.0) -> str:
    """Never answer (in time)."""
    await anyio.sleep(seconds)
    return "woke up"


@server.tool()
def crash() -> str:
    """End the server's process in the middle of a call."""
    os._exit(3)


@server.tool()
def fail() -> str:
    """Fail the way a tool fails: an error result."""
    raise ToolError("the disk is full")


@server.tool()
def pid() -> str:
    """The server process's id: a restarted server has another."""
    return str(os.getpid())


@server.tool()
def noop() -> str:
    """Do nothing (the benchmark's tool)."""
    return "ok"


@server.tool()
def show_env(name: str) -> str:
    """An environment variable's value and its hash (the hash survives redaction, so a test can check it)."""
    value = os.environ.get(name, "")
    return f"{name}={value} sha256={hashlib.sha256(value.encode()).hexdigest()} length={len(value)}"


@server.tool()
def show_header(name: str, ctx: Context) -> str:
    """A request header's value and its hash (streamable HTTP only)."""
    value = (ctx.headers or {}).get(name.lower(), "")
    return f"{name}={value} sha256={hashlib.sha256(value.encode()).hexdigest()}"


@server.tool()
def measures() -> CallToolResult:
    """Structured content only, and an image."""
    image = ImageContent(type="image", data=base64.b64encode(b"\x89PNG1234").decode(), mime_type="image/png")
    return CallToolResult(content=[image], structured_content={"width": 3, "height": 4})


@server.tool(name="weird.name")
def weird_name() -> str:
    """A name with a character the model's tool names refuse."""
    return "weird"


@server.tool(name="a_tool_name_so_long_that_with_its_prefix_it_cannot_fit_in_sixty_four")
def too_long() -> str:
    """A name too long for the model once prefixed."""
    return "long"


def _echo_tool(word: str) -> Any:
    def tool() -> str:
        return word

    tool.__doc__ = f"Say {word}."
    return tool


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Add a tool named ``name`` and tell the client its tool list changed."""
    server.add_tool(_echo_tool(name), name=name)
    await ctx.notify_tools_changed()  # to subscriptions/listen streams (2026-07-28 connections)
    if ctx.protocol_version is not None and ctx.protocol_version < "2026":
        await ctx.request_context.session.send_tool_list_changed()  # handshake-era connections
    return f"added {name}"


@server.tool()
def add_tool_silently(name: str) -> str:
    """Add a tool named ``name`` without telling anyone."""
    server.add_tool(_echo_tool(name), name=name)
    return f"added {name} silently"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None, help="serve streamable HTTP on 127.0.0.1:PORT")
    parser.add_argument("--marker", type=Path, default=None, help="write the pid here on start")
    args = parser.parse_args()
    if args.marker is not None:
        with args.marker.open("a") as marker:
            marker.write(f"{os.getpid()}\n")
    if args.http is None:
        server.run()
    else:
        server.settings.log_level = "WARNING"
        server.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
