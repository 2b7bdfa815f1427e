"""A tool call's time through the MCP client: 200 calls of a do-nothing tool on a local stdio server
(our test server's ``noop``), one after another, through ``McpHub`` and the ``McpTool`` the model's call
would reach — naming, the session task, JSON-RPC over the server's pipes, the result rendered and
redacted. The server's start and the first listing are not counted (reported apart as ``start_ms``);
10 uncounted warm-up calls come first. Prints one JSON line: median, p95 and max in milliseconds.

``sdk_median_ms`` is the same calls made with the SDK's ``Client`` alone on a second server process:
what the server, the pipes and the SDK cost, so that ``median_ms − sdk_median_ms`` is this client's own.

``gate_median_ms`` / ``gate_p95_ms`` are the same calls as the executor makes them: through ``ActionGuard`` —
the rule floor's screen of the call (words only, and ``gate_embedder_median_ms`` with the local embedder), the
classification (the team declared the tool ``read``, so it runs without asking), the trust level, the audit
rows and the atlas row written to SQLite — and then the MCP call.

    python -m tests.benchmarks.tool_call [--calls 200] [--tiny]

``--tiny`` (5 calls) runs the same scenario for the default test suite's smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tests.benchmarks._common import check, emit, forbid_network, note

if TYPE_CHECKING:
    from core.acting.action import ActionTool

CALLS = 200
TINY_CALLS = 5
WARM_UP = 10
ROOT = Path(__file__).resolve().parents[2]
TOOL = "mcp__bench__noop"


async def measure(calls: int) -> dict[str, object]:
    from core.acting.settings import McpServerSettings
    from integrations.mcp import McpHub

    args = ["-m", "tests.integrations.mcp.server"]
    settings = McpServerSettings(command=sys.executable, args=args, cwd=ROOT, enabled_tools=["noop"])
    async with McpHub({"bench": settings}) as hub:
        start = time.perf_counter()
        tools = {tool.name: tool for tool in await hub.tools()}
        start_ms = (time.perf_counter() - start) * 1000
        check(TOOL in tools, f"{TOOL} not among the server's tools: {sorted(tools)} {hub.failures}")
        noop = tools[TOOL]
        for _ in range(min(WARM_UP, calls)):
            check(await noop.run({}) == "ok", "the warm-up call did not answer ok")
        samples: list[float] = []
        for _ in range(calls):
            began = time.perf_counter()
            output = await noop.run({})
            samples.append((time.perf_counter() - began) * 1000)
            check(output == "ok", f"the tool answered {output!r}")
        gated = await gate_samples(noop, calls, embedder=False)
        gated_embedder = await gate_samples(noop, calls, embedder=True)
        starts = hub.servers["bench"].starts
    check(starts == 1, f"the server was started {starts} times")
    sdk = await sdk_samples(calls, args)
    ordered = sorted(samples)
    return {
        "bench": "tool_call",
        "calls": calls,
        "transport": "stdio",
        "median_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(_p95(samples), 3),
        "max_ms": round(ordered[-1], 3),
        "start_ms": round(start_ms, 1),
        "sdk_median_ms": round(statistics.median(sdk), 3),
        "gate_median_ms": round(statistics.median(gated), 3),
        "gate_p95_ms": round(_p95(gated), 3),
        "gate_embedder_median_ms": round(statistics.median(gated_embedder), 3),
    }


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def gate_samples(tool: ActionTool, calls: int, *, embedder: bool) -> list[float]:
    """The calls through ``ActionGuard`` on a fresh store, as the executor makes them."""
    import tempfile

    from core.acting.action import Effect
    from core.config import ToolSettings
    from core.events import EventBus
    from core.gate.action_gate import ActionGate
    from core.gate.gatekeeper import Gatekeeper
    from core.gate.settings import FloorSettings, GateSettings
    from core.loop.acting import ActionGuard
    from core.store import Store

    samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="openkoi-toolcall-") as tmp:
        async with Store(Path(tmp) / "bench.db") as store:
            gatekeeper = Gatekeeper(GateSettings(floor=FloorSettings(embedder=embedder)), store)
            guard = ActionGuard(ActionGate(gatekeeper, ToolSettings(effects={TOOL: Effect.READ})), EventBus())
            for _ in range(min(WARM_UP, calls)):
                check(await guard.call("bench", tool, {}, "") == "ok", "the warm-up call through the gate failed")
            for _ in range(calls):
                began = time.perf_counter()
                output = await guard.call("bench", tool, {}, "")
                samples.append((time.perf_counter() - began) * 1000)
                check(output == "ok", f"the call through the gate answered {output!r}")
            ran = [stats for stats in await store.tool_calls.atlas(TOOL) if stats.tool == TOOL]
            expected = calls + min(WARM_UP, calls)
            check(bool(ran) and ran[0].calls == expected, f"the atlas holds {ran} calls, not {expected}")
    return samples


async def sdk_samples(calls: int, args: list[str]) -> list[float]:
    """The same calls through the SDK's ``Client`` alone, on a server process of its own."""
    from mcp import Client, StdioServerParameters, types

    params = StdioServerParameters(command=sys.executable, args=args, cwd=ROOT)
    samples: list[float] = []
    async with Client(params, cache=None) as client:
        for _ in range(min(WARM_UP, calls)):
            await client.call_tool("noop", {})
        for _ in range(calls):
            began = time.perf_counter()
            result = await client.call_tool("noop", {})
            samples.append((time.perf_counter() - began) * 1000)
            text = result.content[0]
            check(isinstance(text, types.TextContent) and text.text == "ok", f"the SDK call answered {result!r}")
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--tiny", action="store_true", help=f"{TINY_CALLS} calls")
    args = parser.parse_args(argv)
    forbid_network()
    figures = asyncio.run(measure(TINY_CALLS if args.tiny else args.calls))
    note(
        f"tool_call: median {figures['median_ms']} ms, p95 {figures['p95_ms']} ms over {figures['calls']} calls; "
        f"through the gate median {figures['gate_median_ms']} ms ({figures['gate_embedder_median_ms']} ms with the embedder)"
    )
    emit(figures)


if __name__ == "__main__":
    main()
